//! Keyframes: a subject's state kept every K events, so the state at any
//! point is the nearest keyframe at or before it plus a short fold.
//!
//! Older keyframes are thinned logarithmically: a keyframe `age` events
//! behind the newest is kept when its number (its event count / K) is a
//! multiple of 2^level, level = floor(log2(age / (K·W))). The newest K·W
//! events keep every keyframe; each older octave keeps half as many as
//! the one after it. So a subject of N events keeps about
//! W·(1 + log2(N / (K·W))) keyframes, and a point `age` events back is at
//! most max(K, age / W) events past its keyframe. Thinning only ever
//! drops a keyframe for good (its level never falls), so a keyframe once
//! dropped is never needed again.

use std::sync::Arc;

use serde_json::Value;

/// How keyframes are spaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spacing {
    /// K: a keyframe every this many events of the subject.
    pub every: u64,
    /// W: keyframes kept per octave of age.
    pub per_octave: u64,
}

impl Default for Spacing {
    fn default() -> Self {
        Spacing { every: 1_000, per_octave: 1_024 }
    }
}

/// The state after the subject's first `count` events.
#[derive(Debug, Clone)]
pub struct Keyframe {
    pub count: u64,
    /// The position of the last of those events (None for the initial state).
    pub position: Option<u64>,
    pub state: Arc<Value>,
}

#[derive(Debug, Clone)]
pub struct Keyframes {
    spacing: Spacing,
    /// By count, ascending; the first is always the initial state.
    frames: Vec<Keyframe>,
}

impl Keyframes {
    pub fn new(spacing: Spacing, init: Value) -> Self {
        let every = spacing.every.max(1);
        let spacing = Spacing { every, per_octave: spacing.per_octave.max(1) };
        Keyframes { spacing, frames: vec![Keyframe { count: 0, position: None, state: Arc::new(init) }] }
    }

    pub fn spacing(&self) -> Spacing {
        self.spacing
    }

    /// Called after every event with the subject's count and state; keeps
    /// a keyframe when one is due and thins the older ones.
    pub fn offer(&mut self, count: u64, position: u64, state: impl FnOnce() -> Value) {
        if count == 0 || !count.is_multiple_of(self.spacing.every) {
            return;
        }
        self.frames.push(Keyframe { count, position: Some(position), state: Arc::new(state()) });
        let window = self.spacing.every.saturating_mul(self.spacing.per_octave);
        let spacing = self.spacing;
        self.frames.retain(|f| f.count == 0 || keep(spacing, window, f.count, count));
    }

    /// The newest keyframe after at most `count` events.
    pub fn at_or_before(&self, count: u64) -> &Keyframe {
        let i = self.frames.partition_point(|f| f.count <= count);
        &self.frames[i.saturating_sub(1)]
    }

    pub fn len(&self) -> usize {
        self.frames.len()
    }

    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Keyframe> {
        self.frames.iter()
    }
}

/// Whether the keyframe after `count` events is kept when the subject has
/// `newest` events.
fn keep(spacing: Spacing, window: u64, count: u64, newest: u64) -> bool {
    let age = newest - count;
    if age < window {
        return true;
    }
    let level = (age / window).ilog2();
    (count / spacing.every).is_multiple_of(1u64 << level.min(63))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_point_is_close_to_a_keyframe_and_storage_grows_logarithmically() {
        let spacing = Spacing { every: 10, per_octave: 4 };
        let mut k = Keyframes::new(spacing, Value::Null);
        let n = 100_000u64;
        for count in 1..=n {
            k.offer(count, count - 1, || Value::from(count));
        }
        // W·(1 + log2(N / (K·W))) = 4·(1 + log2(2500)) ≈ 49, give or take an octave.
        assert!(k.len() <= 4 * 14, "{} keyframes", k.len());
        for count in (0..=n).step_by(997) {
            let f = k.at_or_before(count);
            assert!(f.count <= count);
            let age = n - count;
            let bound = spacing.every.max(age / spacing.per_octave) * 2;
            assert!(count - f.count <= bound, "count {count}: keyframe at {} (bound {bound})", f.count);
            if f.count > 0 {
                assert_eq!(*f.state, Value::from(f.count));
            }
        }
    }
}
