//! rgen's own PM2 conformance cases (`tests/fixtures/pm2-conformance/<case>/`: a small ecosystem
//! file and `expect.toml`, one or two per disagreement with PM2 found so far) through the rgen
//! binary, with the suite's runner (`tests/pm2-conformance/run --own`): rendered units compared
//! with what PM2 does, errors matched, and `systemd-analyze verify` when run as root.

use std::process::Command;

use crate::support::{TEST_PATH, repo};

#[test]
fn own_pm2_conformance_cases_pass() {
    let runner = repo().join("tests/pm2-conformance/run");
    // A controlled environment: the cases about the shell's environment set their own.
    let out = Command::new("python3")
        .arg(&runner)
        .arg("--own")
        .arg("--rgen")
        .arg(env!("CARGO_BIN_EXE_rgen"))
        .current_dir(repo())
        .env_clear()
        .env("PATH", TEST_PATH)
        .env("HOME", "/home/rgen-test")
        .env("LANG", "C.UTF-8")
        .output()
        .expect("python3 runs tests/pm2-conformance/run (python3 >= 3.11 is needed)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let summary = stdout.lines().last().unwrap_or_default();
    assert!(
        out.status.success() && summary.ends_with(" passed, 0 failed"),
        "the own conformance cases fail ({summary}):\n{stdout}\n{stderr}"
    );
    let cases: usize = summary
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let dirs = std::fs::read_dir(repo().join("tests/fixtures/pm2-conformance"))
        .expect("the cases exist")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().join("expect.toml").is_file())
        })
        .count();
    assert!(
        cases >= dirs,
        "{cases} cases ran for {dirs} case directories:\n{stdout}"
    );
}
