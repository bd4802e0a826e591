//! THE key table: every key of PM2's app schema (PM2 7, `lib/API/schema.json`), with its aliases,
//! the group whose code handles it, and what each backend does with it. Loading uses it to resolve
//! aliases and reject or flag unknown keys; the model and the plan use it to warn about
//! approximations; the README's mapping table is generated from it. It sits below both `load`
//! and `model`, which both read it.
//!
//! A key's whole behaviour is found from its row: the group names the files that handle it
//! (`model/group/<group>.rs`, `plan/<group>.rs`), and each backend's mapping says what the
//! manager does with it.

mod table;

use crate::diag::WarningKind;
pub use table::KEYS;

/// Why the shim sits in front of an app. Recorded so `rgen check` and `rgen show` can say it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
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
    /// PM2's restart rules (`max_restarts`/`min_uptime`, `restart_delay`, `stop_exit_codes`)
    /// where the manager has none: the shim restarts the app itself (`--autorestart`).
    Restarts,
}

impl ShimNeed {
    pub fn describe(self) -> &'static str {
        match self {
            ShimNeed::Readiness => "readiness",
            ShimNeed::Socket => "shared socket",
            ShimNeed::ShutdownMessage => "shutdown message",
            ShimNeed::Backoff => "backoff",
            ShimNeed::IncrementVar => "increment_var",
            ShimNeed::Logs => "log files",
            ShimNeed::StopSignal => "SIGINT stop",
            ShimNeed::MemoryWatchdog => "memory watchdog",
            ShimNeed::Restarts => "PM2 restarts",
        }
    }
}

/// The code that handles a key: `model/group/<group>.rs` reads it, `plan/` turns it into the
/// service spec.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum KeyGroup {
    /// What runs: script, interpreter, arguments, working directory.
    Command,
    /// How the app is named and grouped.
    Identity,
    Env,
    /// Instances, exec mode, the shared port, per-instance variables.
    Instances,
    /// Restart policy, delays, backoff, crash-loop limits.
    Restart,
    Memory,
    Logs,
    /// How the app is stopped.
    Stop,
    Readiness,
    /// Scheduled and file-change restarts.
    Schedule,
    /// Who the app runs as.
    User,
    /// Whether the app starts at install and boot.
    Startup,
    /// How tightly the manager sandboxes the app (an rgen extension).
    Hardening,
    /// Keys of the PM2 daemon itself, with nothing to map.
    Ignored,
}

impl KeyGroup {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyGroup::Command => "command",
            KeyGroup::Identity => "identity",
            KeyGroup::Env => "env",
            KeyGroup::Instances => "instances",
            KeyGroup::Restart => "restart",
            KeyGroup::Memory => "memory",
            KeyGroup::Logs => "logs",
            KeyGroup::Stop => "stop",
            KeyGroup::Readiness => "readiness",
            KeyGroup::Schedule => "schedule",
            KeyGroup::User => "user",
            KeyGroup::Startup => "startup",
            KeyGroup::Hardening => "hardening",
            KeyGroup::Ignored => "ignored",
        }
    }
}

/// How a backend carries a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Support {
    /// The OS does exactly what PM2 does.
    Native,
    /// The OS does something close; the warning says what differs.
    Approximated(WarningKind, When),
    /// `rgen-shim` sits in front of the app to do it.
    Shim(ShimNeed),
    /// Nothing to map; the text says why.
    Unsupported,
}

/// When an approximation is announced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum When {
    /// Whenever the key is set.
    Always,
    /// Only for some values: the key's group in `plan/` decides and warns.
    Conditional,
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
    pub group: KeyGroup,
    /// PM2's own extra aliases. The camelCase spelling is always accepted too.
    pub aliases: &'static [&'static str],
    pub systemd: Mapping,
    pub launchd: Mapping,
    pub kubernetes: Mapping,
}

impl KeySpec {
    /// What a backend does with the key.
    pub fn mapping(&self, backend: crate::target::Backend) -> &Mapping {
        match backend {
            crate::target::Backend::Systemd => &self.systemd,
            crate::target::Backend::Launchd => &self.launchd,
            crate::target::Backend::Kubernetes => &self.kubernetes,
        }
    }
}

/// The README's mapping table: one row per key, every alias, every backend.
pub fn markdown_table() -> String {
    fn cell(m: &Mapping) -> String {
        let badge = match m.support {
            Support::Native => "✓".to_string(),
            Support::Approximated(kind, _) => format!("≈ `{}`", kind.id()),
            Support::Shim(_) => "shim".to_string(),
            Support::Unsupported => "—".to_string(),
        };
        format!("{badge} {}", m.text.replace('|', "\\|"))
    }
    let mut out = String::from(
        "| PM2 key | aliases | systemd | launchd | Kubernetes |\n|---|---|---|---|---|\n",
    );
    for spec in KEYS {
        let mut aliases: Vec<String> = spec.aliases.iter().map(|a| format!("`{a}`")).collect();
        let camel = camel_case(spec.name);
        if camel != spec.name {
            aliases.push(format!("`{camel}`"));
        }
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | {} |\n",
            spec.name,
            aliases.join(", "),
            cell(&spec.systemd),
            cell(&spec.launchd),
            cell(&spec.kubernetes)
        ));
    }
    out.push_str("| `env_<name>` | | ✓ merged over `env` with `--env <name>` | ✓ merged over `env` with `--env <name>` | ✓ merged over `env` with `--env <name>`; without `--env`, one kustomize overlay per environment (`overlays/<name>/`) patching the ConfigMap and Secret |\n");
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
