//! Plan: each validated app becomes a `ServiceSpec`, a backend-neutral description of one service:
//! the exact command, environment, restart policy, limits, logs, stop and readiness behaviour,
//! instances and sockets, timers and watches. The target (backend, scope, systemd version) is an
//! input because it decides what the OS does natively and what the shim must do; the spec records
//! both, so renderers only translate.

mod word;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::diag::{BadInput, Origin, Report, Warning, WarningKind};
use crate::model::keys::Support;
use crate::model::resolve::InterpreterKind;
use crate::model::{App, Ecosystem, ExecMode, LogTarget};
use crate::shim_protocol as shimp;
pub use word::{Part, Word};

/// systemd gained `RestartSteps=`/`RestartMaxDelaySec=` in 254.
pub const SYSTEMD_BACKOFF_VERSION: u32 = 254;
/// PM2's backoff: ×1.5 per restart, capped at 15 s (`lib/God.js`).
pub const PM2_BACKOFF_CAP_MS: u64 = 15_000;
/// Assumed when the installed systemd cannot be asked (Debian 12, RHEL 9.2+, AL2023).
pub const DEFAULT_SYSTEMD_VERSION: u32 = 252;

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Systemd,
    Launchd,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    User,
    System,
}

/// Everything about the machine the units are for.
#[derive(Clone, Debug)]
pub struct Target {
    pub backend: Backend,
    pub scope: Scope,
    pub systemd_version: u32,
    pub cpus: u32,
    /// Absolute path of `rgen-shim` as the services will see it.
    pub shim: PathBuf,
    /// The user installing (`SUDO_USER` under sudo): system-scope apps run as this user unless
    /// `uid` says otherwise.
    pub invoking_user: Option<String>,
    /// Home of the user the apps run as (launchd's default log directory lives there).
    pub home: PathBuf,
}

impl Target {
    pub fn native_backoff(&self) -> bool {
        self.backend == Backend::Systemd && self.systemd_version >= SYSTEMD_BACKOFF_VERSION
    }
}

#[derive(Clone, Debug)]
pub struct Plan {
    pub group: String,
    pub source: PathBuf,
    pub env_name: Option<String>,
    pub source_hash: String,
    pub target: Target,
    pub services: Vec<ServiceSpec>,
}

/// Why the shim sits in front of an app. Recorded so `rgen check` and `rgen show` can say it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ShimNeed {
    /// `wait_ready`: `process.send('ready')` → `READY=1`.
    Readiness,
    /// Port sharing / a socket held by the OS: the app must take it from fd 3.
    Socket,
    ShutdownMessage,
    /// PM2's ×1.5 backoff where the OS has none.
    Backoff,
    IncrementVar,
    /// Log files with dates, or a combined file next to out/err.
    Logs,
    /// launchd sends SIGTERM only; PM2 stops apps with SIGINT then SIGKILL after `kill_timeout`.
    StopSignal,
    /// launchd cannot limit memory.
    MemoryWatchdog,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RestartMode {
    Always,
    Never,
}

#[derive(Clone, Debug)]
pub struct Backoff {
    pub initial_ms: u64,
    pub max_ms: u64,
    /// Steps for systemd's geometric backoff that approximate PM2's ×1.5.
    pub steps: u32,
    pub via_shim: bool,
}

#[derive(Clone, Debug)]
pub struct RestartPolicy {
    pub mode: RestartMode,
    pub prevent_exit_codes: Vec<i32>,
    pub delay_ms: u64,
    pub backoff: Option<Backoff>,
    /// `(interval, burst)`; `None` disables the start limit.
    pub start_limit: Option<(u64, u32)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogDest {
    /// systemd: the journal. launchd: nothing (launchd discards output).
    Journal,
    Null,
    /// Appended to this file (may contain the instance number).
    File(Word),
}

#[derive(Clone, Debug)]
pub struct LogPlan {
    /// What the manager connects stdout/stderr to.
    pub stdout: LogDest,
    pub stderr: LogDest,
    /// Directories to create before the first start.
    pub dirs: Vec<PathBuf>,
}

#[derive(Clone, Debug)]
pub struct StopPlan {
    pub signal: String,
    /// Time the manager waits before SIGKILL.
    pub timeout_ms: u64,
    /// Signal the whole process tree (control group) rather than the main process.
    pub tree: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Readiness {
    /// Running once exec succeeded.
    Started,
    /// The shim sends READY=1 (after `ready`, after listening, or at spawn).
    Notify { timeout_ms: u64 },
}

#[derive(Clone, Debug)]
pub struct Instances {
    pub count: u32,
    pub requested: String,
}

#[derive(Clone, Debug)]
pub struct SocketPlan {
    pub port: u16,
}

#[derive(Clone, Debug)]
pub struct CronPlan {
    pub expr: String,
    pub description: String,
    pub on_calendar: Vec<String>,
    pub launchd: Vec<Vec<(&'static str, u32)>>,
}

#[derive(Clone, Debug)]
pub struct WatchPlan {
    pub dirs: Vec<PathBuf>,
    pub delay_ms: u64,
}

#[derive(Clone, Debug)]
pub struct ServiceSpec {
    pub app: String,
    pub unit: String,
    pub namespace: String,
    pub description: String,
    pub origin: Origin,
    /// The command the manager runs (the shim's, when there is one).
    pub argv: Vec<Word>,
    /// The app's own command.
    pub app_argv: Vec<String>,
    pub shim: BTreeSet<ShimNeed>,
    pub cwd: PathBuf,
    pub env: BTreeMap<String, Word>,
    pub user: Option<String>,
    pub group: Option<String>,
    pub autostart: bool,
    pub restart: RestartPolicy,
    /// Enforced by the kernel (systemd); on launchd the shim's watchdog carries it.
    pub memory_max: Option<u64>,
    pub logs: LogPlan,
    pub stop: StopPlan,
    pub readiness: Readiness,
    /// `Some` for template units (several instances, or cluster mode).
    pub instances: Option<Instances>,
    pub socket: Option<SocketPlan>,
    pub cron: Option<CronPlan>,
    pub watch: Option<WatchPlan>,
}

const SYSTEMD_DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const LAUNCHD_BASE_PATH: &str = "/opt/homebrew/bin:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin";
/// Extra time the manager allows beyond the shim's own stop timeout before it SIGKILLs.
const SHIM_STOP_MARGIN_MS: u64 = 2000;
/// Log rotation on launchd (the shim's): PM2's pm2-logrotate rotates at 10 MB too.
const LAUNCHD_LOG_MAX_SIZE: u64 = 10 << 20;
const LAUNCHD_LOG_KEEP: u32 = 5;
/// How many directories one watch may cover; more would be a recursive watch in disguise.
const WATCH_DIR_LIMIT: usize = 256;

pub fn plan(eco: &Ecosystem, target: &Target) -> Result<(Plan, Vec<Warning>), BadInput> {
    let mut report = Report::default();
    let services = eco
        .apps
        .iter()
        .filter_map(|app| plan_app(eco, app, target, &mut report))
        .collect();
    let (services, warnings) = report.finish(services)?;
    Ok((
        Plan {
            group: eco.group.clone(),
            source: eco.file.clone(),
            env_name: eco.env_name.clone(),
            source_hash: eco.source_hash.clone(),
            target: target.clone(),
            services,
        },
        warnings,
    ))
}

fn plan_app(
    eco: &Ecosystem,
    app: &App,
    target: &Target,
    report: &mut Report,
) -> Option<ServiceSpec> {
    let launchd = target.backend == Backend::Launchd;
    let templated = app.is_templated();
    let mut shim = BTreeSet::new();
    let node_app = matches!(app.interpreter.kind, InterpreterKind::Node) || app.launcher.is_some();

    // Approximations are announced once per app and kind, with the backend's own wording.
    let mut announced = BTreeSet::new();
    for (spec, origin) in &app.keys_used {
        let mapping = if launchd { spec.launchd } else { spec.systemd };
        if let Support::Approximated(kind) = mapping.support {
            let skip = match spec.name {
                // Only approximated when it cannot be expressed exactly; decided below.
                "exp_backoff_restart_delay" => !target.native_backoff() && !launchd,
                "stop_exit_codes" => app.restart.stop_exit_codes.iter().all(|&c| c == 0),
                "log_file" => !has_split_files(app),
                "exec_mode" => app.mode == ExecMode::Fork,
                _ => false,
            };
            if !skip && announced.insert(kind) {
                let message = match kind {
                    WarningKind::StartLimit if !launchd => {
                        "`min_uptime`/`max_restarts` become `StartLimitIntervalSec=` (min_uptime × max_restarts) and `StartLimitBurst=` (max_restarts) in `[Unit]`".to_string()
                    }
                    _ => format!("`{}`: {}", spec.name, mapping.text),
                };
                report.warn(kind, origin.clone(), message);
            }
        }
    }

    // user
    let user = match (target.scope, &app.user) {
        (Scope::User, Some(u))
            if Some(u) != target.invoking_user.as_ref() && !is_current_user(u) =>
        {
            report
                .error(
                    app.origin.with_key("uid"),
                    format!("`uid: {u}` needs a system-scope install"),
                )
                .hint("install with `--system` (as root), or drop `uid` to run as yourself");
            return None;
        }
        (Scope::User, _) => None,
        (Scope::System, Some(u)) => Some(u.clone()),
        (Scope::System, None) => target.invoking_user.clone(),
    };

    // restart
    let limit = app.restart.limit;
    let never = !app.restart.autorestart || limit.is_some_and(|l| l.max_restarts == 0);
    let backoff = app.restart.exp_backoff_ms.map(|initial| {
        let via_shim = !target.native_backoff();
        if via_shim {
            shim.insert(ShimNeed::Backoff);
        }
        Backoff {
            initial_ms: initial,
            max_ms: PM2_BACKOFF_CAP_MS.max(initial),
            steps: backoff_steps(initial),
            via_shim,
        }
    });
    let restart = RestartPolicy {
        mode: if never {
            RestartMode::Never
        } else {
            RestartMode::Always
        },
        prevent_exit_codes: app.restart.stop_exit_codes.clone(),
        delay_ms: app.restart.delay_ms.unwrap_or(0),
        backoff,
        start_limit: limit.map(|l| {
            (
                l.min_uptime_ms.saturating_mul(u64::from(l.max_restarts)),
                l.max_restarts,
            )
        }),
    };

    // instances and sockets
    let instances = templated.then(|| Instances {
        count: app.instances.resolve(target.cpus),
        requested: app.instances.as_written(),
    });
    let socket = match (app.port, app.mode) {
        (Some(port), ExecMode::Cluster) if !launchd => Some(SocketPlan { port }),
        // A single Node app with a known port keeps its socket in systemd across restarts.
        (Some(port), ExecMode::Fork)
            if !launchd && !templated && node_app && app.launcher.is_none() =>
        {
            Some(SocketPlan { port })
        }
        _ => None,
    };
    if launchd
        && app.mode == ExecMode::Cluster
        && app.port.is_some()
        && instances.as_ref().is_some_and(|i| i.count > 1)
    {
        report
            .error(
                app.origin.with_key("exec_mode"),
                "cluster mode on launchd: launchd cannot share one port between several jobs",
            )
            .hint("use `instances: 1` on macOS (or fork mode with a port per instance via `increment_var: 'PORT'`)");
        return None;
    }
    if socket.is_some() {
        shim.insert(ShimNeed::Socket);
    }
    if app.increment_var.is_some() && templated {
        shim.insert(ShimNeed::IncrementVar);
    }
    if app.wait_ready {
        shim.insert(ShimNeed::Readiness);
    }
    if app.stop.with_message {
        shim.insert(ShimNeed::ShutdownMessage);
    }
    if launchd {
        shim.insert(ShimNeed::StopSignal);
        if app.max_memory_bytes.is_some() {
            shim.insert(ShimNeed::MemoryWatchdog);
        }
    }

    // logs
    let per_instance = templated && app.logs.per_instance;
    let file_word = |p: &Path| -> Word {
        if per_instance {
            Word::instance_path(p)
        } else {
            Word::text(p.to_string_lossy())
        }
    };
    let dest = |t: &LogTarget| match t {
        LogTarget::Default => LogDest::Journal,
        LogTarget::Null => LogDest::Null,
        LogTarget::File(p) => LogDest::File(file_word(p)),
    };
    let mut dirs: BTreeSet<PathBuf> = BTreeSet::new();
    for p in [&app.logs.out, &app.logs.err]
        .into_iter()
        .filter_map(|t| {
            if let LogTarget::File(p) = t {
                Some(p)
            } else {
                None
            }
        })
        .chain(app.logs.combined.iter())
    {
        if let Some(d) = p.parent() {
            dirs.insert(d.to_path_buf());
        }
    }
    let split = has_split_files(app);
    let dated_files = app.logs.date_format.is_some()
        && (app.logs.combined.is_some()
            || matches!(app.logs.out, LogTarget::File(_))
            || matches!(app.logs.err, LogTarget::File(_)));
    let mut shim_logs: Vec<(&str, Word)> = Vec::new();
    let (mut stdout, mut stderr) = (dest(&app.logs.out), dest(&app.logs.err));
    if let Some(combined) = &app.logs.combined {
        if split || dated_files {
            shim.insert(ShimNeed::Logs);
        } else {
            stdout = LogDest::File(file_word(combined));
            stderr = LogDest::File(file_word(combined));
        }
    }
    if dated_files {
        shim.insert(ShimNeed::Logs);
    }
    if launchd {
        // launchd drops output it is not given a path for; rgen's default keeps it.
        let default_dir = target.home.join("Library/Logs/rgen");
        for (dest, suffix) in [(&mut stdout, "out"), (&mut stderr, "error")] {
            if *dest == LogDest::Journal {
                let p = default_dir.join(format!("{}-{suffix}.log", app.unit));
                dirs.insert(default_dir.clone());
                *dest = LogDest::File(file_word(&p));
            }
        }
    }
    // launchd keeps its log files open forever, so rotating them means the shim owns them.
    if launchd && (matches!(stdout, LogDest::File(_)) || matches!(stderr, LogDest::File(_))) {
        shim.insert(ShimNeed::Logs);
    }
    if shim.contains(&ShimNeed::Logs) {
        if let LogDest::File(w) = &stdout {
            shim_logs.push((shimp::opt::STDOUT, w.clone()));
        }
        if let LogDest::File(w) = &stderr {
            shim_logs.push((shimp::opt::STDERR, w.clone()));
        }
        if let Some(c) = &app.logs.combined {
            shim_logs.push((shimp::opt::COMBINED, file_word(c)));
        }
        if launchd {
            shim_logs.push((
                shimp::opt::LOG_MAX_SIZE,
                Word::text(LAUNCHD_LOG_MAX_SIZE.to_string()),
            ));
            shim_logs.push((
                shimp::opt::LOG_KEEP,
                Word::text(LAUNCHD_LOG_KEEP.to_string()),
            ));
        }
        // The shim owns the files; what it prints itself goes to the journal (systemd) or to
        // its own small log (launchd).
        let own = if launchd {
            let dir = target.home.join("Library/Logs/rgen");
            dirs.insert(dir.clone());
            LogDest::File(file_word(&dir.join(format!("{}.rgen-shim.log", app.unit))))
        } else {
            LogDest::Journal
        };
        stdout = own.clone();
        stderr = own;
    }

    // env and PATH
    let mut env: BTreeMap<String, Word> = app
        .env
        .iter()
        .map(|(k, v)| (k.clone(), Word::text(v)))
        .collect();
    if templated {
        env.insert(app.instance_var.clone(), Word(vec![Part::Instance]));
    }
    // PATH: the directories of what runs (the interpreter, or the script when it runs itself)
    // ahead of the OS default, so `#!/usr/bin/env node` scripts and tools the app spawns resolve as
    // they did in the shell that resolved them — the fix for nvm/venv installs.
    if !env.contains_key("PATH") {
        let base = if launchd {
            LAUNCHD_BASE_PATH
        } else {
            SYSTEMD_DEFAULT_PATH
        };
        let mut path_dirs: Vec<String> = app
            .path_prepend
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        let executable = app.interpreter.path.as_ref().unwrap_or(&app.script);
        if let Some(d) = executable
            .parent()
            .map(|d| d.to_string_lossy().into_owned())
            && !base.split(':').any(|b| b == d)
            && !path_dirs.contains(&d)
        {
            path_dirs.push(d);
        }
        if launchd || !path_dirs.is_empty() {
            path_dirs.push(base.to_string());
            env.insert("PATH".into(), Word::text(path_dirs.join(":")));
        }
    }

    // readiness and stop
    let uses_shim = !shim.is_empty();
    let ready_timeout = if app.wait_ready || socket.is_some() {
        app.listen_timeout_ms
    } else {
        0
    };
    let backoff_wait = restart
        .backoff
        .as_ref()
        .filter(|b| b.via_shim)
        .map(|b| b.max_ms)
        .unwrap_or(0);
    let readiness = if uses_shim && !launchd {
        Readiness::Notify {
            timeout_ms: ready_timeout + backoff_wait + 30_000,
        }
    } else {
        Readiness::Started
    };
    let stop = StopPlan {
        signal: app.stop.signal.clone(),
        timeout_ms: if uses_shim {
            app.stop.timeout_ms + SHIM_STOP_MARGIN_MS
        } else {
            app.stop.timeout_ms
        },
        // With the shim, the manager signals only the shim, which signals the app's process group.
        tree: app.stop.treekill && !uses_shim,
    };

    // the command
    let mut argv: Vec<Word> = Vec::new();
    if uses_shim {
        let mut push = |s: &str| argv.push(Word::text(s));
        push(&target.shim.to_string_lossy());
        push(shimp::opt::NAME);
        push(&app.name);
        if app.stop.signal != "SIGINT" {
            push(shimp::opt::KILL_SIGNAL);
            push(&app.stop.signal);
        }
        if app.stop.timeout_ms != crate::model::DEFAULT_KILL_TIMEOUT_MS {
            push(shimp::opt::KILL_TIMEOUT);
            push(&app.stop.timeout_ms.to_string());
        }
        if !app.stop.treekill {
            push(shimp::opt::NO_TREEKILL);
        }
        if app.stop.with_message {
            push(shimp::opt::SHUTDOWN_WITH_MESSAGE);
        }
        if app.wait_ready {
            push(shimp::opt::WAIT_READY);
        } else if socket.is_some() && node_app {
            push(shimp::opt::READY_ON_LISTEN);
        }
        if (app.wait_ready || socket.is_some())
            && app.listen_timeout_ms != crate::model::DEFAULT_LISTEN_TIMEOUT_MS
        {
            push(shimp::opt::LISTEN_TIMEOUT);
            push(&app.listen_timeout_ms.to_string());
        }
        if node_app && (socket.is_some() || (app.wait_ready && app.launcher.is_some())) {
            push(shimp::opt::NODE_PRELOAD);
        }
        if let Some(b) = restart.backoff.as_ref().filter(|b| b.via_shim) {
            push(shimp::opt::BACKOFF_INITIAL);
            push(&b.initial_ms.to_string());
        }
        if launchd && let Some(bytes) = app.max_memory_bytes {
            push(shimp::opt::MAX_MEMORY);
            push(&bytes.to_string());
        }
        // The instance variable itself is plain `Environment=`; the shim needs the number to
        // keep each instance's backoff state apart and for `increment_var` arithmetic.
        if templated {
            argv.push(Word::text(shimp::opt::INSTANCE));
            argv.push(Word(vec![Part::Instance]));
            if app.instance_var != crate::model::DEFAULT_INSTANCE_VAR {
                argv.push(Word::text(shimp::opt::INSTANCE_VAR));
                argv.push(Word::text(&app.instance_var));
            }
            if let Some(var) = &app.increment_var {
                argv.push(Word::text(shimp::opt::INCREMENT_VAR));
                argv.push(Word::text(var));
            }
        }
        for (opt, path) in &shim_logs {
            argv.push(Word::text(*opt));
            argv.push(path.clone());
        }
        if let Some(fmt) = &app.logs.date_format
            && shim.contains(&ShimNeed::Logs)
        {
            argv.push(Word::text(shimp::opt::LOG_DATE_FORMAT));
            argv.push(Word::text(fmt));
        }
        argv.push(Word::text("--"));
    }
    argv.extend(app.argv.iter().map(Word::text));
    if socket.is_some() {
        env.insert(
            shimp::env::RGEN_LISTEN_PORT.into(),
            Word::text(
                socket
                    .as_ref()
                    .map(|s| s.port.to_string())
                    .unwrap_or_default(),
            ),
        );
    }

    // timers and watches
    let cron = app.cron_restart.as_ref().map(|c| {
        if launchd && let Some(limit) = c.launchd_limits() {
            report.warn(
                WarningKind::RestartOnlyOnLaunchd,
                app.origin.with_key("cron_restart"),
                limit,
            );
        }
        CronPlan {
            expr: c.expr.clone(),
            description: c.description.clone(),
            on_calendar: c.on_calendar(),
            launchd: c.launchd_intervals(),
        }
    });
    let watch = app.watch.as_ref().map(|w| {
        let mut dirs = Vec::new();
        for p in &w.paths {
            collect_dirs(p, &w.ignore, &mut dirs);
        }
        if dirs.len() > WATCH_DIR_LIMIT {
            report.warn(
                WarningKind::WatchIsStatic,
                app.origin.with_key("watch"),
                format!("{} directories to watch; only the first {WATCH_DIR_LIMIT} are watched — narrow `watch` or add `ignore_watch`", dirs.len()),
            );
            dirs.truncate(WATCH_DIR_LIMIT);
        }
        WatchPlan {
            dirs,
            delay_ms: w.delay_ms.unwrap_or(0),
        }
    });

    Some(ServiceSpec {
        app: app.name.clone(),
        unit: app.unit.clone(),
        namespace: app.namespace.clone(),
        description: format!("{} (rgen: {})", app.name, eco.group),
        origin: app.origin.clone(),
        argv,
        app_argv: app.argv.clone(),
        shim,
        cwd: app.cwd.clone(),
        env,
        user,
        group: if target.scope == Scope::System {
            app.group.clone()
        } else {
            None
        },
        autostart: app.autostart,
        restart,
        memory_max: app.max_memory_bytes,
        logs: LogPlan {
            stdout,
            stderr,
            dirs: dirs.into_iter().collect(),
        },
        stop,
        readiness,
        instances,
        socket,
        cron,
        watch,
    })
}

fn has_split_files(app: &App) -> bool {
    matches!(app.logs.out, LogTarget::File(_)) || matches!(app.logs.err, LogTarget::File(_))
}

fn is_current_user(name: &str) -> bool {
    std::env::var("USER").is_ok_and(|u| u == name) || current_uid().to_string() == name
}

pub fn current_uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}

/// Steps for `RestartSteps=` so that systemd's geometric series from `initial` reaches 15 s about
/// when PM2's ×1.5 series does.
pub fn backoff_steps(initial_ms: u64) -> u32 {
    if initial_ms == 0 || initial_ms >= PM2_BACKOFF_CAP_MS {
        return 1;
    }
    let ratio = PM2_BACKOFF_CAP_MS as f64 / initial_ms as f64;
    (ratio.ln() / 1.5f64.ln()).ceil().max(1.0) as u32
}

/// PM2's own sequence of delays, for documentation and tests.
pub fn pm2_backoff_sequence(initial_ms: u64, n: usize) -> Vec<u64> {
    let mut out = Vec::with_capacity(n);
    let mut prev = 0u64;
    for _ in 0..n {
        prev = if prev == 0 {
            initial_ms
        } else {
            ((prev as f64 * 1.5).min(PM2_BACKOFF_CAP_MS as f64)).floor() as u64
        };
        out.push(prev);
    }
    out
}

/// Directories under `root` (itself included), skipping dot-directories, `node_modules` (PM2's
/// watcher ignores both) and anything matching `ignore_watch`.
fn collect_dirs(root: &Path, ignore: &[String], out: &mut Vec<PathBuf>) {
    if !root.is_dir() {
        if root.exists() {
            out.push(root.to_path_buf());
        }
        return;
    }
    out.push(root.to_path_buf());
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    let mut children: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect();
    children.sort();
    for child in children {
        let name = child
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let path_text = child.to_string_lossy();
        if name.starts_with('.')
            || name == "node_modules"
            || ignore
                .iter()
                .any(|i| name == *i || path_text.contains(i.as_str()))
        {
            continue;
        }
        if out.len() > WATCH_DIR_LIMIT {
            out.push(child);
            return;
        }
        collect_dirs(&child, ignore, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pm2_backoff_matches_pm2() {
        assert_eq!(
            pm2_backoff_sequence(100, 15),
            [
                100, 150, 225, 337, 505, 757, 1135, 1702, 2553, 3829, 5743, 8614, 12921, 15000,
                15000
            ]
        );
    }

    #[test]
    fn systemd_steps_reach_the_cap_with_pm2() {
        assert_eq!(backoff_steps(100), 13);
        assert_eq!(backoff_steps(15_000), 1);
    }
}
