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

    /// The error number launchctl reports (`Bootstrap failed: 5: Input/output error`), which
    /// equals its exit status wherever a source showed both; read from the text first, since
    /// for some errors (36, 125) no source showed the exit status. 0 on success.
    pub fn error_number(&self) -> i32 {
        if self.ok() {
            return 0;
        }
        let text = self.text();
        text.lines()
            .find_map(|l| {
                let (_, rest) = l.split_once(" failed: ")?;
                rest.split(':').next()?.trim().parse().ok()
            })
            .unwrap_or(self.code)
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

    /// Keeps the label from loading (at login, at boot, by `bootstrap`) until `enable`; launchd
    /// remembers it across reboots.
    pub fn disable(&self, service: &str) -> Result<Output> {
        self.run(&["disable", service])
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
    // A whole record opens with `<domain>/<label> = {` (or `<label> = {` before macOS 10.15), and
    // its fields sit one level in. Without that header (a fragment), the fields are at the left.
    let header = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .is_some_and(|first| {
            depth(first) == 0
                && first.trim_end().ends_with("= {")
                && first
                    .split(" = ")
                    .next()
                    .is_some_and(|key| key.contains('/') || key.contains('.'))
        });
    let top = usize::from(header);
    for line in text.lines() {
        // Nested blocks (coalitions, endpoints) repeat `state =` and `pid =`: top level only.
        if depth(line) != top {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Real outputs, recorded from macOS and cited in tests/fixtures/launchctl/manifest.toml.
    fn fixture(name: &str) -> String {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/launchctl")
            .join(name);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    #[test]
    fn running_job_with_nested_blocks() {
        let info = parse_print(&fixture(
            "dumpstate_block_system_running_never_exited_macos26.txt",
        ));
        assert_eq!(info.state.as_deref(), Some("running"));
        assert_eq!(info.pid, Some(550));
        assert_eq!(info.runs, Some(1));
        assert_eq!(info.last_exit, Some(LastExit::Never));
        assert!(info.running());
    }

    #[test]
    fn exit_codes_signals_and_reasons() {
        let exit1 = parse_print(&fixture(
            "dumpstate_block_system_not_running_exit1_macos26.txt",
        ));
        assert_eq!(
            (exit1.state.as_deref(), exit1.pid, exit1.last_exit),
            (Some("not running"), None, Some(LastExit::Code(1)))
        );
        let killed = parse_print(&fixture(
            "dumpstate_block_system_not_running_signal9_macos26.txt",
        ));
        assert_eq!(killed.last_exit, Some(LastExit::Signal("Killed: 9".into())));
        let jetsam = parse_print(&fixture(
            "dumpstate_block_system_running_last_exit_reason_macos26.txt",
        ));
        assert!(
            matches!(jetsam.last_exit, Some(LastExit::Reason(ref r)) if r.starts_with("JETSAM"))
        );
        let ex_config = parse_print(&fixture("print_gui_fragment_ex_config.txt"));
        assert_eq!(ex_config.last_exit, Some(LastExit::Code(78)));
    }

    #[test]
    fn older_and_space_indented_outputs() {
        let ventura = parse_print(&fixture("print_system_daemon_running_ventura.txt"));
        assert_eq!(ventura.state.as_deref(), Some("running"));
        assert!(ventura.pid.is_some());
        // 10.14, pasted with 8 spaces per level instead of tabs.
        let mojave = parse_print(&fixture("print_system_daemon_running_mojave_truncated.txt"));
        assert_eq!(mojave.state.as_deref(), Some("running"));
        let scheduled = parse_print(&fixture("print_gui_fragment_spawn_scheduled_annotated.txt"));
        assert_eq!(scheduled.state.as_deref(), Some("spawn scheduled"));
        assert!(!scheduled.running());
    }

    #[test]
    fn error_numbers_come_from_the_text() {
        let output = |code, name: &str| Output {
            code,
            stdout: String::new(),
            stderr: fixture(name),
        };
        assert_eq!(
            output(1, "bootout_in_progress_36_catalina_beta.txt").error_number(),
            36
        );
        assert_eq!(
            output(5, "bootstrap_eio_root_hint_ventura.txt").error_number(),
            5
        );
        assert_eq!(
            output(119, "bootstrap_disabled_119_root.txt").error_number(),
            119
        );
        assert_eq!(
            output(113, "kickstart_not_found_gui.txt").error_number(),
            113
        );
        assert_eq!(output(0, "bootout_success_silent.txt").error_number(), 0);
    }

    #[test]
    fn kickstart_pid() {
        assert_eq!(
            parse_kickstart_pid(&fixture("kickstart_p_service_spawned.txt")),
            Some(91223)
        );
        assert_eq!(parse_kickstart_pid("4242\n"), Some(4242));
    }
}
