//! PM2 `exp_backoff_restart_delay` across shim runs: the OS restarts the shim after each crash,
//! so PM2's in-memory `prev_restart_delay` lives in a small state file instead.

use std::fs;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

use crate::shim_protocol::{backoff, default, env};
use crate::sys;

pub struct Backoff {
    path: PathBuf,
    initial: u64,
    cap: u64,
    pub reset_after: Duration,
}

impl Backoff {
    pub fn new(dir: PathBuf, file_stem: &str, initial: u64) -> Backoff {
        let knob = |name: &str, default: u64| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(default)
        };
        Backoff {
            path: dir.join(format!("{file_stem}{}", backoff::FILE_SUFFIX)),
            initial,
            cap: knob(env::RGEN_SHIM_BACKOFF_CAP_MS, default::BACKOFF_CAP_MS),
            reset_after: Duration::from_millis(knob(
                env::RGEN_SHIM_BACKOFF_RESET_MS,
                default::BACKOFF_RESET_MS,
            )),
        }
    }

    /// Delay before this start: none without state (a clean start), `initial` after a reset
    /// (state 0), else PM2's `floor(min(cap, prev * 1.5))`.
    pub fn delay(&self) -> u64 {
        match self.read() {
            None => 0,
            Some(prev) => next_delay(prev, self.initial, self.cap),
        }
    }

    fn read(&self) -> Option<u64> {
        let text = fs::read_to_string(&self.path).ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix(backoff::KEY)?.strip_prefix('='))
            .and_then(|v| v.trim().parse().ok())
    }

    /// Records the delay this run used (0 = the run stayed up long enough: start over).
    pub fn record(&self, prev_delay: u64) {
        if let Err(e) = self.write(prev_delay) {
            sys::say!(
                "cannot write backoff state `{}`: {}",
                self.path.display(),
                sys::err_text(&e)
            );
        }
    }

    fn write(&self, prev_delay: u64) -> io::Result<()> {
        sys::replace_file(
            &self.path,
            format!("{}={prev_delay}\n", backoff::KEY).as_bytes(),
        )
    }

    /// A manual stop/restart resets the backoff, as PM2's `resetState` does.
    pub fn clear(&self) {
        let _ = fs::remove_file(&self.path);
    }
}

pub fn next_delay(prev: u64, initial: u64, cap: u64) -> u64 {
    if prev == 0 {
        initial
    } else {
        // floor(min(cap, prev * 1.5)) in integers: prev * 3 / 2 floors the same way.
        cap.min(prev.saturating_mul(3) / 2)
    }
}

#[cfg(test)]
mod tests {
    use super::next_delay;

    #[test]
    fn pm2_sequence_for_100ms() {
        let mut prev = 0;
        let mut seq = Vec::new();
        for _ in 0..16 {
            prev = next_delay(prev, 100, 15000);
            seq.push(prev);
        }
        assert_eq!(
            seq,
            [
                100, 150, 225, 337, 505, 757, 1135, 1702, 2553, 3829, 5743, 8614, 12921, 15000,
                15000, 15000
            ]
        );
    }
}
