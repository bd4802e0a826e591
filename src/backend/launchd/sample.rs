//! Readings of installed apps on launchd, for `rgen monit`: the same `launchctl print` per job
//! and one `ps` as `status` (`status.rs`), compared with the previous reading to tell what
//! happened in between. No `cfg(target_os)`: `ps` converts the kernel's CPU times itself (Mach
//! time units on Apple silicon are not nanoseconds), so nothing here depends on the machine.

use anyhow::Result;

use super::LaunchdManager;
use crate::apply::inventory::InstalledApp;
use crate::observe::sample::{self, AppSample, Event, Sampler, UnitSample};
use crate::observe::status::UnitStatus;

pub struct LaunchdSampler<'a> {
    manager: &'a LaunchdManager,
    apps: Vec<InstalledApp>,
    previous: Vec<Vec<UnitStatus>>,
}

impl<'a> LaunchdSampler<'a> {
    pub fn new(manager: &'a LaunchdManager, apps: &[&InstalledApp]) -> Self {
        LaunchdSampler {
            manager,
            apps: apps.iter().map(|a| (*a).clone()).collect(),
            previous: Vec::new(),
        }
    }
}

impl Sampler for LaunchdSampler<'_> {
    fn sample(&mut self) -> Result<Vec<AppSample>> {
        let apps: Vec<&InstalledApp> = self.apps.iter().collect();
        let rows = super::status::collect(self.manager, &apps)?;
        let mut out = Vec::with_capacity(rows.len());
        let mut previous = Vec::with_capacity(rows.len());
        for (i, (app, row)) in self.apps.iter().zip(rows).enumerate() {
            let limit = app.memory_limit();
            let before = self.previous.get(i);
            let units: Vec<UnitSample> = row
                .units
                .into_iter()
                .enumerate()
                .map(|(j, mut status)| {
                    status.memory_limit_bytes = limit;
                    let events = before
                        .and_then(|b| b.get(j))
                        .map(|b| events(b, &status))
                        .unwrap_or_default();
                    UnitSample { status, events }
                })
                .collect();
            previous.push(units.iter().map(|u| u.status.clone()).collect());
            out.push(AppSample {
                name: app.name.clone(),
                group: app.group.clone(),
                units,
            });
        }
        self.previous = previous;
        Ok(out)
    }
}

/// launchd counts spawns and the shim restarts the app inside one spawn (its memory watchdog,
/// its backoff): a new app pid under the same shim near the limit is the shim's OOM restart.
fn events(before: &UnitStatus, now: &UnitStatus) -> Vec<Event> {
    let mut out = Vec::new();
    if now.restarts > before.restarts {
        out.push(Event::Crash);
    }
    let same_job = now.main_pid.is_some() && now.main_pid == before.main_pid;
    if same_job && now.pid.is_some() && before.pid.is_some() && now.pid != before.pid {
        let near = sample::at_limit(before.memory_bytes, before.memory_limit_bytes);
        out.push(if near { Event::OomKill } else { Event::Restart });
    }
    if now.status == "waiting restart" && before.status != "waiting restart" {
        out.push(Event::Backoff);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(pid: Option<u32>, main: Option<u32>, restarts: u32, mem: u64) -> UnitStatus {
        let mut u = UnitStatus::not_loaded("rgen.api");
        u.pid = pid;
        u.main_pid = main;
        u.restarts = restarts;
        u.memory_bytes = Some(mem);
        u.memory_limit_bytes = Some(100 << 20);
        u.status = "online".into();
        u
    }

    #[test]
    fn what_changed_between_two_readings() {
        let a = unit(Some(701), Some(700), 0, 95 << 20);
        // The shim restarted its app at the limit.
        assert_eq!(
            events(&a, &unit(Some(705), Some(700), 0, 10 << 20)),
            [Event::OomKill]
        );
        // launchd spawned the job again.
        assert_eq!(
            events(&a, &unit(Some(801), Some(800), 1, 10 << 20)),
            [Event::Crash]
        );
        let mut waiting = unit(None, Some(700), 0, 0);
        waiting.status = "waiting restart".into();
        assert_eq!(events(&a, &waiting), [Event::Backoff]);
        assert!(events(&a, &a).is_empty());
    }
}
