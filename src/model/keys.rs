//! THE key table: every key of PM2's app schema (PM2 7, `lib/API/schema.json`), with its aliases and
//! what each backend does with it. Loading uses it to resolve aliases and reject or flag unknown keys;
//! the model uses it to warn about approximations; the README's mapping table is generated from it.

use crate::diag::WarningKind;

/// How a backend carries a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Support {
    /// The OS does exactly what PM2 does.
    Native,
    /// The OS does something close; the warning says what differs.
    Approximated(WarningKind),
    /// `rgen-shim` sits in front of the app to do it.
    Shim,
    /// Nothing to map; the text says why.
    Unsupported,
}

#[derive(Clone, Copy, Debug)]
pub struct Mapping {
    pub support: Support,
    /// The directive(s) used, or why the key is unsupported.
    pub text: &'static str,
}

#[derive(Clone, Copy, Debug)]
pub struct KeySpec {
    pub name: &'static str,
    /// PM2's own extra aliases. The camelCase spelling is always accepted too.
    pub aliases: &'static [&'static str],
    pub systemd: Mapping,
    pub launchd: Mapping,
}

const fn native(text: &'static str) -> Mapping {
    Mapping {
        support: Support::Native,
        text,
    }
}
const fn approx(kind: WarningKind, text: &'static str) -> Mapping {
    Mapping {
        support: Support::Approximated(kind),
        text,
    }
}
const fn shim(text: &'static str) -> Mapping {
    Mapping {
        support: Support::Shim,
        text,
    }
}
const fn unsupported(why: &'static str) -> Mapping {
    Mapping {
        support: Support::Unsupported,
        text: why,
    }
}

const fn key(name: &'static str, aliases: &'static [&'static str], both: Mapping) -> KeySpec {
    KeySpec {
        name,
        aliases,
        systemd: both,
        launchd: both,
    }
}

const fn key2(
    name: &'static str,
    aliases: &'static [&'static str],
    systemd: Mapping,
    launchd: Mapping,
) -> KeySpec {
    KeySpec {
        name,
        aliases,
        systemd,
        launchd,
    }
}

const PM2IO: &str =
    "PM2.io / APM instrumentation of the PM2 daemon; rgen has no daemon to instrument";

use WarningKind as W;

/// Sorted by name (a test checks it). The `env_<name>` pattern is handled by `is_env_overlay`.
pub static KEYS: &[KeySpec] = &[
    key(
        "append_env_to_name",
        &[],
        native("with `--env NAME` the app is named `<name>-NAME` (unit and label follow)"),
    ),
    key(
        "args",
        &[],
        native("appended to `ExecStart=` / `ProgramArguments`; a string is split like PM2 does"),
    ),
    key("automation", &[], unsupported(PM2IO)),
    key2(
        "autorestart",
        &[],
        native("`Restart=always` (true) / `Restart=no` (false)"),
        native("`KeepAlive` true / false"),
    ),
    key2(
        "autostart",
        &[],
        native("false: installed but neither enabled nor started"),
        native("false: `RunAtLoad` false, not bootstrapped at install"),
    ),
    key2(
        "cron_restart",
        &["cron"],
        native("`<app>-cron-restart.timer` (`OnCalendar=`) restarting the app"),
        native(
            "a `<label>.cron-restart` job with `StartCalendarInterval` running `launchctl kickstart -k`",
        ),
    ),
    key2(
        "cwd",
        &[],
        native("`WorkingDirectory=` (absolute; default: the ecosystem file's directory)"),
        native("`WorkingDirectory` (absolute)"),
    ),
    key("deep_monitoring", &[], unsupported(PM2IO)),
    key(
        "disable_logs",
        &[],
        native("`StandardOutput=null`, `StandardError=null` / no log paths"),
    ),
    key(
        "disable_source_map_support",
        &[],
        unsupported(
            "PM2 injects source-map-support into its own wrapper; add `--enable-source-maps` to `node_args` for Node's built-in support",
        ),
    ),
    key("disable_trace", &[], unsupported(PM2IO)),
    key2(
        "env",
        &[],
        native("`Environment=` (one quoted assignment per variable)"),
        native("`EnvironmentVariables`"),
    ),
    key2(
        "error_file",
        &["error", "err", "err_file", "err_log"],
        native("`StandardError=append:<absolute path>`"),
        native("`StandardErrorPath` (absolute)"),
    ),
    key("event_loop_inspector", &[], unsupported(PM2IO)),
    key2(
        "exec_interpreter",
        &["interpreter"],
        native("first word of `ExecStart=` (resolved to an absolute path)"),
        native("`ProgramArguments[0]` (resolved to an absolute path)"),
    ),
    key2(
        "exec_mode",
        &[],
        native("cluster: `<app>@.service` instances sharing `<app>.socket`"),
        approx(
            W::RestartOnlyOnLaunchd,
            "cluster with a port is refused (launchd cannot share one port between jobs); without one, instances run side by side",
        ),
    ),
    key(
        "execute_command",
        &[],
        native("forces fork mode, as in PM2"),
    ),
    key2(
        "exp_backoff_restart_delay",
        &[],
        approx(
            W::BackoffApproximated,
            "`RestartSteps=`/`RestartMaxDelaySec=15s` on systemd ≥ 254; the shim's PM2 curve on older systemd",
        ),
        shim(
            "the shim sleeps PM2's ×1.5 curve (cap 15 s, reset after 30 s up) before starting the app",
        ),
    ),
    key(
        "filter_env",
        &[],
        native("always true in effect: services never inherit the shell's environment, only `env`"),
    ),
    key(
        "force",
        &[],
        unsupported(
            "PM2 uses it to start a duplicate of a running script; a unit is unique by name",
        ),
    ),
    key2(
        "gid",
        &[],
        native("`Group=` (system scope only)"),
        native("`GroupName` (system scope only)"),
    ),
    key2(
        "ignore_watch",
        &[],
        approx(W::WatchIsStatic, "directories matching are not watched"),
        approx(W::WatchIsStatic, "paths matching are not watched"),
    ),
    key2(
        "increment_var",
        &[],
        shim("the shim adds the instance number to the variable"),
        shim("the shim adds the instance number to the variable"),
    ),
    key(
        "install_url",
        &[],
        unsupported("installs PM2 modules; not an app setting"),
    ),
    key2(
        "instance_var",
        &[],
        native("`Environment=<var>=%i` in `<app>@.service`"),
        native("`EnvironmentVariables` of each instance"),
    ),
    key2(
        "instances",
        &[],
        native(
            "`<app>@0.service` … `<app>@N-1.service` enabled (`max` = CPU count, negative = CPUs − n)",
        ),
        native("one job per instance, `<label>.<i>`"),
    ),
    key("io", &[], unsupported(PM2IO)),
    key2(
        "kill_retry_time",
        &[],
        native("not needed: the manager is told when the app exits instead of polling"),
        native("not needed: the shim is told when the app exits instead of polling"),
    ),
    key2(
        "kill_signal",
        &[],
        native(
            "`KillSignal=` (rgen extension, from Forever's `killSignal`; default SIGINT as PM2)",
        ),
        shim("the shim sends it (launchd only sends SIGTERM)"),
    ),
    key2(
        "kill_timeout",
        &[],
        native("`TimeoutStopSec=` after `KillSignal=SIGINT`, then SIGKILL"),
        shim("the shim sends SIGINT, SIGKILL after the timeout; `ExitTimeOut` as a backstop"),
    ),
    key2(
        "listen_timeout",
        &[],
        shim("the shim declares the app ready after this long without `ready`, as PM2 does"),
        shim("the shim logs readiness after this long without `ready`"),
    ),
    key2(
        "log_date_format",
        &[],
        native("the journal timestamps every line; with log files the shim prefixes the date"),
        shim("the shim prefixes each line with the date"),
    ),
    key2(
        "log_file",
        &["log"],
        approx(
            W::LogsCombined,
            "alone: `StandardOutput=`/`StandardError=append:` the same file; with out/err files the shim writes all three",
        ),
        approx(
            W::LogsCombined,
            "alone: `StandardOutPath` = `StandardErrorPath`; with out/err files the shim writes all three",
        ),
    ),
    key(
        "log_type",
        &[],
        unsupported(
            "JSON log lines are PM2's format; the journal keeps structured records (`journalctl -o json`)",
        ),
    ),
    key2(
        "max_memory_restart",
        &[],
        approx(
            W::MemoryLimitIsHardKill,
            "`MemoryMax=` (binary units); the kernel kills the app at the limit and `Restart=` brings it back",
        ),
        shim("the shim polls resident memory and restarts the app gracefully past the limit"),
    ),
    key2(
        "max_restarts",
        &[],
        approx(W::StartLimit, "`StartLimitBurst=` in `[Unit]`"),
        shim("not expressible in launchd; ignored with a warning"),
    ),
    key2(
        "merge_logs",
        &["combine_logs"],
        native("false in cluster mode: one log file per instance, `-<i>` before `.log`"),
        native("false in cluster mode: one log file per instance"),
    ),
    key2(
        "min_uptime",
        &[],
        approx(
            W::StartLimit,
            "`StartLimitIntervalSec=` = `min_uptime` × `max_restarts`",
        ),
        native("`ThrottleInterval` floor is launchd's own"),
    ),
    key2(
        "name",
        &[],
        native("unit name `<name>.service` (characters outside `A-Za-z0-9_.-` become `-`)"),
        native("`Label` `rgen.<name>`"),
    ),
    key(
        "name_prefix",
        &[],
        unsupported("PM2 only honours it from the command line"),
    ),
    key(
        "namespace",
        &[],
        native("recorded in the unit; `rgen start|stop|restart <namespace>` acts on its apps"),
    ),
    key2(
        "node_args",
        &["interpreterArgs", "interpreter_args"],
        native("between the interpreter and the script in `ExecStart=`"),
        native("between the interpreter and the script in `ProgramArguments`"),
    ),
    key2(
        "out_file",
        &["out", "output", "out_log"],
        native("`StandardOutput=append:<absolute path>`"),
        native("`StandardOutPath` (absolute)"),
    ),
    key(
        "pid_file",
        &["pid"],
        unsupported("the manager tracks the pid: `rgen show` and `rgen status --json` report it"),
    ),
    key("pmx", &[], unsupported(PM2IO)),
    key2(
        "port",
        &[],
        native("`Environment=PORT=`; in cluster mode `<app>.socket` listens on it"),
        native("`EnvironmentVariables` PORT"),
    ),
    key(
        "post_update",
        &[],
        unsupported("runs after a PM2.io-triggered git pull; rgen does not pull code"),
    ),
    key2(
        "restart_delay",
        &[],
        native("`RestartSec=`"),
        approx(
            W::RestartOnlyOnLaunchd,
            "`ThrottleInterval` (whole seconds, at least 1)",
        ),
    ),
    key2(
        "script",
        &["exec", "cmd", "command"],
        native("`ExecStart=` (resolved: cwd, then next to the interpreter, then PATH)"),
        native("`ProgramArguments` (resolved the same way)"),
    ),
    key(
        "shutdown_with_message",
        &[],
        shim("the shim sends `shutdown` over the Node IPC channel instead of a signal"),
    ),
    key(
        "source_map_support",
        &[],
        unsupported(
            "PM2 injects source-map-support into its own wrapper; add `--enable-source-maps` to `node_args` for Node's built-in support",
        ),
    ),
    key2(
        "stop_exit_codes",
        &[],
        native("`RestartPreventExitStatus=`"),
        approx(
            W::RestartOnlyOnLaunchd,
            "`KeepAlive` `{SuccessfulExit: false}` when the codes are `[0]`; other codes cannot be expressed",
        ),
    ),
    key2(
        "time",
        &[],
        native(
            "the journal timestamps every line; with log files the shim prefixes `YYYY-MM-DDTHH:mm:ss`",
        ),
        shim("the shim prefixes `YYYY-MM-DDTHH:mm:ss`"),
    ),
    key("trace", &[], unsupported(PM2IO)),
    key(
        "treekill",
        &[],
        native(
            "`KillMode=control-group` (true) / `KillMode=mixed` (false); the shim signals the process group",
        ),
    ),
    key2(
        "uid",
        &["user"],
        native("`User=` (system scope; user scope only as yourself)"),
        native("`UserName` (system scope only)"),
    ),
    key(
        "username",
        &[],
        native("PM2 fills it in itself; the unit's `User=` says who runs the app"),
    ),
    key("v8", &[], unsupported(PM2IO)),
    key(
        "vizion",
        &[],
        unsupported("git metadata for the PM2 dashboard"),
    ),
    key2(
        "wait_ready",
        &[],
        shim("`Type=notify`; the shim turns `process.send('ready')` into `READY=1`"),
        shim("the shim relays `process.send('ready')` and logs readiness"),
    ),
    key2(
        "watch",
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
    key(
        "watch_delay",
        &[],
        approx(
            W::WatchIsStatic,
            "the restart waits this long (`ExecStartPre=` sleep in the watch job)",
        ),
    ),
    key(
        "watch_options",
        &[],
        unsupported("chokidar options have no systemd or launchd equivalent"),
    ),
    key("windowsHide", &[], unsupported("Windows only")),
    key("write", &[], unsupported("undocumented PM2 internal")),
];

/// The README's mapping table: one row per key, every alias, both backends.
pub fn markdown_table() -> String {
    fn cell(m: &Mapping) -> String {
        let badge = match m.support {
            Support::Native => "✓".to_string(),
            Support::Approximated(kind) => format!("≈ `{}`", kind.id()),
            Support::Shim => "shim".to_string(),
            Support::Unsupported => "—".to_string(),
        };
        format!("{badge} {}", m.text.replace('|', "\\|"))
    }
    let mut out = String::from("| PM2 key | aliases | systemd | launchd |\n|---|---|---|---|\n");
    for spec in KEYS {
        let mut aliases: Vec<String> = spec.aliases.iter().map(|a| format!("`{a}`")).collect();
        let camel = camel_case(spec.name);
        if camel != spec.name {
            aliases.push(format!("`{camel}`"));
        }
        out.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            spec.name,
            aliases.join(", "),
            cell(&spec.systemd),
            cell(&spec.launchd)
        ));
    }
    out.push_str("| `env_<name>` | | ✓ merged over `env` with `--env <name>` | ✓ merged over `env` with `--env <name>` |\n");
    out
}

/// `env_<name>` overlays, selected with `--env <name>`.
pub fn is_env_overlay(key: &str) -> bool {
    key.len() > 4 && key.starts_with("env_") && !key[4..].chars().any(char::is_whitespace)
}

/// PM2's automatic camelCase alias: `max_memory_restart` → `maxMemoryRestart`.
pub fn camel_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for (i, part) in name.split('_').enumerate() {
        if i != 0 && part.len() > 1 {
            let mut chars = part.chars();
            if let Some(first) = chars.next() {
                out.extend(first.to_uppercase());
                out.push_str(chars.as_str());
            }
        } else {
            out.push_str(part);
        }
    }
    out
}

pub fn lookup(name: &str) -> Option<&'static KeySpec> {
    KEYS.iter().find(|k| k.name == name)
}

/// Resolves a key as written (canonical, PM2 alias or camelCase) to its spec.
pub fn resolve(written: &str) -> Option<&'static KeySpec> {
    lookup(written).or_else(|| {
        KEYS.iter()
            .find(|k| k.aliases.contains(&written) || camel_case(k.name) == written)
    })
}

/// One did-you-mean suggestion for an unknown key, like cargo and just give.
pub fn suggest(written: &str) -> Option<&'static str> {
    let lower = written.to_ascii_lowercase();
    let mut best: Option<(f64, &'static str)> = None;
    for spec in KEYS {
        let candidates = std::iter::once(spec.name).chain(spec.aliases.iter().copied());
        for candidate in candidates {
            let score = strsim::jaro_winkler(&lower, &candidate.to_ascii_lowercase());
            if score > 0.85 && best.is_none_or(|(s, _)| score > s) {
                best = Some((score, spec.name));
            }
        }
    }
    best.map(|(_, name)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every key of PM2 7's `lib/API/schema.json`, in file order.
    const PM2_SCHEMA_KEYS: &[&str] = &[
        "script",
        "name",
        "name_prefix",
        "filter_env",
        "namespace",
        "install_url",
        "cwd",
        "args",
        "exec_interpreter",
        "node_args",
        "out_file",
        "error_file",
        "log_file",
        "disable_logs",
        "log_type",
        "log_date_format",
        "time",
        "env",
        "max_memory_restart",
        "pid_file",
        "restart_delay",
        "exp_backoff_restart_delay",
        "source_map_support",
        "disable_source_map_support",
        "wait_ready",
        "instances",
        "kill_timeout",
        "shutdown_with_message",
        "listen_timeout",
        "cron_restart",
        "merge_logs",
        "vizion",
        "autostart",
        "autorestart",
        "stop_exit_codes",
        "watch_delay",
        "watch",
        "ignore_watch",
        "watch_options",
        "min_uptime",
        "max_restarts",
        "execute_command",
        "exec_mode",
        "force",
        "append_env_to_name",
        "post_update",
        "trace",
        "disable_trace",
        "v8",
        "event_loop_inspector",
        "deep_monitoring",
        "increment_var",
        "instance_var",
        "pmx",
        "automation",
        "treekill",
        "port",
        "username",
        "uid",
        "gid",
        "windowsHide",
        "kill_retry_time",
        "write",
        "io",
    ];

    #[test]
    fn every_pm2_schema_key_is_in_the_table() {
        for k in PM2_SCHEMA_KEYS {
            assert!(lookup(k).is_some(), "PM2 key `{k}` missing from KEYS");
        }
    }

    #[test]
    fn table_is_sorted_and_unique() {
        for pair in KEYS.windows(2) {
            assert!(
                pair[0].name < pair[1].name,
                "KEYS not sorted or duplicated at `{}` / `{}`",
                pair[0].name,
                pair[1].name
            );
        }
    }

    #[test]
    fn aliases_resolve_to_one_key() {
        for spec in KEYS {
            for alias in spec.aliases {
                assert_eq!(resolve(alias).map(|k| k.name), Some(spec.name));
            }
            assert_eq!(
                resolve(&camel_case(spec.name)).map(|k| k.name),
                Some(spec.name)
            );
        }
    }

    #[test]
    fn camel_case_matches_pm2() {
        assert_eq!(camel_case("max_memory_restart"), "maxMemoryRestart");
        assert_eq!(
            camel_case("exp_backoff_restart_delay"),
            "expBackoffRestartDelay"
        );
        assert_eq!(camel_case("v8"), "v8");
        assert_eq!(camel_case("windowsHide"), "windowsHide");
    }

    #[test]
    fn suggestions() {
        assert_eq!(suggest("max_memory_restrat"), Some("max_memory_restart"));
        assert_eq!(suggest("intances"), Some("instances"));
        assert_eq!(suggest("zzzz"), None);
    }

    #[test]
    fn env_overlays() {
        assert!(is_env_overlay("env_production"));
        assert!(!is_env_overlay("env_"));
        assert!(!is_env_overlay("env"));
    }
}
