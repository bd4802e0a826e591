//! Group `memory`: `max_memory_restart` in PM2's grammar (`'200M'`, bytes as a number).

use serde_json::Value;

use crate::model::fields::Fields;
use crate::model::values;

pub(crate) fn read(f: &mut Fields<'_>) -> Option<u64> {
    match f.entry("max_memory_restart").map(|e| e.value.clone()) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().parse::<f64>().is_err() => {
            match values::parse_size(&s) {
                Ok(0) => {
                    f.fail(
                        "max_memory_restart",
                        "`max_memory_restart` is 0".into(),
                        Some("remove the key to run without a limit".into()),
                    );
                    None
                }
                Ok(bytes) => Some(bytes),
                Err(why) => {
                    f.fail(
                        "max_memory_restart",
                        format!("`max_memory_restart` is {s:?}, which PM2 rejects"),
                        Some(why),
                    );
                    None
                }
            }
        }
        Some(_) => match f.number("max_memory_restart") {
            Some(n) if n >= 1.0 => Some(n as u64),
            Some(n) => {
                f.fail(
                    "max_memory_restart",
                    format!("`max_memory_restart` must be a positive number of bytes, not {n}"),
                    Some("remove the key to run without a limit".into()),
                );
                None
            }
            None => None,
        },
    }
}
