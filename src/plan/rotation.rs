//! Log rotation (`log_rotate`, group `logs`): the shim's options for the app's rotation
//! settings. No service manager rotates the files it writes (systemd's `append:` and launchd's
//! paths stay open for the job's life), so a rotated log is always written by the shim, which
//! renames it between two writes and loses nothing. Options equal to the shim's defaults
//! (`shim_protocol::default`) are left out.

use super::Word;
use crate::model::{Rotation, format_size};
use crate::shim_protocol::{default, opt};

/// `(option, value)`; a flag has no value.
pub(super) fn shim_options(rotation: &Rotation) -> Vec<(&'static str, Option<Word>)> {
    let mut out: Vec<(&'static str, Option<Word>)> = Vec::new();
    let mut push =
        |option: &'static str, value: String| out.push((option, Some(Word::text(value))));
    if let Some(bytes) = rotation.max_size {
        push(opt::LOG_MAX_SIZE, format_size(bytes));
    }
    if let Some(cron) = &rotation.interval {
        push(opt::LOG_ROTATE_INTERVAL, cron.clone());
    }
    if rotation.retain != Some(default::LOG_RETAIN) {
        push(
            opt::LOG_RETAIN,
            rotation
                .retain
                .map_or_else(|| "all".to_string(), |n| n.to_string()),
        );
    }
    if rotation.date_format != default::LOG_ROTATE_DATE_FORMAT {
        push(opt::LOG_ROTATE_DATE_FORMAT, rotation.date_format.clone());
    }
    let worker_ms = rotation.worker_interval_s.saturating_mul(1000);
    // Without a schedule the worker interval plays no part in the shim.
    if rotation.interval.is_some() && worker_ms != default::LOG_WORKER_INTERVAL_MS {
        push(opt::LOG_WORKER_INTERVAL, worker_ms.to_string());
    }
    if rotation.compress {
        out.push((opt::LOG_COMPRESS, None));
    }
    out
}
