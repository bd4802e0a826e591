//! Restart policy (group `restart`): `autorestart`, `stop_exit_codes`, `restart_delay`, PM2's
//! exponential backoff, and `min_uptime`/`max_restarts` as a start limit.

use std::collections::BTreeSet;

use super::{Backoff, RestartMode, RestartPolicy, ShimNeed};
use crate::diag::{Problems, WarningKind};
use crate::model::App;
use crate::shim_protocol::default::BACKOFF_CAP_MS;
use crate::target::Capabilities;

pub(super) fn policy(
    app: &App,
    caps: &Capabilities,
    needs: &mut BTreeSet<ShimNeed>,
    problems: &mut Problems,
) -> RestartPolicy {
    let limit = app.restart.limit;
    let never = !app.restart.autorestart || limit.is_some_and(|l| l.max_restarts == 0);
    let backoff = app.restart.exp_backoff_ms.map(|initial| {
        let via_shim = !caps.native_backoff;
        if via_shim {
            needs.insert(ShimNeed::Backoff);
        } else {
            problems.warn(
                WarningKind::BackoffApproximated,
                app.origin_of("exp_backoff_restart_delay"),
                "`exp_backoff_restart_delay` becomes `RestartSteps=`/`RestartMaxDelaySec=`: systemd grows the delay geometrically to 15 s (PM2: ×1.5, reset after 30 s up)",
            );
        }
        Backoff {
            initial_ms: initial,
            max_ms: BACKOFF_CAP_MS.max(initial),
            steps: backoff_steps(initial),
            via_shim,
        }
    });
    let limit_key = ["max_restarts", "min_uptime"]
        .into_iter()
        .find(|k| app.keys_used.iter().any(|(s, _)| s.name == *k));
    if let Some(key) = limit_key
        && limit.is_some()
        && caps.start_limit
    {
        problems.warn(
            WarningKind::StartLimit,
            app.origin_of(key),
            "`min_uptime`/`max_restarts` become `StartLimitIntervalSec=` (min_uptime × max_restarts) and `StartLimitBurst=` (max_restarts) in `[Unit]`",
        );
    }
    if !caps.any_exit_code_stops_restarts && app.restart.stop_exit_codes.iter().any(|&c| c != 0) {
        problems.warn(
            WarningKind::LaunchdExitCodes,
            app.origin_of("stop_exit_codes"),
            "`stop_exit_codes`: launchd can only keep a job down after exit code 0; the other codes restart it",
        );
    }
    if !caps.restarts_like_pm2 && !never {
        needs.insert(ShimNeed::Restart);
    }
    RestartPolicy {
        mode: if never {
            RestartMode::Never
        } else {
            RestartMode::Always
        },
        prevent_exit_codes: app.restart.stop_exit_codes.clone(),
        delay_ms: app.restart.delay_ms.unwrap_or(0),
        backoff,
        start_limit: limit.map(|l| {
            (
                l.min_uptime_ms.saturating_mul(u64::from(l.max_restarts)),
                l.max_restarts,
            )
        }),
    }
}

/// Steps for `RestartSteps=` so that systemd's geometric series from `initial` reaches 15 s about
/// when PM2's ×1.5 series does.
pub fn backoff_steps(initial_ms: u64) -> u32 {
    if initial_ms == 0 || initial_ms >= BACKOFF_CAP_MS {
        return 1;
    }
    let ratio = BACKOFF_CAP_MS as f64 / initial_ms as f64;
    (ratio.ln() / 1.5f64.ln()).ceil().max(1.0) as u32
}

/// PM2's own sequence of delays (`lib/God.js`), for documentation and tests.
pub fn pm2_backoff_sequence(initial_ms: u64, n: usize) -> Vec<u64> {
    let mut out = Vec::with_capacity(n);
    let mut prev = 0u64;
    for _ in 0..n {
        prev = if prev == 0 {
            initial_ms
        } else {
            ((prev as f64 * 1.5).min(BACKOFF_CAP_MS as f64)).floor() as u64
        };
        out.push(prev);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pm2_backoff_matches_pm2() {
        assert_eq!(
            pm2_backoff_sequence(100, 15),
            [
                100, 150, 225, 337, 505, 757, 1135, 1702, 2553, 3829, 5743, 8614, 12921, 15000,
                15000
            ]
        );
    }

    #[test]
    fn systemd_steps_reach_the_cap_with_pm2() {
        assert_eq!(backoff_steps(100), 13);
        assert_eq!(backoff_steps(15_000), 1);
    }
}
