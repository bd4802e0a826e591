//! Every rendered unit passes systemd's own `systemd-analyze verify` with nothing on stderr
//! (verify exits 0 on mere warnings such as unknown keys, so stderr is what proves a unit clean).

use std::path::Path;
use std::process::Command;

use crate::support::{TARGETS, fixtures, rgen, run};

#[test]
fn every_unit_passes_systemd_analyze_verify() {
    let mut checked = 0;
    for (name, file) in fixtures() {
        for (target, flags) in TARGETS.iter().filter(|(t, _)| t.starts_with("systemd")) {
            // Units are verified by the systemd they are rendered for: this machine's. (Units for
            // systemd ≥ 254 are verified inside a Debian 13 container by tests/systemd.)
            let installed = rgen::settings::installed_systemd_version().to_string();
            for version in [installed.as_str()] {
                let dir = tempfile::tempdir().unwrap();
                let mut flags = flags.to_vec();
                let last = flags.len() - 1;
                flags[last] = version;
                let out = run(rgen()
                    .arg("render")
                    .arg(&file)
                    .args(&flags)
                    .arg("--out")
                    .arg(dir.path()));
                if out.code != 0 {
                    // Fixtures that are errors for a target are covered by the snapshots.
                    continue;
                }
                let stderr = verify(dir.path(), *target == "systemd-user");
                assert!(
                    stderr.is_empty(),
                    "{name} ({target}, systemd {version}): systemd-analyze verify complained:\n{stderr}"
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 15, "only {checked} renders were verified");
}

/// Runs `systemd-analyze verify` on every unit in `dir` (template units as instance 0) and
/// returns its stderr.
pub fn verify(dir: &Path, user: bool) -> String {
    let mut units: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        // Environment files are read by the units, not units themselves.
        .filter(|n| !n.ends_with(".env"))
        .map(|n| n.replace("@.service", "@0.service"))
        .map(|n| format!("./{n}"))
        .collect();
    units.sort();
    let runtime = tempfile::tempdir().unwrap();
    let script = format!(
        "{} systemd-analyze {} verify --man=no {}",
        if is_root() {
            "mount -t tmpfs tmpfs /run/systemd &&"
        } else {
            ""
        },
        if user { "--user" } else { "" },
        units.join(" ")
    );
    let mut cmd = if is_root() {
        // verify touches /run/systemd/systemd-units-load; keep the host's /run untouched.
        let mut c = Command::new("unshare");
        c.args(["-m", "sh", "-c", &script]);
        c
    } else {
        let mut c = Command::new("sh");
        c.args(["-c", &script]);
        c
    };
    let out = cmd
        .current_dir(dir)
        .env("XDG_RUNTIME_DIR", runtime.path())
        .env("SYSTEMD_LOG_LEVEL", "notice")
        .output()
        .expect("systemd-analyze runs (it ships with systemd)");
    let mut stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() && stderr.is_empty() {
        stderr = format!("exit status {}", out.status);
    }
    stderr
}

fn is_root() -> bool {
    // SAFETY: getuid has no preconditions.
    unsafe { libc::getuid() == 0 }
}
