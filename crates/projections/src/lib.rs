//! Projections: folds of the log into read models.
//!
//! A [`Projection`] selects events (a [`hindsight_store::Filter`]), splits
//! them into partitions, and folds each partition's events into a state.
//! A [`Runner`] feeds it `$all` through any [`hindsight_store::EventReader`]
//! and stores every partition's state together with the position it
//! reflects in one atomic write ([`checkpoint`]), so a crash at any moment
//! never applies an event twice or skips one: a restart resumes from the
//! last checkpoint, whose states are exactly the fold up to its position.
//!
//! This is the core the JavaScript runtime, the HTTP and CLI lifecycle and
//! the time-travel debugger build on (issue 10): a projection is a pure
//! function of the events, so it can be run to any point in history.

// Operating errors are handled, never unwrapped (tests may unwrap).
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod breaker;
pub mod builtin;
pub mod case;
pub mod checkpoint;
pub mod compare;
pub mod fixture;
mod fold;
mod follow;
pub mod history;
pub mod js;
pub mod keeping;
pub mod outbox;
mod projection;
pub mod registry;
mod runner;
pub mod timelines;
pub mod whatif;
pub mod worker;

pub use fold::{Emitted, Fold, RustFold};
pub use projection::{HandlerError, Partitioning, Projection};
pub use runner::{FailurePolicy, Parked, Runner, RunnerError, Status};
