//! Group `restart`: `autorestart`, `stop_exit_codes`, `restart_delay`,
//! `exp_backoff_restart_delay`, and PM2's unstable-restart limit (`min_uptime`, `max_restarts`).

use serde_json::Value;

use crate::load::Format;
use crate::model::fields::{Fields, describe};
use crate::model::{Restart, StartLimit, values};

/// PM2's defaults (`lib/API/schema.json`, `constants.js`).
pub const DEFAULT_MIN_UPTIME_MS: u64 = 1000;
pub const DEFAULT_MAX_RESTARTS: u32 = 16;

pub(crate) fn read(f: &mut Fields<'_>, format: Format) -> Restart {
    let autorestart = f.boolean("autorestart").unwrap_or(true);
    let stop_exit_codes = match f.entry("stop_exit_codes").map(|e| e.value.clone()) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| match v {
                Value::Number(n) if n.as_i64().is_some_and(|c| (0..=255).contains(&c)) => {
                    n.as_i64().map(|c| c as i32)
                }
                Value::String(s) if s.parse::<u8>().is_ok() => s.parse::<i32>().ok(),
                other => {
                    f.fail(
                        "stop_exit_codes",
                        format!("exit codes are 0-255, not {}", describe(other)),
                        None,
                    );
                    None
                }
            })
            .collect(),
        Some(_) => match f.number("stop_exit_codes") {
            Some(n) if (0.0..=255.0).contains(&n) && n.fract() == 0.0 => vec![n as i32],
            Some(n) => {
                f.fail(
                    "stop_exit_codes",
                    format!("exit codes are 0-255, not {n}"),
                    None,
                );
                Vec::new()
            }
            None => Vec::new(),
        },
    };
    let delay_ms = f.millis("restart_delay");
    let exp_backoff_ms = f.millis("exp_backoff_restart_delay").filter(|&ms| ms > 0);
    let min_uptime_ms = match f.entry("min_uptime").map(|e| e.value.clone()) {
        Some(Value::String(s)) if s.parse::<f64>().is_err() => {
            match values::parse_duration_ms(&s) {
                Ok(ms) => Some(ms),
                Err(why) => {
                    f.fail(
                        "min_uptime",
                        format!("`min_uptime` is {s:?}, which PM2 rejects"),
                        Some(why),
                    );
                    None
                }
            }
        }
        Some(_) => match f.number("min_uptime") {
            Some(n) if n < 100.0 => {
                f.fail(
                    "min_uptime",
                    format!("`min_uptime` must be at least 100 (ms), as in PM2, not {n}"),
                    None,
                );
                None
            }
            Some(n) => Some(n as u64),
            None => None,
        },
        None => None,
    };
    let max_restarts = match f.number("max_restarts") {
        Some(n) if n < 0.0 || n.fract() != 0.0 => {
            f.fail(
                "max_restarts",
                format!("`max_restarts` must be a whole number ≥ 0, not {n}"),
                None,
            );
            None
        }
        Some(n) => Some(n as u32),
        None => None,
    };
    // Forever restarts without limit unless told otherwise; PM2 defaults to 16 in 16 s.
    let limit = if format == Format::Forever {
        // Forever only stops restarting when told to (`max`, or `minUptime` without `spinSleepTime`).
        max_restarts.map(|max| StartLimit {
            min_uptime_ms: min_uptime_ms.unwrap_or(DEFAULT_MIN_UPTIME_MS),
            max_restarts: max,
        })
    } else {
        Some(StartLimit {
            min_uptime_ms: min_uptime_ms.unwrap_or(DEFAULT_MIN_UPTIME_MS),
            max_restarts: max_restarts.unwrap_or(DEFAULT_MAX_RESTARTS),
        })
    };
    Restart {
        autorestart,
        stop_exit_codes,
        delay_ms,
        exp_backoff_ms,
        limit,
    }
}
