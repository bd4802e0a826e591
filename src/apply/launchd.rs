//! Installing and driving launchd jobs with the modern `launchctl` verbs (`enable`, `bootstrap`,
//! `bootout`, `kickstart`, `print`) — never the legacy `load`/`unload`. No `cfg(target_os)`: this
//! runs on Linux in tests against a fake `launchctl` that replays real outputs.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};

use super::changes::{ChangeSet, FileChange};
use super::files::write_atomic;
use super::inventory::{InstalledFile, Inventory};
use super::paths;
use crate::cli::{ControlArgs, InstallArgs, ShowArgs, StatusArgs};
use crate::commands::control::Verb;
use crate::commands::{compile, print_warnings};
use crate::manager::launchctl::{self, LastExit, Launchctl, ServiceInfo};
use crate::observe::status::{AppStatus, JSON_VERSION, Report, UnitStatus};
use crate::plan::{Scope, Target, current_uid};

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

fn label_of(file: &str) -> &str {
    file.strip_suffix(".plist").unwrap_or(file)
}

/// The domain jobs of a scope are bootstrapped into.
pub fn domain(scope: Scope) -> String {
    crate::render::launchd::domain(scope, current_uid())
}

fn require_root_for_system(target: &Target) -> Result<()> {
    if target.scope == Scope::System && current_uid() != 0 {
        bail!(
            "system-scope launchd jobs live in /Library/LaunchDaemons and need root: run with sudo (or install with --user)"
        );
    }
    Ok(())
}

pub fn install_command(args: &InstallArgs, mut target: Target) -> Result<i32> {
    target.cpus = crate::commands::cpus();
    let compiled = compile(&args.source, &target)?;
    print_warnings(&compiled.warnings);
    let dir = paths::manager_dir(&target);
    let inventory = Inventory::scan(&dir);
    let set = ChangeSet::compute(&compiled.files, &dir, &compiled.plan, &inventory);
    println!(
        "{} → {} (launchd, {} scope)",
        crate::diag::display_path(&compiled.ecosystem.file),
        dir.display(),
        crate::manager::systemd::scope_word(target.scope)
    );
    let mut out = std::io::stdout().lock();
    if !set.conflicts.is_empty() {
        for c in &set.conflicts {
            writeln!(out, "refused: {c}")?;
        }
        bail!(
            "nothing was installed: {} file(s) in the way",
            set.conflicts.len()
        );
    }
    for f in &set.files {
        let mark = match f.change {
            FileChange::Create => "+",
            FileChange::Update { .. } => "~",
            FileChange::Unchanged => "=",
        };
        writeln!(out, "  {mark} {}", f.path.display())?;
        if let FileChange::Update { diff } = &f.change {
            for line in diff.lines() {
                writeln!(out, "    {line}")?;
            }
        }
    }
    for f in &set.stale {
        writeln!(out, "  - {} (no longer needed)", f.path.display())?;
    }
    if args.dry_run {
        writeln!(out, "dry run, nothing changed")?;
        return Ok(0);
    }
    require_root_for_system(&target)?;
    // Agents must be owned by the user and not group/world-writable, or launchd refuses them.
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for spec in &compiled.plan.services {
        for d in &spec.logs.dirs {
            std::fs::create_dir_all(d)
                .with_context(|| format!("cannot create the log directory {}", d.display()))?;
        }
    }
    let lc = Launchctl::default();
    let mut domain = domain(target.scope);
    for f in &set.stale {
        bootout(&lc, &format!("{domain}/{}", label_of(&f.name)))?;
        std::fs::remove_file(&f.path)
            .with_context(|| format!("cannot remove {}", f.path.display()))?;
    }
    let autostart = |app: &Option<String>| {
        compiled
            .plan
            .services
            .iter()
            .find(|s| Some(&s.app) == app.as_ref())
            .is_none_or(|s| s.autostart)
    };
    let mut loaded = Vec::new();
    for f in &set.files {
        let label = label_of(&f.file.name).to_string();
        let service = format!("{domain}/{label}");
        let changed = f.change != FileChange::Unchanged;
        if changed {
            write_atomic(&f.path, f.file.contents.as_bytes(), 0o644)?;
        }
        if !autostart(&f.file.app) {
            if lc.print(&service)?.is_some() {
                bootout(&lc, &service)?;
            }
            continue;
        }
        let is_loaded = lc.print(&service)?.is_some();
        if is_loaded && !changed {
            continue;
        }
        if is_loaded {
            bootout(&lc, &service)?;
        }
        let mut result = load_job(&lc, &domain, &label, &f.path)?;
        if result.code == NO_GUI_DOMAIN && target.scope == Scope::User {
            let fallback = format!("user/{}", current_uid());
            writeln!(
                out,
                "note: no GUI login session ({domain}); loading into {fallback} instead. Jobs there run while you are logged in (ssh included); for start at boot without a login, install with --system"
            )?;
            domain = fallback;
            result = load_job(&lc, &domain, &label, &f.path)?;
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
        if target.scope == Scope::System {
            " and at boot"
        } else {
            ""
        }
    )?;
    Ok(0)
}

fn bootout(lc: &Launchctl, service: &str) -> Result<()> {
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
    let service = format!("{domain}/{label}");
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
    let service = format!("{domain}/{label}");
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

pub fn uninstall(target: &Target, files: &[InstalledFile], out: &mut dyn Write) -> Result<()> {
    require_root_for_system(target)?;
    let lc = Launchctl::default();
    let domains = [domain(target.scope), format!("user/{}", current_uid())];
    for f in files {
        let label = label_of(&f.name);
        for d in &domains {
            bootout(&lc, &format!("{d}/{label}"))?;
        }
        std::fs::remove_file(&f.path)
            .with_context(|| format!("cannot remove {}", f.path.display()))?;
        writeln!(out, "  - {label}")?;
    }
    Ok(())
}

/// An installed app's launchd jobs: its own (one per instance) and its helpers.
struct LaunchdApp<'a> {
    name: String,
    group: String,
    files: Vec<&'a InstalledFile>,
}

impl LaunchdApp<'_> {
    fn app_labels(&self) -> Vec<String> {
        let mut labels: Vec<(Option<u32>, String)> = self
            .files
            .iter()
            .filter(|f| f.marker.role.as_deref() == Some("app"))
            .map(|f| (f.marker.instance, label_of(&f.name).to_string()))
            .collect();
        labels.sort();
        labels.into_iter().map(|(_, l)| l).collect()
    }
}

fn launchd_apps<'a>(inventory: &'a Inventory, wanted: &[String]) -> Result<Vec<LaunchdApp<'a>>> {
    let apps: Vec<LaunchdApp> = inventory
        .apps()
        .into_iter()
        .map(|((group, name), files)| LaunchdApp { name, group, files })
        .collect();
    if wanted.is_empty() || wanted.iter().any(|w| w == "all") {
        return Ok(apps);
    }
    let mut out = Vec::new();
    let mut all = apps;
    for w in wanted {
        let before = out.len();
        let (take, keep): (Vec<_>, Vec<_>) = all.into_iter().partition(|a| {
            &a.name == w
                || &a.group == w
                || a.files
                    .iter()
                    .any(|f| f.marker.namespace.as_deref() == Some(w))
        });
        out.extend(take);
        all = keep;
        if out.len() == before && !out.iter().any(|a: &LaunchdApp| &a.name == w) {
            bail!("no installed app, namespace or group is called `{w}`");
        }
    }
    Ok(out)
}

pub fn status_command(args: &StatusArgs, target: Target) -> Result<i32> {
    let report = launchd_report(&target, &args.apps)?;
    crate::commands::status::print_report(&report, args.json)?;
    Ok(0)
}

fn launchd_report(target: &Target, wanted: &[String]) -> Result<Report> {
    let dir = paths::manager_dir(target);
    let inventory = Inventory::scan(&dir);
    let apps = launchd_apps(&inventory, wanted)?;
    let lc = Launchctl::default();
    let domain = domain(target.scope);
    let table = process_table();
    let mut out = Vec::new();
    for app in &apps {
        let mut units = Vec::new();
        for label in app.app_labels() {
            let info = lc.print(&format!("{domain}/{label}"))?;
            units.push(unit_status(&label, info.as_ref(), &table));
        }
        let marker = app.files.first().map(|f| &f.marker);
        out.push(AppStatus::from_units(
            &app.name, &app.group, marker, "fork", units, None,
        ));
    }
    Ok(Report {
        version: JSON_VERSION,
        backend: "launchd",
        scope: crate::manager::systemd::scope_word(target.scope),
        apps: out,
    })
}

/// `launchctl print` in PM2's words. Unknown states are transitional, never an error.
fn unit_status(label: &str, info: Option<&ServiceInfo>, table: &[Process]) -> UnitStatus {
    let (active, sub, status) = match info {
        None => ("inactive", "not loaded".to_string(), "stopped"),
        Some(i) if i.running() => ("active", i.state.clone().unwrap_or_default(), "online"),
        Some(i) => {
            let state = i.state.clone().unwrap_or_default();
            let status = match (&i.last_exit, state.as_str()) {
                (_, "spawn scheduled") => "waiting restart",
                (Some(LastExit::Code(0)) | Some(LastExit::Never) | None, _) => "stopped",
                _ => "errored",
            };
            ("inactive", state, status)
        }
    };
    let main_pid = info.and_then(|i| i.pid);
    let behind = main_pid.map_or(Behind::Unknown, |p| behind(p, table));
    let app = behind.app();
    let tree = main_pid.map_or_else(Vec::new, |p| process_tree(p, table));
    // launchd sees its job running while the shim sleeps the backoff delay.
    let status = if behind == Behind::ShimWaiting {
        "waiting restart"
    } else {
        status
    };
    UnitStatus {
        unit: label.to_string(),
        active_state: active.to_string(),
        sub_state: sub,
        status: status.to_string(),
        pid: app
            .map(|a| a.pid)
            .or(main_pid.filter(|_| behind == Behind::Unknown)),
        main_pid,
        uptime_ms: app.map(|a| a.elapsed_ms),
        // launchd counts spawns; the first one is not a restart.
        restarts: info
            .and_then(|i| i.runs)
            .map(|r| r.saturating_sub(1))
            .unwrap_or(0),
        memory_bytes: Some(tree.iter().map(|p| p.rss_bytes).sum()).filter(|&b| b > 0),
        cpu_ns: app.map(|_| tree.iter().map(|p| p.cpu_ns).sum()),
        result: match info.and_then(|i| i.last_exit.as_ref()) {
            Some(LastExit::Code(c)) => format!("exit {c}"),
            Some(LastExit::Signal(s)) => format!("signal {s}"),
            Some(LastExit::Reason(r)) => r.clone(),
            Some(LastExit::Never) | None => String::new(),
        },
        exit_status: match info.and_then(|i| i.last_exit.as_ref()) {
            Some(LastExit::Code(c)) => Some(*c),
            _ => None,
        },
    }
}

/// One process as `ps` sees it.
#[derive(Clone, Debug, PartialEq)]
struct Process {
    pid: u32,
    ppid: u32,
    rss_bytes: u64,
    cpu_ns: u64,
    elapsed_ms: u64,
    command: String,
}

/// Every process, from `ps` (macOS has no /proc). The columns mean the same in BSD and procps
/// `ps`; only the time formats differ, and [`clock_ms`] reads both.
fn process_table() -> Vec<Process> {
    let Ok(out) = std::process::Command::new("ps")
        .args(["-A", "-o", "pid=,ppid=,rss=,time=,etime=,comm="])
        .output()
    else {
        return Vec::new();
    };
    parse_process_table(&String::from_utf8_lossy(&out.stdout))
}

fn parse_process_table(text: &str) -> Vec<Process> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let pid = f.next()?.parse().ok()?;
            let ppid = f.next()?.parse().ok()?;
            let rss_bytes = f.next()?.parse::<u64>().ok()? * 1024;
            let cpu_ns = clock_ms(f.next()?)? * 1_000_000;
            let elapsed_ms = clock_ms(f.next()?)?;
            // The command is last because it may contain spaces.
            let command = f.collect::<Vec<_>>().join(" ");
            Some(Process {
                pid,
                ppid,
                rss_bytes,
                cpu_ns,
                elapsed_ms,
                command,
            })
        })
        .collect()
}

/// `ps` durations: `[[dd-]hh:]mm:ss[.cc]` (BSD `time` is `mm:ss.cc` with minutes past 59).
fn clock_ms(text: &str) -> Option<u64> {
    let (days, clock) = match text.split_once('-') {
        Some((d, rest)) => (d.parse::<u64>().ok()?, rest),
        None => (0, text),
    };
    let mut parts = clock.rsplit(':');
    let seconds: f64 = parts.next()?.parse().ok()?;
    let minutes: u64 = parts.next().map_or(Some(0), |m| m.parse().ok())?;
    let hours: u64 = parts.next().map_or(Some(0), |h| h.parse().ok())?;
    if parts.next().is_some() || !(0.0..=59.999).contains(&seconds) {
        return None;
    }
    Some(((days * 24 + hours) * 60 + minutes) * 60_000 + (seconds * 1000.0).round() as u64)
}

/// What runs behind a launchd job's pid.
#[derive(Debug, PartialEq)]
enum Behind<'a> {
    /// The pid is not in the process table (it just exited, or `ps` failed).
    Unknown,
    /// `rgen-shim` with the app as its first child.
    Shim(&'a Process),
    /// `rgen-shim` without a child: sleeping PM2's backoff delay before the next start.
    ShimWaiting,
    /// The job's own process is the app.
    Plain(&'a Process),
}

impl<'a> Behind<'a> {
    fn app(&self) -> Option<&'a Process> {
        match self {
            Behind::Shim(p) | Behind::Plain(p) => Some(p),
            Behind::Unknown | Behind::ShimWaiting => None,
        }
    }
}

fn behind(launchd_pid: u32, table: &[Process]) -> Behind<'_> {
    let Some(job) = table.iter().find(|p| p.pid == launchd_pid) else {
        return Behind::Unknown;
    };
    let is_shim = Path::new(&job.command)
        .file_name()
        .is_some_and(|name| name == crate::shim_protocol::BIN);
    if !is_shim {
        return Behind::Plain(job);
    }
    match table.iter().find(|p| p.ppid == launchd_pid) {
        Some(app) => Behind::Shim(app),
        None => Behind::ShimWaiting,
    }
}

/// A process and all its descendants (the shim, the app and its children).
fn process_tree(root: u32, table: &[Process]) -> Vec<&Process> {
    let mut tree = Vec::new();
    let mut stack = vec![root];
    while let Some(pid) = stack.pop() {
        for p in table {
            if p.pid == pid {
                tree.push(p);
            }
            if p.ppid == pid {
                stack.push(p.pid);
            }
        }
    }
    tree
}

pub fn control_command(args: &ControlArgs, verb: Verb, target: Target) -> Result<i32> {
    require_root_for_system(&target)?;
    let dir = paths::manager_dir(&target);
    let inventory = Inventory::scan(&dir);
    let apps = launchd_apps(&inventory, &args.apps)?;
    let lc = Launchctl::default();
    let domain = domain(target.scope);
    for app in &apps {
        for label in app.app_labels() {
            let service = format!("{domain}/{label}");
            let plist = dir.join(format!("{label}.plist"));
            match verb {
                // KeepAlive jobs come back after a kill; stopping means unloading.
                Verb::Stop => bootout(&lc, &service)?,
                Verb::Start => ensure_loaded(&lc, &domain, &label, &plist)?,
                Verb::Restart | Verb::Reload => {
                    ensure_loaded(&lc, &domain, &label, &plist)?;
                    let out = lc.kickstart(&service, true)?;
                    if !out.ok() {
                        bail!(
                            "`launchctl kickstart -k {service}` failed ({}): {}",
                            out.code,
                            out.text()
                        );
                    }
                }
            }
        }
    }
    let names: Vec<&str> = apps.iter().map(|a| a.name.as_str()).collect();
    println!(
        "{}: {}",
        match verb {
            Verb::Start => "started",
            Verb::Stop => "stopped",
            Verb::Restart => "restarted",
            Verb::Reload =>
                "restarted (launchd cannot hand a socket from one job to the next, so a reload is a restart)",
        },
        names.join(", ")
    );
    Ok(0)
}

fn ensure_loaded(lc: &Launchctl, domain: &str, label: &str, plist: &Path) -> Result<()> {
    if lc.print(&format!("{domain}/{label}"))?.is_some() {
        return Ok(());
    }
    let out = load_job(lc, domain, label, plist)?;
    if !out.ok() {
        bail!(bootstrap_failure(domain, label, plist, &out));
    }
    Ok(())
}

pub fn show_command(args: &ShowArgs, target: Target) -> Result<i32> {
    let report = launchd_report(&target, std::slice::from_ref(&args.app))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report.apps)?);
        return Ok(0);
    }
    let dir = paths::manager_dir(&target);
    for app in &report.apps {
        println!("{} ({})", app.name, app.status);
        println!("  group          {}", app.group);
        println!("  source         {}", app.source.display());
        for u in &app.units {
            println!(
                "  job            {}: {} (pid {}, restarts {}, last {})",
                u.unit,
                u.status,
                u.pid.map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
                u.restarts,
                if u.result.is_empty() { "-" } else { &u.result }
            );
            if let Ok(bytes) = std::fs::read(dir.join(format!("{}.plist", u.unit)))
                && let Ok(job) = crate::render::launchd::parse(&bytes)
            {
                println!("  command        {}", job.program_arguments.join(" "));
                if let Some(p) = job.standard_out_path {
                    println!("  stdout         {p}");
                }
                if let Some(p) = job.standard_error_path {
                    println!("  stderr         {p}");
                }
            }
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ps_durations_in_bsd_and_procps_formats() {
        assert_eq!(clock_ms("0:00.05"), Some(50)); // BSD `time`
        assert_eq!(clock_ms("125:03.50"), Some((125 * 60 + 3) * 1000 + 500));
        assert_eq!(clock_ms("00:00:43"), Some(43_000)); // procps `time`
        assert_eq!(clock_ms("03:47:15"), Some((3 * 3600 + 47 * 60 + 15) * 1000));
        assert_eq!(clock_ms("2-01:00:00"), Some(49 * 3_600_000));
        assert_eq!(clock_ms("12:34"), Some(754_000)); // `etime` under an hour
        assert_eq!(clock_ms("-"), None);
        assert_eq!(clock_ms("1:2:3:4"), None);
        assert_eq!(clock_ms("00:75"), None);
    }

    #[test]
    fn the_app_behind_the_shim_is_its_child() {
        // `ps -A -o pid=,ppid=,rss=,time=,etime=,comm=` as macOS prints it (full paths in comm).
        let table = parse_process_table(
            "    1     0  9316   0:43.10 03:47:15 /sbin/launchd\n\
             \x20 700     1  1200   0:00.02    05:00 /usr/local/bin/rgen-shim\n\
             \x20 701   700 40000   0:02.50    04:58 /Users/me/.nvm/versions/node/v22.1.0/bin/node\n\
             \x20 702   701  8000   0:00.50    04:57 /bin/sh\n\
             \x20 800     1  3000   0:01.00    10:00 /usr/sbin/Some App Helper\n\
             garbage line\n",
        );
        assert_eq!(table.len(), 5);
        assert_eq!(table[4].command, "/usr/sbin/Some App Helper");
        let Behind::Shim(app) = behind(700, &table) else {
            panic!("the shim's child is the app");
        };
        assert_eq!((app.pid, app.elapsed_ms), (701, 298_000));
        let tree = process_tree(700, &table);
        assert_eq!(tree.iter().map(|p| p.rss_bytes).sum::<u64>(), 49_200 * 1024);
        assert_eq!(tree.iter().map(|p| p.cpu_ns).sum::<u64>(), 3_020_000_000);
        // Not a shim: the job's own process is the app.
        assert!(matches!(behind(800, &table), Behind::Plain(p) if p.pid == 800));
        assert_eq!(behind(999, &table), Behind::Unknown);
    }

    #[test]
    fn a_shim_without_its_app_is_waiting_to_restart() {
        let table = parse_process_table("  700     1  1200   0:00.02    00:03 rgen-shim\n");
        let running = ServiceInfo {
            state: Some("running".into()),
            pid: Some(700),
            runs: Some(4),
            last_exit: Some(LastExit::Code(1)),
            program: None,
            path: None,
        };
        let unit = unit_status("rgen.api", Some(&running), &table);
        assert_eq!(unit.status, "waiting restart");
        assert_eq!((unit.pid, unit.main_pid), (None, Some(700)));
        assert_eq!(unit.restarts, 3);
    }

    #[test]
    fn this_machines_ps_is_understood() {
        let table = process_table();
        let me = table
            .iter()
            .find(|p| p.pid == std::process::id())
            .expect("this test in the ps table");
        assert!(me.rss_bytes > 0);
    }
}
