//! `--status-file`: the shim's state (launching, online, waiting to restart, …) as a small JSON
//! file, for whoever watches the shim from outside. rgen itself does not pass it today (`status`
//! reads the manager and the process table); the shim's tests observe its states through it.

use std::fs;
use std::path::PathBuf;

use crate::sys;

#[derive(Clone, Copy)]
pub enum LastExit {
    Code(i32),
    Signal(i32),
}

pub struct StatusFile {
    path: PathBuf,
    restarts: u64,
    unstable_restarts: u32,
    /// Raw JSON of the previous run's exit, until this run's is known.
    last_exit: String,
}

pub struct Snapshot {
    pub state: &'static str,
    pub pid: Option<libc::pid_t>,
    pub started_at_unix_ms: Option<u64>,
    pub ready: bool,
}

impl StatusFile {
    /// Every shim start after the first counts as a restart (PM2's ↺ counts manual restarts too).
    pub fn load(path: PathBuf) -> StatusFile {
        let (restarts, last_exit) = match fs::read_to_string(&path) {
            Ok(prev) => (
                field(&prev, "restarts")
                    .and_then(|v| v.parse::<u64>().ok())
                    .map_or(0, |n| n + 1),
                field(&prev, "last_exit")
                    .filter(|v| valid_exit(v))
                    .unwrap_or("null")
                    .to_owned(),
            ),
            Err(_) => (0, "null".to_owned()),
        };
        StatusFile {
            path,
            restarts,
            unstable_restarts: 0,
            last_exit,
        }
    }

    /// The shim started the app again itself (`--autorestart`).
    pub fn count_restart(&mut self) {
        self.restarts += 1;
    }

    pub fn set_unstable_restarts(&mut self, n: u32) {
        self.unstable_restarts = n;
    }

    pub fn set_last_exit(&mut self, e: LastExit) {
        self.last_exit = match e {
            LastExit::Code(c) => format!("{{\"code\":{c}}}"),
            LastExit::Signal(s) => format!("{{\"signal\":{s}}}"),
        };
    }

    pub fn write(&self, s: &Snapshot) {
        let opt = |v: Option<String>| v.unwrap_or_else(|| "null".into());
        let json = format!(
            "{{\"name\":{},\"state\":\"{}\",\"pid\":{},\"started_at_unix_ms\":{},\"restarts\":{},\"unstable_restarts\":{},\"last_exit\":{},\"ready\":{}}}\n",
            json_string(sys::name()),
            s.state,
            opt(s.pid.map(|p| p.to_string())),
            opt(s.started_at_unix_ms.map(|t| t.to_string())),
            self.restarts,
            self.unstable_restarts,
            self.last_exit,
            s.ready
        );
        if let Err(e) = sys::replace_file(&self.path, json.as_bytes()) {
            sys::say!(
                "cannot write status file `{}`: {}",
                self.path.display(),
                sys::err_text(&e)
            );
        }
    }
}

/// The raw value of a top-level scalar or flat object field in the file we wrote ourselves.
fn field<'a>(json: &'a str, key: &str) -> Option<&'a str> {
    let start = json.find(&format!("\"{key}\":"))? + key.len() + 3;
    let rest = &json[start..];
    let end = if rest.starts_with('{') {
        rest.find('}')? + 1
    } else {
        rest.find([',', '}'])?
    };
    Some(rest[..end].trim())
}

/// The previous value is copied verbatim into new JSON, so only our own shapes pass.
fn valid_exit(v: &str) -> bool {
    let number = |n: &str| {
        let digits = n.strip_prefix('-').unwrap_or(n);
        !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
    };
    v == "null"
        || ["{\"code\":", "{\"signal\":"].iter().any(|p| {
            v.strip_prefix(p)
                .and_then(|r| r.strip_suffix('}'))
                .is_some_and(number)
        })
}

fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::{field, valid_exit};

    #[test]
    fn reads_back_what_it_writes() {
        let json = r#"{"name":"a","state":"exited","pid":null,"started_at_unix_ms":5,"restarts":3,"last_exit":{"signal":9},"ready":false}"#;
        assert_eq!(field(json, "restarts"), Some("3"));
        assert_eq!(field(json, "last_exit"), Some(r#"{"signal":9}"#));
        assert!(valid_exit(r#"{"code":-1}"#));
        assert!(!valid_exit(r#"{"code":1,"x":2}"#));
        assert!(!valid_exit("{garbage"));
    }
}
