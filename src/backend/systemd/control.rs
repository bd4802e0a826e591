//! `start`, `stop`, `restart` and `reload` as systemd jobs, in the order that keeps an app from
//! being started again behind rgen's back: sockets before services on the way up, timers, path
//! units and sockets before services on the way down.

use std::io::Write;

use anyhow::Result;

use super::dbus::{Client, JobKind};
use crate::apply::inventory::InstalledApp;
use crate::backend::{Failure, Verb};

pub fn control(
    sd: &Client,
    verb: Verb,
    apps: &[&InstalledApp],
    out: &mut dyn Write,
) -> Result<Vec<Failure>> {
    match verb {
        Verb::Start => start(sd, apps),
        Verb::Stop => stop(sd, apps),
        Verb::Restart => restart(sd, apps),
        Verb::Reload => reload(sd, apps, out),
    }
}

fn jobs(sd: &Client, jobs: Vec<(JobKind, String)>) -> Result<Vec<Failure>> {
    Ok(sd
        .run_jobs(&jobs)?
        .into_iter()
        .filter(|o| !o.done())
        .map(|o| Failure {
            not_permitted: o.not_permitted(),
            unit: o.unit,
            why: o.result,
        })
        .collect())
}

/// One job of `kind` for the units `pick` chooses of every app, all queued together.
fn each(
    sd: &Client,
    apps: &[&InstalledApp],
    kind: JobKind,
    pick: impl Fn(&InstalledApp) -> Vec<String>,
) -> Result<Vec<Failure>> {
    jobs(
        sd,
        apps.iter()
            .flat_map(|a| pick(a))
            .map(|u| (kind, u))
            .collect(),
    )
}

fn services(apps: &[&InstalledApp]) -> Vec<String> {
    apps.iter().flat_map(|a| a.services()).collect()
}

fn start(sd: &Client, apps: &[&InstalledApp]) -> Result<Vec<Failure>> {
    // An errored app (start limit hit) starts again only after its failure is forgotten.
    sd.reset_failed(&services(apps))?;
    let mut failures = each(sd, apps, JobKind::Start, InstalledApp::sockets)?;
    failures.extend(each(sd, apps, JobKind::Start, |a| {
        let mut units = a.services();
        units.extend(a.triggers());
        units
    })?);
    Ok(failures)
}

fn stop(sd: &Client, apps: &[&InstalledApp]) -> Result<Vec<Failure>> {
    // Timers, watches and sockets first: any of them would start the app again.
    let mut failures = each(sd, apps, JobKind::Stop, |a| {
        let mut units = a.triggers();
        units.extend(a.sockets());
        units
    })?;
    failures.extend(each(sd, apps, JobKind::Stop, InstalledApp::services)?);
    Ok(failures)
}

fn restart(sd: &Client, apps: &[&InstalledApp]) -> Result<Vec<Failure>> {
    sd.reset_failed(&services(apps))?;
    let mut failures = each(sd, apps, JobKind::Start, InstalledApp::sockets)?;
    failures.extend(each(sd, apps, JobKind::Restart, InstalledApp::services)?);
    failures.extend(each(sd, apps, JobKind::Start, InstalledApp::triggers)?);
    Ok(failures)
}

/// Zero-downtime reload: one instance at a time, the next only once the previous is ready again
/// (systemd finishes a restart job of a `Type=notify` unit only after `READY=1`). The listening
/// socket stays in systemd throughout, so connections wait in its queue instead of being refused.
fn reload(sd: &Client, apps: &[&InstalledApp], out: &mut dyn Write) -> Result<Vec<Failure>> {
    sd.reset_failed(&services(apps))?;
    let mut failures = each(sd, apps, JobKind::Start, InstalledApp::sockets)?;
    for app in apps {
        let services = app.services();
        if app.sockets().is_empty() && services.len() > 1 {
            writeln!(
                out,
                "note: {} has no shared socket; its instances are restarted one by one",
                app.name
            )?;
        }
        for unit in services {
            let f = jobs(sd, vec![(JobKind::Restart, unit)])?;
            if !f.is_empty() {
                // Stop rolling: the remaining instances keep serving.
                failures.extend(f);
                return Ok(failures);
            }
        }
    }
    Ok(failures)
}

/// `rgen scale`: the template's instances up or down to `count`, the shared socket untouched.
/// The count is recorded in the app's files (`X-Rgen-Instances=`), so `status` reads it and
/// reports drift from the ecosystem file.
pub fn scale(
    m: &super::SystemdManager,
    app: &InstalledApp,
    count: u32,
    out: &mut dyn Write,
) -> Result<Vec<Failure>> {
    use super::names;
    let Some(template) = app.units.iter().find(|u| {
        u.role == crate::apply::inventory::Role::App && names::instance_pattern(&u.name).is_some()
    }) else {
        anyhow::bail!(
            "{} runs as one service, not as instances of a template; set `instances` in its ecosystem file and run `rgen install` (or reinstall it with `-i N`)",
            app.name
        );
    };
    if count == 0 {
        anyhow::bail!("scaling to 0 instances: use `rgen stop {}`", app.name);
    }
    if count > crate::model::MAX_INSTANCES {
        anyhow::bail!(
            "{count} instances is more than rgen runs for one app ({})",
            crate::model::MAX_INSTANCES
        );
    }
    let current = app.instances().unwrap_or(1);
    if count == current {
        writeln!(out, "{} already runs {count} instances", app.name)?;
        return Ok(Vec::new());
    }
    let unit = names::unit_of_template(&template.name).unwrap_or_default();
    for u in &app.units {
        if u.marker.instances.is_none() {
            continue;
        }
        let old = format!("\n{}Instances={current}\n", crate::backend::MARKER_PREFIX);
        let new = format!("\n{}Instances={count}\n", crate::backend::MARKER_PREFIX);
        if u.contents.contains(&old) {
            crate::apply::files::write_atomic(
                &u.path,
                u.contents.replacen(&old, &new, 1).as_bytes(),
                if u.role == crate::apply::inventory::Role::Environment {
                    0o600
                } else {
                    0o644
                },
            )?;
        }
    }
    m.bus.reload()?;
    let range: Vec<String> = if count > current {
        (current..count).map(|i| names::instance(unit, i)).collect()
    } else {
        (count..current)
            .rev()
            .map(|i| names::instance(unit, i))
            .collect()
    };
    let failures = if count > current {
        m.bus.enable(&range)?;
        let f = jobs(
            &m.bus,
            range.iter().map(|u| (JobKind::Start, u.clone())).collect(),
        )?;
        writeln!(out, "{}: started {}", app.name, range.join(", "))?;
        f
    } else {
        let f = jobs(
            &m.bus,
            range.iter().map(|u| (JobKind::Stop, u.clone())).collect(),
        )?;
        m.bus.disable(&range)?;
        writeln!(out, "{}: stopped {}", app.name, range.join(", "))?;
        f
    };
    Ok(failures)
}

/// `rgen signal`: every process of every instance. Behind the shim the app leads its own
/// process group, which gets the signal (the shim itself is left alone); otherwise the unit's
/// whole control group does.
pub fn signal(sd: &Client, apps: &[&InstalledApp], signal: i32) -> Result<Vec<Failure>> {
    let mut failures = Vec::new();
    for app in apps {
        let rows = super::status::collect(sd, &[app])?;
        for unit in rows.iter().flat_map(|r| r.units.iter()) {
            let failure = |why: String| Failure {
                unit: unit.unit.clone(),
                why,
                not_permitted: false,
            };
            match (unit.pid, unit.main_pid) {
                (Some(pid), Some(main)) if pid != main => {
                    // Still the shim's child and its group's leader: the app may have exited
                    // since the status was read, and its pid gone to a group of anyone's.
                    if super::cgroup::proc_parent_and_group(pid) != Some((main, pid)) {
                        failures.push(failure(
                            "the app was restarting; nothing was signalled (run it again)".into(),
                        ));
                        continue;
                    }
                    // SAFETY: kill has no memory preconditions; a negative pid names a group.
                    if unsafe { libc::kill(-(pid as i32), signal) } != 0 {
                        failures.push(failure(std::io::Error::last_os_error().to_string()));
                    }
                }
                (Some(_), _) => {
                    if let Err(e) = sd.kill(&unit.unit, "all", signal) {
                        failures.push(failure(format!("{e:#}")));
                    }
                }
                (None, _) => failures.push(failure("not running".into())),
            }
        }
    }
    Ok(failures)
}

/// `rgen reset`: restart counters and failed states forgotten.
pub fn reset(sd: &Client, apps: &[&InstalledApp]) -> Result<Vec<Failure>> {
    let units: Vec<String> = apps.iter().flat_map(|a| a.services()).collect();
    Ok(sd
        .reset_counters(&units)?
        .into_iter()
        .filter(|(_, why)| !why.contains("not loaded"))
        .map(|(unit, why)| Failure {
            unit,
            why,
            not_permitted: false,
        })
        .collect())
}
