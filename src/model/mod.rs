//! Model: `RawEcosystem` → `Ecosystem`, a validated list of apps with PM2's semantics applied
//! exactly (defaults, aliases, value grammars, env layering, script and interpreter resolution).
//! Every problem of the file is collected before failing. The readers are split by key group
//! (`group/`); `validate.rs` drives them.

pub mod cron;
mod fields;
mod glob;
mod group;
pub mod resolve;
pub mod text;
mod validate;
pub mod values;

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::diag::Origin;
use crate::load::Format;
pub use crate::load::adhoc::is_command_line;
use cron::CronSchedule;
pub use group::identity::{default_group, sanitize_name};
pub use group::instances::MAX_INSTANCES;
pub use group::rotation::{format_size, from_pm2_logrotate};
use resolve::{Interpreter, SearchPath};
pub use validate::validate;

#[derive(Clone, Debug)]
pub struct Ecosystem {
    pub file: PathBuf,
    pub format: Format,
    /// Name of the group the apps are installed under (`rgen-<group>.target`).
    pub group: String,
    pub env_name: Option<String>,
    pub source_hash: String,
    pub apps: Vec<App>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ExecMode {
    Fork,
    Cluster,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum InstanceCount {
    Fixed(u32),
    /// `max` or 0: one per CPU.
    Max,
    /// A negative number: CPUs minus n (at least one).
    CpusMinus(u32),
}

impl InstanceCount {
    pub fn resolve(&self, cpus: u32) -> u32 {
        match *self {
            InstanceCount::Fixed(n) => n,
            InstanceCount::Max => cpus.max(1),
            InstanceCount::CpusMinus(n) => cpus.saturating_sub(n).max(1),
        }
    }

    pub fn as_written(&self) -> String {
        match self {
            InstanceCount::Fixed(n) => n.to_string(),
            InstanceCount::Max => "max".into(),
            InstanceCount::CpusMinus(n) => format!("-{n}"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogTarget {
    /// Not configured: the journal (systemd) or rgen's default file (launchd).
    Default,
    /// `/dev/null`, `NULL` or `disable_logs`.
    Null,
    File(PathBuf),
}

#[derive(Clone, Debug)]
pub struct Logs {
    pub out: LogTarget,
    pub err: LogTarget,
    /// `log_file`: out and err together.
    pub combined: Option<PathBuf>,
    /// One file per instance (PM2 appends `-<id>`), unless `merge_logs`.
    pub per_instance: bool,
    pub date_format: Option<String>,
    /// How the log files are rotated; `None`: never (`log_rotate: false`).
    pub rotation: Option<Rotation>,
}

/// pm2-logrotate's settings (`pm2 set pm2-logrotate:<key>`), from `log_rotate` beside `apps` (for
/// every app) and inside an app (for that one), an rgen extension PM2 ignores. A setting not
/// given keeps rgen's default, which is pm2-logrotate's except `rotateInterval`: rgen rotates by
/// size only unless a schedule is asked for (PM2 without pm2-logrotate never rotates; a daily
/// rotation nobody asked for would scatter small files).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rotation {
    /// `max_size`: rotate a file before it grows past this many bytes; `None`: not by size.
    pub max_size: Option<u64>,
    /// `retain`: rotated files kept per log; `None`: every one (`'all'`).
    pub retain: Option<u32>,
    /// `compress`: gzip rotated files.
    pub compress: bool,
    /// `dateFormat`: day.js tokens for the date in rotated file names.
    pub date_format: String,
    /// `rotateInterval`: a cron expression (5 fields, or 6 with seconds first) at which every
    /// non-empty log is rotated whatever its size.
    pub interval: Option<String>,
    /// `workerInterval`, in seconds.
    pub worker_interval_s: u64,
    /// Whether anything was written (`log_rotate` in the file or the app), for `rgen check`.
    pub configured: bool,
}

#[derive(Clone, Debug)]
pub struct Restart {
    pub autorestart: bool,
    pub stop_exit_codes: Vec<i32>,
    pub delay_ms: Option<u64>,
    pub exp_backoff_ms: Option<u64>,
    /// `None`: restart without limit (Forever's default).
    pub limit: Option<StartLimit>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StartLimit {
    pub min_uptime_ms: u64,
    pub max_restarts: u32,
}

#[derive(Clone, Debug)]
pub struct Stop {
    pub signal: String,
    pub timeout_ms: u64,
    pub treekill: bool,
    pub with_message: bool,
}

#[derive(Clone, Debug)]
pub struct Watch {
    /// What the patterns cover: each one's part before its first glob character.
    pub paths: Vec<PathBuf>,
    /// What a path unit watches: the directories under `paths` now, and paths that do not
    /// exist yet (watched for appearing).
    pub dirs: Vec<PathBuf>,
    pub ignore: Vec<String>,
    pub delay_ms: Option<u64>,
}

/// How tightly the manager sandboxes an app (`hardening`, an rgen extension).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hardening {
    /// What the manager gives every service.
    Default,
    /// The strict profile (README "Hardening"): read-only system, home and devices, no
    /// capabilities, system-call filters; the app writes only its cwd and log directories.
    Strict,
}

#[derive(Clone, Debug)]
pub struct App {
    pub index: usize,
    /// Key path of the app object in the file (`apps[2]`, or empty for a one-app file).
    pub path: String,
    /// The name users see and type (`pm2 ls` shows it).
    pub name: String,
    /// `name` restricted to characters unit file names and launchd labels can hold.
    pub unit: String,
    pub namespace: String,
    pub origin: Origin,
    pub cwd: PathBuf,
    /// The resolved script or binary.
    pub script: PathBuf,
    pub interpreter: Interpreter,
    /// `npm`/`yarn`/`npx`/`pnpm` when the script is such a launcher.
    pub launcher: Option<&'static str>,
    /// The full command: absolute program followed by its arguments.
    pub argv: Vec<String>,
    pub env: BTreeMap<String, String>,
    /// Without `--env`: per environment the app defines (`env_<name>`, `deploy.<name>.env`),
    /// what selecting it would add to or change in `env`.
    pub env_overlays: BTreeMap<String, BTreeMap<String, String>>,
    pub user: Option<String>,
    pub group: Option<String>,
    pub autostart: bool,
    pub restart: Restart,
    pub max_memory_bytes: Option<u64>,
    pub logs: Logs,
    pub stop: Stop,
    pub wait_ready: bool,
    pub listen_timeout_ms: u64,
    pub mode: ExecMode,
    pub instances: InstanceCount,
    pub instance_var: String,
    pub increment_var: Option<String>,
    pub port: Option<u16>,
    pub cron_restart: Option<CronSchedule>,
    pub watch: Option<Watch>,
    /// Directories to put first on PATH (a package's `node_modules/.bin`, as npm does).
    pub path_prepend: Vec<PathBuf>,
    /// For an app from the command line, its keys as JSON: the installed unit records them.
    pub definition: Option<String>,
    /// `None`: not set; `--hardening` decides.
    pub hardening: Option<Hardening>,
    /// Keys whose backend mapping is not native, for warnings at render time.
    pub keys_used: Vec<(&'static crate::keys::KeySpec, Origin)>,
}

impl App {
    pub fn is_templated(&self) -> bool {
        self.mode == ExecMode::Cluster || self.instances != InstanceCount::Fixed(1)
    }

    /// Where a key was written (`apps[1].maxMemoryRestart`), or the app when it was not set.
    pub fn origin_of(&self, key: &str) -> Origin {
        self.keys_used
            .iter()
            .find(|(spec, _)| spec.name == key)
            .map(|(_, o)| o.clone())
            .unwrap_or_else(|| {
                self.origin.with_key(if self.path.is_empty() {
                    key.to_string()
                } else {
                    format!("{}.{key}", self.path)
                })
            })
    }
}

pub struct ModelOptions {
    pub env_name: Option<String>,
    pub only: Vec<String>,
    pub group: Option<String>,
    pub search: SearchPath,
    /// Where rgen was started: PM2 would resolve relative paths against it.
    pub shell_cwd: Option<PathBuf>,
    /// rgen's own environment, which PM2 would pass on to every app.
    pub shell_env: BTreeMap<String, String>,
    /// Variables of `shell_env` to give the apps (`--keep-env`), below the file's `env`.
    pub keep_env: Vec<String>,
    /// Rendering for another machine: what is missing here is kept as written, names are left
    /// for the target's PATH.
    pub for_other_host: bool,
}

impl Default for ModelOptions {
    fn default() -> Self {
        ModelOptions {
            env_name: None,
            only: Vec::new(),
            group: None,
            search: SearchPath::from_env(),
            shell_cwd: None,
            shell_env: BTreeMap::new(),
            keep_env: Vec::new(),
            for_other_host: false,
        }
    }
}
