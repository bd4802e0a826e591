//! Groups `stop` and `readiness`: `kill_signal`, `kill_timeout`, `treekill`,
//! `shutdown_with_message`; `wait_ready`, `listen_timeout`.

use crate::model::fields::Fields;
use crate::model::{Stop, values};
use crate::shim_protocol::default;

pub(crate) fn read(f: &mut Fields<'_>) -> Stop {
    let signal = match f.string("kill_signal") {
        Some(s) => match values::normalize_signal(&s) {
            Some(sig) => sig,
            None => {
                f.fail(
                    "kill_signal",
                    format!("unknown signal {s:?}"),
                    Some("use a name such as SIGINT or SIGTERM".into()),
                );
                default::KILL_SIGNAL.into()
            }
        },
        None => default::KILL_SIGNAL.into(),
    };
    Stop {
        signal,
        timeout_ms: f.millis("kill_timeout").unwrap_or(default::KILL_TIMEOUT_MS),
        treekill: f.boolean("treekill").unwrap_or(true),
        with_message: f.boolean("shutdown_with_message").unwrap_or(false),
    }
}

/// `(wait_ready, listen_timeout)`.
pub(crate) fn readiness(f: &mut Fields<'_>) -> (bool, u64) {
    let wait_ready = f.boolean("wait_ready").unwrap_or(false);
    let listen_timeout_ms = f
        .millis("listen_timeout")
        .unwrap_or(default::LISTEN_TIMEOUT_MS);
    (wait_ready, listen_timeout_ms)
}
