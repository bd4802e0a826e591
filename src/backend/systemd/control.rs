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
