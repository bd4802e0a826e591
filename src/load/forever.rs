//! Forever's `forever.json`: one object or a list, with Forever's own key names. Each key is
//! translated to the PM2 key with the same meaning so the rest of the pipeline sees one language;
//! messages still name the key as the user wrote it.

use serde_json::{Map, Value};

use super::{Canonical, RawApp, RawEntry};
use crate::diag::{Origin, Problems, WarningKind};
use crate::keys;

/// Keys only Forever uses; PM2's camelCase aliases (`outFile`, `minUptime`, …) are shared, so they
/// do not tell the formats apart.
const FOREVER_ONLY: &[&str] = &[
    "sourceDir",
    "workingDir",
    "spinSleepTime",
    "killTree",
    "killTTL",
    "errFile",
    "watchDirectory",
    "watchIgnorePatterns",
    "watchIgnoreDotFiles",
    "append",
    "max",
    "silent",
    "spawnWith",
];

/// Keys the Forever CLI keeps from a JSON file (`lib/forever/cli.js`, plus `script` and `args`)
/// and the forever-monitor options rgen reads from one. A file with any other key PM2 knows
/// (`name`, `instances`, `env_production`, …) was never a working Forever file: Forever drops them.
const FOREVER_KEYS: &[&str] = &[
    "pidFile",
    "logFile",
    "errFile",
    "watch",
    "minUptime",
    "append",
    "silent",
    "outFile",
    "max",
    "command",
    "path",
    "spinSleepTime",
    "sourceDir",
    "workingDir",
    "uid",
    "watchDirectory",
    "watchIgnore",
    "watchIgnorePatterns",
    "watchIgnoreDotFiles",
    "killTree",
    "killSignal",
    "killTTL",
    "id",
    "script",
    "args",
    "options",
    "env",
    "cwd",
    "spawnWith",
    "hideEnv",
    "fork",
    "usePolling",
    "pollingInterval",
    "checkFile",
    "parser",
];

pub fn is_forever_only(key: &str) -> bool {
    FOREVER_ONLY.contains(&key)
}

pub fn looks_like_forever(text: &str) -> bool {
    match super::limits::parse_ambient(|| json5::from_str::<super::limits::Ambient>(text)) {
        super::limits::Parsed::Ok(v) => looks_like_forever_value(&v),
        _ => false,
    }
}

/// A JSON file not named `forever*` is Forever's only when some entry uses a key only Forever
/// has and no entry uses one only PM2 has: PM2 reads every `.json` as its own and ignores the
/// Forever keys (`max` in PM2's cluster-pm2.json), so a mixed file is a PM2 file.
pub fn looks_like_forever_value(v: &Value) -> bool {
    let entries: Vec<&Map<String, Value>> = match v {
        Value::Array(items) => items.iter().filter_map(Value::as_object).collect(),
        Value::Object(m) => vec![m],
        _ => return false,
    };
    let pm2_only = |k: &str| {
        !FOREVER_KEYS.contains(&k) && (keys::resolve(k).is_some() || keys::is_env_overlay(k))
    };
    let keys = || entries.iter().flat_map(|m| m.keys()).map(String::as_str);
    keys().any(|k| FOREVER_ONLY.contains(&k)) && !keys().any(|k| k == "apps" || pm2_only(k))
}

/// Forever key → PM2 key. `None` means the key is consumed by a special rule below.
fn translate(key: &str) -> Option<&'static str> {
    Some(match key {
        "uid" | "id" => "name",
        "script" => "script",
        "workingDir" | "cwd" => "cwd",
        "args" | "options" => "args",
        "command" => "exec_interpreter",
        "outFile" => "out_file",
        "errFile" => "error_file",
        "logFile" => "log_file",
        "env" => "env",
        "watch" => "watch",
        "watchIgnorePatterns" => "ignore_watch",
        "minUptime" => "min_uptime",
        "spinSleepTime" => "restart_delay",
        "max" => "max_restarts",
        "killSignal" => "kill_signal",
        "killTTL" => "kill_timeout",
        "killTree" => "treekill",
        "pidFile" => "pid_file",
        _ => return None,
    })
}

pub fn apps(root: &Value, origin: &Origin, report: &mut Problems) -> Vec<RawApp> {
    let (items, is_list): (Vec<&Value>, bool) = match root {
        Value::Array(items) => (items.iter().collect(), true),
        other => (vec![other], false),
    };
    if items.is_empty() {
        report.error(origin.clone(), "the file defines no processes");
    }
    items
        .into_iter()
        .enumerate()
        .filter_map(|(index, item)| {
            let path = if is_list {
                format!("[{index}]")
            } else {
                String::new()
            };
            let Value::Object(map) = item else {
                report.error(
                    origin.with_key(path.clone()),
                    format!(
                        "a Forever process must be an object, not {}",
                        super::kind(item)
                    ),
                );
                return None;
            };
            Some(app(index, path, map, origin, report))
        })
        .collect()
}

fn app(
    index: usize,
    path: String,
    map: &Map<String, Value>,
    origin: &Origin,
    report: &mut Problems,
) -> RawApp {
    let key_path = |k: &str| {
        if path.is_empty() {
            k.to_string()
        } else {
            format!("{path}.{k}")
        }
    };
    let app_origin = match map
        .get("uid")
        .or_else(|| map.get("id"))
        .and_then(Value::as_str)
    {
        Some(name) => origin.with_app(name),
        None => origin.clone(),
    };
    let mut entries = Vec::new();
    let mut push = |written: &str, pm2: &str, value: Value| {
        let spec = keys::lookup(pm2).expect("translation targets are PM2 keys");
        entries.push(RawEntry {
            written: written.to_string(),
            canonical: Canonical::Key(spec),
            value,
        });
    };

    let source_dir = map.get("sourceDir").and_then(Value::as_str);
    for (written, value) in map {
        match written.as_str() {
            // Forever resolves `script` inside `sourceDir`.
            "script" => {
                let value = match (source_dir, value.as_str()) {
                    (Some(dir), Some(script)) if !script.starts_with('/') => {
                        Value::String(format!("{}/{script}", dir.trim_end_matches('/')))
                    }
                    _ => value.clone(),
                };
                push(written, "script", value);
            }
            "sourceDir" => {}
            "watchDirectory" => {
                if map.get("watch").is_some_and(super::truthy) {
                    push(written, "watch", value.clone());
                }
            }
            "spawnWith" => {
                if let Value::Object(spawn) = value {
                    for (k, pm2) in [("uid", "uid"), ("gid", "gid")] {
                        if let Some(v) = spawn.get(k) {
                            push(&format!("{written}.{k}"), pm2, v.clone());
                        }
                    }
                }
            }
            "append" => {
                if !super::truthy(value) {
                    report.warn(
                        WarningKind::ForeverApproximated,
                        app_origin.with_key(key_path(written)),
                        "log files are always appended to; Forever without `append` would refuse to reuse them",
                    );
                }
            }
            "spinSleepTime" => {
                report.warn(
                    WarningKind::ForeverApproximated,
                    app_origin.with_key(key_path(written)),
                    "every restart waits `spinSleepTime`, not only restarts of a process that died before `minUptime`",
                );
                push(written, "restart_delay", value.clone());
            }
            "max" => {
                report.warn(
                    WarningKind::ForeverApproximated,
                    app_origin.with_key(key_path(written)),
                    "`max` becomes a limit of that many starts per `minUptime` window, not a lifetime total",
                );
                push(written, "max_restarts", value.clone());
            }
            "silent"
            | "hideEnv"
            | "fork"
            | "usePolling"
            | "pollingInterval"
            | "checkFile"
            | "watchIgnoreDotFiles"
            | "parser" => report.warn(
                WarningKind::Unsupported,
                app_origin.with_key(key_path(written)),
                format!("Forever's `{written}` has no meaning here and is ignored"),
            ),
            other => match translate(other) {
                Some(pm2) => push(written, pm2, value.clone()),
                None => {
                    let hint = match keys::suggest(other) {
                        // A PM2 key in a Forever file: suggesting it again would say nothing.
                        Some(s) if keys::resolve(other).is_some_and(|k| k.name == s) => {
                            " (a PM2 key, which Forever does not read)".to_string()
                        }
                        Some(s) => format!("; did you mean `{s}`?"),
                        None => String::new(),
                    };
                    report.warn(
                        WarningKind::UnknownKey,
                        app_origin.with_key(key_path(written)),
                        format!("unknown Forever key `{other}` is ignored{hint}"),
                    );
                }
            },
        }
    }
    // Forever's behaviour when a process dies before `minUptime` and no `spinSleepTime` is set:
    // it stops restarting at once — PM2's `max_restarts: 1` within the `min_uptime` window.
    if map.contains_key("minUptime")
        && !map.contains_key("spinSleepTime")
        && !map.contains_key("max")
    {
        push("minUptime", "max_restarts", Value::from(1));
    }
    RawApp {
        index,
        path,
        entries,
    }
}
