//! Whether `rgen-shim` runs in front of the app and with which options: everything the manager
//! cannot do itself (see `target::Capabilities`). An option equal to the shim's default (in
//! `shim_protocol::default`) is left out, so the files stay short and both sides share one
//! source for every default.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::instances::Sharing;
use super::logs::Logs;
use super::{Part, RestartMode, RestartPolicy, ShimNeed, Word};
use crate::model::App;
use crate::shim_protocol::{END_OF_OPTIONS, default, opt};
use crate::target::{Capabilities, Scope, Target};

/// The needs that come from the app's settings and the manager's capabilities (restart and
/// logs add their own).
pub(super) fn needs(app: &App, caps: &Capabilities, sharing: &Sharing) -> BTreeSet<ShimNeed> {
    let mut needs = BTreeSet::new();
    if sharing.socket.is_some() {
        needs.insert(ShimNeed::Socket);
    }
    if app.increment_var.is_some() && sharing.templated {
        needs.insert(ShimNeed::IncrementVar);
    }
    if app.wait_ready {
        needs.insert(ShimNeed::Readiness);
    }
    if app.stop.with_message {
        needs.insert(ShimNeed::ShutdownMessage);
    }
    if !caps.stop_signal {
        needs.insert(ShimNeed::StopSignal);
    }
    if !caps.memory_limit && app.max_memory_bytes.is_some() {
        needs.insert(ShimNeed::MemoryWatchdog);
    }
    needs
}

/// Where the shim keeps this app's pid and status files, if the manager needs them: apart for
/// each user the apps run as (system scope), so one user's app cannot touch another's.
pub(super) fn state_dir(
    caps: &Capabilities,
    target: &Target,
    user: Option<&str>,
) -> Option<PathBuf> {
    let dir = caps.app_state_dir.as_ref()?;
    Some(match target.scope {
        Scope::User => dir.clone(),
        Scope::System => dir.join(user.unwrap_or("root")),
    })
}

/// `<dir>/<unit>.<suffix>`, or `<dir>/<unit>-<i>.<suffix>` for each instance.
fn state_file(dir: &Path, unit: &str, templated: bool, suffix: &str) -> Word {
    let base = dir.join(unit).to_string_lossy().into_owned();
    if templated {
        Word(vec![
            Part::Text(format!("{base}-")),
            Part::Instance,
            Part::Text(format!(".{suffix}")),
        ])
    } else {
        Word::text(format!("{base}.{suffix}"))
    }
}

/// `--autorestart` and PM2's restart settings, for a manager that has none of its own. Where the
/// manager restarts a job unless it exits 0 (launchd `KeepAlive {SuccessfulExit: false}`), the
/// shim that leaves a crash-looping app down exits 0; elsewhere (a kubelet) it exits with the
/// app's status. `autorestart: false` is `--max-restarts 0`, so a graceful restart (memory,
/// `rgen restart`) still restarts in place.
fn restart_options(
    app: &App,
    caps: &Capabilities,
    restart: &RestartPolicy,
) -> Vec<(&'static str, String)> {
    let mut options = vec![(opt::AUTORESTART, String::new())];
    let max_restarts = match (&restart.mode, restart.limit) {
        (RestartMode::Never, _) => 0,
        (RestartMode::Always, Some(l)) => l.max_restarts,
        // Forever's default: restart without limit.
        (RestartMode::Always, None) => u32::MAX,
    };
    if max_restarts != default::MAX_RESTARTS {
        options.push((opt::MAX_RESTARTS, max_restarts.to_string()));
    }
    if let Some(l) = restart.limit
        && l.min_uptime_ms != default::MIN_UPTIME_MS
    {
        options.push((opt::MIN_UPTIME, l.min_uptime_ms.to_string()));
    }
    // The backoff replaces restart_delay, in PM2 and in the shim alike.
    if restart.delay_ms > 0 && restart.backoff.is_none() {
        options.push((opt::RESTART_DELAY, restart.delay_ms.to_string()));
    }
    if !app.restart.stop_exit_codes.is_empty() {
        let codes: Vec<String> = app
            .restart
            .stop_exit_codes
            .iter()
            .map(i32::to_string)
            .collect();
        options.push((opt::STOP_EXIT_CODES, codes.join(",")));
    }
    if caps.restarts_unless_exit_0 {
        options.push((opt::STAY_DOWN_EXIT_CODE, "0".into()));
    }
    options
}

/// What the shim needs to know about where it runs, beyond the app's settings.
pub(super) struct Setting<'a> {
    pub target: &'a Target,
    pub caps: &'a Capabilities,
    pub needs: &'a BTreeSet<ShimNeed>,
    pub sharing: &'a Sharing,
    pub restart: &'a RestartPolicy,
    pub logs: &'a Logs,
    pub state_dir: Option<&'a Path>,
}

/// The command the manager runs: the app's argv, behind the shim and its options when needed.
pub(super) fn command(app: &App, setting: &Setting<'_>) -> Vec<Word> {
    let Setting {
        target,
        caps,
        needs,
        sharing,
        restart,
        logs,
        state_dir,
    } = *setting;
    let mut argv: Vec<Word> = Vec::new();
    if !needs.is_empty() {
        let mut push = |s: &str| argv.push(Word::text(s));
        push(&target.shim.to_string_lossy());
        push(opt::NAME);
        push(&app.name);
        if app.stop.signal != default::KILL_SIGNAL {
            push(opt::KILL_SIGNAL);
            push(&app.stop.signal);
        }
        if app.stop.timeout_ms != default::KILL_TIMEOUT_MS {
            push(opt::KILL_TIMEOUT);
            push(&app.stop.timeout_ms.to_string());
        }
        if !app.stop.treekill {
            push(opt::NO_TREEKILL);
        }
        if app.stop.with_message {
            push(opt::SHUTDOWN_WITH_MESSAGE);
        }
        let socket = sharing.socket.is_some();
        if app.wait_ready {
            push(opt::WAIT_READY);
        } else if socket && sharing.node_app {
            push(opt::READY_ON_LISTEN);
        }
        if (app.wait_ready || socket) && app.listen_timeout_ms != default::LISTEN_TIMEOUT_MS {
            push(opt::LISTEN_TIMEOUT);
            push(&app.listen_timeout_ms.to_string());
        }
        if sharing.node_app && (socket || (app.wait_ready && app.launcher.is_some())) {
            push(opt::NODE_PRELOAD);
        }
        if let Some(ready_file) = caps.ready_file {
            push(opt::READY_FILE);
            push(ready_file);
        }
        if let Some(b) = restart.backoff.as_ref().filter(|b| b.via_shim) {
            push(opt::BACKOFF_INITIAL);
            push(&b.initial_ms.to_string());
        }
        if needs.contains(&ShimNeed::Restarts) {
            for (option, value) in restart_options(app, caps, restart) {
                push(option);
                if !value.is_empty() {
                    push(&value);
                }
            }
        }
        if !caps.memory_limit
            && let Some(bytes) = app.max_memory_bytes
        {
            push(opt::MAX_MEMORY);
            push(&bytes.to_string());
        }
        // The instance variable itself is plain environment; the shim needs the number to
        // keep each instance's backoff state apart and for `increment_var` arithmetic.
        if sharing.templated {
            argv.push(Word::text(opt::INSTANCE));
            argv.push(Word(vec![Part::Instance]));
            if app.instance_var != default::INSTANCE_VAR {
                argv.push(Word::text(opt::INSTANCE_VAR));
                argv.push(Word::text(&app.instance_var));
            }
            if let Some(var) = &app.increment_var {
                argv.push(Word::text(opt::INCREMENT_VAR));
                argv.push(Word::text(var));
            }
        }
        if let Some(dir) = state_dir {
            for (option, suffix) in [(opt::PID_FILE, "pid"), (opt::STATUS_FILE, "status.json")] {
                argv.push(Word::text(option));
                argv.push(state_file(dir, &app.unit, sharing.templated, suffix));
            }
        }
        for (option, value) in &logs.shim_options {
            argv.push(Word::text(*option));
            argv.extend(value.iter().cloned());
        }
        argv.push(Word::text(END_OF_OPTIONS));
    }
    argv.extend(app.argv.iter().map(Word::text));
    argv
}
