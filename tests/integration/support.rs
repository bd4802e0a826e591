//! Shared helpers: a hermetic `rgen` command and fixture discovery.

use std::path::{Path, PathBuf};
use std::process::Command;

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn shim() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_rgen-shim"))
}

/// The search path fixtures are rendered with: system directories only, so resolved paths are the
/// same on every machine of this kind (`/usr/bin/node`, `/usr/bin/python3`, `/usr/bin/bash`).
pub const TEST_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// `rgen` with a controlled environment.
pub fn rgen() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rgen"));
    cmd.current_dir(repo())
        .env_clear()
        .env("PATH", TEST_PATH)
        .env("HOME", "/home/rgen-test")
        .env("RGEN_SHIM", shim())
        .env("NO_COLOR", "1")
        .env("LANG", "C.UTF-8")
        // Snapshots of system units are the same whoever runs the tests.
        .env("RGEN_RUN_AS", "root");
    cmd
}

/// A child process killed (and reaped) however the test ends, so none outlives it.
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("rgen runs");
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

impl Output {
    /// One text with everything a user sees, for snapshots.
    pub fn transcript(&self) -> String {
        format!(
            "exit: {}\n--- stderr\n{}--- stdout\n{}",
            self.code, self.stderr, self.stdout
        )
    }
}

/// insta settings that hide machine-specific paths.
pub fn settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.set_snapshot_path(repo().join("tests/snapshots"));
    s.set_prepend_module_to_snapshot(false);
    s.add_filter(&regex_escape(&shim().to_string_lossy()), "[SHIM]");
    // Run from a checkout a user owns, system units get the root-owned copy instead.
    s.add_filter(r"/usr/local/lib/rgen/rgen-shim", "[SHIM]");
    s.add_filter(&regex_escape(&repo().to_string_lossy()), "[REPO]");
    // A checkout under /tmp puts the shim there, and strict hardening binds it read-only so the
    // private /tmp does not hide it; from anywhere else the line is absent.
    s.add_filter(r#"BindReadOnlyPaths="-\[SHIM\]"\n"#, "");
    // launchd's per-user domain names the uid running the tests.
    // SAFETY: getuid has no preconditions.
    let uid = unsafe { libc::getuid() };
    s.add_filter(&format!(r"\b(gui|user)/{uid}\b"), "$1/[UID]");
    s
}

fn regex_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            if "\\.+*?()|[]{}^$#&-~".contains(c) {
                vec!['\\', c]
            } else {
                vec![c]
            }
        })
        .collect()
}

/// Every fixture directory under `tests/fixtures/ecosystems`, with its ecosystem file.
pub fn fixtures() -> Vec<(String, PathBuf)> {
    let root = repo().join("tests/fixtures/ecosystems");
    let mut out: Vec<(String, PathBuf)> = std::fs::read_dir(&root)
        .expect("fixtures exist")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            ecosystem_file(&e.path()).map(|f| (name, f))
        })
        .collect();
    for example in ["azak", "cluster", "forever"] {
        let dir = repo().join("examples").join(example);
        if let Some(f) = ecosystem_file(&dir) {
            out.push((format!("example-{example}"), f));
        }
    }
    out.sort();
    out
}

pub fn ecosystem_file(dir: &Path) -> Option<PathBuf> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| {
            n.starts_with("ecosystem.")
                || n == "rgen.toml"
                || n.starts_with("forever")
                || n == "process.json"
                || n == "pm2.json"
        })
        .collect();
    names.sort();
    names.first().map(|n| dir.join(n))
}

/// The targets every fixture is rendered for.
pub const TARGETS: &[(&str, &[&str])] = &[
    (
        "systemd-system",
        &["--systemd", "--system", "--systemd-version", "252"],
    ),
    (
        "systemd-user",
        &["--systemd", "--user", "--systemd-version", "252"],
    ),
    ("launchd-user", &["--launchd", "--user"]),
    // A node's CPU count stands in for this machine's (`instances: 'max'`).
    ("kubernetes", &["--kubernetes", "--cpus-per-node", "2"]),
];
