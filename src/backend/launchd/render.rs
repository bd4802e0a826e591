//! `ServiceSpec` → launchd property lists, built as typed values with the `plist` crate (never as
//! text), one job per app instance. Pure. No `cfg(target_os)`: this runs and is tested on Linux.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use std::path::Path;

use super::{calendar, helper, names};
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
    /// `Interactive` for apps, `Background` for helpers (see [`app_job`]).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub process_type: Option<String>,
    /// The one session an agent loads in (see [`names::Session`]).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub limit_load_to_session_type: Option<String>,
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

impl Job {
    /// The session this job loads in, and so its domain.
    pub fn session(&self, scope: Scope) -> names::Session {
        names::Session::from_plist(scope, self.limit_load_to_session_type.as_deref())
    }
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
        warnings.extend(protected_folder(plan, spec));
        let mut own_files = Vec::new();
        for instance in &instances {
            let job = app_job(plan, spec, *instance, &mut warnings);
            own_files.extend(shim_written_files(&job.program_arguments));
            files.push(file(job, spec)?);
        }
        let services: Vec<String> =
            names::app_labels(&spec.unit, spec.instances.as_ref().map(|i| i.count))
                .iter()
                .map(|l| names::service(&names::domain(&plan.target), l))
                .collect();
        if let Some(cron) = &spec.cron {
            if let Some(limit) = calendar::limits(&cron.schedule) {
                warnings.push(Warning {
                    kind: WarningKind::LaunchdCronLimits,
                    origin: spec.origin_of("cron_restart"),
                    message: limit,
                });
            }
            let mut job = helper_job(plan, spec, "cron-restart", helper::cron_script(&services));
            job.start_calendar_interval = Some(
                calendar::intervals(&cron.schedule)
                    .iter()
                    .map(|entry| entry.iter().map(|(k, v)| (k.to_string(), *v)).collect())
                    .collect(),
            );
            files.push(file(job, spec)?);
        }
        if let Some(watch) = &spec.watch {
            let dirs: Vec<String> = watch
                .dirs
                .iter()
                .map(|d| d.to_string_lossy().into_owned())
                .collect();
            let state_root = plan
                .target
                .capabilities()
                .app_state_dir
                .unwrap_or_else(|| names::helper_log_dir(&plan.target));
            let script = helper::watch_script(
                &services,
                &helper::Watch {
                    dirs: &dirs,
                    ignore: &watch.ignore,
                    own_files: &own_files,
                    delay_ms: watch.delay_ms,
                    state: &names::watch_state(&state_root, &spec.unit),
                },
            );
            let mut job = helper_job(plan, spec, "watch", script);
            job.watch_paths = Some(dirs);
            files.push(file(job, spec)?);
        }
    }
    Ok(Rendered { files, warnings })
}

/// The files the shim writes for a job, from its options (for the watch helper to ignore).
fn shim_written_files(argv: &[String]) -> Vec<String> {
    let (options, _) = crate::backend::shim_args::split(argv);
    options
        .windows(2)
        .filter(|pair| helper::OWN_FILE_OPTIONS.contains(&pair[0].as_str()))
        .map(|pair| pair[1].clone())
        .collect()
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

/// Folders macOS's privacy protection (TCC) guards from processes the user did not start from
/// a terminal or Finder: a launchd job reading them is refused ("Operation not permitted")
/// until its program has Full Disk Access.
const PROTECTED_IN_HOME: [&str; 4] = [
    "Desktop",
    "Documents",
    "Downloads",
    "Library/Mobile Documents",
];

fn protected_folder(plan: &Plan, spec: &ServiceSpec) -> Option<Warning> {
    let home = &plan.target.home;
    let protected = |p: &Path| {
        p.starts_with("/Volumes")
            || PROTECTED_IN_HOME
                .iter()
                .any(|d| p.starts_with(home.join(d)))
    };
    let candidates = std::iter::once(("cwd", spec.cwd.clone()))
        .chain(
            spec.app_argv
                .iter()
                .take(2)
                .map(|a| ("script", std::path::PathBuf::from(a))),
        )
        .chain(spec.logs.files.iter().map(|(k, p)| (*k, p.clone())));
    for (key, path) in candidates {
        if path.is_absolute() && protected(&path) {
            return Some(Warning {
                kind: WarningKind::LaunchdProtectedFolder,
                origin: spec.origin_of(key),
                message: format!(
                    "{} is in a folder macOS protects from background jobs; launchd may be refused access to it (\"Operation not permitted\"): move the project out of Desktop, Documents, Downloads, iCloud Drive and /Volumes (e.g. to ~/code), or give the program Full Disk Access",
                    path.display()
                ),
            });
        }
    }
    None
}

/// launchd gives a daemon no login environment; a daemon running as `user` gets that user's
/// `HOME`, `USER` and `LOGNAME`, as a login (and PM2 started from a shell) would.
fn login_environment(
    plan: &Plan,
    spec: &ServiceSpec,
    env: &mut BTreeMap<String, String>,
    warnings: &mut Vec<Warning>,
) {
    if plan.target.scope != Scope::System {
        return;
    }
    let user = spec.user.as_deref().unwrap_or("root");
    for var in ["USER", "LOGNAME"] {
        env.entry(var.into()).or_insert_with(|| user.to_string());
    }
    if env.contains_key("HOME") {
        return;
    }
    let home = if user == "root" || user == "0" {
        Some(ROOT_HOME.to_string())
    } else if plan.target.invoking_user.as_deref() == Some(user) {
        Some(plan.target.home.to_string_lossy().into_owned())
    } else {
        None
    };
    match home {
        Some(h) => {
            env.insert("HOME".into(), h);
        }
        None => warnings.push(Warning {
            kind: WarningKind::LaunchdNoHome,
            origin: spec.origin_of("uid"),
            message: format!(
                "`{}` runs as `{user}`, whose home rgen does not know when rendering; launchd gives the job no HOME: set `env.HOME` if the app needs one",
                spec.app
            ),
        }),
    }
}

/// Root's home on macOS.
const ROOT_HOME: &str = "/var/root";

fn app_job(
    plan: &Plan,
    spec: &ServiceSpec,
    instance: Option<u32>,
    warnings: &mut Vec<Warning>,
) -> Job {
    let system = plan.target.scope == Scope::System;
    let path = |d: &LogDest| match d {
        LogDest::File(w) => Some(w.for_instance(instance)),
        LogDest::Null => Some("/dev/null".to_string()),
        LogDest::Journal => None,
    };
    let restart = &spec.restart;
    let mut env: BTreeMap<String, String> = spec
        .env
        .iter()
        .map(|(k, v)| (k.clone(), v.for_instance(instance)))
        .collect();
    if instance.is_none_or(|i| i == 0) {
        login_environment(plan, spec, &mut env, warnings);
    } else {
        login_environment(plan, spec, &mut env, &mut Vec::new());
    }
    Job {
        label: names::label(&spec.unit, instance),
        program_arguments: spec.argv.iter().map(|w| w.for_instance(instance)).collect(),
        working_directory: Some(spec.cwd.to_string_lossy().into_owned()),
        environment_variables: env,
        keep_alive: Some(match restart.mode {
            // The shim restarts the app and exits 0 only when it leaves it down (errored, a
            // stop exit code, `autorestart: false`): launchd starts the shim again only if it
            // died.
            _ if restart.in_shim => KeepAlive::Conditions {
                successful_exit: false,
            },
            RestartMode::Never => KeepAlive::Always(false),
            RestartMode::Always if restart.prevent_exit_codes == [0] => KeepAlive::Conditions {
                successful_exit: false,
            },
            RestartMode::Always => KeepAlive::Always(true),
        }),
        // `autostart: false` is a disabled label (install.rs), which no login loads; a job
        // that is loaded runs.
        run_at_load: true,
        // launchd's own 10 s throttle: it applies only to a shim that keeps failing to start
        // (a missing log directory); the shim restarts the app itself without it.
        throttle_interval: (!restart.in_shim).then(|| seconds_ceil(restart.delay_ms).max(1)),
        // Without it launchd treats an agent as a background task and throttles its CPU and
        // I/O; an app a PM2 user started from a terminal ran with an app's priority
        // (Homebrew's services choose `Interactive` for databases for the same reason).
        process_type: Some("Interactive".into()),
        limit_load_to_session_type: names::Session::of(&plan.target)
            .plist_value()
            .map(str::to_string),
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

/// A helper job that restarts the app's jobs when launchd fires it (see [`helper`]).
fn helper_job(plan: &Plan, spec: &ServiceSpec, role: &str, script: String) -> Job {
    let log = names::helper_log(&names::helper_log_dir(&plan.target), &spec.unit, role)
        .to_string_lossy()
        .into_owned();
    Job {
        label: names::helper_label(&spec.unit, role),
        program_arguments: vec![
            "/bin/sh".to_string(),
            "-c".to_string(),
            script,
            helper::program_name(role),
        ],
        working_directory: None,
        environment_variables: BTreeMap::new(),
        keep_alive: None,
        run_at_load: false,
        throttle_interval: None,
        process_type: Some("Background".into()),
        limit_load_to_session_type: names::Session::of(&plan.target)
            .plist_value()
            .map(str::to_string),
        standard_out_path: Some(log.clone()),
        standard_error_path: Some(log),
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
