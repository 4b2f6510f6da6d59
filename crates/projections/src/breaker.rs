//! The circuit breaker: a projection that keeps failing stops trying for
//! a while instead of parking event after event. After `failures` failures
//! within `window` it opens (no events are folded) for `cool_down`, then
//! goes half-open: the next event decides, a success closes it, a failure
//! opens it again at once.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// When the breaker opens, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerConfig {
    pub failures: u32,
    pub window: Duration,
    pub cool_down: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig { failures: 100, window: Duration::from_secs(60), cool_down: Duration::from_secs(30) }
    }
}

/// Where a breaker is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Circuit {
    Closed,
    /// No events are folded until then.
    Open {
        until: Instant,
    },
    /// The next event decides.
    HalfOpen,
}

#[derive(Debug)]
pub struct Breaker {
    config: BreakerConfig,
    recent: VecDeque<Instant>,
    circuit: Circuit,
}

impl Breaker {
    pub fn new(config: BreakerConfig) -> Self {
        Breaker { config, recent: VecDeque::new(), circuit: Circuit::Closed }
    }

    /// The circuit now (an open one whose cool-down is over is half-open).
    pub fn circuit(&mut self) -> Circuit {
        if let Circuit::Open { until } = self.circuit {
            if Instant::now() >= until {
                self.circuit = Circuit::HalfOpen;
            }
        }
        self.circuit
    }

    pub fn is_open(&mut self) -> bool {
        matches!(self.circuit(), Circuit::Open { .. })
    }

    pub fn on_success(&mut self) {
        if self.circuit() == Circuit::HalfOpen {
            self.circuit = Circuit::Closed;
            self.recent.clear();
        }
    }

    /// Counts a failure; true when it opened the circuit.
    pub fn on_failure(&mut self) -> bool {
        if self.config.failures == 0 {
            return false;
        }
        let now = Instant::now();
        self.recent.push_back(now);
        while self.recent.front().is_some_and(|t| now.duration_since(*t) > self.config.window) {
            self.recent.pop_front();
        }
        let trip = self.circuit() == Circuit::HalfOpen || self.recent.len() >= self.config.failures as usize;
        if trip {
            self.circuit = Circuit::Open { until: now + self.config.cool_down };
            self.recent.clear();
        }
        trip
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_n_failures_in_the_window_then_half_opens() {
        let config =
            BreakerConfig { failures: 3, window: Duration::from_secs(10), cool_down: Duration::from_millis(30) };
        let mut b = Breaker::new(config);
        assert!(!b.on_failure() && !b.on_failure());
        assert_eq!(b.circuit(), Circuit::Closed);
        assert!(b.on_failure(), "the third failure in the window opens it");
        assert!(b.is_open());
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(b.circuit(), Circuit::HalfOpen);
        assert!(b.on_failure(), "a failure while half-open opens it again at once");
        std::thread::sleep(Duration::from_millis(40));
        b.on_success();
        assert_eq!(b.circuit(), Circuit::Closed);
        assert!(!b.on_failure(), "closed again: counting from zero");
        let mut off = Breaker::new(BreakerConfig { failures: 0, ..config });
        assert!((0..1000).all(|_| !off.on_failure()), "0 failures: never opens");
    }
}
