//! Group `logs`: `out_file`, `error_file`, `log_file`, `disable_logs`, `merge_logs`,
//! `log_date_format`/`time`; paths resolved against `cwd` as PM2 does. `log_rotate` is read by
//! `rotation.rs`.

use std::path::Path;

use serde_json::Value;

use crate::load::kind;
use crate::model::fields::Fields;
use crate::model::text::Shape;
use crate::model::{ExecMode, InstanceCount, LogTarget, Logs, resolve};
use crate::shim_protocol::default;

pub(crate) fn read(
    f: &mut Fields<'_>,
    cwd: &Path,
    instances: &InstanceCount,
    mode: ExecMode,
) -> Logs {
    let disable_logs = f.boolean("disable_logs").unwrap_or(false);
    let log_path = |f: &mut Fields<'_>, key: &str| -> LogTarget {
        match f.entry(key).map(|e| e.value.clone()) {
            None | Some(Value::Null) | Some(Value::Bool(false)) => LogTarget::Default,
            Some(Value::Bool(true)) => LogTarget::Default,
            Some(Value::String(s)) if s == "/dev/null" || s == "NULL" => LogTarget::Null,
            Some(Value::String(s)) if s.is_empty() => LogTarget::Default,
            Some(Value::String(s)) => {
                let path = resolve::normalize(&cwd.join(resolve::expand_home(&s)));
                if !f.fits(key, &path.to_string_lossy(), Shape::Path) {
                    return LogTarget::Default;
                }
                if let Some(tree) = system_tree_here(&path) {
                    f.fail(
                        key,
                        format!("`{}` is inside {tree}, where an app's log file has no place", f.written(key)),
                        Some("write logs under the app's directory or /var/log/<app>; rgen never creates files in system configuration trees".into()),
                    );
                    return LogTarget::Default;
                }
                LogTarget::File(path)
            }
            Some(other) => {
                let written = f.written(key);
                f.fail(
                    key,
                    format!("`{written}` must be a file path, not {}", kind(&other)),
                    None,
                );
                LogTarget::Default
            }
        }
    };
    let out = log_path(f, "out_file");
    let err = log_path(f, "error_file");
    let combined = match log_path(f, "log_file") {
        LogTarget::File(p) => Some(p),
        _ => None,
    };
    let date_format = match (f.string("log_date_format"), f.boolean("time")) {
        (Some(fmt), _) => Some(fmt),
        (None, Some(true)) => Some(default::PM2_TIME_FORMAT.to_string()),
        _ => None,
    };
    let merge_logs = f.boolean("merge_logs");
    Logs {
        out: if disable_logs { LogTarget::Null } else { out },
        err: if disable_logs { LogTarget::Null } else { err },
        combined: if disable_logs { None } else { combined },
        per_instance: !merge_logs
            .unwrap_or(*instances == InstanceCount::Fixed(1) && mode == ExecMode::Fork),
        date_format,
        // Read with the file's `log_rotate` by `rotation::read`.
        rotation: None,
    }
}

/// Trees whose files configure or are the system: a log file there could rewrite a unit, a cron
/// job or a device, and a directory rgen creates there for an app's user would be hers — in
/// `/run`, where kmod (`/run/modprobe.d`), udev (`/run/udev/rules.d`), tmpfiles, sysctl and
/// systemd read drop-ins as root, that is root for her. `/var/log`, `/srv`, `/home`, `/opt`,
/// `/tmp` and users' `/run/user/<uid>` are fine.
const SYSTEM_TREES: &[&str] = &[
    "/etc",
    "/usr",
    "/boot",
    "/proc",
    "/sys",
    "/dev",
    "/run",
    "/var/spool",
    "/var/lib/polkit-1",
    "/lib",
    "/lib64",
    "/bin",
    "/sbin",
    "/var/lib/systemd",
    "/System",
    "/Library/LaunchDaemons",
    "/Library/LaunchAgents",
];

fn system_tree(path: &Path) -> Option<&'static str> {
    let home_agents = path
        .components()
        .collect::<Vec<_>>()
        .windows(2)
        .any(|w| w[0].as_os_str() == "Library" && w[1].as_os_str() == "LaunchAgents");
    if home_agents {
        return Some("a LaunchAgents directory");
    }
    let user_units = path.to_string_lossy().contains("/.config/systemd/");
    if user_units {
        return Some("a systemd unit directory");
    }
    if path.starts_with("/run/user") {
        return None;
    }
    SYSTEM_TREES.iter().find(|t| path.starts_with(t)).copied()
}

/// [`system_tree`] of the path as written and of where it leads on this machine: `/var/run` is
/// `/run`, `/var/lock` is `/run/lock`, and any root-owned link on the way counts as its target.
fn system_tree_here(path: &Path) -> Option<&'static str> {
    system_tree(path).or_else(|| system_tree(&resolved(path)))
}

/// The deepest existing ancestor resolved, with the rest as written.
fn resolved(path: &Path) -> std::path::PathBuf {
    let mut existing = path;
    let mut rest = Vec::new();
    loop {
        if let Ok(real) = std::fs::canonicalize(existing) {
            return rest.iter().rev().fold(real, |p, part| p.join(part));
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                existing = parent;
            }
            _ => return path.to_path_buf(),
        }
    }
}
