//! Readiness and stop (groups `readiness` and `stop`): when the manager counts the app as
//! started, and how it stops it. With the shim in front, the manager waits for the shim's
//! `READY=1` and signals only the shim, which stops the app PM2's way.

use std::collections::BTreeSet;

use super::instances::Sharing;
use super::{Readiness, RestartPolicy, ShimNeed, StopPlan};
use crate::model::App;
use crate::target::Capabilities;

/// Extra time the manager allows beyond the shim's own stop timeout before it SIGKILLs.
const SHIM_STOP_MARGIN_MS: u64 = 2000;
/// How long past `listen_timeout` and the backoff wait the manager waits for `READY=1`.
const READY_MARGIN_MS: u64 = 30_000;

pub(super) fn plan(
    app: &App,
    caps: &Capabilities,
    needs: &BTreeSet<ShimNeed>,
    restart: &RestartPolicy,
    sharing: &Sharing,
) -> Readiness {
    let ready_timeout = if app.wait_ready || sharing.socket.is_some() {
        app.listen_timeout_ms
    } else {
        0
    };
    let backoff_wait = restart
        .backoff
        .as_ref()
        .filter(|b| b.via_shim)
        .map(|b| b.max_ms)
        .unwrap_or(0);
    if !needs.is_empty() && caps.notify_readiness {
        Readiness::Notify {
            timeout_ms: ready_timeout
                .saturating_add(backoff_wait)
                .saturating_add(READY_MARGIN_MS),
        }
    } else {
        Readiness::Started
    }
}

pub(super) fn stop(app: &App, needs: &BTreeSet<ShimNeed>) -> StopPlan {
    let shimmed = !needs.is_empty();
    StopPlan {
        signal: app.stop.signal.clone(),
        timeout_ms: if shimmed {
            app.stop.timeout_ms.saturating_add(SHIM_STOP_MARGIN_MS)
        } else {
            app.stop.timeout_ms
        },
        // With the shim, the manager signals only the shim, which signals the app's process group.
        tree: app.stop.treekill && !shimmed,
    }
}
