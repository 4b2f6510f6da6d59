//! Time travel: what a stream's document or a projection's partition
//! looked like at any point, which event set each field, when a field
//! first met a condition, and what changed between two points.
//!
//! The unit is a *subject*: the events of one stream (folded into a
//! document by JSON Merge Patch) or of one projection partition (folded by
//! the projection). A [`Subject`] is its derived history index, built by
//! folding the subject's events once, in order:
//! - **keyframes**: the state every K events, older ones thinned
//!   logarithmically ([`keyframes`]), so the state at any point is the
//!   nearest keyframe plus a short fold;
//! - the **write set** of every event: the JSON Pointers whose value it
//!   changed, with the old and new value ([`writeset`]), kept per pointer,
//!   so blame and watch are lookups, never replays.
//!
//! The index is pure logic over a fold and the events it is given;
//! [`streams`] feeds it through the reader contract ([`EventReader`]), never
//! the live store, so it answers the same on the live log, a read-only
//! view of the past or a fork.
//!
//! [`EventReader`]: hindsight_store::EventReader

// Operating errors are handled, never unwrapped (tests may unwrap).
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod compare;
pub mod document;
pub mod fork;
pub mod forks;
pub mod keyframes;
pub mod pointer;
pub mod predicate;
pub mod service;
pub mod session;
pub mod shelf;
pub mod snapshots;
pub mod streams;
pub mod subject;
pub mod writeset;

pub use keyframes::{Keyframe, Keyframes, Spacing};
pub use predicate::{Op, Predicate};
pub use subject::{Blame, Change, EventRef, Subject};
pub use writeset::LeafChange;
