//! `rgen start|stop|restart|reload`: act on installed apps by name, namespace, group or `all`.

use std::io::Write as _;

use anyhow::{Result, bail};

use crate::apply::inventory::Inventory;
use crate::apply::paths;
use crate::apply::systemd::AppUnits;
use crate::cli::ControlArgs;
use crate::manager::systemd::{JobKind, Systemd};
use crate::observe::status::{self, InstalledApp};
use crate::plan::Backend;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verb {
    Start,
    Stop,
    Restart,
    Reload,
}

pub fn run(args: &ControlArgs, verb: Verb) -> Result<i32> {
    let target = args.target.target();
    if target.backend == Backend::Launchd {
        return crate::apply::launchd::control_command(args, verb, target);
    }
    let dir = paths::manager_dir(&target);
    let inventory = Inventory::scan(&dir);
    let installed = status::installed_apps(&inventory);
    let selected = status::select(&installed, &args.apps)?;
    if selected.is_empty() {
        bail!("rgen has installed no apps in {}", dir.display());
    }
    let sd = Systemd::connect(target.scope)?;
    let mut out = std::io::stdout().lock();
    let failures = match verb {
        Verb::Start => start(&sd, &selected)?,
        Verb::Stop => stop(&sd, &selected)?,
        Verb::Restart => restart(&sd, &selected)?,
        Verb::Reload => reload(&sd, &selected, &mut out)?,
    };
    if failures.is_empty() {
        let names: Vec<&str> = selected.iter().map(|a| a.name.as_str()).collect();
        writeln!(out, "{}: {}", past(verb), names.join(", "))?;
        return Ok(0);
    }
    for (unit, result) in &failures {
        writeln!(out, "failed: {unit}: {result}")?;
        crate::apply::systemd::report_unit_failure(&sd, unit, &mut out)?;
    }
    if failures
        .iter()
        .any(|(_, result)| result.starts_with(crate::manager::systemd::NOT_PERMITTED))
        && let Some(hint) = crate::not_permitted_hint()
    {
        writeln!(out, "hint: {hint}")?;
    }
    Ok(1)
}

fn past(verb: Verb) -> &'static str {
    match verb {
        Verb::Start => "started",
        Verb::Stop => "stopped",
        Verb::Restart => "restarted",
        Verb::Reload => "reloaded",
    }
}

type Failures = Vec<(String, String)>;

fn jobs(sd: &Systemd, jobs: Vec<(JobKind, String)>) -> Result<Failures> {
    Ok(sd
        .run_jobs(&jobs)?
        .into_iter()
        .filter(|o| o.result != "done")
        .map(|o| (o.unit, o.result))
        .collect())
}

/// One job of `kind` for the units `pick` chooses of every app, all queued together.
fn each(
    sd: &Systemd,
    apps: &[&InstalledApp<'_>],
    kind: JobKind,
    pick: impl Fn(&AppUnits) -> Vec<&String>,
) -> Result<Failures> {
    jobs(
        sd,
        apps.iter()
            .flat_map(|a| pick(&a.units))
            .map(|u| (kind, u.clone()))
            .collect(),
    )
}

fn sockets(u: &AppUnits) -> Vec<&String> {
    u.sockets.iter().collect()
}

fn start(sd: &Systemd, apps: &[&InstalledApp<'_>]) -> Result<Failures> {
    // An errored app (start limit hit) starts again only after its failure is forgotten.
    let services: Vec<String> = apps.iter().flat_map(|a| a.units.services.clone()).collect();
    sd.reset_failed(&services)?;
    let mut failures = each(sd, apps, JobKind::Start, sockets)?;
    failures.extend(each(sd, apps, JobKind::Start, |u| {
        u.services.iter().chain(&u.triggers).collect()
    })?);
    Ok(failures)
}

fn stop(sd: &Systemd, apps: &[&InstalledApp<'_>]) -> Result<Failures> {
    // Timers, watches and sockets first: any of them would start the app again.
    let mut failures = each(sd, apps, JobKind::Stop, |u| {
        u.triggers.iter().chain(&u.sockets).collect()
    })?;
    failures.extend(each(sd, apps, JobKind::Stop, |u| {
        u.services.iter().collect()
    })?);
    Ok(failures)
}

fn restart(sd: &Systemd, apps: &[&InstalledApp<'_>]) -> Result<Failures> {
    let services: Vec<String> = apps.iter().flat_map(|a| a.units.services.clone()).collect();
    sd.reset_failed(&services)?;
    let mut failures = each(sd, apps, JobKind::Start, sockets)?;
    failures.extend(each(sd, apps, JobKind::Restart, |u| {
        u.services.iter().collect()
    })?);
    failures.extend(each(sd, apps, JobKind::Start, |u| {
        u.triggers.iter().collect()
    })?);
    Ok(failures)
}

/// Zero-downtime reload: one instance at a time, the next only once the previous is ready again
/// (systemd finishes a restart job of a `Type=notify` unit only after `READY=1`). The listening
/// socket stays in systemd throughout, so connections wait in its queue instead of being refused.
fn reload(
    sd: &Systemd,
    apps: &[&InstalledApp<'_>],
    out: &mut dyn std::io::Write,
) -> Result<Failures> {
    let services: Vec<String> = apps.iter().flat_map(|a| a.units.services.clone()).collect();
    sd.reset_failed(&services)?;
    let mut failures = each(sd, apps, JobKind::Start, sockets)?;
    for app in apps {
        if app.units.sockets.is_empty() && app.units.services.len() > 1 {
            writeln!(
                out,
                "note: {} has no shared socket; its instances are restarted one by one",
                app.name
            )?;
        }
        for unit in &app.units.services {
            let f = jobs(sd, vec![(JobKind::Restart, unit.clone())])?;
            if !f.is_empty() {
                // Stop rolling: the remaining instances keep serving.
                failures.extend(f);
                return Ok(failures);
            }
        }
    }
    Ok(failures)
}
