//! Plan: each validated app becomes a `ServiceSpec`, a backend-neutral description of one service:
//! the exact command, environment, restart policy, limits, logs, stop and readiness behaviour,
//! instances and sockets, timers and watches. The target is an input because its
//! [`Capabilities`](crate::target::Capabilities) decide what the manager does natively and what
//! the shim must do; the spec records both, so renderers only translate.
//!
//! Pure: no filesystem, environment, uid, process or D-Bus. The work is split by the key groups
//! of the key table (`restart.rs`, `logs.rs`, …); `plan_app` only calls them in order.

mod env;
mod hardening;
mod instances;
mod logs;
mod readiness;
mod restart;
mod rotation;
mod schedule;
mod shim;
mod user;
mod warnings;
mod word;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use crate::diag::{BadInput, Origin, Problems, Warning};
pub use crate::keys::ShimNeed;
use crate::model::cron::CronSchedule;
/// Whether an app's recorded source is the command line (`rgen install app.js …`), not a file.
pub use crate::model::is_command_line;
use crate::model::{App, Ecosystem};
use crate::target::Target;
pub use hardening::Sandbox;
pub use restart::{backoff_steps, pm2_backoff_sequence};
pub use word::{Part, Word};

#[derive(Clone, Debug)]
pub struct Plan {
    pub group: String,
    pub source: PathBuf,
    pub env_name: Option<String>,
    pub source_hash: String,
    pub target: Target,
    pub services: Vec<ServiceSpec>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RestartMode {
    Always,
    Never,
}

#[derive(Clone, Debug)]
pub struct Backoff {
    pub initial_ms: u64,
    pub max_ms: u64,
    /// Steps for systemd's geometric backoff that approximate PM2's ×1.5.
    pub steps: u32,
    pub via_shim: bool,
}

#[derive(Clone, Debug)]
pub struct RestartPolicy {
    pub mode: RestartMode,
    pub prevent_exit_codes: Vec<i32>,
    pub delay_ms: u64,
    pub backoff: Option<Backoff>,
    /// The shim restarts the app by PM2's rules (`--autorestart`); the manager only restarts
    /// a shim that died.
    pub in_shim: bool,
    /// PM2's unstable-restart limit as written; `None` restarts without limit (Forever).
    pub limit: Option<crate::model::StartLimit>,
    /// `(interval, burst)`; `None` disables the start limit.
    pub start_limit: Option<(u64, u32)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogDest {
    /// The manager collects it (the journal); launchd would drop it.
    Journal,
    Null,
    /// Appended to this file (may contain the instance number).
    File(Word),
}

#[derive(Clone, Debug)]
pub struct LogPlan {
    /// What the manager connects stdout/stderr to.
    pub stdout: LogDest,
    pub stderr: LogDest,
    /// Directories to create before the first start.
    pub dirs: Vec<PathBuf>,
    /// The log files the ecosystem names, with their keys, for checks on the machine.
    pub files: Vec<(&'static str, PathBuf)>,
    /// How the shim rotates the files it writes; `None`: they are not rotated.
    pub rotation: Option<crate::model::Rotation>,
}

#[derive(Clone, Debug)]
pub struct StopPlan {
    pub signal: String,
    /// Time the manager waits before SIGKILL.
    pub timeout_ms: u64,
    /// Signal the whole process tree (control group) rather than the main process.
    pub tree: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Readiness {
    /// Running once exec succeeded.
    Started,
    /// The shim sends READY=1 (after `ready`, after listening, or at spawn).
    Notify { timeout_ms: u64 },
}

#[derive(Clone, Debug)]
pub struct Instances {
    pub count: u32,
    pub requested: String,
}

#[derive(Clone, Debug)]
pub struct SocketPlan {
    pub port: u16,
}

#[derive(Clone, Debug)]
pub struct CronPlan {
    pub schedule: CronSchedule,
}

#[derive(Clone, Debug)]
pub struct WatchPlan {
    pub dirs: Vec<PathBuf>,
    /// `ignore_watch` as written (names or path fragments, as the model matched directories).
    pub ignore: Vec<String>,
    pub delay_ms: u64,
}

#[derive(Clone, Debug)]
pub struct ServiceSpec {
    pub app: String,
    pub unit: String,
    pub namespace: String,
    pub description: String,
    pub origin: Origin,
    /// Where each key the app sets was written (`apps[1].maxMemoryRestart`), for messages.
    pub key_origins: BTreeMap<&'static str, Origin>,
    /// The command the manager runs (the shim's, when there is one).
    pub argv: Vec<Word>,
    /// The app's own command.
    pub app_argv: Vec<String>,
    pub shim: BTreeSet<ShimNeed>,
    pub cwd: PathBuf,
    pub env: BTreeMap<String, Word>,
    /// Per environment (`env_<name>`), the variables that selecting it adds or changes; empty
    /// with `--env`, which merged one already.
    pub env_overlays: BTreeMap<String, BTreeMap<String, Word>>,
    pub user: Option<String>,
    pub group: Option<String>,
    pub autostart: bool,
    pub restart: RestartPolicy,
    /// The shim's pid and status files live here (created for the app's user at install).
    pub state_dir: Option<PathBuf>,
    /// Enforced by the kernel (systemd); on launchd the shim's watchdog carries it.
    pub memory_max: Option<u64>,
    pub logs: LogPlan,
    pub stop: StopPlan,
    pub readiness: Readiness,
    /// `Some` for template units (several instances, or cluster mode).
    pub instances: Option<Instances>,
    pub socket: Option<SocketPlan>,
    pub cron: Option<CronPlan>,
    pub watch: Option<WatchPlan>,
    /// An app from the command line: its definition, recorded in its files.
    pub definition: Option<String>,
    /// `Some`: the strict hardening profile.
    pub sandbox: Option<Sandbox>,
}

impl ServiceSpec {
    /// Where a key was written, or the app itself when it was not.
    pub fn origin_of(&self, key: &str) -> Origin {
        self.key_origins
            .get(key)
            .cloned()
            .unwrap_or_else(|| self.origin.with_key(key))
    }
}

pub fn plan(eco: &Ecosystem, target: &Target) -> Result<(Plan, Vec<Warning>), BadInput> {
    let mut problems = Problems::default();
    let services = eco
        .apps
        .iter()
        .filter_map(|app| plan_app(eco, app, target, &mut problems))
        .collect();
    let (services, warnings) = problems.finish(services)?;
    Ok((
        Plan {
            group: eco.group.clone(),
            source: eco.file.clone(),
            env_name: eco.env_name.clone(),
            source_hash: eco.source_hash.clone(),
            target: target.clone(),
            services,
        },
        warnings,
    ))
}

/// One app through every group's planner, in dependency order: who runs it, how it restarts,
/// its instances and socket, then what the shim must do, its logs, env, readiness and stop, the
/// command, and its timers and watches.
fn plan_app(
    eco: &Ecosystem,
    app: &App,
    target: &Target,
    problems: &mut Problems,
) -> Option<ServiceSpec> {
    let caps = target.capabilities();
    warnings::announce(app, target, problems);

    // Who runs it is needed last; an unknown user is reported with everything else.
    let user = user::run_as(app, target, problems);
    let mut needs = BTreeSet::new();
    let restart = restart::policy(app, &caps, &mut needs, problems);
    let sharing = instances::plan(app, target, &caps, problems)?;
    needs.extend(shim::needs(app, &caps, &sharing));
    let logs = logs::plan(app, target, &caps, &mut needs, problems);
    let mut env = env::plan(app, &caps, &sharing, problems);
    let readiness = readiness::plan(app, &caps, &needs, &restart, &sharing);
    let stop = readiness::stop(app, &needs);
    let state_dir = (!needs.is_empty())
        .then(|| shim::state_dir(&caps, target, user.clone().flatten().as_deref()))
        .flatten();
    let argv = shim::command(
        app,
        &shim::Setting {
            target,
            caps: &caps,
            needs: &needs,
            sharing: &sharing,
            restart: &restart,
            logs: &logs,
            state_dir: state_dir.as_deref(),
        },
    );
    if let Some(socket) = &sharing.socket {
        env.insert(
            crate::shim_protocol::env::RGEN_LISTEN_PORT.into(),
            Word::text(socket.port.to_string()),
        );
    }
    let (cron, watch) = schedule::plan(app);
    let sandbox = hardening::plan(app, target, &caps, &sharing, &needs, &logs.plan, problems);

    Some(ServiceSpec {
        app: app.name.clone(),
        unit: app.unit.clone(),
        namespace: app.namespace.clone(),
        description: format!("{} (rgen: {})", app.name, eco.group),
        origin: app.origin.clone(),
        key_origins: app
            .keys_used
            .iter()
            .map(|(spec, o)| (spec.name, o.clone()))
            .collect(),
        argv,
        app_argv: app.argv.clone(),
        shim: needs,
        cwd: app.cwd.clone(),
        env,
        env_overlays: app
            .env_overlays
            .iter()
            .map(|(name, vars)| {
                let vars = vars
                    .iter()
                    .map(|(k, v)| (k.clone(), Word::text(v)))
                    .collect();
                (name.clone(), vars)
            })
            .collect(),
        user: user?,
        group: if target.scope == crate::target::Scope::System {
            app.group.clone()
        } else {
            None
        },
        autostart: app.autostart,
        restart,
        state_dir,
        memory_max: app.max_memory_bytes,
        logs: logs.plan,
        stop,
        readiness,
        instances: sharing.instances,
        socket: sharing.socket,
        cron,
        watch,
        definition: app.definition.clone(),
        sandbox,
    })
}
