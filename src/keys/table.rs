//! The rows of the key table, sorted by name (a test checks it). The `env_<name>` pattern is
//! handled by `is_env_overlay`.

use super::{KeyGroup as G, KeySpec, Mapping, ShimNeed as N, Support, When};
use crate::diag::WarningKind as W;

const fn native(text: &'static str) -> Mapping {
    Mapping {
        support: Support::Native,
        text,
    }
}
const fn approx(kind: W, text: &'static str) -> Mapping {
    Mapping {
        support: Support::Approximated(kind, When::Always),
        text,
    }
}
const fn shim(need: N, text: &'static str) -> Mapping {
    Mapping {
        support: Support::Shim(need),
        text,
    }
}
const fn unsupported(why: &'static str) -> Mapping {
    Mapping {
        support: Support::Unsupported,
        text: why,
    }
}

const fn key(
    name: &'static str,
    group: G,
    aliases: &'static [&'static str],
    both: Mapping,
) -> KeySpec {
    KeySpec {
        name,
        group,
        aliases,
        systemd: both,
        launchd: both,
    }
}

const fn key2(
    name: &'static str,
    group: G,
    aliases: &'static [&'static str],
    systemd: Mapping,
    launchd: Mapping,
) -> KeySpec {
    KeySpec {
        name,
        group,
        aliases,
        systemd,
        launchd,
    }
}

/// An approximation only some values need; the key's planner warns.
const fn approx_when(kind: W, text: &'static str) -> Mapping {
    Mapping {
        support: Support::Approximated(kind, When::Conditional),
        text,
    }
}

const PM2IO: &str =
    "PM2.io / APM instrumentation of the PM2 daemon; rgen has no daemon to instrument";

pub static KEYS: &[KeySpec] = &[
    key(
        "append_env_to_name",
        G::Identity,
        &[],
        native("with `--env NAME` the app is named `<name>-NAME` (unit and label follow)"),
    ),
    key(
        "args",
        G::Command,
        &[],
        native("appended to `ExecStart=` / `ProgramArguments`; a string is split like PM2 does"),
    ),
    key("automation", G::Ignored, &[], unsupported(PM2IO)),
    key2(
        "autorestart",
        G::Restart,
        &[],
        native("`Restart=always` (true) / `Restart=no` (false)"),
        native("`KeepAlive` true / false"),
    ),
    key2(
        "autostart",
        G::Startup,
        &[],
        native("false: installed but neither enabled nor started"),
        native("false: `RunAtLoad` false, not bootstrapped at install"),
    ),
    key2(
        "cron_restart",
        G::Schedule,
        &["cron"],
        native("`<app>-cron-restart.timer` (`OnCalendar=`) restarting the app"),
        native(
            "a `<label>.cron-restart` job with `StartCalendarInterval` running `launchctl kickstart -k`",
        ),
    ),
    key2(
        "cwd",
        G::Command,
        &[],
        native("`WorkingDirectory=` (absolute; default: the ecosystem file's directory)"),
        native("`WorkingDirectory` (absolute)"),
    ),
    key("deep_monitoring", G::Ignored, &[], unsupported(PM2IO)),
    key(
        "disable_logs",
        G::Logs,
        &[],
        native("`StandardOutput=null`, `StandardError=null` / no log paths"),
    ),
    key(
        "disable_source_map_support",
        G::Ignored,
        &[],
        unsupported(
            "PM2 injects source-map-support into its own wrapper; add `--enable-source-maps` to `node_args` for Node's built-in support",
        ),
    ),
    key("disable_trace", G::Ignored, &[], unsupported(PM2IO)),
    key2(
        "env",
        G::Env,
        &[],
        native("`Environment=` (one quoted assignment per variable)"),
        native("`EnvironmentVariables`"),
    ),
    key2(
        "error_file",
        G::Logs,
        &["error", "err", "err_file", "err_log"],
        native("`StandardError=append:<absolute path>`"),
        native("`StandardErrorPath` (absolute)"),
    ),
    key("event_loop_inspector", G::Ignored, &[], unsupported(PM2IO)),
    key2(
        "exec_interpreter",
        G::Command,
        &["interpreter"],
        native("first word of `ExecStart=` (resolved to an absolute path)"),
        native("`ProgramArguments[0]` (resolved to an absolute path)"),
    ),
    key2(
        "exec_mode",
        G::Instances,
        &[],
        native("cluster: `<app>@.service` instances sharing `<app>.socket`"),
        approx_when(
            W::LaunchdCluster,
            "cluster with a port is refused (launchd cannot share one port between jobs); without one, instances run side by side",
        ),
    ),
    key(
        "execute_command",
        G::Command,
        &[],
        native("forces fork mode, as in PM2"),
    ),
    key2(
        "exp_backoff_restart_delay",
        G::Restart,
        &[],
        approx_when(
            W::BackoffApproximated,
            "`RestartSteps=`/`RestartMaxDelaySec=15s` on systemd ≥ 254; the shim's PM2 curve on older systemd",
        ),
        shim(
            N::Backoff,
            "the shim sleeps PM2's ×1.5 curve (cap 15 s, reset after 30 s up) before starting the app",
        ),
    ),
    key(
        "filter_env",
        G::Env,
        &[],
        native("always true in effect: services never inherit the shell's environment, only `env`"),
    ),
    key(
        "force",
        G::Ignored,
        &[],
        unsupported(
            "PM2 uses it to start a duplicate of a running script; a unit is unique by name",
        ),
    ),
    key2(
        "gid",
        G::User,
        &[],
        native("`Group=` (system scope only)"),
        native("`GroupName` (system scope only)"),
    ),
    key2(
        "ignore_watch",
        G::Schedule,
        &[],
        approx(W::WatchIsStatic, "directories matching are not watched"),
        approx(W::WatchIsStatic, "paths matching are not watched"),
    ),
    key2(
        "increment_var",
        G::Instances,
        &[],
        shim(
            N::IncrementVar,
            "the shim adds the instance number to the variable",
        ),
        shim(
            N::IncrementVar,
            "the shim adds the instance number to the variable",
        ),
    ),
    key(
        "install_url",
        G::Ignored,
        &[],
        unsupported("installs PM2 modules; not an app setting"),
    ),
    key2(
        "instance_var",
        G::Instances,
        &[],
        native("`Environment=<var>=%i` in `<app>@.service`"),
        native("`EnvironmentVariables` of each instance"),
    ),
    key2(
        "instances",
        G::Instances,
        &[],
        native(
            "`<app>@0.service` … `<app>@N-1.service` enabled (`max` = CPU count, negative = CPUs − n)",
        ),
        native("one job per instance, `<label>.<i>`"),
    ),
    key("io", G::Ignored, &[], unsupported(PM2IO)),
    key2(
        "kill_retry_time",
        G::Stop,
        &[],
        native("not needed: the manager is told when the app exits instead of polling"),
        native("not needed: the shim is told when the app exits instead of polling"),
    ),
    key2(
        "kill_signal",
        G::Stop,
        &[],
        native(
            "`KillSignal=` (rgen extension, from Forever's `killSignal`; default SIGINT as PM2)",
        ),
        shim(
            N::StopSignal,
            "the shim sends it (launchd only sends SIGTERM)",
        ),
    ),
    key2(
        "kill_timeout",
        G::Stop,
        &[],
        native("`TimeoutStopSec=` after `KillSignal=SIGINT`, then SIGKILL"),
        shim(
            N::StopSignal,
            "the shim sends SIGINT, SIGKILL after the timeout; `ExitTimeOut` as a backstop",
        ),
    ),
    key2(
        "listen_timeout",
        G::Readiness,
        &[],
        shim(
            N::Readiness,
            "the shim declares the app ready after this long without `ready`, as PM2 does",
        ),
        shim(
            N::Readiness,
            "the shim logs readiness after this long without `ready`",
        ),
    ),
    key2(
        "log_date_format",
        G::Logs,
        &[],
        native("the journal timestamps every line; with log files the shim prefixes the date"),
        shim(N::Logs, "the shim prefixes each line with the date"),
    ),
    key2(
        "log_file",
        G::Logs,
        &["log"],
        approx_when(
            W::LogsCombined,
            "alone: `StandardOutput=`/`StandardError=append:` the same file; with out/err files the shim writes all three",
        ),
        approx_when(
            W::LogsCombined,
            "alone: `StandardOutPath` = `StandardErrorPath`; with out/err files the shim writes all three",
        ),
    ),
    key(
        "log_rotate",
        G::Logs,
        &[],
        shim(
            N::Logs,
            "rgen extension; PM2 ignores it. pm2-logrotate's `max_size`, `retain`, `compress`, `dateFormat`, `rotateInterval`, `workerInterval` for this app (beside `apps`: for every app); the shim writes the log files and rotates them by rename, losing no line. Default: at 10M, 30 kept; `false`: never",
        ),
    ),
    key(
        "log_type",
        G::Logs,
        &[],
        unsupported(
            "JSON log lines are PM2's format; the journal keeps structured records (`journalctl -o json`)",
        ),
    ),
    key2(
        "max_memory_restart",
        G::Memory,
        &[],
        approx(
            W::MemoryLimitIsHardKill,
            "`MemoryMax=` (binary units); the kernel kills the app at the limit and `Restart=` brings it back",
        ),
        shim(
            N::MemoryWatchdog,
            "the shim polls resident memory and restarts the app gracefully past the limit",
        ),
    ),
    key2(
        "max_restarts",
        G::Restart,
        &[],
        approx_when(W::StartLimit, "`StartLimitBurst=` in `[Unit]`"),
        approx(
            W::LaunchdRestartLimit,
            "launchd restarts without limit (at most once per `ThrottleInterval`); ignored",
        ),
    ),
    key2(
        "merge_logs",
        G::Logs,
        &["combine_logs"],
        native("false in cluster mode: one log file per instance, `-<i>` before `.log`"),
        native("false in cluster mode: one log file per instance"),
    ),
    key2(
        "min_uptime",
        G::Restart,
        &[],
        approx_when(
            W::StartLimit,
            "`StartLimitIntervalSec=` = `min_uptime` × `max_restarts`",
        ),
        approx(
            W::LaunchdRestartLimit,
            "launchd restarts without limit (at most once per `ThrottleInterval`); ignored",
        ),
    ),
    key2(
        "name",
        G::Identity,
        &[],
        native("unit name `<name>.service` (characters outside `A-Za-z0-9_.-` become `-`)"),
        native("`Label` `rgen.<name>`"),
    ),
    key(
        "name_prefix",
        G::Identity,
        &[],
        unsupported("PM2 only honours it from the command line"),
    ),
    key(
        "namespace",
        G::Identity,
        &[],
        native("recorded in the unit; `rgen start|stop|restart <namespace>` acts on its apps"),
    ),
    key2(
        "node_args",
        G::Command,
        &["interpreterArgs", "interpreter_args"],
        native("between the interpreter and the script in `ExecStart=`"),
        native("between the interpreter and the script in `ProgramArguments`"),
    ),
    key2(
        "out_file",
        G::Logs,
        &["out", "output", "out_log"],
        native("`StandardOutput=append:<absolute path>`"),
        native("`StandardOutPath` (absolute)"),
    ),
    key(
        "pid_file",
        G::Ignored,
        &["pid"],
        unsupported("the manager tracks the pid: `rgen show` and `rgen status --json` report it"),
    ),
    key("pmx", G::Ignored, &[], unsupported(PM2IO)),
    key2(
        "port",
        G::Instances,
        &[],
        native("`Environment=PORT=`; in cluster mode `<app>.socket` listens on it"),
        native("`EnvironmentVariables` PORT"),
    ),
    key(
        "post_update",
        G::Ignored,
        &[],
        unsupported("runs after a PM2.io-triggered git pull; rgen does not pull code"),
    ),
    key2(
        "restart_delay",
        G::Restart,
        &[],
        native("`RestartSec=`"),
        approx(
            W::LaunchdRestartDelay,
            "`ThrottleInterval` (whole seconds, at least 1): a minimum gap between starts, not a wait after an exit",
        ),
    ),
    key2(
        "script",
        G::Command,
        &["exec", "cmd", "command"],
        native("`ExecStart=` (resolved: cwd, then next to the interpreter, then PATH)"),
        native("`ProgramArguments` (resolved the same way)"),
    ),
    key(
        "shutdown_with_message",
        G::Stop,
        &[],
        shim(
            N::ShutdownMessage,
            "the shim sends `shutdown` over the Node IPC channel instead of a signal",
        ),
    ),
    key(
        "source_map_support",
        G::Ignored,
        &[],
        unsupported(
            "PM2 injects source-map-support into its own wrapper; add `--enable-source-maps` to `node_args` for Node's built-in support",
        ),
    ),
    key2(
        "stop_exit_codes",
        G::Restart,
        &[],
        native("`RestartPreventExitStatus=`"),
        approx_when(
            W::LaunchdExitCodes,
            "`KeepAlive` `{SuccessfulExit: false}` when the codes are `[0]`; other codes cannot be expressed",
        ),
    ),
    key2(
        "time",
        G::Logs,
        &[],
        native(
            "the journal timestamps every line; with log files the shim prefixes `YYYY-MM-DDTHH:mm:ss`",
        ),
        shim(N::Logs, "the shim prefixes `YYYY-MM-DDTHH:mm:ss`"),
    ),
    key("trace", G::Ignored, &[], unsupported(PM2IO)),
    key(
        "treekill",
        G::Stop,
        &[],
        native(
            "`KillMode=control-group` (true) / `KillMode=mixed` (false); the shim signals the process group",
        ),
    ),
    key2(
        "uid",
        G::User,
        &["user"],
        native("`User=` (system scope; user scope only as yourself)"),
        native("`UserName` (system scope only)"),
    ),
    key(
        "username",
        G::User,
        &[],
        native("PM2 fills it in itself; the unit's `User=` says who runs the app"),
    ),
    key("v8", G::Ignored, &[], unsupported(PM2IO)),
    key(
        "vizion",
        G::Ignored,
        &[],
        unsupported("git metadata for the PM2 dashboard"),
    ),
    key2(
        "wait_ready",
        G::Readiness,
        &[],
        shim(
            N::Readiness,
            "`Type=notify`; the shim turns `process.send('ready')` into `READY=1`",
        ),
        shim(
            N::Readiness,
            "the shim relays `process.send('ready')` and logs readiness",
        ),
    ),
    key2(
        "watch",
        G::Schedule,
        &[],
        approx(
            W::WatchIsStatic,
            "`<app>-watch.path` (`PathChanged=` per directory) restarting the app",
        ),
        approx(
            W::WatchIsStatic,
            "a `<label>.watch` job with `WatchPaths` running `launchctl kickstart -k`",
        ),
    ),
    key2(
        "watch_delay",
        G::Schedule,
        &[],
        approx(
            W::WatchIsStatic,
            "the restart waits this long (`ExecStartPre=` sleep in the watch job)",
        ),
        approx(
            W::WatchIsStatic,
            "ignored: launchd starts the helper job as soon as a watched path changes",
        ),
    ),
    key(
        "watch_options",
        G::Schedule,
        &[],
        unsupported("chokidar options have no systemd or launchd equivalent"),
    ),
    key("windowsHide", G::Ignored, &[], unsupported("Windows only")),
    key(
        "write",
        G::Ignored,
        &[],
        unsupported("undocumented PM2 internal"),
    ),
];
