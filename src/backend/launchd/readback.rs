//! An installed plist → [`InstalledUnit`]: rgen's marker, the job's role and label, the command,
//! and the log files (the shim's, else launchd's own paths).

use std::path::{Path, PathBuf};

use super::names;
use super::render::Job;
use crate::apply::inventory::{Existing, InstalledUnit, LogSource, Marker, Role, Stream, Trigger};
use crate::backend::{is_generated, shim_args};

pub fn read_back(name: &str, path: &Path, bytes: &[u8]) -> Existing {
    if !name.ends_with(".plist") {
        return Existing::Ignored;
    }
    if !is_generated(bytes) {
        return Existing::Foreign(path.to_path_buf());
    }
    let Ok(job) = plist::from_bytes::<Job>(bytes) else {
        // Marked as rgen's but unreadable: never rgen's to touch.
        return Existing::Foreign(path.to_path_buf());
    };
    let label = names::label_of(name).to_string();
    let role = match job.marker.role.as_str() {
        "cron-restart" => Role::Trigger(Trigger::CronRestart),
        "watch" => Role::Trigger(Trigger::Watch),
        _ => Role::App,
    };
    let argv = job.program_arguments.clone();
    let (options, app_argv) = shim_args::split(&argv);
    let rotation = shim_args::rotation(options);
    let mut logs: Vec<LogSource> = shim_args::log_files(options)
        .into_iter()
        .map(|(path, stream)| LogSource::File {
            path: PathBuf::from(path),
            stream,
            unit: label.clone(),
            by_shim: true,
            rotation: rotation.clone(),
        })
        .collect();
    if logs.is_empty() && role == Role::App {
        for (path, stream) in [
            (&job.standard_out_path, Stream::Out),
            (&job.standard_error_path, Stream::Err),
        ] {
            if let Some(p) = path.as_ref().filter(|p| p.as_str() != "/dev/null") {
                logs.push(LogSource::File {
                    path: PathBuf::from(p),
                    stream,
                    unit: label.clone(),
                    by_shim: false,
                    rotation: None,
                });
            }
        }
    }
    let marker = Marker {
        app: Some(job.marker.app.clone()),
        group: job.marker.group.clone(),
        source: PathBuf::from(&job.marker.source),
        env: job.marker.env.clone(),
        namespace: job.marker.namespace.clone(),
        instances: job.marker.instances.as_deref().and_then(|i| i.parse().ok()),
        instance: job.marker.instance,
        source_hash: job.marker.source_hash.clone(),
        definition: job.marker.definition.clone(),
        // launchd has no sandbox to ask for.
        strict_hardening: false,
    };
    Existing::Ours(Box::new(InstalledUnit {
        name: name.to_string(),
        path: path.to_path_buf(),
        contents: String::from_utf8_lossy(bytes).into_owned(),
        marker,
        role,
        runtime: vec![label],
        shimmed: shim_args::is_shim(&argv),
        app_argv: app_argv.to_vec(),
        run_as: job.user_name.clone(),
        env: job
            .environment_variables
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        settings: shown_settings(&job),
        memory_limit: shim_args::max_memory(options),
        argv,
        logs,
    }))
}

/// The job settings `rgen show` prints.
fn shown_settings(job: &Job) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(d) = &job.working_directory {
        out.push(("WorkingDirectory".into(), d.clone()));
    }
    if let Some(u) = &job.user_name {
        out.push(("UserName".into(), u.clone()));
    }
    if let Some(k) = &job.keep_alive {
        out.push(("KeepAlive".into(), format!("{k:?}")));
    }
    out.push(("RunAtLoad".into(), job.run_at_load.to_string()));
    if let Some(t) = &job.process_type {
        out.push(("ProcessType".into(), t.clone()));
    }
    if let Some(t) = &job.limit_load_to_session_type {
        out.push(("LimitLoadToSessionType".into(), t.clone()));
    }
    if let Some(t) = job.throttle_interval {
        out.push(("ThrottleInterval".into(), t.to_string()));
    }
    if let Some(t) = job.exit_time_out {
        out.push(("ExitTimeOut".into(), t.to_string()));
    }
    for k in job.environment_variables.keys() {
        out.push(("EnvironmentVariables".into(), k.clone()));
    }
    out
}

/// The plist with rgen's record of its source (the file, its digest, a command line's
/// definition) blanked, for comparing what launchd runs.
pub fn without_bookkeeping(text: &str) -> Option<Job> {
    let mut job: Job = plist::from_bytes(text.as_bytes()).ok()?;
    job.marker.source_hash = None;
    job.marker.source = String::new();
    job.marker.definition = None;
    Some(job)
}
