//! Typed access to one app's entries. Every bad value becomes an error naming the key as the user
//! wrote it (`apps[1].maxMemoryRestart`); the group readers only ask for the type they need.

use serde_json::Value;

use super::text::{Shape, problem};
use super::values;
use crate::diag::{Origin, Problems};
use crate::load::{RawApp, RawEntry, kind};

/// Typed access to one app's entries; every bad value becomes an error naming the key.
pub(crate) struct Fields<'a> {
    pub raw: &'a RawApp,
    pub origin: Origin,
    pub report: &'a mut Problems,
}

impl Fields<'_> {
    pub fn entry(&self, key: &str) -> Option<&RawEntry> {
        self.raw.get(key)
    }

    /// The key as the user spelled it (an alias, camelCase, a Forever name).
    pub fn written(&self, key: &str) -> String {
        self.entry(key)
            .map(|e| e.written.clone())
            .unwrap_or_else(|| key.to_string())
    }

    pub fn origin_of(&self, key: &str) -> Origin {
        let written = self.entry(key).map(|e| e.written.as_str()).unwrap_or(key);
        self.origin.with_key(self.raw.key_path(written))
    }

    pub fn fail(&mut self, key: &str, message: String, hint: Option<String>) {
        let origin = self.origin_of(key);
        let e = self.report.error(origin, message);
        if let Some(h) = hint {
            e.hint(h);
        }
    }

    pub fn present(&self, key: &str) -> bool {
        self.entry(key).is_some_and(|e| !e.value.is_null())
    }

    pub fn string(&mut self, key: &str) -> Option<String> {
        let value = self.entry(key)?.value.clone();
        match value {
            Value::Null => None,
            Value::String(s) => Some(s),
            other => {
                let written = self.written(key);
                self.fail(
                    key,
                    format!("`{written}` must be a string, not {}", kind(&other)),
                    None,
                );
                None
            }
        }
    }

    pub fn boolean(&mut self, key: &str) -> Option<bool> {
        let value = self.entry(key)?.value.clone();
        match value {
            Value::Null => None,
            Value::Bool(b) => Some(b),
            other => {
                let written = self.written(key);
                let hint = match other.as_str() {
                    Some("true") | Some("false") => Some(format!(
                        "write {} without quotes",
                        other.as_str().unwrap_or_default()
                    )),
                    _ => None,
                };
                self.fail(
                    key,
                    format!("`{written}` must be true or false, not {}", kind(&other)),
                    hint,
                );
                None
            }
        }
    }

    /// A number, or a string that is one (PM2 parses numeric strings for number keys).
    pub fn number(&mut self, key: &str) -> Option<f64> {
        let value = self.entry(key)?.value.clone();
        let written = self.written(key);
        match &value {
            Value::Null => None,
            Value::Number(n) => n.as_f64(),
            Value::String(s) if s.trim().parse::<f64>().is_ok() => s.trim().parse().ok(),
            other => {
                self.fail(
                    key,
                    format!("`{written}` must be a number, not {}", describe(other)),
                    None,
                );
                None
            }
        }
    }

    pub fn millis(&mut self, key: &str) -> Option<u64> {
        let n = self.number(key)?;
        if n < 0.0 || n.fract() != 0.0 {
            let written = self.written(key);
            self.fail(
                key,
                format!(
                    "`{written}` must be a whole, non-negative number of milliseconds, not {n}"
                ),
                None,
            );
            return None;
        }
        Some(n as u64)
    }

    /// A string that must also fit `shape` (see `text`); an unfit one is reported and dropped.
    pub fn shaped(&mut self, key: &str, shape: Shape) -> Option<String> {
        let value = self.string(key)?;
        self.fits(key, &value, shape).then_some(value)
    }

    /// Reports `value` (of `key`) if it cannot be used as `shape`.
    pub fn fits(&mut self, key: &str, value: &str, shape: Shape) -> bool {
        match problem(value, shape) {
            None => true,
            Some((why, hint)) => {
                let written = self.written(key);
                self.fail(key, format!("`{written}` {why}"), Some(hint));
                false
            }
        }
    }

    /// PM2 splits a string shell-like when the key also takes a list.
    pub fn words(&mut self, key: &str) -> Option<Vec<String>> {
        let value = self.entry(key)?.value.clone();
        match value {
            Value::Null => None,
            Value::String(s) => Some(values::split_args(&s)),
            Value::Array(items) => Some(items.iter().map(scalar_to_string).collect()),
            Value::Number(_) | Value::Bool(_) => Some(vec![scalar_to_string(&value)]),
            other => {
                let written = self.written(key);
                self.fail(
                    key,
                    format!(
                        "`{written}` must be a string or a list, not {}",
                        kind(&other)
                    ),
                    None,
                );
                None
            }
        }
    }
}

pub fn describe(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        other => kind(other).to_string(),
    }
}

/// How PM2 (Node) turns an env value into a string.
pub fn scalar_to_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    }
}
