//! The command line resolved once into what the commands work with (uv's `Settings::resolve`):
//! the machine facts — uid, user names, homes, CPU count, the installed systemd, where the shim
//! is — are read here and nowhere else, and no clap type reaches a command.

use std::path::PathBuf;

use serde_json::Value;

use crate::apply::inventory::Stream;
use crate::backend::Verb;
use crate::cli;
use crate::load::Format;
use crate::target::{Backend, DEFAULT_SYSTEMD_VERSION, KubernetesOptions, Scope, Target};

/// Which ecosystem file and which of its apps.
#[derive(Clone, Debug, Default)]
pub struct SourceSettings {
    /// `None`: discover one in the current directory.
    pub file: Option<PathBuf>,
    /// One app from the command line instead of a file (`rgen install app.js -i 4`).
    pub adhoc: Option<crate::load::adhoc::Definition>,
    pub env: Option<String>,
    pub only: Vec<String>,
    pub format: Option<Format>,
    pub group: Option<String>,
    /// The directory rgen runs in (PM2 resolves relative paths against it; rgen warns).
    pub shell_cwd: Option<PathBuf>,
    /// rgen's own environment: `--keep-env` takes from it, and variables an app reads that are
    /// set only here are worth a warning (PM2 passes its environment on, a service does not).
    pub shell_env: std::collections::BTreeMap<String, String>,
    pub keep_env: Vec<String>,
    /// `--for-other-host`: paths are not checked on this machine.
    pub for_other_host: bool,
}

impl SourceSettings {
    fn resolve(args: &cli::SourceArgs) -> anyhow::Result<SourceSettings> {
        let cli::SourceArgs {
            file,
            args: script_args,
            start,
            env,
            only,
            format,
            group,
            keep_env,
        } = args;
        let flags = start_flags(start)?;
        let script = file
            .as_ref()
            .map(|f| f.to_string_lossy().into_owned())
            .filter(|f| format.is_none() && !crate::load::adhoc::is_config_file(f));
        let adhoc = match script {
            Some(script) => {
                let dir = std::env::current_dir()?;
                let mut keys = vec![("SCRIPT".to_string(), "script", Value::from(script))];
                keys.extend(flags);
                if !script_args.is_empty() {
                    keys.push(("-- ARGS".into(), "args", Value::from(script_args.clone())));
                }
                // The definition is recorded with the app: it must not depend on where the
                // next `rgen status` runs.
                match keys.iter_mut().find(|(_, k, _)| *k == "cwd") {
                    Some((_, _, v)) => {
                        let given = PathBuf::from(v.as_str().unwrap_or_default());
                        *v = Value::from(dir.join(given).to_string_lossy().into_owned());
                    }
                    None => keys.push((
                        "--cwd".into(),
                        "cwd",
                        Value::from(dir.to_string_lossy().into_owned()),
                    )),
                }
                Some(crate::load::adhoc::Definition { dir, keys })
            }
            None => {
                if let Some((flag, _, _)) = flags.first() {
                    anyhow::bail!(
                        "`{flag}` is a flag for a script (`rgen install app.js {flag} …`); for an ecosystem file, set the key in the file"
                    );
                }
                if !script_args.is_empty() {
                    anyhow::bail!(
                        "arguments after `--` are for a script; for an ecosystem file, set `args` in the file"
                    );
                }
                None
            }
        };
        Ok(SourceSettings {
            shell_cwd: std::env::current_dir().ok(),
            shell_env: std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                .collect(),
            keep_env: keep_env.clone(),
            for_other_host: false,
            file: if adhoc.is_some() { None } else { file.clone() },
            adhoc,
            env: env.clone(),
            only: only
                .iter()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
            format: format.map(format_of),
            group: group.clone(),
        })
    }
}

/// The `pm2 start` flags given, as `(flag, key, value)` with the values PM2's CLI would put in
/// the app (strings where PM2 parses them, so the model applies PM2's grammar and messages).
fn start_flags(start: &cli::StartArgs) -> anyhow::Result<Vec<(String, &'static str, Value)>> {
    let cli::StartArgs {
        name,
        instances,
        exec_mode,
        execute_command,
        interpreter,
        node_args,
        cwd,
        max_memory_restart,
        cron_restart,
        watch,
        watch_directory,
        ignore_watch,
        watch_delay,
        out_file,
        error_file,
        log_file,
        merge_logs,
        log_date_format,
        time,
        restart_delay,
        exp_backoff_restart_delay,
        max_restarts,
        min_uptime,
        kill_timeout,
        wait_ready,
        listen_timeout,
        no_autorestart,
        no_autostart,
        stop_exit_codes,
        no_treekill,
        shutdown_with_message,
        namespace,
        uid,
        gid,
        port,
        append: _,
    } = start;
    let mut out: Vec<(String, &'static str, Value)> = Vec::new();
    let mut put = |flag: &str, key: &'static str, value: Option<Value>| {
        if let Some(v) = value {
            out.push((flag.to_string(), key, v));
        }
    };
    let text = |s: &Option<String>| s.clone().map(Value::from);
    let path = |p: &Option<PathBuf>| {
        p.as_ref()
            .map(|p| Value::from(p.to_string_lossy().into_owned()))
    };
    let flag = |b: bool| b.then_some(Value::Bool(true));
    let unset = |b: bool| b.then_some(Value::Bool(false));
    put("--name", "name", text(name));
    put(
        "--instances",
        "instances",
        instances.as_ref().map(|i| match i.parse::<i64>() {
            Ok(n) => Value::from(n),
            Err(_) => Value::from(i.clone()),
        }),
    );
    put("--exec-mode", "exec_mode", text(exec_mode));
    put(
        "--execute-command",
        "execute_command",
        flag(*execute_command),
    );
    put("--interpreter", "exec_interpreter", text(interpreter));
    put("--node-args", "node_args", text(node_args));
    put("--cwd", "cwd", path(cwd));
    put(
        "--max-memory-restart",
        "max_memory_restart",
        text(max_memory_restart),
    );
    put("--cron-restart", "cron_restart", text(cron_restart));
    let mut watched: Vec<String> = watch.iter().filter(|w| !w.is_empty()).cloned().collect();
    watched.extend(watch_directory.iter().cloned());
    if !watched.is_empty() {
        put("--watch", "watch", Some(Value::from(watched)));
    } else if !watch.is_empty() {
        put("--watch", "watch", Some(Value::Bool(true)));
    }
    put("--ignore-watch", "ignore_watch", text(ignore_watch));
    put("--watch-delay", "watch_delay", watch_delay.map(Value::from));
    put("--output", "out_file", path(out_file));
    put("--error", "error_file", path(error_file));
    put("--log", "log_file", path(log_file));
    put("--merge-logs", "merge_logs", flag(*merge_logs));
    put(
        "--log-date-format",
        "log_date_format",
        text(log_date_format),
    );
    put("--time", "time", flag(*time));
    put(
        "--restart-delay",
        "restart_delay",
        restart_delay.map(Value::from),
    );
    put(
        "--exp-backoff-restart-delay",
        "exp_backoff_restart_delay",
        exp_backoff_restart_delay.map(Value::from),
    );
    put(
        "--max-restarts",
        "max_restarts",
        max_restarts.map(Value::from),
    );
    put("--min-uptime", "min_uptime", min_uptime.map(Value::from));
    put(
        "--kill-timeout",
        "kill_timeout",
        kill_timeout.map(Value::from),
    );
    put("--wait-ready", "wait_ready", flag(*wait_ready));
    put(
        "--listen-timeout",
        "listen_timeout",
        listen_timeout.map(Value::from),
    );
    put("--no-autorestart", "autorestart", unset(*no_autorestart));
    put("--no-autostart", "autostart", unset(*no_autostart));
    if !stop_exit_codes.is_empty() {
        put(
            "--stop-exit-codes",
            "stop_exit_codes",
            Some(Value::from(stop_exit_codes.clone())),
        );
    }
    put("--no-treekill", "treekill", unset(*no_treekill));
    put(
        "--shutdown-with-message",
        "shutdown_with_message",
        flag(*shutdown_with_message),
    );
    put("--namespace", "namespace", text(namespace));
    put("--uid", "uid", text(uid));
    put("--gid", "gid", text(gid));
    put("--port", "port", port.map(Value::from));
    Ok(out)
}

pub fn format_of(arg: cli::FormatArg) -> Format {
    match arg {
        cli::FormatArg::Toml => Format::RgenToml,
        cli::FormatArg::Js => Format::Pm2Js,
        cli::FormatArg::Json => Format::Pm2Json,
        cli::FormatArg::Yaml => Format::Pm2Yaml,
        cli::FormatArg::Forever => Format::Forever,
    }
}

pub struct RenderSettings {
    pub source: SourceSettings,
    pub target: Target,
    pub out: Option<PathBuf>,
}

pub struct CheckSettings {
    pub source: SourceSettings,
    pub target: Target,
}

pub struct ImportSettings {
    /// `None` only with `--from-pm2` (PM2's default home).
    pub file: Option<PathBuf>,
    pub out: Option<PathBuf>,
    pub format: Option<Format>,
    pub pm2: Option<Pm2ImportSettings>,
    pub installed: Option<InstalledImportSettings>,
}

/// `--from-installed`: which installed apps, in which scope.
pub struct InstalledImportSettings {
    /// Names as `status` takes them; empty: every app in the scope.
    pub apps: Vec<String>,
    /// The scope read, and the machine the apps are compiled for again (to tell what their
    /// definition gives from what the install added).
    pub target: Target,
}

/// Where `--from-pm2` reads PM2's record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pm2Input {
    /// A PM2 home: its `dump.pm2`, `module_conf.json` and `pm2.pid`.
    Home(PathBuf),
    /// A `dump.pm2` or a saved `pm2 jlist`.
    File(PathBuf),
    /// `pm2 jlist | rgen import --from-pm2 -`.
    Stdin,
}

pub struct Pm2ImportSettings {
    pub input: Pm2Input,
    /// `--pm2-user`: whose PM2 it is.
    pub pm2_user: Option<String>,
    /// What the apps will be installed into (its scope decides who they run as).
    pub target: Target,
    /// Where `--install` writes the file when `--out` is not given.
    pub default_out: PathBuf,
    /// `--install`: the install of the written file.
    pub install: Option<InstallSettings>,
    /// rgen's own environment: a variable an app shares with it is probably the shell's.
    pub shell_env: std::collections::BTreeMap<String, String>,
    /// The service manager's environment (`LANG`…), which every service gets.
    pub manager_env: std::collections::BTreeMap<String, String>,
}

#[derive(Clone)]
pub struct InstallSettings {
    pub source: SourceSettings,
    pub target: Target,
    /// `--systemd-version` was given: render for it rather than for the running manager.
    pub version_given: bool,
    pub dry_run: bool,
}

pub struct UninstallSettings {
    pub apps: Vec<String>,
    pub all: bool,
    pub target: Target,
}

pub struct StatusSettings {
    pub apps: Vec<String>,
    pub json: bool,
    pub target: Target,
}

/// How `rgen monit` shows its readings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MonitOutput {
    /// The live screen.
    Screen,
    /// One table.
    Once,
    /// One JSON object per app per reading.
    JsonLines,
}

pub struct MonitSettings {
    pub apps: Vec<String>,
    pub output: MonitOutput,
    /// Readings to print before exiting (`None`: until interrupted).
    pub count: Option<u64>,
    pub interval: std::time::Duration,
    /// Colour on the screen: not with `NO_COLOR` set (no-color.org) or `TERM=dumb`.
    pub color: bool,
    pub target: Target,
}

pub struct ShowSettings {
    pub app: String,
    pub json: bool,
    pub show_secrets: bool,
    pub target: Target,
}

pub struct ControlSettings {
    pub apps: Vec<String>,
    pub verb: Verb,
    pub target: Target,
}

pub struct LogsSettings {
    pub apps: Vec<String>,
    pub lines: usize,
    pub follow: bool,
    /// Only this stream (`--out`, `--err`).
    pub only: Option<Stream>,
    pub target: Target,
}

pub struct ScaleSettings {
    pub app: String,
    pub count: ScaleTo,
    pub target: Target,
}

/// `rgen scale APP N|+N|-N`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScaleTo {
    Exactly(u32),
    More(u32),
    Fewer(u32),
}

impl ScaleTo {
    pub fn from(self, current: u32) -> u32 {
        match self {
            ScaleTo::Exactly(n) => n,
            ScaleTo::More(n) => current.saturating_add(n),
            ScaleTo::Fewer(n) => current.saturating_sub(n),
        }
    }
}

pub struct SignalSettings {
    pub signal: i32,
    pub signal_name: String,
    pub apps: Vec<String>,
    pub target: Target,
}

pub struct FlushSettings {
    pub apps: Vec<String>,
    pub target: Target,
}

impl RenderSettings {
    pub fn resolve(args: &cli::RenderArgs) -> anyhow::Result<RenderSettings> {
        let cli::RenderArgs {
            source,
            target,
            kubernetes,
            out,
            other_host,
        } = args;
        let (source, namespace) = kubernetes_namespace(source, target);
        let source = SourceSettings {
            for_other_host: other_host.for_other_host,
            ..SourceSettings::resolve(&source)?
        };
        let mut target = render_target(target, &source);
        kubernetes_target(&mut target, kubernetes, namespace, out.as_deref());
        Ok(RenderSettings {
            target,
            source,
            out: out.clone(),
        })
    }
}

impl CheckSettings {
    pub fn resolve(args: &cli::CheckArgs) -> anyhow::Result<CheckSettings> {
        let cli::CheckArgs {
            source,
            target,
            other_host,
            kubernetes,
        } = args;
        let (source, namespace) = kubernetes_namespace(source, target);
        let source = SourceSettings {
            for_other_host: other_host.for_other_host,
            ..SourceSettings::resolve(&source)?
        };
        let mut target = render_target(target, &source);
        kubernetes_target(&mut target, kubernetes, namespace, None);
        Ok(CheckSettings { target, source })
    }
}

impl ImportSettings {
    pub fn resolve(args: &cli::ImportArgs) -> ImportSettings {
        let cli::ImportArgs {
            file,
            out,
            format,
            from_pm2,
            from_installed,
            pm2_user,
            install,
            dry_run,
            target,
        } = args;
        let installed = from_installed.as_ref().map(|apps| {
            let mut resolved = machine_target(&target.target);
            resolved.cpus = cpus();
            if let Some(v) = target.systemd_version {
                resolved.systemd_version = v;
            }
            InstalledImportSettings {
                apps: apps.clone(),
                target: resolved,
            }
        });
        let pm2 = from_pm2.then(|| {
            let mut resolved = machine_target(&target.target);
            resolved.cpus = cpus();
            if let Some(v) = target.systemd_version {
                resolved.systemd_version = v;
            }
            let group = match pm2_user {
                Some(u) => format!("pm2-{u}"),
                None => "pm2".to_string(),
            };
            let default_out = match resolved.scope {
                Scope::System => PathBuf::from("/etc/rgen").join(&group).join("rgen.toml"),
                Scope::User => resolved
                    .config_home
                    .join("rgen")
                    .join(&group)
                    .join("rgen.toml"),
            };
            let written = out.clone().unwrap_or_else(|| default_out.clone());
            let source = SourceSettings {
                file: Some(written),
                ..SourceSettings::default()
            };
            resolved.invoking_user = run_as(target.run_as.as_deref(), &source);
            let install = install.then(|| InstallSettings {
                source,
                target: resolved.clone(),
                version_given: target.systemd_version.is_some(),
                dry_run: *dry_run,
            });
            let manager_env = manager_environment(&resolved);
            Pm2ImportSettings {
                input: pm2_input(file.as_deref(), pm2_user.as_deref()),
                pm2_user: pm2_user.clone(),
                target: resolved,
                default_out,
                install,
                // Not `env::vars`, which panics on a variable that is not UTF-8.
                shell_env: std::env::vars_os()
                    .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                    .collect(),
                manager_env,
            }
        });
        ImportSettings {
            file: file.clone(),
            out: out.clone(),
            format: format.map(format_of),
            pm2,
            installed,
        }
    }
}

/// `-` is standard input, a directory a PM2 home, anything else a dump or jlist file; with no
/// argument, `--pm2-user`'s `~/.pm2`, else `$PM2_HOME`, else `~/.pm2` — where `pm2` itself looks.
fn pm2_input(file: Option<&std::path::Path>, pm2_user: Option<&str>) -> Pm2Input {
    match file {
        Some(f) if f.as_os_str() == "-" => Pm2Input::Stdin,
        Some(f) if f.is_dir() => Pm2Input::Home(f.to_path_buf()),
        Some(f) => Pm2Input::File(f.to_path_buf()),
        None => {
            if let Some(user) = pm2_user {
                return Pm2Input::Home(home_of(Some(user)).join(".pm2"));
            }
            match std::env::var_os("PM2_HOME").filter(|h| !h.is_empty()) {
                Some(home) => Pm2Input::Home(PathBuf::from(home)),
                None => Pm2Input::Home(own_home().join(".pm2")),
            }
        }
    }
}

impl InstallSettings {
    pub fn resolve(args: &cli::InstallArgs) -> anyhow::Result<InstallSettings> {
        let cli::InstallArgs {
            source,
            target,
            dry_run,
        } = args;
        let source = SourceSettings::resolve(source)?;
        let mut resolved = machine_target(&target.target);
        resolved.cpus = cpus();
        resolved.invoking_user = run_as(target.run_as.as_deref(), &source);
        resolved.strict_hardening = target.hardening == Some(cli::HardeningArg::Strict);
        if let Some(v) = target.systemd_version {
            resolved.systemd_version = v;
        }
        Ok(InstallSettings {
            source,
            target: resolved,
            version_given: target.systemd_version.is_some(),
            dry_run: *dry_run,
        })
    }
}

impl UninstallSettings {
    pub fn resolve(args: &cli::UninstallArgs) -> UninstallSettings {
        let cli::UninstallArgs { apps, all, target } = args;
        UninstallSettings {
            apps: apps.clone(),
            all: *all,
            target: machine_target(target),
        }
    }
}

impl StatusSettings {
    pub fn resolve(args: &cli::StatusArgs) -> StatusSettings {
        let cli::StatusArgs { apps, json, target } = args;
        StatusSettings {
            apps: apps.clone(),
            json: *json,
            target: machine_target(target),
        }
    }
}

impl MonitSettings {
    pub fn resolve(args: &cli::MonitArgs) -> MonitSettings {
        let cli::MonitArgs {
            apps,
            once,
            json_lines,
            count,
            interval,
            target,
        } = args;
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
            || std::env::var("TERM").is_ok_and(|t| t == "dumb");
        MonitSettings {
            apps: apps.clone(),
            output: if *once {
                MonitOutput::Once
            } else if *json_lines {
                MonitOutput::JsonLines
            } else {
                MonitOutput::Screen
            },
            count: *count,
            interval: std::time::Duration::from_millis(*interval),
            color: !no_color,
            target: machine_target(target),
        }
    }
}

impl ShowSettings {
    pub fn resolve(args: &cli::ShowArgs) -> ShowSettings {
        let cli::ShowArgs {
            app,
            json,
            show_secrets,
            target,
        } = args;
        ShowSettings {
            app: app.clone(),
            json: *json,
            show_secrets: *show_secrets,
            target: machine_target(target),
        }
    }
}

impl ControlSettings {
    pub fn resolve(args: &cli::ControlArgs, verb: Verb) -> ControlSettings {
        let cli::ControlArgs { apps, target } = args;
        ControlSettings {
            apps: apps.clone(),
            verb,
            target: machine_target(target),
        }
    }
}

impl LogsSettings {
    pub fn resolve(args: &cli::LogsArgs) -> LogsSettings {
        let cli::LogsArgs {
            apps,
            lines,
            follow,
            err,
            out,
            target,
        } = args;
        LogsSettings {
            apps: apps.clone(),
            lines: *lines,
            follow: *follow,
            only: match (*out, *err) {
                (true, _) => Some(Stream::Out),
                (_, true) => Some(Stream::Err),
                _ => None,
            },
            target: machine_target(target),
        }
    }
}

impl ScaleSettings {
    pub fn resolve(args: &cli::ScaleArgs) -> anyhow::Result<ScaleSettings> {
        let cli::ScaleArgs { app, count, target } = args;
        let bad = || {
            anyhow::anyhow!(
                "`{count}` is not an instance count: give N (in all), +N (more) or -N (fewer)"
            )
        };
        let number = |s: &str| s.parse::<u32>().map_err(|_| bad());
        let count = match count.as_bytes().first() {
            Some(b'+') => ScaleTo::More(number(&count[1..])?),
            Some(b'-') => ScaleTo::Fewer(number(&count[1..])?),
            _ => ScaleTo::Exactly(number(count)?),
        };
        Ok(ScaleSettings {
            app: app.clone(),
            count,
            target: machine_target(target),
        })
    }
}

impl SignalSettings {
    pub fn resolve(args: &cli::SignalArgs) -> anyhow::Result<SignalSettings> {
        let cli::SignalArgs {
            signal,
            apps,
            target,
        } = args;
        let (signo, name) = parse_signal(signal)?;
        Ok(SignalSettings {
            signal: signo,
            signal_name: name,
            apps: apps.clone(),
            target: machine_target(target),
        })
    }
}

/// `SIGUSR2`, `USR2`, `usr2` or `12`.
fn parse_signal(text: &str) -> anyhow::Result<(i32, String)> {
    use nix::sys::signal::Signal;
    use std::str::FromStr as _;
    let signal = match text.parse::<i32>() {
        Ok(n) => Signal::try_from(n).ok(),
        Err(_) => {
            let upper = text.to_ascii_uppercase();
            let name = if upper.starts_with("SIG") {
                upper
            } else {
                format!("SIG{upper}")
            };
            Signal::from_str(&name).ok()
        }
    };
    let signal = signal.ok_or_else(|| {
        anyhow::anyhow!(
            "`{text}` is not a signal (try SIGUSR2, SIGHUP or a number; `kill -l` lists them)"
        )
    })?;
    Ok((signal as i32, signal.as_str().to_string()))
}

impl FlushSettings {
    pub fn resolve(args: &cli::FlushArgs) -> FlushSettings {
        let cli::FlushArgs { apps, target } = args;
        FlushSettings {
            apps: apps.clone(),
            target: machine_target(target),
        }
    }
}

/// The target for rendering offline: the systemd version is the installed one unless given.
fn render_target(args: &cli::RenderTargetArgs, source: &SourceSettings) -> Target {
    let mut target = machine_target(&args.target);
    target.systemd_version = args
        .systemd_version
        .unwrap_or_else(installed_systemd_version);
    target.cpus = cpus();
    target.invoking_user = run_as(args.run_as.as_deref(), source);
    target.strict_hardening = args.hardening == Some(cli::HardeningArg::Strict);
    target
}

/// With `--kubernetes`, PM2's `--namespace` (a group of apps) names the Kubernetes namespace
/// (a group of objects) of everything rendered; for a file it is only that, for a script also
/// the app's own namespace, as in `pm2 start`.
fn kubernetes_namespace(
    source: &cli::SourceArgs,
    target: &cli::RenderTargetArgs,
) -> (cli::SourceArgs, Option<String>) {
    let mut source = source.clone();
    if !target.target.kubernetes {
        return (source, None);
    }
    let namespace = source.start.namespace.clone();
    let is_script = source.file.as_ref().is_some_and(|f| {
        source.format.is_none() && !crate::load::adhoc::is_config_file(&f.to_string_lossy())
    });
    if !is_script {
        source.start.namespace = None;
    }
    (source, namespace)
}

/// A cluster's nodes are not this machine: CPUs come from `--cpus-per-node` (the renderer
/// refuses `max` without it), apps without `uid` run as the image's user, and the shim is the
/// one the Containerfile puts in the image.
fn kubernetes_target(
    target: &mut Target,
    args: &cli::KubernetesArgs,
    namespace: Option<String>,
    out: Option<&std::path::Path>,
) {
    let cli::KubernetesArgs {
        image,
        cpus_per_node,
        containerfile,
    } = args;
    if target.backend != Backend::Kubernetes {
        return;
    }
    target.cpus = cpus_per_node.unwrap_or(1);
    target.invoking_user = Some("root".into());
    target.kubernetes = KubernetesOptions {
        image: image.clone(),
        namespace,
        cpus_per_node: *cpus_per_node,
        containerfile: *containerfile,
        out: out.map(std::path::Path::to_path_buf),
    };
}

/// Who system-scope apps without `uid` run as, decided the same way however root was obtained:
/// `--run-as`; else the user behind `sudo` or `doas`; else the owner of the ecosystem file; else
/// nobody is assumed (the plan refuses such an app and says how to choose). Run by a user
/// rather than root, it is that user, who would install with sudo.
fn run_as(flag: Option<&str>, source: &SourceSettings) -> Option<String> {
    if let Some(user) = flag.filter(|u| !u.is_empty()) {
        return Some(user.to_string());
    }
    let uid = current_uid();
    if uid != 0 {
        return Some(crate::target::login_name(uid));
    }
    for var in ["SUDO_USER", "DOAS_USER"] {
        if let Some(user) = std::env::var(var)
            .ok()
            .filter(|u| !u.is_empty() && u != "root")
        {
            return Some(user);
        }
    }
    // An app from the command line belongs to whoever owns the directory it runs in.
    let file = match (&source.file, &source.adhoc) {
        (_, Some(def)) => def.dir.clone(),
        (Some(f), None) => f.clone(),
        (None, None) => crate::load::discover(&std::env::current_dir().ok()?).ok()?,
    };
    use std::os::unix::fs::MetadataExt as _;
    let owner = std::fs::metadata(&file).ok()?.uid();
    (owner != 0).then(|| crate::target::login_name(owner))
}

/// The target as this machine and these flags describe it. The systemd version is the default
/// until a command that renders asks the installed or running manager.
pub fn machine_target(args: &cli::TargetArgs) -> Target {
    let cli::TargetArgs {
        systemd,
        launchd,
        kubernetes,
        user,
        system,
    } = args;
    let backend = if *kubernetes {
        Backend::Kubernetes
    } else if *launchd {
        Backend::Launchd
    } else if *systemd {
        Backend::Systemd
    } else if cfg!(target_os = "macos") {
        Backend::Launchd
    } else {
        Backend::Systemd
    };
    let uid = current_uid();
    // Containers have no user manager: like system services, they run as whoever `uid` says.
    let scope = if *system || *kubernetes {
        Scope::System
    } else if *user {
        Scope::User
    } else if uid == 0 {
        Scope::System
    } else {
        Scope::User
    };
    // Verbs that render refine this with `run_as`; the others only need the home.
    let invoking_user = if uid == 0 {
        ["SUDO_USER", "DOAS_USER"].iter().find_map(|var| {
            std::env::var(var)
                .ok()
                .filter(|u| !u.is_empty() && u != "root")
        })
    } else {
        None
    };
    let home = home_of(invoking_user.as_deref());
    let config_home = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .unwrap_or_else(|| own_home().join(".config"));
    let shim_source = shim_path();
    Target {
        backend,
        scope,
        systemd_version: DEFAULT_SYSTEMD_VERSION,
        cpus: 1,
        shim: trusted_shim(backend, scope, &shim_source),
        shim_source,
        uid,
        user_name: std::sync::OnceLock::new(),
        launchd_background: backend == Backend::Launchd
            && scope == Scope::User
            && launchd_background(uid),
        launchd_root: std::env::var_os("RGEN_LAUNCHD_ROOT")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .unwrap_or_else(|| PathBuf::from("/")),
        invoking_user,
        home,
        config_home,
        strict_hardening: false,
        kubernetes: KubernetesOptions::default(),
    }
}

/// Whether launchd agents go into `user/<uid>` rather than `gui/<uid>`, decided as Homebrew's
/// `brew services` does (Library/Homebrew/services/system.rb, `domain_target`): over ssh, on a
/// Mac whose console (`/dev/console`) belongs to someone else — nobody is logged in at the
/// screen (root's loginwindow), or another user is — this user has no GUI session. Elsewhere
/// (files rendered on Linux for a Mac) a GUI login is assumed. `RGEN_LAUNCHD_DOMAIN=gui|user`
/// decides instead.
fn launchd_background(uid: u32) -> bool {
    match std::env::var("RGEN_LAUNCHD_DOMAIN").as_deref() {
        Ok("user") => return true,
        Ok("gui") => return false,
        _ => {}
    }
    let over_ssh = ["SSH_CONNECTION", "SSH_TTY"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty()));
    if std::env::consts::OS != "macos" || !over_ssh {
        return false;
    }
    use std::os::unix::fs::MetadataExt as _;
    std::fs::metadata("/dev/console").is_ok_and(|m| m.uid() != uid)
}

pub fn current_uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}

/// CPUs available to this process (`instances: 'max'`).
pub fn cpus() -> u32 {
    crate::parallel::cpus() as u32
}

/// `rgen-shim` next to the running `rgen` (both are installed together), unless RGEN_SHIM says.
fn shim_path() -> PathBuf {
    if let Some(p) = std::env::var_os("RGEN_SHIM") {
        return PathBuf::from(p);
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join(crate::shim_protocol::BIN)))
        .unwrap_or_else(|| PathBuf::from("/usr/local/bin/rgen-shim"))
}

/// The shim system units run: the one next to rgen if only root can change it (checked along
/// its whole path), else the root-owned copy `rgen install` makes. A unit running as root
/// must never execute a file a user could replace.
fn trusted_shim(backend: Backend, scope: Scope, shim: &std::path::Path) -> PathBuf {
    if backend == Backend::Kubernetes {
        return std::path::Path::new(backend.trusted_shim_dir()).join(crate::shim_protocol::BIN);
    }
    if scope == Scope::User || crate::apply::trust::check_only_writable_by(shim, 0).is_ok() {
        return shim.to_path_buf();
    }
    std::path::Path::new(backend.trusted_shim_dir()).join(crate::shim_protocol::BIN)
}

fn own_home() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/"))
}

fn home_of(user: Option<&str>) -> PathBuf {
    if let Some(user) = user
        && let Some(home) = nix::unistd::User::from_name(user)
            .ok()
            .flatten()
            .map(|u| u.dir)
    {
        return home;
    }
    own_home()
}

/// The systemd version of this machine, from `systemctl --version` ("systemd 252 (252.38-1)"),
/// or 252 when there is none.
pub fn installed_systemd_version() -> u32 {
    std::process::Command::new("systemctl")
        .arg("--version")
        .stderr(std::process::Stdio::null())
        .output()
        .ok()
        .and_then(|o| {
            let text = String::from_utf8_lossy(&o.stdout).into_owned();
            text.split_whitespace().nth(1).and_then(|v| v.parse().ok())
        })
        .unwrap_or(DEFAULT_SYSTEMD_VERSION)
}

/// The service manager's environment (`LANG`…), as `systemctl show-environment` prints it;
/// empty when there is no manager to ask.
fn manager_environment(target: &Target) -> std::collections::BTreeMap<String, String> {
    if target.backend != Backend::Systemd {
        return std::collections::BTreeMap::new();
    }
    let mut cmd = std::process::Command::new("systemctl");
    if target.scope == Scope::User {
        cmd.arg("--user");
    }
    cmd.arg("show-environment")
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let Ok(out) = cmd.output() else {
        return std::collections::BTreeMap::new();
    };
    if !out.status.success() {
        return std::collections::BTreeMap::new();
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once('='))
        // Values systemctl had to quote ($'…') are not compared.
        .filter(|(_, v)| !v.starts_with("$'"))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}
