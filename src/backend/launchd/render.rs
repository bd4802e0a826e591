//! `ServiceSpec` → launchd property lists, built as typed values with the `plist` crate (never as
//! text), one job per app instance. Pure. No `cfg(target_os)`: this runs and is tested on Linux.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{calendar, names};
use crate::apply::RenderedFile;
use crate::backend::{RenderError, Rendered};
use crate::diag::{Warning, WarningKind};
use crate::plan::{LogDest, Plan, RestartMode, ServiceSpec};
use crate::target::{Backend, Scope};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum KeepAlive {
    Always(bool),
    Conditions {
        #[serde(rename = "SuccessfulExit")]
        successful_exit: bool,
    },
}

/// rgen's ownership marker and bookkeeping; launchd ignores keys it does not know.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct JobMarker {
    pub app: String,
    pub group: String,
    pub source: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub env: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub instance: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub instances: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub namespace: Option<String>,
    /// What this job is for: `app`, `cron-restart` or `watch`.
    pub role: String,
    /// Digest of the ecosystem file at install time, for `rgen status` drift.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub source_hash: Option<String>,
    /// An app from the command line: its keys as JSON.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub definition: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Job {
    pub label: String,
    pub program_arguments: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub working_directory: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub environment_variables: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub keep_alive: Option<KeepAlive>,
    pub run_at_load: bool,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub throttle_interval: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub standard_out_path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub standard_error_path: Option<String>,
    #[serde(
        rename = "ExitTimeOut",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub exit_time_out: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub user_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub group_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub start_calendar_interval: Option<Vec<BTreeMap<String, u32>>>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub watch_paths: Option<Vec<String>>,
    #[serde(rename = "X-Rgen")]
    pub marker: JobMarker,
}

fn seconds_ceil(ms: u64) -> u64 {
    ms.div_ceil(1000)
}

pub fn render(plan: &Plan) -> Result<Rendered, RenderError> {
    debug_assert_eq!(plan.target.backend, Backend::Launchd);
    let mut files = Vec::new();
    let mut warnings = Vec::new();
    for spec in &plan.services {
        let instances: Vec<Option<u32>> = match &spec.instances {
            Some(i) => (0..i.count).map(Some).collect(),
            None => vec![None],
        };
        for instance in &instances {
            files.push(file(app_job(plan, spec, *instance), spec)?);
        }
        if let Some(cron) = &spec.cron {
            if let Some(limit) = calendar::limits(&cron.schedule) {
                warnings.push(Warning {
                    kind: WarningKind::LaunchdCronLimits,
                    origin: spec.origin_of("cron_restart"),
                    message: limit,
                });
            }
            let mut job = trigger_job(plan, spec, "cron-restart");
            job.start_calendar_interval = Some(
                calendar::intervals(&cron.schedule)
                    .iter()
                    .map(|entry| entry.iter().map(|(k, v)| (k.to_string(), *v)).collect())
                    .collect(),
            );
            files.push(file(job, spec)?);
        }
        if let Some(watch) = &spec.watch {
            let mut job = trigger_job(plan, spec, "watch");
            job.watch_paths = Some(
                watch
                    .dirs
                    .iter()
                    .map(|d| d.to_string_lossy().into_owned())
                    .collect(),
            );
            files.push(file(job, spec)?);
        }
    }
    Ok(Rendered { files, warnings })
}

fn marker(plan: &Plan, spec: &ServiceSpec, instance: Option<u32>, role: &str) -> JobMarker {
    JobMarker {
        app: spec.app.clone(),
        group: plan.group.clone(),
        source: plan.source.to_string_lossy().into_owned(),
        env: plan.env_name.clone(),
        instance,
        instances: spec.instances.as_ref().map(|i| i.count.to_string()),
        namespace: (spec.namespace != "default").then(|| spec.namespace.clone()),
        role: role.into(),
        source_hash: Some(plan.source_hash.clone()),
        definition: spec.definition.clone(),
    }
}

fn app_job(plan: &Plan, spec: &ServiceSpec, instance: Option<u32>) -> Job {
    let system = plan.target.scope == Scope::System;
    let path = |d: &LogDest| match d {
        LogDest::File(w) => Some(w.for_instance(instance)),
        LogDest::Null => Some("/dev/null".to_string()),
        LogDest::Journal => None,
    };
    let restart = &spec.restart;
    Job {
        label: names::label(&spec.unit, instance),
        program_arguments: spec.argv.iter().map(|w| w.for_instance(instance)).collect(),
        working_directory: Some(spec.cwd.to_string_lossy().into_owned()),
        environment_variables: spec
            .env
            .iter()
            .map(|(k, v)| (k.clone(), v.for_instance(instance)))
            .collect(),
        keep_alive: Some(match restart.mode {
            RestartMode::Never => KeepAlive::Always(false),
            RestartMode::Always if restart.prevent_exit_codes == [0] => KeepAlive::Conditions {
                successful_exit: false,
            },
            RestartMode::Always => KeepAlive::Always(true),
        }),
        run_at_load: spec.autostart,
        // launchd's own floor is 10 s between spawns; PM2 restarts at once (or after
        // restart_delay), and the shim sleeps PM2's backoff itself.
        throttle_interval: Some(seconds_ceil(restart.delay_ms).max(1)),
        standard_out_path: path(&spec.logs.stdout),
        standard_error_path: path(&spec.logs.stderr),
        // The shim SIGKILLs the app after kill_timeout; launchd's timeout is the backstop.
        exit_time_out: Some(seconds_ceil(spec.stop.timeout_ms) + 1),
        user_name: spec.user.clone().filter(|_| system),
        group_name: spec.group.clone().filter(|_| system),
        start_calendar_interval: None,
        watch_paths: None,
        marker: marker(plan, spec, instance, "app"),
    }
}

/// A helper job that restarts the app's jobs (`launchctl kickstart -k`) when launchd fires it.
fn trigger_job(plan: &Plan, spec: &ServiceSpec, role: &str) -> Job {
    let domain = names::domain(plan.target.scope, plan.target.uid);
    let mut args = vec!["/bin/sh".to_string(), "-c".to_string()];
    let kicks: Vec<String> =
        names::app_labels(&spec.unit, spec.instances.as_ref().map(|i| i.count))
            .iter()
            .map(|l| format!("/bin/launchctl kickstart -k {domain}/{l}"))
            .collect();
    args.push(kicks.join("; "));
    Job {
        label: names::helper_label(&spec.unit, role),
        program_arguments: args,
        working_directory: None,
        environment_variables: BTreeMap::new(),
        keep_alive: None,
        run_at_load: false,
        throttle_interval: None,
        standard_out_path: None,
        standard_error_path: None,
        exit_time_out: None,
        user_name: None,
        group_name: None,
        start_calendar_interval: None,
        watch_paths: None,
        marker: marker(plan, spec, None, role),
    }
}

/// XML 1.0 cannot hold most control characters, not even escaped; a value with one would make
/// the whole plist unreadable to launchd.
fn xml_unfit(text: &str) -> bool {
    text.chars()
        .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
}

/// Refuses a job whose strings XML cannot carry, naming the key they come from.
fn check_xml(job: &Job, spec: &ServiceSpec) -> Result<(), RenderError> {
    let fields = job
        .program_arguments
        .iter()
        .map(|a| ("args", a))
        .chain(job.working_directory.iter().map(|d| ("cwd", d)))
        .chain(
            job.environment_variables
                .iter()
                .flat_map(|(k, v)| [("env", k), ("env", v)]),
        )
        .chain(job.standard_out_path.iter().map(|p| ("out_file", p)))
        .chain(job.standard_error_path.iter().map(|p| ("error_file", p)));
    for (key, text) in fields {
        if xml_unfit(text) {
            return Err(RenderError {
                origin: Some(spec.origin_of(key)),
                message: format!(
                    "{text:?} has a control character, which a launchd property list cannot hold"
                ),
                hint: Some("remove the control character from the value".into()),
            });
        }
    }
    Ok(())
}

fn file(job: Job, spec: &ServiceSpec) -> Result<RenderedFile, RenderError> {
    check_xml(&job, spec)?;
    let mut buf = Vec::new();
    let broken = |what: String| RenderError {
        origin: Some(spec.origin.clone()),
        message: what,
        hint: None,
    };
    plist::to_writer_xml(&mut buf, &job)
        .map_err(|e| broken(format!("cannot build the property list: {e}")))?;
    let mut contents =
        String::from_utf8(buf).map_err(|e| broken(format!("property list is not UTF-8: {e}")))?;
    if !contents.ends_with('\n') {
        contents.push('\n');
    }
    let name = format!("{}.plist", job.label);
    // A plist that carries environment values is readable only by its owner (launchd reads it
    // as root or as that user).
    Ok(if job.environment_variables.is_empty() {
        RenderedFile::public(name, Some(&spec.app), contents)
    } else {
        RenderedFile::secret(name, Some(&spec.app), contents)
    })
}

/// Parses a plist written by rgen (or anyone) back into a job, for ownership checks and tests.
pub fn parse(contents: &[u8]) -> Result<Job, plist::Error> {
    plist::from_bytes(contents)
}
