//! Attacks on what landed after issue #9 (`import --from-pm2`, log rotation by the shim, `monit`,
//! ad-hoc apps, names given to the control verbs), as in `attacks.rs`: each scenario checks only
//! what the OS shows afterwards and what rgen printed, and failed on the code before its fix.
//! Kind `attack`, so `attack` as a filter selects these too.

use std::os::unix::fs::MetadataExt as _;
use std::path::Path;

use libtest_mimic::Trial;

use crate::Suite;
use crate::attacks::{
    ALICE, AS_ALICE, Holes, Uninstall, WAIT, as_user, ecosystem, excerpt, give, rgen_root, said,
    service_str, user_project, users,
};
use crate::support::{PATH, TestResult, poll, workdir, write};

type Case = (Suite, &'static str, fn() -> TestResult);

pub fn trials(suite: Suite) -> Vec<Trial> {
    all()
        .into_iter()
        .filter(|(s, _, _)| *s == suite)
        .map(|(_, name, f)| Trial::test(name, move || f().map_err(Into::into)).with_kind("attack"))
        .collect()
}

fn all() -> Vec<Case> {
    vec![
        (
            Suite::Host,
            "import_of_a_users_pm2_never_gives_her_a_root_app",
            import_uid_root,
        ),
        (
            Suite::Host,
            "import_of_a_users_pm2_never_reads_roots_files_through_her_symlink",
            import_symlinked_dump,
        ),
        (
            Suite::Host,
            "an_apps_log_lines_never_drive_roots_terminal",
            log_escapes,
        ),
        (
            Suite::Host,
            "a_users_log_path_never_gives_her_a_directory_root_reads_config_from",
            log_dirs_in_run,
        ),
    ]
}

/// Alice's `~/.pm2`, with `dump` as her `dump.pm2`.
fn alice_pm2(dump: &serde_json::Value) -> Result<std::path::PathBuf, String> {
    let home = Path::new("/home").join(ALICE).join(".pm2");
    let _ = std::fs::remove_dir_all(&home);
    std::fs::create_dir_all(&home).map_err(|e| e.to_string())?;
    write(&home.join("dump.pm2"), &dump.to_string());
    give(ALICE, &home)?;
    Ok(home)
}

/// A PM2 app as `pm2 save` records it: a shell running `command`.
fn pm2_app(name: &str, command: &str, extra: serde_json::Value) -> serde_json::Value {
    let mut app = serde_json::json!({
        "name": name,
        "pm_exec_path": "/bin/sh",
        "exec_interpreter": "none",
        "args": ["-c", command],
        "pm_cwd": "/",
        "exec_mode": "fork_mode",
        "autorestart": true,
        "status": "online",
        "env": {},
    });
    if let (Some(app), Some(extra)) = (app.as_object_mut(), extra.as_object()) {
        app.extend(extra.clone());
    }
    app
}

/// What the manager says the app runs as, if it has the unit at all.
fn identity(app: &str) -> Option<(String, String)> {
    let unit = format!("{app}.service");
    let loaded = crate::attacks::property(&unit, "Unit", "LoadState")
        .is_some_and(|v| v.as_str() == Some("loaded"));
    loaded.then(|| (service_str(&unit, "User"), service_str(&unit, "Group")))
}

/// PM2 under alice runs apps only as alice (it cannot switch users), so a `uid` or `gid` of
/// root in her own dump.pm2 was never in effect there; `sudo rgen import --from-pm2 --pm2-user
/// alice --install` must not turn it into a root service.
fn import_uid_root() -> TestResult {
    users()?;
    let dir = workdir("atk-imp-root");
    let mut holes = Holes::default();
    for (app, extra) in [
        ("atk-imp-uid", serde_json::json!({ "uid": 0 })),
        (
            "atk-imp-gid",
            serde_json::json!({ "gid": 0, "username": "root" }),
        ),
    ] {
        alice_pm2(&serde_json::json!([pm2_app(
            app,
            "exec sleep 1000",
            extra.clone()
        )]))?;
        let _ = std::fs::remove_dir_all("/etc/rgen/pm2-alice");
        let _cleanup = Uninstall::new(&dir, &[app]);
        let out = rgen_root(
            &[
                "import",
                "--from-pm2",
                "--pm2-user",
                ALICE,
                "--install",
                "--system",
            ],
            &dir,
            &[],
        );
        match identity(app) {
            None => {}
            Some((user, group)) if user == ALICE && !["", "root", "0"].contains(&group.as_str()) => {}
            Some((user, group)) => holes.add(format!(
                "alice's dump.pm2 with {extra} became a service with User={user:?} Group={group:?} (root's, where empty; import exited {}):\n      {}",
                out.code,
                excerpt(&said(&out))
            )),
        }
    }
    holes.result()
}

/// Alice's dump.pm2 is a symlink to root's own PM2 record, whose apps carry root's secrets: root
/// must not read it on her behalf and install its apps (and secrets) as hers.
fn import_symlinked_dump() -> TestResult {
    users()?;
    let app = "atk-imp-link";
    let secret = "root-only-secret-4471";
    let root_pm2 = Path::new("/root/atk-pm2");
    std::fs::create_dir_all(root_pm2).map_err(|e| e.to_string())?;
    let roots = root_pm2.join("dump.pm2");
    let dump = serde_json::json!([pm2_app(
        app,
        "exec sleep 1000",
        serde_json::json!({ "env": { "DATABASE_PASSWORD": secret } })
    )]);
    write(&roots, &dump.to_string());
    std::fs::set_permissions(&roots, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .map_err(|e| e.to_string())?;
    let home = alice_pm2(&serde_json::json!([]))?;
    as_user(
        ALICE,
        &format!(
            "rm ~/.pm2/dump.pm2 && ln -s {} ~/.pm2/dump.pm2",
            roots.display()
        ),
    )
    .ok()?;
    let _ = std::fs::remove_dir_all("/etc/rgen/pm2-alice");
    let dir = workdir(app);
    let _cleanup = Uninstall::new(&dir, &[app]);
    let out = rgen_root(
        &[
            "import",
            "--from-pm2",
            "--pm2-user",
            ALICE,
            "--install",
            "--system",
        ],
        &dir,
        &[],
    );
    let mut holes = Holes::default();
    if identity(app).is_some() {
        holes.add(format!(
            "root's dump.pm2, reached through alice's symlink {}, was installed (exit {}):\n      {}",
            home.join("dump.pm2").display(),
            out.code,
            excerpt(&said(&out))
        ));
    }
    let seen = as_user(
        ALICE,
        "cat /proc/[0-9]*/environ 2>/dev/null | tr '\\0' '\\n'",
    );
    if seen.stdout.contains(secret) {
        holes.add("alice reads root's secret in her own process's environment");
    }
    if said(&out).contains(secret) {
        holes.add("rgen printed root's secret");
    }
    holes.result()
}

/// An app's user writes escape sequences into her log: `rgen logs` on root's terminal must not
/// retitle it, clear it, or write its clipboard (OSC 52: a later paste runs in root's shell).
/// Colour (SGR) may pass.
fn log_escapes() -> TestResult {
    users()?;
    let app = "atk-esc-log";
    let dir = user_project(ALICE, app)?;
    let log = dir.join("out.log");
    ecosystem(
        &dir,
        serde_json::json!([{
            "name": app,
            "script": "/bin/sh",
            "exec_interpreter": "none",
            "args": ["-c", "printf 'x \\033]0;TITLE\\007 \\033[2J \\033[31mred\\033[0m \\033]52;c;cm0gLXJmIH4K\\007 end\\n'; exec sleep 1000"],
            "out_file": log,
        }]),
    );
    give(ALICE, &dir)?;
    let _cleanup = Uninstall::new(&dir, &[app]);
    rgen_root(&["install", "--system"], &dir, &[AS_ALICE]).ok()?;
    poll("the app's log line", WAIT, || {
        std::fs::read_to_string(&log)
            .ok()
            .filter(|t| t.contains("end"))
    })?;
    // A terminal that takes colour, as root's usually does: `script` gives rgen a pty.
    let logs = format!(
        "{} logs {app} --system --lines 5",
        env!("CARGO_BIN_EXE_rgen")
    );
    let out = std::process::Command::new("script")
        .args(["-qec", &logs, "/dev/null"])
        .current_dir(&dir)
        .env("PATH", PATH)
        .env("TERM", "xterm-256color")
        .env_remove("NO_COLOR")
        .output()
        .map_err(|e| format!("cannot run script: {e}"))?;
    let shown = String::from_utf8_lossy(&out.stdout);
    let mut holes = Holes::default();
    for (seq, what) in [
        ("\x1b]0;", "retitles the window"),
        ("\x1b[2J", "clears the screen"),
        ("\x1b]52;", "writes the clipboard"),
    ] {
        if shown.contains(seq) {
            holes.add(format!("`rgen logs` on a terminal {what}: {shown:?}"));
        }
    }
    if !shown.contains("end") {
        holes.add(format!("`rgen logs` did not show the line: {shown:?}"));
    }
    holes.result()
}

/// Alice's ecosystem names log files in `/run/modprobe.d` and (through the root-owned link
/// `/var/run`) `/run/udev/rules.d`, which do not exist yet: `sudo rgen install` created them
/// and gave them to her, and kmod and udev read drop-ins there as root (`install … /bin/sh -c`
/// in a modprobe.d file runs when any module is loaded, which she can trigger).
fn log_dirs_in_run() -> TestResult {
    users()?;
    let app = "atk-run-logs";
    let dir = user_project(ALICE, app)?;
    let wanted = ["/run/modprobe.d", "/run/udev/rules.d"];
    for d in wanted {
        let _ = std::fs::remove_dir_all(d);
    }
    ecosystem(
        &dir,
        serde_json::json!([{
            "name": app,
            "script": "/bin/sleep",
            "args": ["1000"],
            "exec_interpreter": "none",
            "out_file": "/run/modprobe.d/atk.log",
            "error_file": "/var/run/udev/rules.d/atk.log",
        }]),
    );
    give(ALICE, &dir)?;
    let _cleanup = Uninstall::new(&dir, &[app]);
    let out = rgen_root(&["install", "--system"], &dir, &[AS_ALICE]);
    let mut holes = Holes::default();
    for d in wanted {
        if let Ok(meta) = std::fs::symlink_metadata(d)
            && meta.uid() != 0
        {
            holes.add(format!(
                "{d} was created for alice's log and belongs to uid {} (install exited {}):\n      {}",
                meta.uid(),
                out.code,
                excerpt(&said(&out))
            ));
        }
    }
    for key in ["out_file", "error_file"] {
        if out.code != 2 || !said(&out).contains(key) {
            holes.add(format!(
                "install did not refuse `{key}` (exit {}):\n      {}",
                out.code,
                excerpt(&said(&out))
            ));
        }
    }
    holes.result()
}
