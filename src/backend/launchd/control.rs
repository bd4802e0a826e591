//! `start`, `stop`, `restart` and `reload` of launchd jobs.
//!
//! - `stop` is `pm2 stop` + `pm2 save`: the job is booted out (a `KeepAlive` job would come
//!   straight back after a kill) and its label disabled, so it stays stopped across logins and
//!   reboots until `rgen start` (or an `rgen install`, which starts every app, as `pm2 start
//!   ecosystem.config.js` does). Its cron and watch helpers stop with it.
//! - `start` enables, loads and starts what is not running.
//! - `restart` sends the shim its graceful restart signal (`launchctl kill SIGURG`): the stop
//!   signal to the app's process group, SIGKILL after `kill_timeout`, and a new app only once the
//!   old one is gone. Never `kickstart -k`: that SIGKILLs the shim at once, and the app, in its
//!   own process group, would live on as an orphan holding its port. `reload` does the same one
//!   job at a time, each only once the previous one is online again.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Result;

use super::install::{bootout, ensure_loaded};
use super::launchctl::Launchctl;
use super::status::{ShimStatus, status_file};
use super::{LaunchdManager, names};
use crate::apply::inventory::{InstalledApp, InstalledUnit, Role};
use crate::backend::{Failure, Verb};
use crate::shim_protocol::{default, opt, signal};

/// One loaded (or loadable) job of an installed app.
struct JobRef<'a> {
    unit: &'a InstalledUnit,
    label: &'a str,
    service: String,
    domain: String,
    plist: PathBuf,
}

fn jobs<'a>(m: &LaunchdManager, app: &'a InstalledApp, apps_not_helpers: bool) -> Vec<JobRef<'a>> {
    app.units
        .iter()
        .filter(|u| (u.role == Role::App) == apps_not_helpers)
        .flat_map(|unit| {
            let domain = m.domain_of(unit);
            unit.runtime.iter().map(move |label| JobRef {
                unit,
                label,
                service: names::service(&domain, label),
                domain: domain.clone(),
                plist: unit.path.clone(),
            })
        })
        .collect()
}

fn failure(label: &str, why: String) -> Failure {
    Failure {
        unit: label.to_string(),
        why,
        not_permitted: false,
    }
}

pub fn control(
    m: &LaunchdManager,
    verb: Verb,
    apps: &[&InstalledApp],
    out: &mut dyn Write,
) -> Result<Vec<Failure>> {
    m.require_root_for_system()?;
    match verb {
        Verb::Stop => stop(m, apps, out),
        Verb::Start => start(m, apps),
        Verb::Restart => restart(m, apps, false),
        Verb::Reload => {
            if apps.iter().any(|a| a.services().len() > 1) {
                writeln!(
                    out,
                    "note: launchd cannot hold a port for several jobs: instances are restarted one at a time, each after the previous one is online again"
                )?;
            }
            restart(m, apps, true)
        }
    }
}

fn stop(m: &LaunchdManager, apps: &[&InstalledApp], out: &mut dyn Write) -> Result<Vec<Failure>> {
    let lc = &m.launchctl;
    for app in apps {
        // Helpers first: either would restart the app while it stops.
        for job in jobs(m, app, false).into_iter().chain(jobs(m, app, true)) {
            bootout(lc, &job.service)?;
            lc.disable(&job.service)?;
        }
    }
    writeln!(
        out,
        "note: stopped until `rgen start` (or `rgen install`), across logins and reboots"
    )?;
    Ok(Vec::new())
}

fn start(m: &LaunchdManager, apps: &[&InstalledApp]) -> Result<Vec<Failure>> {
    let lc = &m.launchctl;
    for app in apps {
        for job in jobs(m, app, true) {
            start_app_job(lc, &job)?;
        }
        for job in jobs(m, app, false) {
            ensure_loaded(lc, &job.domain, job.label, &job.plist, false)?;
        }
    }
    Ok(Vec::new())
}

/// Loads and starts a job that is not running (not loaded, errored, or exited); a running one is
/// left alone.
fn start_app_job(lc: &Launchctl, job: &JobRef<'_>) -> Result<()> {
    match lc.print(&job.service)? {
        None => ensure_loaded(lc, &job.domain, job.label, &job.plist, true),
        Some(info) if info.running() => Ok(()),
        Some(_) => {
            lc.kickstart(&job.service, false)?;
            Ok(())
        }
    }
}

/// A restart asked of a shim, and where to see it happen.
struct Pending<'a> {
    label: &'a str,
    status: PathBuf,
    since_ms: u64,
    timeout: Duration,
}

fn restart(m: &LaunchdManager, apps: &[&InstalledApp], rolling: bool) -> Result<Vec<Failure>> {
    let lc = &m.launchctl;
    let mut failures = Vec::new();
    let mut pending = Vec::new();
    for app in apps {
        for job in jobs(m, app, true) {
            let running = lc.print(&job.service)?.is_some_and(|i| i.running());
            if !running {
                start_app_job(lc, &job)?;
                continue;
            }
            if !job.unit.shimmed {
                // No shim to stop the app gracefully: launchd's own restart.
                let out = lc.kickstart(&job.service, true)?;
                if !out.ok() {
                    failures.push(failure(
                        job.label,
                        format!(
                            "`launchctl kickstart -k {}` failed ({}): {}",
                            job.service,
                            out.code,
                            out.text()
                        ),
                    ));
                }
                continue;
            }
            let since_ms = now_ms();
            let out = lc.kill(signal::RESTART, &job.service)?;
            if !out.ok() {
                // It exited between the look and the signal: start it instead.
                start_app_job(lc, &job)?;
                continue;
            }
            // A shim that never wrote its status file cannot be watched restarting.
            if let Some(status) = status_file(&job.unit.argv).filter(|s| s.exists()) {
                let p = Pending {
                    label: job.label,
                    status,
                    since_ms,
                    timeout: restart_timeout(&job.unit.argv, rolling),
                };
                if rolling {
                    if let Err(why) = wait_restarted(&p, true) {
                        // Stop rolling: the remaining instances keep serving.
                        failures.push(failure(p.label, why));
                        return Ok(failures);
                    }
                } else {
                    pending.push(p);
                }
            }
        }
        for job in jobs(m, app, false) {
            ensure_loaded(lc, &job.domain, job.label, &job.plist, false)?;
        }
    }
    for p in &pending {
        if let Err(why) = wait_restarted(p, false) {
            failures.push(failure(p.label, why));
        }
    }
    Ok(failures)
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// How long a graceful restart may take: the shim's stop timeout, its readiness wait for a
/// reload, and a margin for the new app to start.
fn restart_timeout(argv: &[String], rolling: bool) -> Duration {
    let (options, _) = crate::backend::shim_args::split(argv);
    let value = |name: &str, default: u64| {
        options
            .windows(2)
            .find(|pair| pair[0] == name)
            .and_then(|pair| pair[1].parse().ok())
            .unwrap_or(default)
    };
    let stop = value(opt::KILL_TIMEOUT, default::KILL_TIMEOUT_MS);
    let ready = if rolling {
        value(opt::LISTEN_TIMEOUT, default::LISTEN_TIMEOUT_MS)
    } else {
        0
    };
    Duration::from_millis(stop + ready + 10_000)
}

/// Waits until the shim's status file shows an app started after the restart was asked for
/// (and, for a reload, online), or says why not.
fn wait_restarted(p: &Pending<'_>, online: bool) -> Result<(), String> {
    let deadline = Instant::now() + p.timeout;
    let log_hint = shim_log_hint(&p.status);
    loop {
        if let Some(s) = ShimStatus::read(&p.status) {
            let new = s.started_at_unix_ms.is_some_and(|t| t >= p.since_ms);
            match s.state.as_str() {
                crate::shim_protocol::status::ERRORED => {
                    return Err(format!("the app did not come back: errored{log_hint}"));
                }
                crate::shim_protocol::status::ONLINE if new => return Ok(()),
                crate::shim_protocol::status::LAUNCHING if new && !online => return Ok(()),
                _ => {}
            }
        }
        if Instant::now() > deadline {
            return Err(format!(
                "no new start of the app within {} s of the restart signal{log_hint}",
                p.timeout.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn shim_log_hint(status: &Path) -> String {
    format!(
        " (the shim's state: {}; its log is in ~/Library/Logs/rgen)",
        status.display()
    )
}
