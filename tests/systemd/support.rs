//! Helpers for scenarios that run inside the container.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use rgen::backend::systemd::dbus::{Client as Systemd, Properties, prop_str, prop_u32, prop_u64};
use rgen::target::Scope;

#[path = "../common/follower.rs"]
mod follower;
pub use follower::Follower;

pub type TestResult = Result<(), String>;

/// The search path apps and rgen see: system directories only.
pub const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A fresh directory for one scenario. It lives in the container's overlay, so nothing reaches
/// the host and every scenario starts clean.
pub fn workdir(name: &str) -> PathBuf {
    let dir = PathBuf::from("/var/tmp/rgen-it").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the scenario directory");
    dir
}

pub fn write(path: &Path, text: &str) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    std::fs::write(path, text).expect("write");
}

pub fn write_exec(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt as _;
    write(path, text);
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    pub fn ok(&self) -> Result<&Self, String> {
        if self.code == 0 {
            Ok(self)
        } else {
            Err(format!(
                "rgen exited {}:\n{}\n{}",
                self.code, self.stdout, self.stderr
            ))
        }
    }
}

/// `daemon-reload` re-reads units and with them their start-limit counters, so a scenario that
/// counts starts holds this exclusively while the other scenarios' installs wait.
pub static MANAGER_RELOADS: std::sync::RwLock<()> = std::sync::RwLock::new(());

pub fn rgen_env(args: &[&str], dir: &Path, env: &[(&str, &str)]) -> Out {
    let _shared = if matches!(args.first(), Some(&"install") | Some(&"uninstall")) {
        Some(MANAGER_RELOADS.read().unwrap_or_else(|e| e.into_inner()))
    } else {
        None
    };
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rgen"));
    cmd.args(args)
        .current_dir(dir)
        .env("PATH", PATH)
        .env("RGEN_SHIM", env!("CARGO_BIN_EXE_rgen-shim"))
        .env("NO_COLOR", "1")
        // The scenarios' files are root's; their apps run as root, as they say.
        .env("RGEN_RUN_AS", "root")
        .env_remove("SUDO_USER");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run rgen");
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

pub fn rgen(args: &[&str], dir: &Path) -> Out {
    rgen_env(args, dir, &[])
}

pub fn status_json(
    dir: &Path,
    scope_flag: &str,
    env: &[(&str, &str)],
) -> Result<serde_json::Value, String> {
    let out = rgen_env(&["status", "--json", scope_flag], dir, env);
    out.ok()?;
    serde_json::from_str(&out.stdout)
        .map_err(|e| format!("status --json is not JSON ({e}): {}", out.stdout))
}

pub fn app_json<'a>(
    status: &'a serde_json::Value,
    name: &str,
) -> Result<&'a serde_json::Value, String> {
    status["apps"]
        .as_array()
        .and_then(|apps| apps.iter().find(|a| a["name"] == name))
        .ok_or_else(|| format!("`{name}` missing from status: {status}"))
}

pub fn system() -> Systemd {
    Systemd::connect(Scope::System, rgen::backend::systemd::dbus::Traffic::Few)
        .expect("the system manager answers on D-Bus")
}

/// Unit and service properties of one unit, straight from the manager.
pub fn props(sd: &Systemd, unit: &str) -> Result<Properties, String> {
    let listed = sd
        .units_by_name(&[unit.to_string()])
        .map_err(|e| e.to_string())?;
    let u = listed.first().ok_or_else(|| format!("{unit} not listed"))?;
    Ok(sd
        .properties(
            std::slice::from_ref(&u.path),
            &[
                "org.freedesktop.systemd1.Unit",
                "org.freedesktop.systemd1.Service",
            ],
        )
        .map_err(|e| e.to_string())?
        .pop()
        .unwrap_or_default())
}

pub fn active_state(sd: &Systemd, unit: &str) -> String {
    props(sd, unit)
        .ok()
        .and_then(|p| prop_str(&p, "ActiveState"))
        .unwrap_or_default()
}

pub fn main_pid(sd: &Systemd, unit: &str) -> u32 {
    props(sd, unit)
        .ok()
        .and_then(|p| prop_u32(&p, "MainPID"))
        .unwrap_or(0)
}

pub fn n_restarts(sd: &Systemd, unit: &str) -> u32 {
    props(sd, unit)
        .ok()
        .and_then(|p| prop_u32(&p, "NRestarts"))
        .unwrap_or(0)
}

pub fn u64_prop(sd: &Systemd, unit: &str, key: &str) -> Option<u64> {
    props(sd, unit).ok().and_then(|p| prop_u64(&p, key))
}

/// Polls until `check` gives a value or the deadline passes.
pub fn poll<T>(
    what: &str,
    timeout: Duration,
    mut check: impl FnMut() -> Option<T>,
) -> Result<T, String> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return Ok(v);
        }
        if Instant::now() > deadline {
            return Err(format!("timed out after {timeout:?} waiting for {what}"));
        }
        std::thread::sleep(Duration::from_millis(50)); // poll interval
    }
}

pub fn http_get(port: u16) -> Option<String> {
    use std::io::{Read as _, Write as _};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n").ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    buf.split_once("\r\n\r\n").map(|(_, body)| body.to_string())
}

pub fn check(cond: bool, msg: impl FnOnce() -> String) -> TestResult {
    if cond { Ok(()) } else { Err(msg()) }
}

/// Every file in the unit directory carrying rgen's marker.
pub fn rgen_files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| {
                    p.is_file() && std::fs::read(p).is_ok_and(|b| rgen::backend::is_generated(&b))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Enable symlinks anywhere under the unit directory that point at `needle`.
pub fn links_to(dir: &Path, needle: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for d in rd
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_dir())
    {
        for l in std::fs::read_dir(&d)
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok())
            .map(|e| e.path())
        {
            if l.file_name()
                .is_some_and(|n| n.to_string_lossy().contains(needle))
            {
                out.push(l);
            }
        }
    }
    out
}

/// Processes whose command line mentions `needle`.
pub fn processes_mentioning(needle: &str) -> Vec<u32> {
    let me = std::process::id();
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_string_lossy().parse::<u32>().ok())
        .filter(|&pid| pid != me)
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(needle))
        })
        .collect()
}

/// `rgen ARGS` in `dir`, its output followed line by line.
pub fn follow_rgen(args: &[&str], dir: &Path) -> Result<Follower, String> {
    Follower::spawn(
        Command::new(env!("CARGO_BIN_EXE_rgen"))
            .args(args)
            .current_dir(dir)
            .env("PATH", PATH)
            .env("NO_COLOR", "1"),
    )
}
