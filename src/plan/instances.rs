//! Instances and ports (group `instances`): how many copies run, and whether the manager holds
//! the listening socket so instances share it and restarts refuse no connection.

use super::{Instances, SocketPlan};
use crate::diag::Problems;
use crate::model::resolve::InterpreterKind;
use crate::model::{App, ExecMode};
use crate::target::{Capabilities, Target};

/// How an app's copies share the work.
pub(super) struct Sharing {
    pub templated: bool,
    pub instances: Option<Instances>,
    pub socket: Option<SocketPlan>,
    /// Node runs the app (directly or behind npm/yarn), so the preload can hand it the socket.
    pub node_app: bool,
}

pub(super) fn plan(
    app: &App,
    target: &Target,
    caps: &Capabilities,
    problems: &mut Problems,
) -> Option<Sharing> {
    let templated = app.is_templated();
    let node_app = matches!(app.interpreter.kind, InterpreterKind::Node) || app.launcher.is_some();
    let instances = templated.then(|| Instances {
        count: app.instances.resolve(target.cpus),
        requested: app.instances.as_written(),
    });
    let several = instances.as_ref().is_some_and(|i| i.count > 1);
    if app.mode == ExecMode::Cluster && !caps.socket_activation && !caps.balances_instances {
        if app.port.is_some() && several {
            problems
                .error(
                    app.origin_of("exec_mode"),
                    "cluster mode on launchd: launchd cannot share one port between several jobs",
                )
                .hint("use `instances: 1` on macOS (or fork mode with a port per instance via `increment_var: 'PORT'`)");
            return None;
        }
        super::warnings::announce_key(app, target, "exec_mode", problems);
    }
    let socket = match (app.port, app.mode) {
        (Some(port), ExecMode::Cluster) if caps.socket_activation => Some(SocketPlan { port }),
        // A single Node app with a known port keeps its socket in the manager across restarts.
        (Some(port), ExecMode::Fork)
            if caps.socket_activation && !templated && node_app && app.launcher.is_none() =>
        {
            Some(SocketPlan { port })
        }
        _ => None,
    };
    Some(Sharing {
        templated,
        instances,
        socket,
        node_app,
    })
}
