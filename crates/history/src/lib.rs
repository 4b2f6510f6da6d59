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
//! Everything here reads through a fold and the events it is given; it
//! never touches a store, so it works the same on the live log, on a
//! read-only view of the past or on a fork.

// Operating errors are handled, never unwrapped (tests may unwrap).
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod document;
pub mod keyframes;
pub mod pointer;
pub mod predicate;
pub mod subject;
pub mod writeset;

pub use keyframes::{Keyframe, Keyframes, Spacing};
pub use predicate::{Op, Predicate};
pub use subject::{Blame, Change, EventRef, Subject};
pub use writeset::LeafChange;
