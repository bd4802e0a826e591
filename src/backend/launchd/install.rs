//! Installing and removing launchd jobs with the modern `launchctl` verbs (`enable`, `disable`,
//! `bootstrap`, `bootout`, `kickstart`, `print`) — never the legacy `load`/`unload`. No
//! `cfg(target_os)`: this runs on Linux in tests against a fake `launchctl` that replays real
//! outputs.
//!
//! One domain per install (`names::Session`): agents are loaded into `gui/<uid>`, or over ssh
//! without a GUI login into `user/<uid>`, and their plists say which, so launchd never loads them
//! into the other one too. Only app jobs are started; a helper job (cron, watch) is only loaded,
//! since starting it restarts the app.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};

use super::launchctl::{self, Launchctl};
use super::render::parse;
use super::{LaunchdManager, helper, names};
use crate::apply::changes::{ChangeSet, FileChange};
use crate::apply::files::{LOG_DIR_MODE, PARENT_DIR_MODE, create_dir_safely, write_atomic};
use crate::apply::inventory::InstalledUnit;
use crate::plan::{Plan, ServiceSpec};
use crate::target::Scope;

/// `Bootstrap failed: 125: Domain does not support specified action` — no GUI session (ssh).
const NO_GUI_DOMAIN: i32 = 125;
/// `Bootstrap failed: 5: Input/output error` — still loaded, disabled, or a transient refusal.
const EIO: i32 = 5;
/// `Bootstrap failed: 37: Operation already in progress` — the label is still being unloaded,
/// or is being loaded right now.
const IN_PROGRESS: i32 = 37;
/// `Boot-out failed: 36: Operation now in progress` — the job is still exiting.
const NOW_IN_PROGRESS: i32 = 36;
/// `Boot-out failed: 3: No such process` — not loaded.
const NO_SUCH_PROCESS: i32 = 3;
/// How often `bootstrap` is tried while launchd answers 5 or 37, and the first pause (doubling).
const BOOTSTRAP_ATTEMPTS: u32 = 4;
const FIRST_BOOTSTRAP_PAUSE: Duration = Duration::from_millis(250);
/// `bootout` is repeated while it answers 36, as Homebrew (`brew services stop`: every second
/// while 36 or still loaded) and home-manager (ten tries a second apart) do.
const BOOTOUT_ATTEMPTS: u32 = 10;
const BOOTOUT_PAUSE: Duration = Duration::from_secs(1);

/// What a plist is for, and whose app it belongs to.
struct JobFile<'a> {
    label: &'a str,
    is_app: bool,
    spec: Option<&'a ServiceSpec>,
}

fn job_file<'a>(plan: &'a Plan, name: &'a str, contents: &str, app: Option<&str>) -> JobFile<'a> {
    let role = parse(contents.as_bytes()).map(|j| j.marker.role).ok();
    JobFile {
        label: names::label_of(name),
        is_app: role.as_deref().is_none_or(|r| r == "app"),
        spec: plan.services.iter().find(|s| Some(s.app.as_str()) == app),
    }
}

/// What install will do with each job (a dry run prints this).
pub fn actions(plan: &Plan, set: &ChangeSet) -> Vec<String> {
    let mut actions: Vec<String> = set
        .stale
        .iter()
        .map(|u| format!("unload and remove: {}", names::label_of(&u.name)))
        .collect();
    let domain = names::domain(&plan.target);
    for f in &set.files {
        let job = job_file(plan, &f.file.name, &f.file.contents, f.file.app.as_deref());
        let label = job.label;
        let autostart = job.spec.is_none_or(|s| s.autostart);
        let start = if job.is_app {
            "load into {domain} and start"
        } else {
            "load into {domain} (not started: it restarts the app when it fires)"
        }
        .replace("{domain}", &domain);
        actions.push(match (autostart, &f.change) {
            (false, _) => {
                format!("install, disable (autostart: false; `rgen start` enables it): {label}")
            }
            (true, FileChange::Create) => format!("{start}: {label}"),
            (true, FileChange::Update { .. }) => format!("unload, then {start}: {label}"),
            (true, FileChange::Unchanged | FileChange::Bookkeeping) => {
                format!("{start} if not loaded (unchanged): {label}")
            }
        });
    }
    actions
}

/// Who owns what rgen makes for an app: its user in the system scope, else the user installing.
fn owner(m: &LaunchdManager, spec: &ServiceSpec) -> Result<Option<(u32, u32)>> {
    match m.target.scope {
        Scope::System => crate::apply::users::owner_of(spec.user.as_deref(), spec.group.as_deref())
            .map_err(anyhow::Error::msg),
        Scope::User => Ok(m.own_owner()),
    }
}

fn make_dir(dir: &Path, owner: Option<(u32, u32)>, mode: u32, what: &str) -> Result<()> {
    create_dir_safely(dir, owner, mode)
        .with_context(|| format!("cannot create the {what} {}", dir.display()))?;
    Ok(())
}

/// Everything a job opens before it can say what went wrong: the log directories (given to the
/// app's user, since the shim opens the files as that user), the shim's state directory, and
/// the helpers' log directory.
fn prepare_dirs(m: &LaunchdManager, plan: &Plan) -> Result<()> {
    let caps = m.target.capabilities();
    let state_root = caps.app_state_dir.as_deref();
    let root_owner = match m.target.scope {
        Scope::System => None,
        Scope::User => m.own_owner(),
    };
    for spec in &plan.services {
        let owner = owner(m, spec)?;
        for d in &spec.logs.dirs {
            make_dir(d, owner, LOG_DIR_MODE, "log directory")?;
        }
        if let Some(dir) = &spec.state_dir {
            // The per-user directories of the system scope sit in one only root can change.
            if let Some(root) = state_root.filter(|r| *r != dir.as_path()) {
                make_dir(root, root_owner, PARENT_DIR_MODE, "state directory")?;
            }
            make_dir(dir, owner, PARENT_DIR_MODE, "state directory")?;
        }
        if spec.cron.is_some() || spec.watch.is_some() {
            make_dir(
                &names::helper_log_dir(&m.target),
                root_owner,
                PARENT_DIR_MODE,
                "log directory",
            )?;
        }
    }
    Ok(())
}

pub fn install(
    m: &LaunchdManager,
    plan: &Plan,
    set: &ChangeSet,
    out: &mut dyn Write,
) -> Result<()> {
    m.require_root_for_system()?;
    // Agents must be owned by the user and not group/world-writable, or launchd refuses them.
    make_dir(&m.dir, m.own_owner(), PARENT_DIR_MODE, "directory")?;
    prepare_dirs(m, plan)?;
    let lc = &m.launchctl;
    let domain = m.domain();
    for f in &set.stale {
        for d in m.domains_of(f) {
            bootout(lc, &names::service(&d, names::label_of(&f.name)))?;
        }
        std::fs::remove_file(&f.path)
            .with_context(|| format!("cannot remove {}", f.path.display()))?;
    }
    let mut started = Vec::new();
    let mut loaded = Vec::new();
    for f in &set.files {
        let job = job_file(plan, &f.file.name, &f.file.contents, f.file.app.as_deref());
        let label = job.label;
        let service = names::service(&domain, label);
        let changed = f.change.reloads();
        let was_loaded = lc.print(&service)?.is_some();
        if changed {
            // Loaded from an earlier version, possibly into the other session: out first.
            for d in m.loaded_domains(label)? {
                if d != domain {
                    writeln!(
                        out,
                        "note: {label} moves from {d} to {domain}; it runs only there from now on"
                    )?;
                }
                bootout(lc, &names::service(&d, label))?;
            }
        }
        if f.change != FileChange::Unchanged {
            write_atomic(&f.path, f.file.contents.as_bytes(), f.file.mode)?;
        }
        if !job.spec.is_none_or(|s| s.autostart) {
            // Neither this install nor a login starts it; one the user started keeps running,
            // on its new definition if that changed.
            if !was_loaded {
                lc.disable(&service)?;
            } else if changed {
                load_job(lc, &domain, label, &f.path, false)?;
            }
            continue;
        }
        if was_loaded && !changed {
            continue;
        }
        load_job(lc, &domain, label, &f.path, job.is_app)?;
        if changed && let Some(spec) = job.spec.filter(|_| !job.is_app) {
            record_watch_baseline(&f.file.contents, spec, out)?;
        }
        if job.is_app {
            started.push(label.to_string());
        } else {
            loaded.push(label.to_string());
        }
    }
    report(m, &started, &loaded, out)
}

fn report(
    m: &LaunchdManager,
    started: &[String],
    loaded: &[String],
    out: &mut dyn Write,
) -> Result<()> {
    let domain = m.domain();
    let when = match names::Session::of(&m.target) {
        names::Session::System => "at boot",
        names::Session::Aqua => "at every login",
        names::Session::Background => "when loaded into your background session",
    };
    if started.is_empty() && loaded.is_empty() {
        writeln!(out, "loaded: nothing changed ({domain})")?;
    } else {
        let mut all: Vec<&str> = started.iter().map(String::as_str).collect();
        all.extend(loaded.iter().map(String::as_str));
        writeln!(
            out,
            "loaded into {domain}: {}; they start {when}",
            all.join(", ")
        )?;
    }
    match names::Session::of(&m.target) {
        names::Session::Background => writeln!(
            out,
            "note: no GUI login session for this user (ssh): the jobs run in {domain}, only while you have a session there, and a GUI login does not load them a second time. For start at boot without a login, install with --system; to load them into your GUI session instead, run `rgen install` from a terminal on the Mac's screen (or RGEN_LAUNCHD_DOMAIN=gui)."
        )?,
        names::Session::System => writeln!(
            out,
            "note: with FileVault on, the Mac does not boot macOS before someone unlocks the disk at the login screen; until then no daemon runs"
        )?,
        names::Session::Aqua => {}
    }
    if !started.is_empty() || !loaded.is_empty() {
        writeln!(
            out,
            "note: macOS 13+ shows \"Background Items Added\" for new jobs; switching rgen-shim off under System Settings > General > Login Items disables them (rgen status shows them stopped)"
        )?;
    }
    Ok(())
}

/// Runs a freshly loaded watch helper once in its baseline mode, so that the first change after
/// the install is compared with the files as they are now.
fn record_watch_baseline(contents: &str, spec: &ServiceSpec, out: &mut dyn Write) -> Result<()> {
    let Ok(job) = parse(contents.as_bytes()) else {
        return Ok(());
    };
    if job.marker.role != "watch" {
        return Ok(());
    }
    let [sh, dash_c, script, name] = job.program_arguments.as_slice() else {
        return Ok(());
    };
    let status = std::process::Command::new(sh)
        .args([dash_c, script, name, helper::BASELINE])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .status();
    if !status.is_ok_and(|s| s.success()) {
        writeln!(
            out,
            "note: could not record the watched files of {} now; the first change after this install only records them",
            spec.app
        )?;
    }
    Ok(())
}

/// Boots a job out, riding out `36: Operation now in progress` (the job is still exiting) as
/// Homebrew and home-manager do; a job that is not loaded is fine.
pub fn bootout(lc: &Launchctl, service: &str) -> Result<()> {
    for _ in 0..BOOTOUT_ATTEMPTS {
        let out = lc.bootout(service)?;
        match out.error_number() {
            0 | NO_SUCH_PROCESS | launchctl::NOT_FOUND => return wait_unloaded(lc, service),
            NOW_IN_PROGRESS => {
                std::thread::sleep(BOOTOUT_PAUSE);
                if lc.print(service)?.is_none() {
                    return Ok(());
                }
            }
            code => bail!(
                "`launchctl bootout {service}` failed ({code}): {}",
                out.text()
            ),
        }
    }
    bail!(
        "`launchctl bootout {service}` still answers \"Operation now in progress\" after {BOOTOUT_ATTEMPTS} tries; the job may be stuck stopping: `launchctl print {service}` shows its state"
    )
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

/// Loads one job: enables its label (one disabled earlier, by `rgen stop`, `autostart: false`
/// or a failed PM2 startup, refuses to load), bootstraps it, and for an app kickstarts it if
/// it never ran, because `bootstrap` has been seen to succeed without starting a RunAtLoad job.
/// One that ran and already exited is left alone: a crash loop the shim gave up on (it exits
/// 0, errored) would otherwise be run a second time. A helper is never kickstarted: that would
/// restart its app.
pub fn load_job(
    lc: &Launchctl,
    domain: &str,
    label: &str,
    plist: &Path,
    start: bool,
) -> Result<()> {
    let service = names::service(domain, label);
    let _ = lc.enable(&service)?;
    let result = bootstrap_job(lc, domain, label, plist)?;
    if !result.ok() {
        bail!(bootstrap_failure(domain, label, plist, &result));
    }
    if start {
        let started = lc
            .print(&service)?
            .is_some_and(|info| info.running() || info.runs.is_some_and(|n| n > 0));
        if !started {
            let _ = lc.kickstart(&service, false)?;
        }
    }
    Ok(())
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
        let number = result.error_number();
        let transient = number == EIO || number == IN_PROGRESS;
        if !transient || attempt == BOOTSTRAP_ATTEMPTS {
            return Ok(result);
        }
        if number == IN_PROGRESS && lc.print(&service)?.is_some() {
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
    let hint = match result.error_number() {
        EIO => format!(
            "launchd tells only root why; `sudo launchctl bootstrap {domain} {plist}` prints the reason (commonly a program path it cannot run, a plist owned by another user, or a label disabled with `launchctl disable`). `launchctl print {domain}/{label}` shows whether an old copy is still loaded."
        ),
        IN_PROGRESS => format!(
            "launchd is still unloading or loading {label}; run `rgen install` again in a few seconds."
        ),
        119 => format!(
            "the label is disabled: `launchctl enable {domain}/{label}`, then install again."
        ),
        NO_GUI_DOMAIN => format!(
            "{domain} does not exist: this user has no GUI login session (ssh?). Run `RGEN_LAUNCHD_DOMAIN=user rgen install …` to use the background session user/<uid>, or install with --system to run at boot without a login."
        ),
        _ => format!("`launchctl print {domain}` lists what is loaded there."),
    };
    format!(
        "`launchctl bootstrap {domain} {plist}` failed ({}): {}\n  hint: {hint}",
        result.error_number(),
        result.text()
    )
}

pub fn uninstall(m: &LaunchdManager, units: &[InstalledUnit], out: &mut dyn Write) -> Result<()> {
    m.require_root_for_system()?;
    // Helpers first, so none restarts an app while it is being unloaded.
    let mut ordered: Vec<&InstalledUnit> = units.iter().collect();
    ordered.sort_by_key(|u| u.role == crate::apply::inventory::Role::App);
    for u in ordered {
        let label = names::label_of(&u.name);
        for d in m.domains_of(u) {
            bootout(&m.launchctl, &names::service(&d, label))?;
        }
        std::fs::remove_file(&u.path)
            .with_context(|| format!("cannot remove {}", u.path.display()))?;
        remove_state(m, u);
        writeln!(out, "  - {label}")?;
    }
    Ok(())
}

/// What the shim and the watch helper kept about a job that is gone: its pid and status files
/// and the watch helper's record. (`unlink` removes a link, never what it points to.)
fn remove_state(m: &LaunchdManager, u: &InstalledUnit) {
    let (options, _) = crate::backend::shim_args::split(&u.argv);
    let mut files: Vec<std::path::PathBuf> = options
        .windows(2)
        .filter(|pair| {
            pair[0] == crate::shim_protocol::opt::PID_FILE
                || pair[0] == crate::shim_protocol::opt::STATUS_FILE
        })
        .map(|pair| std::path::PathBuf::from(&pair[1]))
        .collect();
    if u.role == crate::apply::inventory::Role::Trigger(crate::apply::inventory::Trigger::Watch)
        && let Some(root) = m.target.capabilities().app_state_dir
        && let Some(unit) = names::label_of(&u.name)
            .strip_prefix(names::LABEL_PREFIX)
            .and_then(|l| l.strip_suffix(".watch"))
    {
        files.push(names::watch_state(&root, unit));
    }
    for f in files {
        let _ = std::fs::remove_file(f);
    }
}

/// Loads a job unless it is loaded already; an app's job is started.
pub fn ensure_loaded(
    lc: &Launchctl,
    domain: &str,
    label: &str,
    plist: &Path,
    start: bool,
) -> Result<()> {
    if lc.print(&names::service(domain, label))?.is_some() {
        return Ok(());
    }
    load_job(lc, domain, label, plist, start)
}
