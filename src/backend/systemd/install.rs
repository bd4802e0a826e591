//! Installing and removing units on a running systemd: write (atomically, only what changed),
//! reload, enable through the group target, start or restart only the apps that changed, wait for
//! every job, and report failures with the unit's result and last log lines.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};

use super::dbus::{Client, JobKind, JobOutcome};
use super::{SystemdManager, names};
use crate::apply::changes::{ChangeSet, FileChange};
use crate::apply::files::{LOG_DIR_MODE, PARENT_DIR_MODE, create_dir_safely, write_atomic};
use crate::apply::inventory::{InstalledUnit, Role};
use crate::plan::{Plan, ServiceSpec};
use crate::target::Scope;

/// What install will do, in the order it does it (a dry run prints this).
pub fn actions(plan: &Plan, set: &ChangeSet) -> Vec<String> {
    let changed: BTreeSet<String> = set.changed_apps().into_iter().collect();
    let mut actions: Vec<String> = Vec::new();
    if !set.is_noop() {
        actions.push("reload the manager".into());
    }
    for spec in &plan.services {
        let verb = match (spec.autostart, changed.contains(&spec.app)) {
            (false, _) => "install, do not start (autostart: false)",
            (true, true) => "restart",
            (true, false) => "start if stopped (unchanged)",
        };
        actions.push(format!("{verb}: {}", spec.app));
    }
    actions.push(format!(
        "enable at boot through {}",
        names::group_target(&plan.group)
    ));
    actions
}

/// The units of one app as rendered: what to start, in which role.
struct AppUnits {
    services: Vec<String>,
    sockets: Vec<String>,
    triggers: Vec<String>,
}

impl AppUnits {
    fn of(spec: &ServiceSpec, set: &ChangeSet) -> AppUnits {
        let mut units = AppUnits {
            services: Vec::new(),
            sockets: Vec::new(),
            triggers: Vec::new(),
        };
        for f in set
            .files
            .iter()
            .filter(|f| f.file.app.as_deref() == Some(&spec.app))
        {
            let name = &f.file.name;
            if name == &names::service_file(&spec.unit, spec.instances.is_some()) {
                units.services =
                    names::runtime_services(name, spec.instances.as_ref().map(|i| i.count));
            } else if name.ends_with(".socket") {
                units.sockets.push(name.clone());
            } else if name.ends_with(".timer") || name.ends_with(".path") {
                units.triggers.push(name.clone());
            }
        }
        units
    }

    fn runtime(&self) -> Vec<String> {
        self.services
            .iter()
            .chain(&self.sockets)
            .chain(&self.triggers)
            .cloned()
            .collect()
    }
}

/// Installs a compiled plan whose files and conflicts have been computed and printed.
pub fn install(
    m: &SystemdManager,
    plan: &Plan,
    set: &ChangeSet,
    out: &mut dyn Write,
) -> Result<()> {
    let sd = &m.bus;
    let dir = &m.dir;
    let group_target = names::group_target(&plan.group);
    let mut changed: BTreeSet<String> = set.changed_apps().into_iter().collect();
    // An earlier install killed half-way may have left files the manager has not read, or
    // processes started from an older version of their files: converge on them as well.
    let stale_runtime = behind_their_files(sd, plan, set)?;
    changed.extend(stale_runtime.apps);

    // Files: log directories first, so the first start can open them.
    create_dir_safely(dir, own_dir_owner(&m.target), PARENT_DIR_MODE)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    for spec in &plan.services {
        for d in &spec.logs.dirs {
            create_log_dir(d, spec.user.as_deref(), spec.group.as_deref())?;
        }
    }
    // Stale units go before their files.
    if !set.stale.is_empty() {
        let runtime: Vec<String> = set.stale.iter().flat_map(|u| u.runtime.clone()).collect();
        stop_units(sd, &runtime)?;
        let files: Vec<String> = set
            .stale
            .iter()
            .filter(|u| u.role != Role::Environment)
            .map(|u| u.name.clone())
            .collect();
        sd.disable(&files)?;
        for f in &set.stale {
            std::fs::remove_file(&f.path)
                .with_context(|| format!("cannot remove {}", f.path.display()))?;
        }
    }
    for f in set.writes() {
        // A rewrite of rgen's record alone keeps the file's time: what systemd runs was written
        // then, and a file newer than its process reads as an install killed half-way.
        let kept = (f.change == FileChange::Bookkeeping)
            .then(|| std::fs::metadata(&f.path).and_then(|m| m.modified()).ok())
            .flatten();
        write_atomic(&f.path, f.file.contents.as_bytes(), f.file.mode)?;
        if let Some(time) = kept {
            std::fs::File::open(&f.path)
                .and_then(|file| file.set_modified(time))
                .with_context(|| format!("cannot keep the time of {}", f.path.display()))?;
        }
    }
    if !set.is_noop() || stale_runtime.reload {
        sd.reload()?;
    }

    // Enable: the group target at boot, each autostart app through the group target.
    let mut enable = vec![group_target.clone()];
    let mut start_jobs: Vec<(JobKind, String)> = Vec::new();
    let mut socket_jobs: Vec<(JobKind, String)> = Vec::new();
    for spec in &plan.services {
        let units = AppUnits::of(spec, set);
        // Instances beyond the current count (after lowering `instances`) are retired.
        if let Some(pattern) = spec
            .instances
            .as_ref()
            .and_then(|_| names::instance_pattern(&names::service_file(&spec.unit, true)))
        {
            let extra: Vec<String> = sd
                .list_units(&[pattern])?
                .into_iter()
                .map(|u| u.name)
                .filter(|n| !units.services.contains(n))
                .collect();
            if !extra.is_empty() {
                stop_units(sd, &extra)?;
                sd.disable(&extra)?;
            }
        }
        if !spec.autostart {
            sd.disable(&units.runtime())?;
            continue;
        }
        enable.extend(units.runtime());
        let kind = if changed.contains(&spec.app) {
            JobKind::Restart
        } else {
            JobKind::Start
        };
        let socket_changed = set
            .files
            .iter()
            .any(|f| units.sockets.contains(&f.file.name) && f.change.reloads());
        if socket_changed {
            // A new listening address: stop the service, replace the socket, start again.
            stop_units(sd, &units.services)?;
            socket_jobs.extend(units.sockets.iter().map(|s| (JobKind::Restart, s.clone())));
            start_jobs.extend(units.services.iter().map(|s| (JobKind::Start, s.clone())));
        } else {
            socket_jobs.extend(units.sockets.iter().map(|s| (JobKind::Start, s.clone())));
            start_jobs.extend(units.services.iter().map(|s| (kind, s.clone())));
        }
        start_jobs.extend(units.triggers.iter().map(|t| (kind, t.clone())));
        if kind == JobKind::Restart {
            // A restart after a change starts from a clean slate, like PM2's.
            sd.reset_failed(&units.services)?;
        }
    }
    sd.enable(&enable)?;
    start_jobs.push((JobKind::Start, group_target.clone()));

    let mut failures = failed(sd.run_jobs(&socket_jobs)?);
    failures.extend(failed(sd.run_jobs(&start_jobs)?));
    if !failures.is_empty() {
        let installed = m.installed_apps();
        for f in &failures {
            writeln!(out, "failed: {} ({:?}): {}", f.unit, f.kind, f.result)?;
            match installed.iter().find(|a| a.services().contains(&f.unit)) {
                Some(app) => m.explain(&f.unit, app, out)?,
                None => m.explain_unit(&f.unit, out)?,
            }
        }
        bail!(
            "{} unit{} did not start",
            failures.len(),
            if failures.len() == 1 { "" } else { "s" }
        );
    }

    let started: Vec<&str> = plan
        .services
        .iter()
        .filter(|s| s.autostart)
        .map(|s| s.app.as_str())
        .collect();
    writeln!(
        out,
        "running: {} ({} changed); enabled at boot through {group_target}",
        started.join(", "),
        changed.len()
    )?;
    if plan.target.scope == Scope::User {
        ensure_linger(m, out)?;
    }
    Ok(())
}

/// What an interrupted earlier install left behind, seen from the manager.
struct Behind {
    /// Some unit's file changed since the manager read it (`NeedDaemonReload`).
    reload: bool,
    /// Apps whose running process started before their files were last written.
    apps: BTreeSet<String>,
}

fn behind_their_files(sd: &Client, plan: &Plan, set: &ChangeSet) -> Result<Behind> {
    use super::dbus::{prop_bool, prop_u64};
    let mut behind = Behind {
        reload: false,
        apps: BTreeSet::new(),
    };
    let mut names: Vec<(String, String)> = Vec::new();
    for spec in &plan.services {
        for unit in AppUnits::of(spec, set).runtime() {
            names.push((spec.app.clone(), unit));
        }
    }
    let listed: Vec<String> = names.iter().map(|(_, u)| u.clone()).collect();
    let props = sd.units_with_properties(
        &listed,
        &[
            (UNIT, "NeedDaemonReload"),
            (SERVICE, "ExecMainStartTimestamp"),
        ],
    )?;
    for (listing, p) in &props {
        let Some((app, _)) = names.iter().find(|(_, u)| *u == listing.name) else {
            continue;
        };
        if prop_bool(p, "NeedDaemonReload") == Some(true) {
            behind.reload = true;
            behind.apps.insert(app.clone());
        }
        let running = listing.active_state == "active" || listing.active_state == "reloading";
        let started_us = prop_u64(p, "ExecMainStartTimestamp").filter(|&t| t != 0);
        if let (true, Some(started_us)) = (running, started_us)
            && let Some(written_us) = newest_file_of(app, set)
            && written_us > started_us
        {
            behind.apps.insert(app.clone());
        }
    }
    Ok(behind)
}

/// When the app's files on disk were last written, in µs since the epoch.
fn newest_file_of(app: &str, set: &ChangeSet) -> Option<u64> {
    set.files
        .iter()
        .filter(|f| f.file.app.as_deref() == Some(app))
        .filter_map(|f| std::fs::metadata(&f.path).ok()?.modified().ok())
        .filter_map(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_micros() as u64)
        .max()
}

const UNIT: &str = "org.freedesktop.systemd1.Unit";
const SERVICE: &str = "org.freedesktop.systemd1.Service";

fn failed(outcomes: Vec<JobOutcome>) -> Vec<JobOutcome> {
    outcomes.into_iter().filter(|o| !o.done()).collect()
}

pub fn stop_units(sd: &Client, units: &[String]) -> Result<()> {
    let jobs: Vec<(JobKind, String)> = units.iter().map(|u| (JobKind::Stop, u.clone())).collect();
    for o in sd.run_jobs(&jobs)? {
        // Stopping a unit that is not loaded is fine; anything else is worth knowing.
        if !o.done() && !o.result.contains("not loaded") {
            bail!("could not stop {}: {}", o.unit, o.result);
        }
    }
    Ok(())
}

/// A log directory, created component by component without following anyone's symlinks and
/// given to the app's user; a directory another user owns on the way is refused.
fn create_log_dir(dir: &Path, user: Option<&str>, group: Option<&str>) -> Result<()> {
    let owner = crate::apply::users::owner_of(user, group).map_err(anyhow::Error::msg)?;
    create_dir_safely(dir, owner, LOG_DIR_MODE)
        .with_context(|| format!("cannot create the log directory {}", dir.display()))?;
    Ok(())
}

/// The unit directory belongs to whoever runs the manager: root, or the user of a user manager.
fn own_dir_owner(target: &crate::target::Target) -> Option<(u32, u32)> {
    (target.uid != 0).then(|| {
        let gid = crate::apply::users::lookup_user(&target.uid.to_string())
            .map_or(target.uid, |(_, g)| g);
        (target.uid, gid)
    })
}

/// User services start at boot only for lingering users. Turn it on, or say clearly why not.
fn ensure_linger(m: &SystemdManager, out: &mut dyn Write) -> Result<()> {
    let user = m.target.user_name();
    if Path::new("/var/lib/systemd/linger").join(user).exists() {
        return Ok(());
    }
    match Client::enable_linger(m.target.uid) {
        Ok(()) => writeln!(
            out,
            "lingering enabled for `{user}`: the apps start at boot without a login"
        )?,
        Err(e) => writeln!(
            out,
            "note: could not enable lingering for `{user}` ({e}); the apps start only once you log in. Fix: `sudo loginctl enable-linger {user}`"
        )?,
    }
    Ok(())
}

/// Removes units: stop every one (triggers first), disable, delete every file, reload.
pub fn uninstall(m: &SystemdManager, units: &[InstalledUnit], out: &mut dyn Write) -> Result<()> {
    let sd = &m.bus;
    let mut runtime: Vec<String> = Vec::new();
    let mut unit_files: Vec<String> = Vec::new();
    let mut apps_seen: BTreeSet<String> = BTreeSet::new();
    for u in units {
        runtime.extend(u.runtime.iter().cloned());
        if u.role != Role::Environment {
            unit_files.push(u.name.clone());
        }
        unit_files.extend(u.runtime.iter().cloned());
        // Every running instance, also those beyond the recorded count.
        if u.role == Role::App
            && let Some(pattern) = names::instance_pattern(&u.name)
        {
            for listed in sd.list_units(&[pattern])? {
                if !runtime.contains(&listed.name) {
                    runtime.push(listed.name.clone());
                }
                unit_files.push(listed.name);
            }
        }
        if let Some(app) = &u.marker.app
            && apps_seen.insert(app.clone())
        {
            writeln!(out, "  - {app}")?;
        }
    }
    // Triggers and sockets first, so nothing starts an app while it is being stopped; the
    // group's own target goes once its apps are gone.
    let role_of = |name: &str| {
        units
            .iter()
            .find(|u| u.runtime.iter().any(|r| r == name) || u.name == name)
            .map(|u| u.role)
    };
    let (first, rest): (Vec<String>, Vec<String>) = runtime
        .into_iter()
        .partition(|u| matches!(role_of(u), Some(Role::Trigger(_) | Role::Socket)));
    let (targets, services): (Vec<String>, Vec<String>) = rest
        .into_iter()
        .partition(|u| role_of(u) == Some(Role::Group));
    stop_units(sd, &first)?;
    stop_units(sd, &services)?;
    stop_units(sd, &targets)?;
    unit_files.sort();
    unit_files.dedup();
    sd.disable(&unit_files)?;
    for u in units {
        std::fs::remove_file(&u.path)
            .with_context(|| format!("cannot remove {}", u.path.display()))?;
    }
    remove_dangling_links(&m.dir)?;
    sd.reload()?;
    sd.reset_failed(&services)?;
    Ok(())
}

/// Enable symlinks pointing at files that are gone (rgen's, since only rgen's were removed).
fn remove_dangling_links(dir: &Path) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for wants in entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.is_dir()
                && p.file_name().is_some_and(|n| {
                    n.to_string_lossy().ends_with(".wants")
                        || n.to_string_lossy().ends_with(".requires")
                })
        })
    {
        let mut empty = true;
        for link in std::fs::read_dir(&wants)?
            .filter_map(|e| e.ok())
            .map(|e| e.path())
        {
            let dangling = std::fs::symlink_metadata(&link)
                .is_ok_and(|m| m.file_type().is_symlink())
                && !link.exists();
            let points_here =
                std::fs::read_link(&link).is_ok_and(|t| resolve_link(&wants, &t).starts_with(dir));
            if dangling && points_here {
                std::fs::remove_file(&link)?;
            } else {
                empty = false;
            }
        }
        if empty {
            let _ = std::fs::remove_dir(&wants);
        }
    }
    Ok(())
}

fn resolve_link(from: &Path, target: &Path) -> PathBuf {
    if target.is_absolute() {
        target.to_path_buf()
    } else {
        crate::model::resolve::normalize(&from.join(target))
    }
}
