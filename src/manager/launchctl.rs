//! launchd through `launchctl`, the only interface Apple offers. Every call goes through one small
//! runner so tests can put a recording fake on PATH. `launchctl print` output is "NOT API" (its
//! man page): it is parsed defensively — only top-level `key = value` lines, unknown states are
//! transitional, and exit codes are trusted over text. No `cfg(target_os)`: this compiles and is
//! tested on Linux.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, Result};

/// The exit code `launchctl` returns for "Could not find service".
pub const NOT_FOUND: i32 = 113;

#[derive(Clone, Debug)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn ok(&self) -> bool {
        self.code == 0
    }

    /// Both streams, for messages (launchctl is inconsistent about which one it uses).
    pub fn text(&self) -> String {
        let mut t = self.stdout.trim().to_string();
        if !self.stderr.trim().is_empty() {
            if !t.is_empty() {
                t.push('\n');
            }
            t.push_str(self.stderr.trim());
        }
        t
    }
}

/// Runs `launchctl` (or `$RGEN_LAUNCHCTL`).
#[derive(Clone, Debug)]
pub struct Launchctl {
    program: PathBuf,
}

impl Default for Launchctl {
    fn default() -> Self {
        Launchctl {
            program: std::env::var_os("RGEN_LAUNCHCTL")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("launchctl")),
        }
    }
}

impl Launchctl {
    pub fn run(&self, args: &[&str]) -> Result<Output> {
        let out = Command::new(&self.program)
            .args(args)
            .output()
            .with_context(|| format!("cannot run `{}` (is this a Mac?)", self.program.display()))?;
        Ok(Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }

    pub fn bootstrap(&self, domain: &str, plist: &Path) -> Result<Output> {
        self.run(&["bootstrap", domain, &plist.to_string_lossy()])
    }

    pub fn bootout(&self, service: &str) -> Result<Output> {
        self.run(&["bootout", service])
    }

    pub fn enable(&self, service: &str) -> Result<Output> {
        self.run(&["enable", service])
    }

    pub fn kickstart(&self, service: &str, kill_first: bool) -> Result<Output> {
        if kill_first {
            self.run(&["kickstart", "-k", service])
        } else {
            self.run(&["kickstart", service])
        }
    }

    pub fn kill(&self, signal: &str, service: &str) -> Result<Output> {
        self.run(&["kill", signal, service])
    }

    /// `None` when the service is not loaded (exit 113).
    pub fn print(&self, service: &str) -> Result<Option<ServiceInfo>> {
        let out = self.run(&["print", service])?;
        if out.code == NOT_FOUND {
            return Ok(None);
        }
        if !out.ok() {
            anyhow::bail!(
                "`launchctl print {service}` failed ({}): {}",
                out.code,
                out.text()
            );
        }
        Ok(Some(parse_print(&out.stdout)))
    }
}

/// What `launchctl print <service>` says about a job, as far as it can be read.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ServiceInfo {
    /// `running`, `not running`, `spawn scheduled`, … (`None` if absent).
    pub state: Option<String>,
    pub pid: Option<u32>,
    /// How many times launchd started the job.
    pub runs: Option<u32>,
    pub last_exit: Option<LastExit>,
    pub program: Option<String>,
    pub path: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "value")]
pub enum LastExit {
    Never,
    Code(i32),
    Signal(String),
    /// `last exit reason = …` (ended by the system, e.g. jetsam).
    Reason(String),
}

impl ServiceInfo {
    pub fn running(&self) -> bool {
        self.state.as_deref() == Some("running") || self.pid.is_some()
    }
}

/// Nesting depth of a line: tabs, or blocks of 8 spaces where a copy turned tabs into spaces.
fn depth(line: &str) -> usize {
    let tabs = line.chars().take_while(|&c| c == '\t').count();
    if tabs > 0 {
        return tabs;
    }
    line.chars().take_while(|&c| c == ' ').count() / 8
}

pub fn parse_print(text: &str) -> ServiceInfo {
    let mut info = ServiceInfo::default();
    for line in text.lines() {
        // Nested blocks (coalitions, endpoints) repeat `state =` and `pid =`: top level only.
        if depth(line) != 1 {
            continue;
        }
        let Some((key, value)) = line.trim().split_once(" = ") else {
            continue;
        };
        let value = value.trim();
        match key {
            "state" => info.state = Some(value.to_string()),
            "pid" => info.pid = value.parse().ok(),
            "runs" => info.runs = value.parse().ok(),
            "program" => info.program = Some(value.to_string()),
            "path" => info.path = Some(value.to_string()),
            "last exit code" => {
                info.last_exit = Some(if value.starts_with("(never") {
                    LastExit::Never
                } else {
                    // `1`, `78: EX_CONFIG`: the leading integer is the code.
                    match value.split(':').next().and_then(|n| n.trim().parse().ok()) {
                        Some(code) => LastExit::Code(code),
                        None => LastExit::Reason(value.to_string()),
                    }
                })
            }
            "last terminating signal" => info.last_exit = Some(LastExit::Signal(value.to_string())),
            "last exit reason" if info.last_exit.is_none() => {
                info.last_exit = Some(LastExit::Reason(value.to_string()))
            }
            _ => {}
        }
    }
    info
}

/// `service spawned with pid: 91223` (terminal) or a bare pid (piped).
pub fn parse_kickstart_pid(text: &str) -> Option<u32> {
    text.lines().find_map(|l| {
        let l = l.trim();
        l.rsplit(' ').next().and_then(|n| n.parse().ok())
    })
}
