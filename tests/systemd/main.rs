//! Integration tests against a real systemd.
//!
//! `cargo test --test systemd` runs on the host, where PID 1 is not systemd: this binary boots a
//! container with `tests/harness/systemd-harness` (systemd 252 from the host, and systemd 257 from
//! a Debian 13 rootfs when `RGEN_ROOTFS_257` names one) and runs itself again inside it, where the
//! scenarios drive the real manager: install, start, crash, OOM, restart, status over the real
//! system bus. Every wait polls with a deadline; nothing sleeps a fixed time.
//!
//! Without root or systemd-nspawn the tests are skipped with a message, unless
//! `RGEN_REQUIRE_SYSTEMD=1` (as `tests/run-all` and CI set) makes that a failure.

mod attacks;
mod attacks_since;
mod cases;
mod hardening;
mod import;
mod monit;
mod rotation;
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use libtest_mimic::{Arguments, Trial};

/// Which systemd a scenario needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Suite {
    /// This machine's systemd (252 on Debian 12), in a container over the host's root.
    Host,
    /// systemd ≥ 254, in a container over a Debian 13 rootfs.
    Modern,
    /// This machine's systemd again, booted with the units a `Host` scenario installed: a reboot.
    Boot,
}

impl Suite {
    fn name(self) -> &'static str {
        match self {
            Suite::Host => "host",
            Suite::Modern => "modern",
            Suite::Boot => "boot",
        }
    }
}

fn main() -> ExitCode {
    let args = Arguments::from_args();
    if let Ok(suite) = std::env::var("RGEN_IT_SUITE") {
        let suite = match suite.as_str() {
            "modern" => Suite::Modern,
            "boot" => Suite::Boot,
            _ => Suite::Host,
        };
        return libtest_mimic::run(&args, trials(suite)).exit_code();
    }
    if args.list {
        let mut all = trials(Suite::Host);
        all.extend(trials(Suite::Boot));
        all.extend(trials(Suite::Modern));
        return libtest_mimic::run(&args, all).exit_code();
    }
    outside()
}

fn trials(suite: Suite) -> Vec<Trial> {
    cases::all()
        .into_iter()
        .filter(|(s, _, _)| *s == suite)
        .map(|(_, name, f)| Trial::test(name, move || f().map_err(Into::into)))
        .chain(attacks::trials(suite))
        .chain(attacks_since::trials(suite))
        .chain(hardening::trials(suite))
        .chain(import::trials(suite))
        .chain(monit::trials(suite))
        .chain(rotation::trials(suite))
        .collect()
}

/// On the host: boot the containers and run this binary inside each.
fn outside() -> ExitCode {
    let required = std::env::var_os("RGEN_REQUIRE_SYSTEMD").is_some_and(|v| v == "1");
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let harness = repo.join("tests/harness/systemd-harness");
    if let Some(why) = cannot_boot(&harness) {
        if required {
            eprintln!("error: the real-systemd tests cannot run: {why}");
            return ExitCode::FAILURE;
        }
        eprintln!(
            "skipping the real-systemd tests: {why} (RGEN_REQUIRE_SYSTEMD=1 makes this an error; tests/run-all sets it)"
        );
        return ExitCode::SUCCESS;
    }
    let exe = std::env::current_exe().expect("own path");
    let mut bind = vec![repo.clone()];
    // The test binary, rgen and rgen-shim live in the target directory, which may be elsewhere.
    if let Some(target) = exe
        .ancestors()
        .find(|p| p.file_name().is_some_and(|n| n == "target"))
        && !target.starts_with(&repo)
    {
        bind.push(target.to_path_buf());
    }
    let bind: Vec<String> = bind
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let passthrough: Vec<String> = std::env::args().skip(1).collect();

    let _ = std::fs::remove_dir_all(boot_units_dir());
    // Root's user units and the linger flags outlive the first container, for the reboot.
    let user_state = boot_user_state();
    let _ = std::fs::remove_dir_all(&user_state);
    for (dir, _) in &user_state_binds(&user_state) {
        if let Err(e) = std::fs::create_dir_all(dir) {
            eprintln!("error: cannot create {}: {e}", dir.display());
            return ExitCode::FAILURE;
        }
    }
    let mut status = run_suite(&harness, &exe, &bind, &passthrough, Suite::Host, None);
    // The reboot: a new container whose /etc/systemd/system is what the first one left.
    if boot_units_dir().is_dir() {
        let boot = run_suite(&harness, &exe, &bind, &passthrough, Suite::Boot, None);
        status = status && boot;
    } else if required && !passthrough.iter().any(|a| !a.starts_with('-')) {
        // No test filter, so the first half ran and should have left its units.
        eprintln!("error: the reboot test cannot run: its first half left no units");
        status = false;
    } else {
        eprintln!("skipping the reboot test: its first half did not run");
    }
    match std::env::var_os("RGEN_ROOTFS_257").map(PathBuf::from) {
        Some(rootfs) if rootfs.join("usr/lib/systemd/systemd").exists() => {
            let modern = run_suite(
                &harness,
                &exe,
                &bind,
                &passthrough,
                Suite::Modern,
                Some(&rootfs),
            );
            status = status && modern;
        }
        other => {
            let why = match other {
                Some(p) => format!("{} is not a systemd rootfs", p.display()),
                None => "RGEN_ROOTFS_257 is not set".to_string(),
            };
            if required {
                eprintln!(
                    "error: the systemd ≥ 254 tests cannot run: {why} (tests/run-all builds the rootfs)"
                );
                status = false;
            } else {
                eprintln!("skipping the systemd ≥ 254 tests: {why}");
            }
        }
    }
    if status {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn run_suite(
    harness: &Path,
    exe: &Path,
    bind: &[String],
    args: &[String],
    suite: Suite,
    rootfs: Option<&Path>,
) -> bool {
    eprintln!("== real-systemd tests ({} systemd) ==", suite.name());
    let mut cmd = Command::new(harness);
    cmd.arg("run")
        .arg("--")
        .arg(exe)
        .args(args)
        .env("RGEN_IT_SUITE", suite.name())
        .env("RGEN_HARNESS_BIND", bind.join(" "))
        // The scenarios use fixed ports; a private network keeps them off the host's.
        .env("RGEN_HARNESS_NETWORK", "private")
        .env("RGEN_BIN", env!("CARGO_BIN_EXE_rgen"))
        .env("RGEN_SHIM", env!("CARGO_BIN_EXE_rgen-shim"));
    if let Some(r) = rootfs {
        cmd.env("RGEN_HARNESS_ROOTFS", r);
    }
    if suite == Suite::Boot {
        cmd.env("RGEN_HARNESS_UNITS_FROM", boot_units_dir());
    }
    if suite != Suite::Modern {
        let binds: Vec<String> = user_state_binds(&boot_user_state())
            .iter()
            .map(|(src, dst)| format!("{}:{dst}", src.display()))
            .collect();
        cmd.env("RGEN_HARNESS_BIND_AT", binds.join(" "));
    }
    match cmd.status() {
        Ok(s) => s.success(),
        Err(e) => {
            eprintln!("cannot run {}: {e}", harness.display());
            false
        }
    }
}

/// Where the first half of the reboot test leaves its unit files and enable links.
pub fn boot_units_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/it-boot-units")
}

fn boot_user_state() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/it-boot-user-state")
}

/// Host directories for root's user unit directory and logind's linger flags, and where they
/// appear in the container.
fn user_state_binds(base: &Path) -> [(PathBuf, &'static str); 2] {
    [
        (base.join("units"), "/root/.config/systemd/user"),
        (base.join("linger"), "/var/lib/systemd/linger"),
    ]
}

fn cannot_boot(harness: &Path) -> Option<String> {
    // SAFETY: getuid has no preconditions.
    if unsafe { libc::getuid() } != 0 {
        return Some("booting systemd in a container needs root".into());
    }
    if !harness.exists() {
        return Some(format!("{} is missing", harness.display()));
    }
    let nspawn = ["/usr/bin/systemd-nspawn", "/bin/systemd-nspawn"];
    if !nspawn.iter().any(|p| Path::new(p).exists()) {
        return Some(
            "systemd-nspawn is not installed (tests/harness/install-deps installs it)".into(),
        );
    }
    None
}
