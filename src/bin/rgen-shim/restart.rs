//! `--autorestart`: what PM2 does when an app exits, decided in the shim. Read from PM2's
//! lib/God.js `handleExit` (unstable restarts, `restart_delay`, `exp_backoff_restart_delay`),
//! lib/Worker.js (backoff reset after `EXP_BACKOFF_RESET_TIMER` of uptime) and
//! lib/God/Methods.js `resetState` (manual and memory restarts start the counters over).

use std::time::{Duration, Instant};

use crate::backoff;

pub struct Policy {
    /// `min_uptime` (PM2 default 1000 ms).
    pub min_uptime: Duration,
    /// `max_restarts` (PM2 default 16).
    pub max_restarts: u32,
    /// `restart_delay` (fixed; PM2 default none).
    pub restart_delay: Duration,
    /// `exp_backoff_restart_delay`: the first delay; replaces `restart_delay`.
    pub backoff_initial: Option<u64>,
    pub backoff_cap_ms: u64,
    /// `EXP_BACKOFF_RESET_TIMER`.
    pub backoff_reset: Duration,
    /// `stop_exit_codes`.
    pub stop_exit_codes: Vec<i32>,
}

/// PM2's per-app counters (`pm2_env.created_at`, `unstable_restarts`, `prev_restart_delay`).
pub struct Tracker {
    pub policy: Policy,
    created_at: Instant,
    pub unstable_restarts: u32,
    prev_restart_delay: u64,
}

#[derive(Debug, PartialEq)]
pub enum Decision {
    /// Start again after this long (zero: at once).
    RestartAfter(Duration),
    /// A `stop_exit_codes` exit: leave it down.
    Stay,
    /// Too many unstable restarts: PM2's `errored`.
    Errored,
}

/// How a run ended, as `handleExit` sees it.
pub struct Exit {
    /// None when the app died of a signal.
    pub code: Option<i32>,
    pub uptime: Duration,
}

impl Tracker {
    pub fn new(policy: Policy, now: Instant) -> Tracker {
        Tracker {
            policy,
            created_at: now,
            unstable_restarts: 0,
            prev_restart_delay: 0,
        }
    }

    /// PM2 `resetState`: after a manual restart or a memory restart.
    pub fn reset(&mut self, now: Instant) {
        self.created_at = now;
        self.unstable_restarts = 0;
        self.prev_restart_delay = 0;
    }

    /// The app exited on its own at `now`.
    pub fn on_exit(&mut self, exit: &Exit, now: Instant) -> Decision {
        let p = &self.policy;
        // God.js: `stop_exit_codes.includes(exit_code)`. PM2 passes `code || 0`, so an app
        // killed by a signal matches a stop code 0 there; here a signal death is a crash and
        // is always restarted.
        if exit.code.is_some_and(|c| p.stop_exit_codes.contains(&c)) {
            return Decision::Stay;
        }
        // God.js: within `min_uptime * max_restarts` of `created_at`, an exit sooner than
        // `min_uptime` after the start is unstable; reaching `max_restarts` is `errored`
        // (checked even when nothing was counted, so max_restarts 0 never restarts).
        let window = p.min_uptime.saturating_mul(p.max_restarts);
        if now.saturating_duration_since(self.created_at) < window && exit.uptime < p.min_uptime {
            self.unstable_restarts += 1;
        }
        if self.unstable_restarts >= p.max_restarts {
            // God.js resets both when it gives up, so a later manual start begins afresh.
            self.unstable_restarts = 0;
            return Decision::Errored;
        }
        let delay = match p.backoff_initial {
            Some(initial) => {
                // Worker.js: up longer than EXP_BACKOFF_RESET_TIMER → prev_restart_delay = 0.
                // (PM2 looks every 30 s, so it resets somewhere between 30 and 60 s of uptime.)
                if exit.uptime > p.backoff_reset {
                    self.prev_restart_delay = 0;
                }
                // God.js: the first delay is exp_backoff_restart_delay, each next one
                // floor(min(15000, prev * 1.5)); restart_delay is overridden.
                self.prev_restart_delay =
                    backoff::next_delay(self.prev_restart_delay, initial, p.backoff_cap_ms);
                Duration::from_millis(self.prev_restart_delay)
            }
            None => p.restart_delay,
        };
        Decision::RestartAfter(delay)
    }
}

#[cfg(test)]
mod tests {
    use super::{Decision, Exit, Policy, Tracker};
    use std::time::{Duration, Instant};

    fn policy(max_restarts: u32) -> Policy {
        Policy {
            min_uptime: Duration::from_millis(1000),
            max_restarts,
            restart_delay: Duration::from_millis(0),
            backoff_initial: None,
            backoff_cap_ms: 15000,
            backoff_reset: Duration::from_secs(30),
            stop_exit_codes: vec![0],
        }
    }

    fn crash(ms: u64) -> Exit {
        Exit {
            code: Some(1),
            uptime: Duration::from_millis(ms),
        }
    }

    #[test]
    fn sixteen_quick_crashes_error_out() {
        let t0 = Instant::now();
        let mut t = Tracker::new(policy(16), t0);
        for i in 1..16u64 {
            let d = t.on_exit(&crash(10), t0 + Duration::from_millis(i * 20));
            assert_eq!(d, Decision::RestartAfter(Duration::ZERO), "exit {i}");
        }
        assert_eq!(
            t.on_exit(&crash(10), t0 + Duration::from_millis(400)),
            Decision::Errored
        );
    }

    #[test]
    fn outside_the_first_window_nothing_counts() {
        let t0 = Instant::now();
        let mut t = Tracker::new(policy(3), t0);
        // Window = 3 s: the crash after it is not counted, as in PM2.
        t.on_exit(&crash(10), t0 + Duration::from_millis(100));
        t.on_exit(&crash(10), t0 + Duration::from_millis(200));
        let d = t.on_exit(&crash(10), t0 + Duration::from_secs(4));
        assert_eq!(d, Decision::RestartAfter(Duration::ZERO));
        assert_eq!(t.unstable_restarts, 2);
        t.reset(t0 + Duration::from_secs(5));
        assert_eq!(t.unstable_restarts, 0);
    }

    #[test]
    fn zero_max_restarts_never_restarts_and_stop_codes_stay() {
        let t0 = Instant::now();
        let mut t = Tracker::new(policy(0), t0);
        assert_eq!(t.on_exit(&crash(5000), t0), Decision::Errored);
        let mut t = Tracker::new(policy(16), t0);
        let clean = Exit {
            code: Some(0),
            uptime: Duration::from_millis(10),
        };
        assert_eq!(t.on_exit(&clean, t0), Decision::Stay);
        let signalled = Exit {
            code: None,
            uptime: Duration::from_millis(10),
        };
        assert!(matches!(
            t.on_exit(&signalled, t0),
            Decision::RestartAfter(_)
        ));
    }

    #[test]
    fn backoff_replaces_restart_delay_and_resets_after_a_long_run() {
        let t0 = Instant::now();
        let mut p = policy(1000);
        p.restart_delay = Duration::from_millis(5000);
        p.backoff_initial = Some(100);
        let mut t = Tracker::new(p, t0);
        let later = t0 + Duration::from_secs(3600);
        let delays: Vec<Decision> = (0..3).map(|_| t.on_exit(&crash(10), later)).collect();
        assert_eq!(
            delays,
            [100, 150, 225].map(|ms| Decision::RestartAfter(Duration::from_millis(ms)))
        );
        assert_eq!(
            t.on_exit(&crash(31_000), later),
            Decision::RestartAfter(Duration::from_millis(100))
        );
    }
}
