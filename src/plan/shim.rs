//! Whether `rgen-shim` runs in front of the app and with which options: everything the manager
//! cannot do itself (see `target::Capabilities`). An option equal to the shim's default (in
//! `shim_protocol::default`) is left out, so the files stay short and both sides share one
//! source for every default.

use std::collections::BTreeSet;

use super::instances::Sharing;
use super::logs::Logs;
use super::{Part, RestartPolicy, ShimNeed, Word};
use crate::model::App;
use crate::shim_protocol::{END_OF_OPTIONS, default, opt};
use crate::target::{Capabilities, Target};

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

/// The command the manager runs: the app's argv, behind the shim and its options when needed.
pub(super) fn command(
    app: &App,
    target: &Target,
    caps: &Capabilities,
    needs: &BTreeSet<ShimNeed>,
    sharing: &Sharing,
    restart: &RestartPolicy,
    logs: &Logs,
) -> Vec<Word> {
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
        if let Some(b) = restart.backoff.as_ref().filter(|b| b.via_shim) {
            push(opt::BACKOFF_INITIAL);
            push(&b.initial_ms.to_string());
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
        for (option, value) in &logs.shim_options {
            argv.push(Word::text(*option));
            argv.extend(value.iter().cloned());
        }
        argv.push(Word::text(END_OF_OPTIONS));
    }
    argv.extend(app.argv.iter().map(Word::text));
    argv
}
