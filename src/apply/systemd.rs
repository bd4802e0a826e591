//! Installing and removing units on a running systemd: write (atomically, only what changed),
//! reload, enable through the group target, start or restart only the apps that changed, wait for
//! every job, and report failures with the unit's result and last log lines.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};

use super::changes::{ChangeSet, FileChange};
use super::files::write_atomic;
use super::inventory::InstalledFile;
use crate::manager::systemd::{JobKind, JobOutcome, Systemd};
use crate::plan::{Plan, Scope};
use crate::render::systemd::group_target_name;

/// The units one app consists of, by role.
#[derive(Clone, Debug, Default)]
pub struct AppUnits {
    /// Services to start and stop (instances for templates).
    pub services: Vec<String>,
    pub sockets: Vec<String>,
    /// Timers and path units.
    pub triggers: Vec<String>,
    /// Every unit file name, for disabling.
    pub files: Vec<String>,
}

impl AppUnits {
    /// Classifies an app's unit files. `instances` expands `name@.service` templates.
    pub fn from_files<'a>(
        files: impl IntoIterator<Item = (&'a str, &'a str)>,
        instances: Option<u32>,
    ) -> AppUnits {
        let mut u = AppUnits::default();
        for (name, contents) in files {
            u.files.push(name.to_string());
            if let Some(base) = name.strip_suffix("@.service") {
                for i in 0..instances.unwrap_or(1) {
                    u.services.push(format!("{base}@{i}.service"));
                }
            } else if name.ends_with(".socket") {
                u.sockets.push(name.to_string());
            } else if name.ends_with(".timer") || name.ends_with(".path") {
                u.triggers.push(name.to_string());
            } else if name.ends_with(".service") && contents.contains("\n[Install]") {
                // Services without [Install] are the oneshot helpers timers and path units run.
                u.services.push(name.to_string());
            }
        }
        u
    }

    /// Every unit that runs (instances rather than templates): what is enabled, stopped and
    /// disabled.
    pub fn runtime_units(&self) -> Vec<String> {
        self.services
            .iter()
            .chain(&self.sockets)
            .chain(&self.triggers)
            .cloned()
            .collect()
    }
}

pub struct InstallOptions {
    pub dry_run: bool,
}

/// Installs a compiled plan whose files and conflicts have been computed.
pub fn install(
    sd: Option<&Systemd>,
    plan: &Plan,
    set: &ChangeSet,
    dir: &Path,
    opts: &InstallOptions,
    out: &mut dyn Write,
) -> Result<()> {
    if !set.conflicts.is_empty() {
        for c in &set.conflicts {
            writeln!(out, "refused: {c}")?;
        }
        bail!(
            "nothing was installed: {} file{} in the way",
            set.conflicts.len(),
            if set.conflicts.len() == 1 {
                " is"
            } else {
                "s are"
            }
        );
    }

    let group_target = group_target_name(&plan.group);
    for f in &set.files {
        match &f.change {
            FileChange::Create => writeln!(out, "  + {}", f.path.display())?,
            FileChange::Update { diff } => {
                writeln!(out, "  ~ {}", f.path.display())?;
                for line in diff.lines() {
                    writeln!(out, "    {line}")?;
                }
            }
            FileChange::Unchanged => writeln!(out, "  = {}", f.path.display())?,
        }
    }
    for f in &set.stale {
        writeln!(out, "  - {} (no longer needed)", f.path.display())?;
    }

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
    actions.push(format!("enable at boot through {group_target}"));
    if opts.dry_run {
        writeln!(out, "dry run, nothing changed; would:")?;
        for a in &actions {
            writeln!(out, "  - {a}")?;
        }
        return Ok(());
    }
    let sd = sd.context("no connection to the systemd manager")?;

    // Files: log directories first, so the first start can open them.
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for spec in &plan.services {
        for d in &spec.logs.dirs {
            create_log_dir(d, spec.user.as_deref(), spec.group.as_deref())?;
        }
    }
    // Stale units go before their files.
    if !set.stale.is_empty() {
        let stale_units = AppUnits::from_files(
            set.stale
                .iter()
                .map(|f| (f.name.as_str(), f.contents.as_str())),
            set.stale.iter().find_map(|f| f.marker.instances),
        );
        stop_units(sd, &stale_units.runtime_units())?;
        sd.disable(&stale_units.files)?;
        for f in &set.stale {
            std::fs::remove_file(&f.path)
                .with_context(|| format!("cannot remove {}", f.path.display()))?;
        }
    }
    for f in set.writes() {
        write_atomic(&f.path, f.file.contents.as_bytes(), 0o644)?;
    }
    if !set.is_noop() {
        sd.reload()?;
    }

    // Enable: the group target at boot, each autostart app through the group target.
    let mut enable = vec![group_target.clone()];
    let mut start_jobs: Vec<(JobKind, String)> = Vec::new();
    let mut socket_jobs: Vec<(JobKind, String)> = Vec::new();
    for spec in &plan.services {
        let files: Vec<(&str, &str)> = set
            .files
            .iter()
            .filter(|f| f.file.app.as_deref() == Some(&spec.app))
            .map(|f| (f.file.name.as_str(), f.file.contents.as_str()))
            .collect();
        let units = AppUnits::from_files(files, spec.instances.as_ref().map(|i| i.count));
        // Instances beyond the current count (after lowering `instances`) are retired.
        if spec.instances.is_some() {
            let extra: Vec<String> = sd
                .list_units(&[format!("{}@*.service", spec.unit)])?
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
            sd.disable(&units.runtime_units())?;
            continue;
        }
        enable.extend(units.runtime_units());
        let kind = if changed.contains(&spec.app) {
            JobKind::Restart
        } else {
            JobKind::Start
        };
        let socket_changed = set
            .files
            .iter()
            .any(|f| units.sockets.contains(&f.file.name) && f.change != FileChange::Unchanged);
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
        for f in &failures {
            writeln!(out, "failed: {} ({:?}): {}", f.unit, f.kind, f.result)?;
            report_unit_failure(sd, &f.unit, out)?;
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
    if sd.scope == Scope::User {
        ensure_linger(out)?;
    }
    Ok(())
}

fn failed(outcomes: Vec<JobOutcome>) -> Vec<JobOutcome> {
    outcomes
        .into_iter()
        .filter(|o| o.result != "done")
        .collect()
}

fn stop_units(sd: &Systemd, units: &[String]) -> Result<()> {
    let jobs: Vec<(JobKind, String)> = units.iter().map(|u| (JobKind::Stop, u.clone())).collect();
    for o in sd.run_jobs(&jobs)? {
        // Stopping a unit that is not loaded is fine; anything else is worth knowing.
        if o.result != "done" && !o.result.contains("not loaded") {
            bail!("could not stop {}: {}", o.unit, o.result);
        }
    }
    Ok(())
}

/// The unit's own account of a failure: its result and exit status over D-Bus, then its last
/// log lines (the journal, or the log file the unit appends to).
pub fn report_unit_failure(sd: &Systemd, unit: &str, out: &mut dyn Write) -> Result<()> {
    use crate::manager::systemd::{prop_i32, prop_str};
    if let Ok(units) = sd.units_by_name(&[unit.to_string()])
        && let Some(u) = units.first()
        && let Ok(props) = sd.properties(
            std::slice::from_ref(&u.path),
            &["org.freedesktop.systemd1.Service"],
        )
        && let Some(p) = props.first()
    {
        writeln!(
            out,
            "  {unit}: state {}/{}, result {}, exit status {}",
            u.active_state,
            u.sub_state,
            prop_str(p, "Result").unwrap_or_default(),
            prop_i32(p, "ExecMainStatus").unwrap_or_default()
        )?;
    }
    for line in crate::observe::logs::last_lines(sd.scope, unit, 10) {
        writeln!(out, "    {line}")?;
    }
    Ok(())
}

fn create_log_dir(dir: &Path, user: Option<&str>, group: Option<&str>) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the log directory {}", dir.display()))?;
    if let Some(user) = user {
        // The app, not root, appends to its logs.
        let (uid, user_gid) =
            lookup_user(user).with_context(|| format!("no user `{user}` for the log directory"))?;
        let gid = match group {
            Some(g) => lookup_group(g).unwrap_or(user_gid),
            None => user_gid,
        };
        std::os::unix::fs::chown(dir, Some(uid), Some(gid))
            .with_context(|| format!("cannot give {} to `{user}`", dir.display()))?;
    }
    Ok(())
}

/// A user's uid and primary gid by name or number, from the user database (NSS).
fn lookup_user(name: &str) -> Option<(u32, u32)> {
    use nix::unistd::{Uid, User};
    let user = match name.parse() {
        Ok(uid) => User::from_uid(Uid::from_raw(uid)),
        Err(_) => User::from_name(name),
    };
    let user = user.ok().flatten()?;
    Some((user.uid.as_raw(), user.gid.as_raw()))
}

/// A group's gid by name or number, from the group database (NSS).
fn lookup_group(name: &str) -> Option<u32> {
    use nix::unistd::{Gid, Group};
    let group = match name.parse() {
        Ok(gid) => Group::from_gid(Gid::from_raw(gid)),
        Err(_) => Group::from_name(name),
    };
    Some(group.ok().flatten()?.gid.as_raw())
}

/// User services start at boot only for lingering users. Turn it on, or say clearly why not.
fn ensure_linger(out: &mut dyn Write) -> Result<()> {
    let uid = crate::plan::current_uid();
    let user = crate::commands::user_name(uid);
    if Path::new("/var/lib/systemd/linger").join(&user).exists() {
        return Ok(());
    }
    match Systemd::enable_linger(uid) {
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

/// Removes apps: stop every unit, disable, delete every file rgen wrote for them, reload.
pub fn uninstall(
    sd: &Systemd,
    dir: &Path,
    files: &[InstalledFile],
    out: &mut dyn Write,
) -> Result<()> {
    let mut by_app: std::collections::BTreeMap<(String, String), Vec<&InstalledFile>> =
        Default::default();
    for f in files {
        if let Some(app) = &f.marker.app {
            by_app
                .entry((f.marker.group.clone(), app.clone()))
                .or_default()
                .push(f);
        }
    }
    let mut runtime: Vec<String> = Vec::new();
    let mut unit_files: Vec<String> = Vec::new();
    for ((_, app), app_files) in &by_app {
        let units = AppUnits::from_files(
            app_files
                .iter()
                .map(|f| (f.name.as_str(), f.contents.as_str())),
            app_files.iter().find_map(|f| f.marker.instances),
        );
        runtime.extend(units.runtime_units());
        // Every running instance, also those beyond the recorded count.
        for tpl in units
            .files
            .iter()
            .filter_map(|n| n.strip_suffix("@.service"))
        {
            for u in sd.list_units(&[format!("{tpl}@*.service")])? {
                if !runtime.contains(&u.name) {
                    runtime.push(u.name.clone());
                }
                unit_files.push(u.name);
            }
        }
        unit_files.extend(units.files.clone());
        unit_files.extend(units.runtime_units());
        writeln!(out, "  - {app}")?;
    }
    // Triggers first, so nothing restarts an app while it is being stopped.
    let (triggers, services): (Vec<String>, Vec<String>) = runtime
        .into_iter()
        .partition(|u| u.ends_with(".timer") || u.ends_with(".path") || u.ends_with(".socket"));
    // The group's own target goes once its apps are gone.
    let targets: Vec<String> = files
        .iter()
        .filter(|f| f.marker.app.is_none())
        .map(|f| f.name.clone())
        .collect();
    stop_units(sd, &triggers)?;
    stop_units(sd, &services)?;
    stop_units(sd, &targets)?;
    unit_files.extend(targets);
    unit_files.sort();
    unit_files.dedup();
    sd.disable(&unit_files)?;
    for f in files {
        std::fs::remove_file(&f.path)
            .with_context(|| format!("cannot remove {}", f.path.display()))?;
    }
    remove_dangling_links(dir)?;
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
