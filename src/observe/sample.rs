//! One reading of the installed apps, as a backend's sampler takes it: the numbers `status`
//! prints once and `monit` draws again and again, and what the manager reported in between
//! (an OOM kill, a crash loop at its start limit, a restart waiting out its delay).
//!
//! A sampler is built once and asked for readings ([`Sampler::sample`]); it keeps what it
//! learnt (a unit's cgroup, the last counters) so that a reading costs file reads, not
//! round trips to the manager.

use serde::Serialize;

use super::status::UnitStatus;

/// Takes readings of a fixed set of apps.
pub trait Sampler {
    /// Every app's units now, in the order the sampler was given the apps.
    fn sample(&mut self) -> anyhow::Result<Vec<AppSample>>;
}

/// One app at one moment.
#[derive(Clone, Debug)]
pub struct AppSample {
    pub name: String,
    pub group: String,
    pub units: Vec<UnitSample>,
}

/// One running unit (an instance) at one moment.
#[derive(Clone, Debug)]
pub struct UnitSample {
    pub status: UnitStatus,
    /// What happened to the unit since the previous reading, oldest first.
    pub events: Vec<Event>,
}

/// Something the manager knows happened to a unit, which PM2 never showed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Event {
    /// Killed at its memory limit (systemd's `Result=oom-kill` on cgroup v2; on v1 a SIGKILL
    /// while its cgroup was at the limit).
    OomKill,
    /// Crashed too often too fast: the manager gave up (`start-limit-hit`, PM2's `errored`).
    StartLimit,
    /// Exited and waiting out its restart delay (`auto-restart`, or the shim's backoff).
    Backoff,
    /// Exited by itself (an exit code or a signal) and was restarted.
    Crash,
    /// Started again (the restart counter rose, or its process changed).
    Restart,
}

impl Event {
    pub fn as_str(self) -> &'static str {
        match self {
            Event::OomKill => "oom-kill",
            Event::StartLimit => "start-limit",
            Event::Backoff => "backoff",
            Event::Crash => "crash",
            Event::Restart => "restart",
        }
    }

    /// The one-letter mark `monit` puts on a row and under its graph.
    pub fn mark(self) -> char {
        match self {
            Event::OomKill => 'M',
            Event::StartLimit => 'L',
            Event::Backoff => 'B',
            Event::Crash => 'C',
            Event::Restart => 'R',
        }
    }

    /// How much a reader should care: a row shows the worst of its events.
    pub fn severity(self) -> u8 {
        match self {
            Event::Restart => 0,
            Event::Backoff => 1,
            Event::Crash => 2,
            Event::OomKill => 3,
            Event::StartLimit => 4,
        }
    }
}

/// What a unit's last run ended with, from the manager's `Result` and exit status, in the
/// words of [`Event`]. `at_limit`: the unit's memory was at its limit when last seen (how an
/// OOM kill shows on cgroup v1, where systemd only sees a SIGKILL).
pub fn event_of_result(result: &str, exit_status: Option<i32>, at_limit: bool) -> Option<Event> {
    const SIGKILL: i32 = 9;
    match result {
        "oom-kill" => Some(Event::OomKill),
        "start-limit-hit" => Some(Event::StartLimit),
        "signal" | "core-dump" if exit_status == Some(SIGKILL) && at_limit => Some(Event::OomKill),
        "exit-code" | "signal" | "core-dump" | "timeout" | "watchdog" => Some(Event::Crash),
        _ => None,
    }
}

/// A unit counts as at its limit when its memory is within this share of it: the kernel
/// reclaims and kills at the limit itself, so the last reading before a kill is close to it.
pub const AT_LIMIT_SHARE: f64 = 0.9;

pub fn at_limit(memory: Option<u64>, limit: Option<u64>) -> bool {
    match (memory, limit) {
        (Some(m), Some(l)) if l > 0 => m as f64 >= l as f64 * AT_LIMIT_SHARE,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_become_events() {
        assert_eq!(
            event_of_result("oom-kill", Some(9), false),
            Some(Event::OomKill)
        );
        // cgroup v1: systemd sees only the SIGKILL; the cgroup was at its limit.
        assert_eq!(
            event_of_result("signal", Some(9), true),
            Some(Event::OomKill)
        );
        assert_eq!(
            event_of_result("signal", Some(9), false),
            Some(Event::Crash)
        );
        assert_eq!(
            event_of_result("start-limit-hit", Some(1), false),
            Some(Event::StartLimit)
        );
        assert_eq!(
            event_of_result("exit-code", Some(1), false),
            Some(Event::Crash)
        );
        assert_eq!(event_of_result("success", Some(0), true), None);
        assert!(at_limit(Some(63 << 20), Some(64 << 20)));
        assert!(!at_limit(Some(20 << 20), Some(64 << 20)));
        assert!(!at_limit(Some(20 << 20), None));
    }
}
