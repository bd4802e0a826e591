//! Properties every loader target checks on what it got back.

use rgen::diag::{BadInput, Problems};
use rgen::load::RawEcosystem;
use serde_json::Value;

/// The loader's nesting limit (`src/load/limits.rs`).
const MAX_DEPTH: usize = 64;

/// A load either yields apps whose values respect the limits, or errors that name the file.
pub fn check_load(result: Result<(RawEcosystem, Problems), BadInput>) {
    match result {
        Ok((raw, report)) => {
            assert!(!raw.apps.is_empty(), "a loaded file has at least one app");
            assert!(report.errors.is_empty());
            for app in &raw.apps {
                for entry in &app.entries {
                    assert!(depth(&entry.value) < MAX_DEPTH, "{}", entry.written);
                }
            }
        }
        Err(bad) => {
            assert!(!bad.errors.is_empty(), "an error says what is wrong");
            for e in &bad.errors {
                assert!(
                    e.origin.file.starts_with("/nonexistent/fuzz"),
                    "an error names the file: {e:?}"
                );
                assert!(!e.message.is_empty());
            }
        }
    }
}

fn depth(v: &Value) -> usize {
    match v {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}
