//! An installed unit file → [`InstalledUnit`]: rgen's markers, the file's role, what runs, the
//! command and where each instance's output goes. The one reader of unit text in rgen.

use std::path::{Path, PathBuf};

use super::envfile;
use super::escape::{expand_specifiers, parse_exec_line};
use super::names;
use super::unitfile::UnitFile;
use crate::apply::inventory::{
    Existing, InstalledUnit, LogRotation, LogSource, Marker, Role, Stream, Trigger,
};
use crate::backend::shim_args;
use crate::backend::{MARKER_PREFIX, is_generated};

/// File names systemd reads as units rgen may have written.
const UNIT_SUFFIXES: &[&str] = &[".service", ".socket", ".target", ".timer", ".path"];

pub fn read_back(name: &str, path: &Path, bytes: &[u8]) -> Existing {
    if name.ends_with(".env") {
        return read_env_file(name, path, bytes);
    }
    if !UNIT_SUFFIXES.iter().any(|s| name.ends_with(s)) {
        return Existing::Ignored;
    }
    if !is_generated(bytes) {
        return Existing::Foreign(path.to_path_buf());
    }
    let contents = crate::backend::lossy_text(bytes).into_owned();
    let unit = UnitFile::parse(&contents);
    let marker = marker(&unit);
    let role = role(name, &unit);
    let runtime = match role {
        Role::App => names::runtime_services(name, marker.instances),
        Role::TriggerAction(_) | Role::Environment => Vec::new(),
        Role::Socket | Role::Trigger(_) | Role::Group => vec![name.to_string()],
    };
    let argv = unit
        .get("Service", "ExecStart")
        .map(parse_exec_line)
        .unwrap_or_default();
    let shimmed = shim_args::is_shim(&argv);
    let (shim_options, app_argv) = shim_args::split(&argv);
    let app_argv = app_argv.to_vec();
    let shim_logs = shim_args::log_files(shim_options);
    let rotation = shim_args::rotation(shim_options);
    let logs = if role == Role::App {
        runtime
            .iter()
            .flat_map(|r| log_sources(&unit, &shim_logs, rotation.as_ref(), r))
            .collect()
    } else {
        Vec::new()
    };
    Existing::Ours(Box::new(InstalledUnit {
        name: name.to_string(),
        path: path.to_path_buf(),
        contents,
        marker,
        role,
        runtime,
        argv: argv.iter().map(|w| expand_specifiers(w, None)).collect(),
        app_argv: app_argv
            .iter()
            .map(|w| expand_specifiers(w, None))
            .collect(),
        logs,
        shimmed,
        run_as: unit
            .get("Service", "User")
            .map(|u| expand_specifiers(u, None)),
        env: unit
            .all("Service", "Environment")
            .into_iter()
            .flat_map(parse_exec_line)
            .filter_map(|a| {
                let (k, v) = a.split_once('=')?;
                Some((k.to_string(), expand_specifiers(v, None)))
            })
            .collect(),
        settings: shown_settings(&unit),
        memory_limit: unit
            .get("Service", "MemoryMax")
            .and_then(shim_args::binary_size)
            .or_else(|| shim_args::max_memory(shim_options)),
    }))
}

/// The service settings `rgen show` prints: how the app runs, restarts, stops and is limited.
fn shown_settings(unit: &UnitFile) -> Vec<(String, String)> {
    const SHOWN: &[(&str, &str)] = &[
        ("Service", "WorkingDirectory"),
        ("Service", "User"),
        ("Service", "Group"),
        ("Service", "Restart"),
        ("Service", "RestartSec"),
        ("Service", "RestartSteps"),
        ("Service", "RestartMaxDelaySec"),
        ("Service", "RestartPreventExitStatus"),
        ("Unit", "StartLimitIntervalSec"),
        ("Unit", "StartLimitBurst"),
        ("Service", "MemoryMax"),
        ("Service", "KillSignal"),
        ("Service", "TimeoutStopSec"),
        ("Service", "EnvironmentFile"),
    ];
    SHOWN
        .iter()
        .flat_map(|(section, key)| {
            unit.all(section, key)
                .into_iter()
                .map(|v| (key.to_string(), v.to_string()))
        })
        .collect()
}

fn marker(unit: &UnitFile) -> Marker {
    let mut m = Marker::default();
    for section in ["Unit", "Service", "Socket", "Timer", "Path", "Install"] {
        for (key, value) in unit.with_prefix(section, MARKER_PREFIX) {
            // Marker values are written with `%` doubled (they pass systemd's specifier parser).
            let value = expand_specifiers(value, None);
            match &key[MARKER_PREFIX.len()..] {
                "App" => m.app = Some(value),
                "Group" => m.group = value,
                "Env" => m.env = Some(value),
                "Namespace" => m.namespace = Some(value),
                "Instances" => m.instances = value.parse().ok(),
                "SourceHash" => m.source_hash = Some(value),
                "Definition" => m.definition = Some(value),
                "Hardening" => m.strict_hardening = value == "strict",
                _ => {}
            }
        }
    }
    // `X-Rgen-Source=`, not systemd's `SourcePath=`: with that, every edit of the ecosystem
    // file would mark all its units as needing a daemon-reload (and `systemctl status` would say
    // so), though only `rgen install` decides what changed. Files of older rgens used it.
    if let Some(source) = unit
        .get("Unit", &format!("{MARKER_PREFIX}Source"))
        .or_else(|| unit.get("Unit", "SourcePath"))
    {
        m.source = PathBuf::from(expand_specifiers(source, None));
    }
    m
}

/// The unit (or environment file) without rgen's record of its source — the header naming the
/// file, `X-Rgen-Source=`, its digest and a command line's definition — which systemd ignores:
/// two versions that differ only there run the same.
pub fn without_bookkeeping(text: &str) -> Vec<&str> {
    let header = format!("# {}", crate::backend::HEADER_PREFIX);
    let recorded = ["Source=", "SourceHash=", "Definition="];
    text.lines()
        .filter(|line| {
            let marker = line.strip_prefix("# ").unwrap_or(line);
            !line.starts_with(&header)
                && !marker
                    .strip_prefix(MARKER_PREFIX)
                    .is_some_and(|k| recorded.iter().any(|r| k.starts_with(r)))
        })
        .collect()
}

/// An environment file: rgen's when its header says so; its values stay unread here.
fn read_env_file(name: &str, path: &Path, bytes: &[u8]) -> Existing {
    let text = crate::backend::lossy_text(bytes);
    if !envfile::is_ours(&text) {
        return Existing::Foreign(path.to_path_buf());
    }
    let mut marker = Marker::default();
    for (key, value) in envfile::markers(&text) {
        let value = expand_specifiers(&value, None);
        match &key[MARKER_PREFIX.len()..] {
            "App" => marker.app = Some(value),
            "Group" => marker.group = value,
            "Env" => marker.env = Some(value),
            "Namespace" => marker.namespace = Some(value),
            _ => {}
        }
    }
    if let Some(source) = text
        .lines()
        .next()
        .and_then(|l| l.strip_prefix(&format!("# {}", crate::backend::HEADER_PREFIX)))
        .and_then(|l| l.strip_suffix('.'))
    {
        marker.source = PathBuf::from(source);
    }
    let env = envfile::parse(&text);
    Existing::Ours(Box::new(InstalledUnit {
        name: name.to_string(),
        path: path.to_path_buf(),
        contents: text.into_owned(),
        marker,
        role: Role::Environment,
        runtime: Vec::new(),
        argv: Vec::new(),
        app_argv: Vec::new(),
        logs: Vec::new(),
        shimmed: false,
        run_as: None,
        env,
        settings: Vec::new(),
        memory_limit: None,
    }))
}

/// The role rgen recorded (`X-Rgen-Role=`), or, for files written before it did, the one the
/// name and sections imply.
fn role(name: &str, unit: &UnitFile) -> Role {
    let recorded = unit
        .get("Unit", &format!("{MARKER_PREFIX}Role"))
        .and_then(parse_role);
    if let Some(role) = recorded {
        return role;
    }
    if name.ends_with(".target") {
        Role::Group
    } else if name.ends_with(".socket") {
        Role::Socket
    } else if name.ends_with(".timer") {
        Role::Trigger(Trigger::CronRestart)
    } else if name.ends_with(".path") {
        Role::Trigger(Trigger::Watch)
    } else if !unit.has_section("Install") {
        // Services without [Install] are the oneshots timers and path units run.
        if name.ends_with("-watch.service") {
            Role::TriggerAction(Trigger::Watch)
        } else {
            Role::TriggerAction(Trigger::CronRestart)
        }
    } else {
        Role::App
    }
}

pub fn role_word(role: Role) -> &'static str {
    match role {
        Role::Environment => "environment",
        Role::App => "app",
        Role::Socket => "socket",
        Role::Group => "group",
        Role::Trigger(Trigger::CronRestart) => "cron-restart",
        Role::Trigger(Trigger::Watch) => "watch",
        Role::TriggerAction(Trigger::CronRestart) => "cron-restart-action",
        Role::TriggerAction(Trigger::Watch) => "watch-action",
    }
}

fn parse_role(word: &str) -> Option<Role> {
    Some(match word {
        "environment" => Role::Environment,
        "app" => Role::App,
        "socket" => Role::Socket,
        "group" => Role::Group,
        "cron-restart" => Role::Trigger(Trigger::CronRestart),
        "watch" => Role::Trigger(Trigger::Watch),
        "cron-restart-action" => Role::TriggerAction(Trigger::CronRestart),
        "watch-action" => Role::TriggerAction(Trigger::Watch),
        _ => return None,
    })
}

/// Where `runtime`'s stdout and stderr go: a file the shim writes, a file systemd appends to,
/// nowhere, or the journal.
fn log_sources(
    unit: &UnitFile,
    shim_logs: &[(String, Stream)],
    rotation: Option<&LogRotation>,
    runtime: &str,
) -> Vec<LogSource> {
    let instance = names::instance_number(runtime).map(|i| i.to_string());
    let expand = |v: &str| PathBuf::from(expand_specifiers(v, instance.as_deref()));
    let mut out_dest: Option<(PathBuf, bool)> = None;
    let mut err_dest: Option<(PathBuf, bool)> = None;
    let mut combined: Option<PathBuf> = None;
    for (path, stream) in shim_logs {
        match stream {
            Stream::Out => out_dest = Some((expand(path), true)),
            Stream::Err => err_dest = Some((expand(path), true)),
            Stream::Both => combined = Some(expand(path)),
        }
    }
    let manager_dest = |key: &str| -> Option<Option<PathBuf>> {
        let value = unit.get("Service", key)?;
        if value == "null" {
            return Some(None);
        }
        value
            .strip_prefix("append:")
            .or_else(|| value.strip_prefix("file:"))
            .map(|p| Some(expand(p)))
    };
    let mut sources = Vec::new();
    let mut journal = false;
    let mut files: Vec<(PathBuf, Stream, bool)> = Vec::new();
    for (stream, shim_dest, key) in [
        (Stream::Out, out_dest, "StandardOutput"),
        (Stream::Err, err_dest, "StandardError"),
    ] {
        match shim_dest {
            Some((path, by_shim)) => files.push((path, stream, by_shim)),
            // With the shim writing a combined file only, the streams are its.
            None if combined.is_some() => {}
            None => match manager_dest(key) {
                Some(Some(path)) => files.push((path, stream, false)),
                Some(None) => {}
                None => journal = true,
            },
        }
    }
    if let Some(path) = combined {
        files.push((path, Stream::Both, true));
    }
    // One file for stdout and stderr together is a combined log.
    if files.len() == 2 && files[0].0 == files[1].0 {
        let (path, _, by_shim) = files.remove(0);
        files = vec![(path, Stream::Both, by_shim)];
    }
    for (path, stream, by_shim) in files {
        sources.push(LogSource::File {
            path,
            stream,
            unit: runtime.to_string(),
            by_shim,
            rotation: rotation.filter(|_| by_shim).cloned(),
        });
    }
    if journal {
        sources.push(LogSource::Journal {
            unit: runtime.to_string(),
        });
    }
    sources
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_source_record_is_bookkeeping_and_nothing_else_is() {
        let adhoc = "# Generated by rgen from /srv/api/(command line).\n[Unit]\nX-Rgen-Source=/srv/api/(command line)\nX-Rgen-App=api\nX-Rgen-Definition={\"script\":\"app.js\"}\n[Service]\nExecStart=/usr/bin/node /srv/api/app.js\n";
        let file = "# Generated by rgen from /srv/api/rgen.toml.\n[Unit]\nX-Rgen-Source=/srv/api/rgen.toml\nX-Rgen-App=api\nX-Rgen-SourceHash=abc\n[Service]\nExecStart=/usr/bin/node /srv/api/app.js\n";
        assert_eq!(without_bookkeeping(adhoc), without_bookkeeping(file));
        let env = "# X-Rgen-Definition={}\nA=\"1\"\n";
        assert_eq!(without_bookkeeping(env), ["A=\"1\""]);
        let other_app = file.replace("X-Rgen-App=api", "X-Rgen-App=web");
        assert_ne!(without_bookkeeping(adhoc), without_bookkeeping(&other_app));
        let other_command = file.replace("app.js\n", "other.js\n");
        assert_ne!(
            without_bookkeeping(adhoc),
            without_bookkeeping(&other_command)
        );
    }
}
