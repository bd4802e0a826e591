//! Installing and removing launchd jobs with the modern `launchctl` verbs (`enable`, `bootstrap`,
//! `bootout`, `kickstart`, `print`) — never the legacy `load`/`unload`. No `cfg(target_os)`: this
//! runs on Linux in tests against a fake `launchctl` that replays real outputs.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};

use super::launchctl::{self, Launchctl};
use super::{LaunchdManager, names};
use crate::apply::changes::{ChangeSet, FileChange};
use crate::apply::files::write_atomic;
use crate::apply::inventory::InstalledUnit;
use crate::plan::Plan;
use crate::target::Scope;

/// `Bootstrap failed: 125: Domain does not support specified action` — no GUI session (ssh).
const NO_GUI_DOMAIN: i32 = 125;
/// `Bootstrap failed: 5: Input/output error` — still loaded, disabled, or a transient refusal.
const EIO: i32 = 5;
/// `Bootstrap failed: 37: Operation already in progress` — the label is still being unloaded,
/// or is being loaded right now.
const IN_PROGRESS: i32 = 37;
/// How often `bootstrap` is tried while launchd answers 5 or 37, and the first pause (doubling).
const BOOTSTRAP_ATTEMPTS: u32 = 4;
const FIRST_BOOTSTRAP_PAUSE: Duration = Duration::from_millis(250);

/// What install will do with each job (a dry run prints this).
pub fn actions(plan: &Plan, set: &ChangeSet) -> Vec<String> {
    let autostart = |app: &Option<String>| {
        plan.services
            .iter()
            .find(|s| Some(&s.app) == app.as_ref())
            .is_none_or(|s| s.autostart)
    };
    let mut actions: Vec<String> = set
        .stale
        .iter()
        .map(|u| format!("unload and remove: {}", names::label_of(&u.name)))
        .collect();
    for f in &set.files {
        let label = names::label_of(&f.file.name);
        actions.push(match (autostart(&f.file.app), &f.change) {
            (false, _) => format!("install, do not load (autostart: false): {label}"),
            (true, FileChange::Create) => format!("load and start: {label}"),
            (true, FileChange::Update { .. }) => format!("unload, load and start: {label}"),
            (true, FileChange::Unchanged | FileChange::Bookkeeping) => {
                format!("load if not loaded (unchanged): {label}")
            }
        });
    }
    actions
}

pub fn install(
    m: &LaunchdManager,
    plan: &Plan,
    set: &ChangeSet,
    out: &mut dyn Write,
) -> Result<()> {
    m.require_root_for_system()?;
    let dir = &m.dir;
    // Agents must be owned by the user and not group/world-writable, or launchd refuses them.
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for spec in &plan.services {
        for d in &spec.logs.dirs {
            std::fs::create_dir_all(d)
                .with_context(|| format!("cannot create the log directory {}", d.display()))?;
        }
    }
    let lc = &m.launchctl;
    let mut domain = m.domain();
    for f in &set.stale {
        bootout(lc, &names::service(&domain, names::label_of(&f.name)))?;
        std::fs::remove_file(&f.path)
            .with_context(|| format!("cannot remove {}", f.path.display()))?;
    }
    let autostart = |app: &Option<String>| {
        plan.services
            .iter()
            .find(|s| Some(&s.app) == app.as_ref())
            .is_none_or(|s| s.autostart)
    };
    let mut loaded = Vec::new();
    for f in &set.files {
        let label = names::label_of(&f.file.name).to_string();
        let service = names::service(&domain, &label);
        let changed = f.change.reloads();
        if f.change != FileChange::Unchanged {
            write_atomic(&f.path, f.file.contents.as_bytes(), f.file.mode)?;
        }
        if !autostart(&f.file.app) {
            if lc.print(&service)?.is_some() {
                bootout(lc, &service)?;
            }
            continue;
        }
        let is_loaded = lc.print(&service)?.is_some();
        if is_loaded && !changed {
            continue;
        }
        if is_loaded {
            bootout(lc, &service)?;
        }
        let mut result = load_job(lc, &domain, &label, &f.path)?;
        if result.code == NO_GUI_DOMAIN && plan.target.scope == Scope::User {
            let fallback = names::user_domain(m.target.uid);
            writeln!(
                out,
                "note: no GUI login session ({domain}); loading into {fallback} instead. Jobs there run while you are logged in (ssh included); for start at boot without a login, install with --system"
            )?;
            domain = fallback;
            result = load_job(lc, &domain, &label, &f.path)?;
        }
        if !result.ok() {
            bail!(bootstrap_failure(&domain, &label, &f.path, &result));
        }
        loaded.push(label);
    }
    writeln!(
        out,
        "loaded: {}; they start at login{}",
        if loaded.is_empty() {
            "nothing changed".to_string()
        } else {
            loaded.join(", ")
        },
        if plan.target.scope == Scope::System {
            " and at boot"
        } else {
            ""
        }
    )?;
    Ok(())
}

pub fn bootout(lc: &Launchctl, service: &str) -> Result<()> {
    let out = lc.bootout(service)?;
    // 3 (No such process) and 113 (Could not find service): already gone.
    if !out.ok() && out.code != 3 && out.code != launchctl::NOT_FOUND {
        bail!(
            "`launchctl bootout {service}` failed ({}): {}",
            out.code,
            out.text()
        );
    }
    wait_unloaded(lc, service)
}

/// `bootout` returns before the job is gone; bootstrapping too early fails with error 5.
fn wait_unloaded(lc: &Launchctl, service: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while lc.print(service)?.is_some() {
        if Instant::now() > deadline {
            bail!("{service} is still loaded 10 s after `launchctl bootout`");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// Loads one job: enables its label (one disabled earlier, by `launchctl disable` or a failed
/// PM2 startup, refuses to load), bootstraps it, and kickstarts it, because `bootstrap` has been
/// seen to succeed without starting a RunAtLoad job (a kickstart without -k does nothing to a
/// running one). Returns `bootstrap`'s answer.
fn load_job(lc: &Launchctl, domain: &str, label: &str, plist: &Path) -> Result<launchctl::Output> {
    let service = names::service(domain, label);
    let _ = lc.enable(&service)?;
    let result = bootstrap_job(lc, domain, label, plist)?;
    if result.ok() {
        let _ = lc.kickstart(&service, false)?;
    }
    Ok(result)
}

/// Bootstraps one job, riding out launchd's transient refusals: 5 and 37 come back while the
/// label is still being unloaded (`bootout` returns early) and, in field reports, now and then on
/// a fresh load; a second try a moment later succeeds. Any other answer is returned as it is.
fn bootstrap_job(
    lc: &Launchctl,
    domain: &str,
    label: &str,
    plist: &Path,
) -> Result<launchctl::Output> {
    let service = names::service(domain, label);
    let mut pause = FIRST_BOOTSTRAP_PAUSE;
    for attempt in 1.. {
        let result = lc.bootstrap(domain, plist)?;
        let transient = result.code == EIO || result.code == IN_PROGRESS;
        if !transient || attempt == BOOTSTRAP_ATTEMPTS {
            return Ok(result);
        }
        if result.code == IN_PROGRESS && lc.print(&service)?.is_some() {
            // Loaded by someone else meanwhile (rgen unloaded it first if it had been loaded).
            return Ok(launchctl::Output { code: 0, ..result });
        }
        wait_unloaded(lc, &service)?;
        std::thread::sleep(pause);
        pause *= 2;
    }
    unreachable!("the loop returns by its last attempt")
}

/// What a failed `bootstrap` means and what to try, for the codes launchd is known to give.
fn bootstrap_failure(
    domain: &str,
    label: &str,
    plist: &Path,
    result: &launchctl::Output,
) -> String {
    let plist = plist.display();
    let hint = match result.code {
        EIO => format!(
            "launchd tells only root why; `sudo launchctl bootstrap {domain} {plist}` prints the reason (commonly a program path it cannot run, a plist owned by another user, or a label disabled with `launchctl disable`). `launchctl print {domain}/{label}` shows whether an old copy is still loaded."
        ),
        IN_PROGRESS => format!(
            "launchd is still unloading or loading {label}; run `rgen install` again in a few seconds."
        ),
        119 => format!(
            "the label is disabled: `launchctl enable {domain}/{label}`, then install again."
        ),
        NO_GUI_DOMAIN => {
            "no login session for this user; install with --system to run at boot without one."
                .to_string()
        }
        _ => format!("`launchctl print {domain}` lists what is loaded there."),
    };
    format!(
        "`launchctl bootstrap {domain} {plist}` failed ({}): {}\n  hint: {hint}",
        result.code,
        result.text()
    )
}

pub fn uninstall(m: &LaunchdManager, units: &[InstalledUnit], out: &mut dyn Write) -> Result<()> {
    m.require_root_for_system()?;
    let domains = [m.domain(), names::user_domain(m.target.uid)];
    for u in units {
        let label = names::label_of(&u.name);
        for d in &domains {
            bootout(&m.launchctl, &names::service(d, label))?;
        }
        std::fs::remove_file(&u.path)
            .with_context(|| format!("cannot remove {}", u.path.display()))?;
        writeln!(out, "  - {label}")?;
    }
    Ok(())
}

/// Loads a job unless it is loaded already.
pub fn ensure_loaded(lc: &Launchctl, domain: &str, label: &str, plist: &Path) -> Result<()> {
    if lc.print(&names::service(domain, label))?.is_some() {
        return Ok(());
    }
    let out = load_job(lc, domain, label, plist)?;
    if !out.ok() {
        bail!(bootstrap_failure(domain, label, plist, &out));
    }
    Ok(())
}
