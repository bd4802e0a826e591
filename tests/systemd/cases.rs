//! The scenarios. Each uses its own apps, ports and directory, so they run in parallel inside one
//! container. Assertions go through D-Bus (rgen's own client, talking to the real manager) or the
//! filesystem; `rgen status --json` is checked against what the manager says.

use std::path::Path;
use std::time::{Duration, Instant};

use rgen::backend::systemd::dbus::{Client as Systemd, JobKind};
use rgen::target::Scope;

use crate::Suite;
use crate::support::*;

type Case = (Suite, &'static str, fn() -> TestResult);

pub fn all() -> Vec<Case> {
    vec![
        (
            Suite::Host,
            "an_app_from_the_command_line_installs_scales_under_load_and_uninstalls",
            adhoc_scale,
        ),
        (
            Suite::Host,
            "an_ad_hoc_app_imported_to_a_file_installs_again_unchanged",
            adhoc_import,
        ),
        (
            Suite::Host,
            "signal_reaches_every_instance_behind_the_shim_and_not",
            signal_every_process,
        ),
        (Suite::Host, "reset_forgets_restart_counts", reset_counts),
        (
            Suite::Host,
            "azak_example_installs_serves_logs_and_uninstalls",
            azak_example,
        ),
        (
            Suite::Host,
            "kill_9_is_restarted_and_counted",
            kill_9_restarts,
        ),
        (
            Suite::Host,
            "status_pids_are_the_managers_alone_forked_or_restarted",
            status_pids,
        ),
        (
            Suite::Host,
            "memory_hog_is_killed_at_the_limit_and_restarted",
            memory_hog,
        ),
        (
            Suite::Host,
            "crash_loop_waits_restart_delay_then_errors",
            crash_loop,
        ),
        (
            Suite::Host,
            "reinstall_is_idempotent_and_restarts_only_changed_apps",
            reinstall,
        ),
        (
            Suite::Host,
            "foreign_units_are_refused_and_left_untouched",
            foreign_unit,
        ),
        (
            Suite::Host,
            "user_scope_through_the_user_manager",
            user_scope,
        ),
        (
            Suite::Host,
            "a_non_root_user_is_refused_with_a_hint_and_nothing_changes",
            non_root,
        ),
        (
            Suite::Host,
            "argv_and_env_reach_the_process_byte_for_byte",
            byte_exact,
        ),
        (
            Suite::Host,
            "wait_ready_keeps_the_unit_activating_until_ready",
            wait_ready_holds_activating,
        ),
        (
            Suite::Host,
            "listen_timeout_declares_the_app_ready_as_pm2_does",
            listen_timeout_declares_ready,
        ),
        (
            Suite::Host,
            "cluster_instances_of_an_unmodified_node_app_share_one_port",
            cluster_shares_port,
        ),
        (
            Suite::Host,
            "reload_of_a_cluster_under_load_fails_no_request",
            reload_cluster,
        ),
        (
            Suite::Host,
            "reload_of_a_single_instance_with_a_port_fails_no_request",
            reload_single,
        ),
        (
            Suite::Host,
            "kill_9_of_the_shim_restarts_the_unit",
            kill_shim,
        ),
        (
            Suite::Host,
            "stop_sends_sigint_then_sigkill_after_kill_timeout",
            stop_sigint_then_sigkill,
        ),
        (
            Suite::Host,
            "shim_backoff_follows_pm2s_curve_on_systemd_252",
            shim_backoff_on_252,
        ),
        (Suite::Host, "apps_installed_before_a_reboot", before_reboot),
        (
            Suite::Boot,
            "installed_apps_start_at_boot_with_no_rgen_command",
            after_reboot,
        ),
        (
            Suite::Modern,
            "restart_steps_backoff_grows_on_systemd_254_plus",
            restart_steps,
        ),
        (
            Suite::Modern,
            "units_for_systemd_257_pass_its_verify",
            verify_modern,
        ),
        (
            Suite::Host,
            "status_over_the_private_socket_the_bus_and_a_users_own_manager",
            status_private_socket_and_bus,
        ),
    ]
}

const UNIT_DIR: &str = "/etc/systemd/system";

fn ecosystem(dir: &Path, apps: serde_json::Value) -> std::path::PathBuf {
    let file = dir.join("ecosystem.json");
    write(&file, &serde_json::json!({ "apps": apps }).to_string());
    file
}

/// A python app that prints a line and then sleeps, optionally failing or allocating.
const SLEEPER: &str = "import os, sys, time\nprint('started', os.getpid(), flush=True)\nwhile True:\n    time.sleep(3600)\n";

fn azak_example() -> TestResult {
    let dir = workdir("azak");
    let status = std::process::Command::new("cp")
        .arg("-r")
        .arg(repo().join("examples/azak"))
        .arg(&dir)
        .status()
        .map_err(|e| e.to_string())?;
    check(status.success(), || "copying the example failed".into())?;
    let root = dir.join("azak");
    // Logs of an earlier run on this checkout would satisfy the checks below by themselves.
    let _ = std::fs::remove_dir_all(root.join("logs"));
    rgen(&["install", "ecosystem.config.js", "--system"], &root).ok()?;
    let sd = system();
    for unit in [
        "azak-backend.service",
        "azak-frontend.service",
        "azak-ngrok.service",
    ] {
        poll(&format!("{unit} active"), Duration::from_secs(30), || {
            (active_state(&sd, unit) == "active").then_some(())
        })?;
    }
    let backend = poll(
        "the backend answers on 8000",
        Duration::from_secs(30),
        || http_get(8000),
    )?;
    check(backend.contains("azak-backend"), || {
        format!("backend said {backend}")
    })?;
    let frontend = poll(
        "the frontend answers on 3030",
        Duration::from_secs(30),
        || http_get(3030),
    )?;
    check(frontend.contains("azak-frontend"), || {
        format!("frontend said {frontend}")
    })?;

    // rgen status agrees with the manager.
    let st = status_json(&root, "--system", &[])?;
    for (app, unit) in [
        ("azak-backend", "azak-backend.service"),
        ("azak-ngrok", "azak-ngrok.service"),
    ] {
        let a = app_json(&st, app)?;
        check(a["status"] == "online", || format!("{app}: {a}"))?;
        // The shim writes the log files, so the manager's main process is the shim and the
        // app is its child.
        check(
            a["units"][0]["main_pid"].as_u64() == Some(u64::from(main_pid(&sd, unit)))
                && a["pid"]
                    .as_u64()
                    .is_some_and(|p| p != u64::from(main_pid(&sd, unit))),
            || format!("{app}: rgen's pids disagree with MainPID: {a}"),
        )?;
    }
    let limit = u64_prop(&sd, "azak-backend.service", "MemoryMax");
    check(limit == Some(2 << 30), || {
        format!("backend MemoryMax {limit:?}")
    })?;

    // Logs fill the files the ecosystem names.
    poll("backend-out.log filled", Duration::from_secs(10), || {
        std::fs::read_to_string(root.join("logs/backend-out.log"))
            .ok()
            .filter(|t| t.contains("Uvicorn"))
    })?;
    poll("frontend-out.log filled", Duration::from_secs(10), || {
        std::fs::read_to_string(root.join("logs/frontend-out.log"))
            .ok()
            .filter(|t| t.contains("listening"))
    })?;

    // `rgen logs` reads the same files back, each line under its app.
    let logs = rgen(
        &["logs", "azak-backend", "--system", "--lines", "50"],
        &root,
    );
    logs.ok()?;
    check(
        logs.stdout
            .lines()
            .any(|l| l.starts_with("azak-backend |") && l.contains("Uvicorn")),
        || format!("rgen logs azak-backend:\n{}", logs.stdout),
    )?;
    // `rgen flush` empties them in place; the app goes on writing into the same file.
    rgen(&["flush", "azak-frontend", "--system"], &root).ok()?;
    let frontend_log = root.join("logs/frontend-out.log");
    let size = std::fs::metadata(&frontend_log).map_or(u64::MAX, |m| m.len());
    check(size < 200, || {
        format!("frontend-out.log still {size} bytes")
    })?;

    rgen(&["uninstall", "azak", "--system"], &root).ok()?;
    nothing_left(
        &sd,
        &root,
        &["azak-backend", "azak-frontend", "azak-ngrok", "rgen-azak"],
    )
}

/// No unit files, no enable symlinks, no processes, no loaded units.
fn nothing_left(sd: &Systemd, root: &Path, names: &[&str]) -> TestResult {
    let files: Vec<_> = rgen_files(Path::new(UNIT_DIR))
        .into_iter()
        .filter(|p| names.iter().any(|n| p.to_string_lossy().contains(n)))
        .collect();
    check(files.is_empty(), || format!("unit files left: {files:?}"))?;
    for n in names {
        let links = links_to(Path::new(UNIT_DIR), n);
        check(links.is_empty(), || format!("enable links left: {links:?}"))?;
    }
    poll(
        "the apps' processes to be gone",
        Duration::from_secs(10),
        || {
            processes_mentioning(&root.to_string_lossy())
                .is_empty()
                .then_some(())
        },
    )?;
    for n in names {
        let state = active_state(sd, &format!("{n}.service"));
        check(state != "active" && state != "activating", || {
            format!("{n} still {state}")
        })?;
    }
    Ok(())
}

fn kill_9_restarts() -> TestResult {
    let dir = workdir("kill9");
    write(&dir.join("sleeper.py"), SLEEPER);
    ecosystem(
        &dir,
        serde_json::json!([{ "name": "it-kill9", "script": "sleeper.py" }]),
    );
    rgen(&["install", "--system"], &dir).ok()?;
    let sd = system();
    let unit = "it-kill9.service";
    let first = poll("it-kill9 running", Duration::from_secs(20), || {
        Some(main_pid(&sd, unit)).filter(|&p| p != 0)
    })?;
    let second = {
        // Other scenarios' daemon-reloads wait while the restart is counted: under parallel
        // installs NRestarts once read 2 here, and the count is what this checks.
        let _exclusive = MANAGER_RELOADS.write().unwrap_or_else(|e| e.into_inner());
        sd.kill(unit, "main", 9).map_err(|e| e.to_string())?;
        let second = poll("a new pid after kill -9", Duration::from_secs(20), || {
            let pid = main_pid(&sd, unit);
            (pid != 0 && pid != first && active_state(&sd, unit) == "active").then_some(pid)
        })?;
        restarted_once(&sd, unit)?;
        second
    };
    let st = status_json(&dir, "--system", &[])?;
    let a = app_json(&st, "it-kill9")?;
    check(
        a["restarts"] == 1 && a["pid"] == second && a["status"] == "online",
        || format!("status after kill: {a}"),
    )?;
    // CPU time is there even on hosts whose cgroups do not account for it.
    check(a["units"][0]["cpu_ns"].is_u64(), || {
        format!("no cpu time: {a}")
    })?;

    // No log file named: `rgen logs` reads the journal, with systemd's lines about the unit.
    let mut last_seen = String::new();
    poll("both runs in rgen logs", Duration::from_secs(15), || {
        let logs = rgen(&["logs", "it-kill9", "--system", "--lines", "40"], &dir);
        last_seen = format!("{}{}", logs.stdout, logs.stderr);
        // The first run may be killed before it printed; systemd's own line names its pid.
        (logs.stdout.contains(&format!("main process {first}"))
            && logs.stdout.contains(&format!("started {second}")))
        .then_some(())
    })
    .map_err(|e| format!("{e} (pids {first}, {second}); rgen logs said:\n{last_seen}"))?;
    // `--follow` streams the next run's line as it happens.
    let mut follower = follow_rgen(&["logs", "it-kill9", "--system", "--follow"], &dir)?;
    follower.wait_for(&format!("started {second}"), Duration::from_secs(10))?;
    sd.kill(unit, "main", 9).map_err(|e| e.to_string())?;
    let third = poll("a third pid after kill -9", Duration::from_secs(20), || {
        let pid = main_pid(&sd, unit);
        (pid != 0 && pid != second).then_some(pid)
    })?;
    follower.wait_for(&format!("started {third}"), Duration::from_secs(10))?;
    drop(follower);

    rgen(&["uninstall", "it-kill9", "--system"], &dir).ok()?;
    nothing_left(&sd, &dir, &["it-kill9"])
}

/// NRestarts is 1; otherwise the unit's journal says what else happened.
/// `status` takes a running unit's main pid from its cgroup when the process is alone there,
/// and asks the manager otherwise: every way gives the manager's own `MainPID`.
fn status_pids() -> TestResult {
    let dir = workdir("pids");
    write(&dir.join("sleeper.py"), SLEEPER);
    write(
        &dir.join("forker.py"),
        "import subprocess, time\nsubprocess.Popen(['sleep', '3600'])\nwhile True:\n    time.sleep(3600)\n",
    );
    // Plain units, and a template's two instances, whose slice's name systemd escapes
    // (`system-it\x2dpids\x2dweb.slice`).
    let names = [
        "it-pids-a",
        "it-pids-b",
        "it-pids-c",
        "it-pids-d",
        "it-pids-web",
    ];
    let app = |name: &str| match name {
        "it-pids-c" => serde_json::json!({ "name": name, "script": "forker.py" }),
        "it-pids-web" => {
            serde_json::json!({ "name": name, "script": "sleeper.py", "instances": 2 })
        }
        _ => serde_json::json!({ "name": name, "script": "sleeper.py" }),
    };
    ecosystem(
        &dir,
        serde_json::Value::Array(names.iter().map(|n| app(n)).collect()),
    );
    rgen(&["install", "--system"], &dir).ok()?;
    let sd = system();
    let units_of = |name: &str| -> Vec<String> {
        if name == "it-pids-web" {
            vec![format!("{name}@0.service"), format!("{name}@1.service")]
        } else {
            vec![format!("{name}.service")]
        }
    };
    let agree = |names: &[&str], what: &str| -> TestResult {
        for unit in names.iter().flat_map(|n| units_of(n)) {
            poll(&format!("{unit} running"), Duration::from_secs(20), || {
                (main_pid(&sd, &unit) != 0).then_some(())
            })?;
        }
        let st = status_json(&dir, "--system", &[])?;
        for name in names {
            let a = app_json(&st, name)?;
            let units = units_of(name);
            let restarts: u32 = units.iter().map(|u| n_restarts(&sd, u)).sum();
            check(
                a["uptime_ms"].is_u64()
                    && a["restarts"] == restarts
                    && a["units"].as_array().map(Vec::len) == Some(units.len()),
                || format!("{what}: {name} is {a}"),
            )?;
            for (i, unit) in units.iter().enumerate() {
                let pid = main_pid(&sd, unit);
                let row = &a["units"][i];
                check(
                    row["unit"] == unit.as_str() && row["main_pid"] == pid && row["pid"] == pid,
                    || format!("{what}: {unit} is {row}, the manager says MainPID {pid}"),
                )?;
            }
        }
        Ok(())
    };
    agree(&names, "installed")?;
    let killed = "it-pids-b.service";
    let first = main_pid(&sd, killed);
    sd.kill(killed, "main", 9).map_err(|e| e.to_string())?;
    poll("it-pids-b restarted", Duration::from_secs(20), || {
        let pid = main_pid(&sd, killed);
        (pid != 0 && pid != first && active_state(&sd, killed) == "active").then_some(())
    })?;
    agree(&names, "after a kill -9")?;
    // The first of them stopped: the others are still told right.
    rgen(&["stop", "it-pids-a", "--system"], &dir).ok()?;
    agree(&names[1..], "with the first stopped")?;
    let mut uninstall = vec!["uninstall", "--system"];
    uninstall.extend(names);
    rgen(&uninstall, &dir).ok()?;
    nothing_left(&sd, &dir, &names)
}

fn restarted_once(sd: &Systemd, unit: &str) -> TestResult {
    check(n_restarts(sd, unit) == 1, || {
        let journal = std::process::Command::new("journalctl")
            .args(["-u", unit, "--no-pager", "-o", "short-precise"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        format!("NRestarts {}:\n{journal}", n_restarts(sd, unit))
    })
}

fn memory_hog() -> TestResult {
    let dir = workdir("memhog");
    // Grows by 8 MiB (touched, so it is resident) every 20 ms and says how far it got.
    write(
        &dir.join("hog.py"),
        "import sys, time\nheld = []\nwhile True:\n    held.append(b'x' * (8 << 20))\n    print(len(held) * 8, flush=True)\n    time.sleep(0.02)\n",
    );
    ecosystem(
        &dir,
        serde_json::json!([{ "name": "it-memhog", "script": "hog.py", "max_memory_restart": "64M", "restart_delay": 300,
                              "out_file": "hog.log" }]),
    );
    rgen(&["install", "--system"], &dir).ok()?;
    let sd = system();
    let unit = "it-memhog.service";
    poll(
        "the hog to be killed and restarted",
        Duration::from_secs(60),
        || (n_restarts(&sd, unit) >= 1).then_some(()),
    )?;
    check(u64_prop(&sd, unit, "MemoryMax") == Some(64 << 20), || {
        "MemoryMax is not 64M".into()
    })?;
    // The kernel stopped it at the limit: it never reported holding more than the limit.
    let log = std::fs::read_to_string(dir.join("hog.log")).map_err(|e| e.to_string())?;
    let peak = log
        .lines()
        .filter_map(|l| l.trim().parse::<u64>().ok())
        .max()
        .unwrap_or(0);
    check(peak <= 64, || {
        format!("the hog reported {peak} MiB under a 64 MiB limit")
    })?;
    let journal = std::process::Command::new("journalctl")
        .args(["-u", unit, "--no-pager", "-o", "cat"])
        .output()
        .map_err(|e| e.to_string())?;
    let journal = String::from_utf8_lossy(&journal.stdout);
    check(
        journal.contains("status=9/KILL")
            || journal.contains("oom-kill")
            || journal.contains("OOM"),
        || format!("no OOM kill in the journal:\n{journal}"),
    )?;
    rgen(&["uninstall", "it-memhog", "--system"], &dir).ok()?;
    nothing_left(&sd, &dir, &["it-memhog"])
}

fn crash_loop() -> TestResult {
    let dir = workdir("crashloop");
    // Records when it started (CLOCK_MONOTONIC, shared by the whole machine) and fails at once.
    write(
        &dir.join("crash.py"),
        "import time\nopen('starts.txt', 'a').write(f'{time.monotonic()}\\n')\nraise SystemExit(3)\n",
    );
    ecosystem(
        &dir,
        serde_json::json!([{ "name": "it-crash", "script": "crash.py", "restart_delay": 400, "max_restarts": 3, "min_uptime": 2000 }]),
    );
    let sd = system();
    let unit = "it-crash.service";
    {
        // Another scenario's daemon-reload would reset the start-limit count while it runs.
        let _exclusive = MANAGER_RELOADS.write().unwrap_or_else(|e| e.into_inner());
        install_unlocked(&dir).ok()?;
        poll(
            "it-crash to hit its start limit",
            Duration::from_secs(30),
            || (active_state(&sd, unit) == "failed").then_some(()),
        )?;
    }
    let p = props(&sd, unit)?;
    let result = rgen::backend::systemd::dbus::prop_str(&p, "Result").unwrap_or_default();
    // systemd 252 keeps the last run's result; newer versions report start-limit-hit.
    check(result == "start-limit-hit" || result == "exit-code", || {
        format!("Result {result}")
    })?;
    let starts: Vec<f64> = std::fs::read_to_string(dir.join("starts.txt"))
        .map_err(|e| e.to_string())?
        .lines()
        .filter_map(|l| l.parse().ok())
        .collect();
    check(starts.len() == 3, || {
        format!("{} starts for max_restarts 3", starts.len())
    })?;
    for w in starts.windows(2) {
        check(w[1] - w[0] >= 0.4, || {
            format!(
                "restarted after {:.3}s, less than restart_delay 400ms",
                w[1] - w[0]
            )
        })?;
    }
    let st = status_json(&dir, "--system", &[])?;
    let a = app_json(&st, "it-crash")?;
    check(a["status"] == "errored", || format!("status: {a}"))?;
    // `rgen restart` forgets the failure, as `pm2 restart` does for an errored app.
    std::fs::remove_file(dir.join("starts.txt")).ok();
    let _ = rgen(&["restart", "it-crash", "--system"], &dir);
    poll(
        "a fresh start after rgen restart",
        Duration::from_secs(10),
        || dir.join("starts.txt").exists().then_some(()),
    )?;
    rgen(&["uninstall", "it-crash", "--system"], &dir).ok()?;
    nothing_left(&sd, &dir, &["it-crash"])
}

/// `rgen install --system` without taking the reload lock (the caller holds it).
fn install_unlocked(dir: &Path) -> Out {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rgen"))
        .args(["install", "--system"])
        .current_dir(dir)
        .env("PATH", PATH)
        .env("RGEN_SHIM", env!("CARGO_BIN_EXE_rgen-shim"))
        .env("NO_COLOR", "1")
        .env("RGEN_RUN_AS", "root")
        .output()
        .expect("run rgen");
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn reinstall() -> TestResult {
    let dir = workdir("reinstall");
    write(&dir.join("a.py"), SLEEPER);
    let apps = |b_env: &str| {
        serde_json::json!([
            { "name": "it-same", "script": "a.py", "env": { "K": "1" } },
            { "name": "it-changed", "script": "a.py", "env": { "K": b_env } },
        ])
    };
    ecosystem(&dir, apps("1"));
    rgen(&["install", "--system"], &dir).ok()?;
    let sd = system();
    let pids = || -> Result<(u32, u32), String> {
        poll("both apps running", Duration::from_secs(20), || {
            let (a, b) = (
                main_pid(&sd, "it-same.service"),
                main_pid(&sd, "it-changed.service"),
            );
            (a != 0 && b != 0).then_some((a, b))
        })
    };
    let before = pids()?;
    let file = Path::new(UNIT_DIR).join("it-same.service");
    let stamp = |p: &Path| {
        std::fs::metadata(p).map(|m| (std::os::unix::fs::MetadataExt::ino(&m), m.modified().ok()))
    };
    let inode_before = stamp(&file).map_err(|e| e.to_string())?;

    let out = rgen(&["install", "--system"], &dir);
    out.ok()?;
    check(out.stdout.contains("(0 changed)"), || {
        format!("an unchanged reinstall changed something:\n{}", out.stdout)
    })?;
    check(
        !out.stdout.contains("  ~ ") && !out.stdout.contains("  + "),
        || out.stdout.clone(),
    )?;
    check(
        stamp(&file).map_err(|e| e.to_string())? == inode_before,
        || "an unchanged unit file was rewritten".into(),
    )?;
    check(pids()? == before, || {
        "an unchanged reinstall restarted an app".into()
    })?;

    ecosystem(&dir, apps("2"));
    let out = rgen(&["install", "--system", "--dry-run"], &dir);
    out.ok()?;
    // The values live in the app's 0600 environment file; the diff says it changed, not how.
    check(
        out.stdout.contains("~ /etc/systemd/system/it-changed.env")
            && !out.stdout.contains("K=2")
            && out.stdout.contains("dry run"),
        || out.stdout.clone(),
    )?;
    check(pids()? == before, || "--dry-run restarted something".into())?;
    let out = rgen(&["install", "--system"], &dir);
    out.ok()?;
    let after = poll("it-changed restarted", Duration::from_secs(20), || {
        let p = pids().ok()?;
        (p.1 != before.1).then_some(p)
    })?;
    check(after.0 == before.0, || {
        "the unchanged app was restarted too".into()
    })?;
    let env = std::fs::read(format!("/proc/{}/environ", after.1)).map_err(|e| e.to_string())?;
    check(
        String::from_utf8_lossy(&env)
            .split('\0')
            .any(|kv| kv == "K=2"),
        || "the new env did not reach the app".into(),
    )?;
    rgen(&["uninstall", "reinstall", "--system"], &dir).ok()?;
    nothing_left(&sd, &dir, &["it-same", "it-changed", "rgen-reinstall"])
}

fn non_root() -> TestResult {
    let dir = workdir("nonroot");
    write(&dir.join("a.py"), SLEEPER);
    ecosystem(
        &dir,
        serde_json::json!([{ "name": "it-nonroot", "script": "a.py" }]),
    );
    rgen(&["install", "--system"], &dir).ok()?;
    let sd = system();
    let unit = "it-nonroot.service";
    let pid = poll("it-nonroot running", Duration::from_secs(20), || {
        Some(main_pid(&sd, unit)).filter(|&p| p != 0)
    })?;
    // The same commands as `nobody`: polkit refuses, the unit directory is not theirs.
    let as_nobody = |args: &[&str]| {
        let out = std::process::Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(env!("CARGO_BIN_EXE_rgen"))
            .args(args)
            .current_dir(&dir)
            .env("PATH", PATH)
            .env("NO_COLOR", "1")
            .output()
            .map_err(|e| format!("cannot run setpriv: {e}"))?;
        Ok::<_, String>((
            out.status.code().unwrap_or(-1),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        ))
    };
    for args in [
        &["stop", "it-nonroot", "--system"][..],
        &["uninstall", "it-nonroot", "--system"],
    ] {
        let (code, text) = as_nobody(args)?;
        check(
            code == 1 && text.contains(&format!("sudo rgen {}", args.join(" "))),
            || format!("rgen {args:?} as nobody exited {code}:\n{text}"),
        )?;
    }
    // A changed ecosystem: refused before anything is written.
    ecosystem(
        &dir,
        serde_json::json!([{ "name": "it-nonroot", "script": "a.py", "env": { "X": "1" } }]),
    );
    let before =
        std::fs::read_to_string(Path::new(UNIT_DIR).join(unit)).map_err(|e| e.to_string())?;
    let (code, text) = as_nobody(&["install", "--system"])?;
    check(
        code == 1 && text.contains("sudo rgen install --system"),
        || format!("install as nobody exited {code}:\n{text}"),
    )?;
    let after =
        std::fs::read_to_string(Path::new(UNIT_DIR).join(unit)).map_err(|e| e.to_string())?;
    check(before == after, || "the unit changed".into())?;
    // Other scenarios' installs (as root) have temporary files of their own in flight; none
    // may be nobody's.
    let stray: Vec<_> = std::fs::read_dir(UNIT_DIR)
        .map_err(|e| e.to_string())?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".rgen"))
        .filter(|e| {
            e.metadata()
                .is_ok_and(|m| std::os::unix::fs::MetadataExt::uid(&m) == 65534)
        })
        .collect();
    check(stray.is_empty(), || {
        format!("temporary files left: {stray:?}")
    })?;
    check(main_pid(&sd, unit) == pid, || {
        "the app was restarted".into()
    })?;
    rgen(&["uninstall", "it-nonroot", "--system"], &dir).ok()?;
    nothing_left(&sd, &dir, &["it-nonroot"])
}

fn foreign_unit() -> TestResult {
    let dir = workdir("foreign");
    write(&dir.join("a.py"), SLEEPER);
    let foreign = Path::new(UNIT_DIR).join("it-foreign.service");
    let text = "[Service]\nExecStart=/bin/sleep infinity\n";
    write(&foreign, text);
    ecosystem(
        &dir,
        serde_json::json!([{ "name": "it-foreign", "script": "a.py" }, { "name": "it-bystander", "script": "a.py" }]),
    );
    let out = rgen(&["install", "--system"], &dir);
    check(out.code == 1, || {
        format!("install over a foreign unit exited {}", out.code)
    })?;
    check(
        out.stdout.contains(&*foreign.to_string_lossy())
            && out.stdout.contains("not written by rgen"),
        || out.stdout.clone(),
    )?;
    check(
        std::fs::read_to_string(&foreign).map_err(|e| e.to_string())? == text,
        || "the foreign unit was changed".into(),
    )?;
    check(
        !Path::new(UNIT_DIR).join("it-bystander.service").exists(),
        || "other units were written anyway".into(),
    )?;
    // A unit the distribution ships (here dbus.service) is just as foreign.
    let vendor_dir = workdir("foreign-vendor");
    write(&vendor_dir.join("a.py"), SLEEPER);
    ecosystem(
        &vendor_dir,
        serde_json::json!([{ "name": "dbus", "script": "a.py" }]),
    );
    let out = rgen(&["install", "--system"], &vendor_dir);
    check(out.code == 1 && out.stdout.contains("dbus.service"), || {
        format!("shadowing dbus.service was not refused:\n{}", out.stdout)
    })?;
    check(!Path::new(UNIT_DIR).join("dbus.service").exists(), || {
        "rgen wrote dbus.service".into()
    })?;
    // Uninstall never touches it either.
    let out = rgen(&["uninstall", "it-foreign", "--system"], &dir);
    check(out.code != 0, || {
        "uninstall accepted a unit rgen did not write".into()
    })?;
    check(foreign.exists(), || {
        "uninstall removed a foreign unit".into()
    })?;
    std::fs::remove_file(&foreign).map_err(|e| e.to_string())
}

/// What rgen needs to reach root's user manager (`user@0.service`).
const USER_BUS: &str = "unix:path=/run/user/0/bus";
const USER_ENV: [(&str, &str); 3] = [
    ("XDG_RUNTIME_DIR", "/run/user/0"),
    ("DBUS_SESSION_BUS_ADDRESS", USER_BUS),
    ("HOME", "/root"),
];

/// Root's user manager, started now (as a login would) unless `started_by_boot`, where
/// lingering must have started it.
fn user_manager(started_by_boot: bool) -> Result<Systemd, String> {
    if !started_by_boot {
        let outcomes = system()
            .run_jobs(&[(JobKind::Start, "user@0.service".into())])
            .map_err(|e| e.to_string())?;
        check(outcomes.iter().all(|o| o.result == "done"), || {
            format!("user@0 did not start: {outcomes:?}")
        })?;
    }
    poll("the user bus", Duration::from_secs(30), || {
        Path::new("/run/user/0/bus").exists().then_some(())
    })?;
    Systemd::connect_to(USER_BUS, Scope::User).map_err(|e| e.to_string())
}

fn user_scope() -> TestResult {
    let user = user_manager(false)?;
    let env = USER_ENV;
    let dir = workdir("user");
    write(&dir.join("a.py"), SLEEPER);
    ecosystem(
        &dir,
        serde_json::json!([{ "name": "it-user", "script": "a.py", "out_file": "out.log" }]),
    );
    let out = rgen_env(&["install", "--user"], &dir, &env);
    out.ok()?;
    let unit = "it-user.service";
    let first = poll(
        "it-user running in the user manager",
        Duration::from_secs(20),
        || Some(main_pid(&user, unit)).filter(|&p| p != 0),
    )?;
    check(
        Path::new("/root/.config/systemd/user/it-user.service").exists(),
        || "no unit in ~/.config/systemd/user".into(),
    )?;
    check(
        Path::new("/root/.config/systemd/user/default.target.wants/rgen-user.target").exists(),
        || "the group target is not enabled in default.target".into(),
    )?;
    user.kill(unit, "main", 9).map_err(|e| e.to_string())?;
    poll(
        "a restart in the user manager",
        Duration::from_secs(20),
        || {
            let pid = main_pid(&user, unit);
            // With a log file the shim runs it (Type=notify): active once it said READY=1.
            (pid != 0 && pid != first && active_state(&user, unit) == "active").then_some(())
        },
    )?;
    let st = status_json(&dir, "--user", &env)?;
    let a = app_json(&st, "it-user")?;
    check(a["restarts"] == 1 && a["status"] == "online", || {
        format!("user status: {a}")
    })?;
    // Only its own app: the reboot scenario keeps one in the same scope.
    rgen_env(&["uninstall", "it-user", "--user"], &dir, &env).ok()?;
    let left: Vec<_> = rgen_files(Path::new("/root/.config/systemd/user"))
        .into_iter()
        .filter(|p| !p.to_string_lossy().contains(BOOT_GROUP))
        .collect();
    check(left.is_empty(), || {
        format!("left in the user unit directory: {left:?}")
    })?;
    poll("it-user stopped", Duration::from_secs(10), || {
        (main_pid(&user, unit) == 0).then_some(())
    })?;
    Ok(())
}

/// Random arguments and environment values, through a unit file and a real manager, into a real
/// process: what the process sees must be exactly what the ecosystem said.
fn byte_exact() -> TestResult {
    use proptest::prelude::*;
    use proptest::strategy::ValueTree as _;
    let dir = workdir("bytes");
    write(
        &dir.join("dump.py"),
        "import json, os, sys\njson.dump({'argv': sys.argv[1:], 'env': os.environ.get('V')}, open(os.environ['OUT'], 'w'))\nimport time\ntime.sleep(3600)\n",
    );
    let pattern = "[ -~\t\u{e9}\u{65e5}\u{1f600}%$;\\\\\"'\n]{0,12}";
    let word = || proptest::string::string_regex(pattern).expect("valid regex");
    let strategy = (prop::collection::vec(word(), 0..5), word());
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let mut cases = Vec::new();
    for i in 0..24 {
        let (args, value) = strategy
            .new_tree(&mut runner)
            .map_err(|e| e.to_string())?
            .current();
        cases.push((format!("it-bytes-{i}"), args, value));
    }
    let apps: Vec<serde_json::Value> = cases
        .iter()
        .map(|(name, args, value)| {
            serde_json::json!({ "name": name, "script": "dump.py", "args": args,
                                "env": { "V": value, "OUT": dir.join(format!("{name}.json")) } })
        })
        .collect();
    ecosystem(&dir, serde_json::Value::Array(apps));
    rgen(&["install", "--system"], &dir).ok()?;
    for (name, args, value) in &cases {
        let path = dir.join(format!("{name}.json"));
        let seen: serde_json::Value = poll(
            &format!("{name} to report"),
            Duration::from_secs(30),
            || {
                std::fs::read_to_string(&path)
                    .ok()
                    .and_then(|t| serde_json::from_str(&t).ok())
            },
        )?;
        let expected = serde_json::json!({ "argv": args, "env": value });
        check(seen == expected, || {
            format!("{name}: the process saw {seen}, the ecosystem said {expected}")
        })?;
    }
    rgen(&["uninstall", "bytes", "--system"], &dir).ok()?;
    Ok(())
}

fn restart_steps() -> TestResult {
    let dir = workdir("steps");
    write_exec(&dir.join("fail.sh"), "#!/bin/sh\nexit 1\n");
    ecosystem(
        &dir,
        serde_json::json!([{ "name": "it-steps", "script": "fail.sh", "exp_backoff_restart_delay": 100, "max_restarts": 1000 }]),
    );
    rgen(&["install", "--system"], &dir).ok()?;
    let unit_text = std::fs::read_to_string(Path::new(UNIT_DIR).join("it-steps.service"))
        .map_err(|e| e.to_string())?;
    check(
        unit_text.contains("RestartSteps=13") && unit_text.contains("RestartMaxDelaySec=15s"),
        || unit_text.clone(),
    )?;
    let sd = system();
    let unit = "it-steps.service";
    // RestartUSecNext is the delay before the next restart: it must grow with each restart.
    let mut seen: Vec<u64> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(40);
    while seen.len() < 5 {
        if Instant::now() > deadline {
            return Err(format!("RestartUSecNext only took the values {seen:?}"));
        }
        if let Some(next) = u64_prop(&sd, unit, "RestartUSecNext")
            && seen.last() != Some(&next)
        {
            seen.push(next);
        }
        std::thread::sleep(Duration::from_millis(20)); // poll interval, bounded by the deadline above
    }
    check(seen.windows(2).all(|w| w[1] > w[0]), || {
        format!("delays did not grow: {seen:?}")
    })?;
    check(seen[0] >= 100_000, || {
        format!("first delay {} µs is below 100 ms", seen[0])
    })?;
    rgen(&["uninstall", "steps", "--system"], &dir).ok()?;
    Ok(())
}

fn verify_modern() -> TestResult {
    // The rootfs has python3 and sh but no node, so the units checked are those whose programs exist.
    let dir = workdir("verify-modern");
    write(&dir.join("a.py"), SLEEPER);
    write_exec(&dir.join("run.sh"), "#!/bin/sh\nexec sleep 3600\n");
    ecosystem(
        &dir,
        serde_json::json!([
            { "name": "v-backoff", "script": "run.sh", "exp_backoff_restart_delay": 250, "max_memory_restart": "100M", "cron_restart": "0 3 * * *" },
            { "name": "v-python", "script": "a.py", "instances": 2, "stop_exit_codes": [2], "kill_timeout": 5000, "watch": true },
        ]),
    );
    let out_dir = dir.join("units");
    rgen(
        &[
            "render",
            "--systemd",
            "--system",
            "--out",
            &out_dir.to_string_lossy(),
        ],
        &dir,
    )
    .ok()?;
    let text =
        std::fs::read_to_string(out_dir.join("v-backoff.service")).map_err(|e| e.to_string())?;
    check(text.contains("RestartSteps="), || {
        "rendered for the running systemd, RestartSteps= is expected".into()
    })?;
    let mut units: Vec<String> = std::fs::read_dir(&out_dir)
        .map_err(|e| e.to_string())?
        .filter_map(|e| e.ok())
        // Environment files are read by the units, not units themselves.
        .filter(|e| !e.file_name().to_string_lossy().ends_with(".env"))
        .map(|e| {
            e.path()
                .to_string_lossy()
                .replace("@.service", "@0.service")
        })
        .collect();
    units.sort();
    let out = std::process::Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .args(&units)
        .output()
        .map_err(|e| e.to_string())?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    check(out.status.success() && stderr.is_empty(), || {
        format!("systemd-analyze verify (257):\n{stderr}")
    })
}

// ---- The shim: readiness, sockets, reload, stop semantics, backoff (systemd 252) ----

/// An unmodified Node server in PM2's style: `listen(PORT)`, optional `process.send('ready')`,
/// a graceful SIGINT handler (or none, to test the SIGKILL).
const NODE_SERVER: &str = r#"
const fs = require('fs');
const http = require('http');
const env = process.env;
const note = (line) => { if (env.NOTES) fs.appendFileSync(env.NOTES, line + '\n'); };
const server = http.createServer((req, res) => {
  res.setHeader('connection', 'close');
  res.end(JSON.stringify({ pid: process.pid, instance: env.NODE_APP_INSTANCE }));
});
server.listen(Number(env.PORT), () => {
  note('listening ' + process.pid);
  if (env.SEND_READY && process.send) {
    setTimeout(() => { note('ready ' + process.pid); process.send('ready'); }, Number(env.READY_DELAY || 0));
  }
});
process.on('SIGINT', () => {
  note('SIGINT ' + process.pid);
  if (env.IGNORE_SIGINT) return;
  server.close(() => process.exit(0));
});
"#;

fn node_app(dir: &Path) {
    write(&dir.join("server.js"), NODE_SERVER);
}

fn notes(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("notes.txt")).unwrap_or_default()
}

fn pid_of(body: &str) -> Option<u64> {
    serde_json::from_str::<serde_json::Value>(body).ok()?["pid"].as_u64()
}

fn wait_ready_holds_activating() -> TestResult {
    let dir = workdir("waitready");
    node_app(&dir);
    let notes_path = dir.join("notes.txt");
    ecosystem(
        &dir,
        serde_json::json!([{ "name": "it-ready", "script": "server.js", "wait_ready": true, "listen_timeout": 20000,
            "env": { "PORT": 4301, "SEND_READY": "1", "READY_DELAY": 1500, "NOTES": notes_path } }]),
    );
    let sd = system();
    let unit = "it-ready.service";
    let installer = {
        let dir = dir.clone();
        std::thread::spawn(move || rgen(&["install", "--system"], &dir))
    };
    let mut saw_activating = false;
    poll("it-ready active", Duration::from_secs(30), || {
        let state = active_state(&sd, unit);
        let ready_sent = notes(&dir).contains("ready ");
        if state == "activating" {
            saw_activating = true;
        }
        if state == "active" && !ready_sent {
            // Reported as a failure below through `saw_activating`/notes.
            return Some(Err("active before the app sent 'ready'".to_string()));
        }
        (state == "active").then_some(Ok(()))
    })??;
    check(saw_activating, || {
        "never saw the unit activating while the app prepared".into()
    })?;
    check(notes(&dir).contains("listening "), || {
        "the app never listened".into()
    })?;
    installer
        .join()
        .map_err(|_| "install thread panicked")?
        .ok()?;
    rgen(&["uninstall", "it-ready", "--system"], &dir).ok()?;
    Ok(())
}

fn listen_timeout_declares_ready() -> TestResult {
    let dir = workdir("listentimeout");
    node_app(&dir);
    ecosystem(
        &dir,
        serde_json::json!([{ "name": "it-lt", "script": "server.js", "wait_ready": true, "listen_timeout": 1500,
            "error_file": "err.log", "env": { "PORT": 4302 } }]),
    );
    let started = Instant::now();
    rgen(&["install", "--system"], &dir).ok()?;
    let sd = system();
    check(active_state(&sd, "it-lt.service") == "active", || {
        "not active after listen_timeout".into()
    })?;
    check(started.elapsed() >= Duration::from_millis(1500), || {
        format!(
            "active after {:?}, before listen_timeout",
            started.elapsed()
        )
    })?;
    let log = poll("the shim to say why", Duration::from_secs(5), || {
        std::process::Command::new("journalctl")
            .args(["-u", "it-lt.service", "--no-pager", "-o", "cat"])
            .output()
            .ok()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout).into_owned()
                    + &std::fs::read_to_string(dir.join("err.log")).unwrap_or_default()
            })
            .filter(|t| t.contains("listen_timeout"))
    })?;
    check(log.contains("as PM2 does"), || log.clone())?;
    rgen(&["uninstall", "it-lt", "--system"], &dir).ok()?;
    Ok(())
}

fn cluster_shares_port() -> TestResult {
    let dir = workdir("cluster");
    node_app(&dir);
    ecosystem(
        &dir,
        serde_json::json!([{ "name": "it-cluster", "script": "server.js", "instances": 2, "exec_mode": "cluster", "port": 4303 }]),
    );
    rgen(&["install", "--system"], &dir).ok()?;
    let sd = system();
    for i in 0..2 {
        let unit = format!("it-cluster@{i}.service");
        check(active_state(&sd, &unit) == "active", || {
            format!("{unit} not active")
        })?;
    }
    let mut pids = std::collections::BTreeSet::new();
    poll(
        "answers from both instances",
        Duration::from_secs(20),
        || {
            if let Some(pid) = http_get(4303).as_deref().and_then(pid_of) {
                pids.insert(pid);
            }
            (pids.len() >= 2).then_some(())
        },
    )?;
    let st = status_json(&dir, "--system", &[])?;
    let a = app_json(&st, "it-cluster")?;
    check(
        a["mode"] == "cluster" && a["instances"] == 2 && a["status"] == "online",
        || format!("status: {a}"),
    )?;
    rgen(&["uninstall", "it-cluster", "--system"], &dir).ok()?;
    nothing_left(&sd, &dir, &["it-cluster"])
}

/// Sequential requests, each on a new connection, from before `work` starts until after it ends.
fn under_load(
    port: u16,
    work: impl FnOnce() -> TestResult,
) -> Result<(u32, u32, std::collections::BTreeSet<u64>), String> {
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let answered = std::sync::Arc::new(AtomicU32::new(0));
    let load = {
        let (stop, answered) = (stop.clone(), answered.clone());
        std::thread::spawn(move || {
            let mut failed = 0u32;
            let mut pids = std::collections::BTreeSet::new();
            while !stop.load(Ordering::Relaxed) {
                match http_get(port).as_deref().and_then(pid_of) {
                    Some(pid) => {
                        answered.fetch_add(1, Ordering::Relaxed);
                        pids.insert(pid);
                    }
                    None => failed += 1,
                }
            }
            (answered.load(Ordering::Relaxed), failed, pids)
        })
    };
    // The load brackets the work: a run of answers before it starts and after it ends.
    let answers_past = |n: u32| {
        poll("answers under load", Duration::from_secs(30), || {
            (answered.load(Ordering::Relaxed) >= n).then_some(())
        })
    };
    answers_past(20)?;
    let result = work();
    let after = answered.load(Ordering::Relaxed) + 20;
    let tail = answers_past(after);
    stop.store(true, Ordering::Relaxed);
    let counts = load.join().map_err(|_| "load thread panicked")?;
    result.and(tail).map(|()| counts)
}

fn reload_without_failures(name: &str, port: u16, cluster: bool) -> TestResult {
    let dir = workdir(name);
    node_app(&dir);
    let app = if cluster {
        serde_json::json!({ "name": name, "script": "server.js", "instances": 2, "exec_mode": "cluster", "port": port })
    } else {
        serde_json::json!({ "name": name, "script": "server.js", "port": port })
    };
    ecosystem(&dir, serde_json::json!([app]));
    rgen(&["install", "--system"], &dir).ok()?;
    poll("the app answering", Duration::from_secs(20), || {
        http_get(port)
    })?;
    let (ok, failed, pids) = under_load(port, || {
        rgen(&["reload", name, "--system"], &dir).ok().map(|_| ())
    })?;
    check(failed == 0, || {
        format!(
            "{failed} of {} requests failed during `rgen reload`",
            ok + failed
        )
    })?;
    let expected = if cluster { 4 } else { 2 };
    check(pids.len() >= expected, || {
        format!(
            "only {} pids answered; the reload did not replace the processes",
            pids.len()
        )
    })?;
    rgen(&["uninstall", name, "--system"], &dir).ok()?;
    Ok(())
}

fn reload_cluster() -> TestResult {
    reload_without_failures("it-reload-cluster", 4304, true)
}

fn reload_single() -> TestResult {
    reload_without_failures("it-reload-single", 4305, false)
}

fn kill_shim() -> TestResult {
    let dir = workdir("killshim");
    node_app(&dir);
    ecosystem(
        &dir,
        serde_json::json!([{ "name": "it-killshim", "script": "server.js", "port": 4306 }]),
    );
    rgen(&["install", "--system"], &dir).ok()?;
    let sd = system();
    let unit = "it-killshim.service";
    let shim = main_pid(&sd, unit);
    let cmdline = std::fs::read(format!("/proc/{shim}/cmdline")).unwrap_or_default();
    check(
        String::from_utf8_lossy(&cmdline).contains("rgen-shim"),
        || "MainPID is not the shim".into(),
    )?;
    let before = poll("the app answering", Duration::from_secs(20), || {
        http_get(4306).as_deref().and_then(pid_of)
    })?;
    {
        // As in kill_9_restarts: no daemon-reload while the restart is counted.
        let _exclusive = MANAGER_RELOADS.write().unwrap_or_else(|e| e.into_inner());
        sd.kill(unit, "main", 9).map_err(|e| e.to_string())?;
        poll("a new shim and app", Duration::from_secs(30), || {
            let pid = main_pid(&sd, unit);
            let answer = http_get(4306).as_deref().and_then(pid_of);
            (pid != 0 && pid != shim && answer.is_some_and(|p| p != before)).then_some(())
        })?;
        restarted_once(&sd, unit)?;
    }
    // status names the app's own process, and the shim as the manager's main process.
    let answering = http_get(4306).as_deref().and_then(pid_of);
    let st = status_json(&dir, "--system", &[])?;
    let a = app_json(&st, "it-killshim")?;
    check(a["pid"].as_u64() == answering, || {
        format!("status pid {} but {answering:?} answers", a["pid"])
    })?;
    check(
        a["units"][0]["main_pid"].as_u64() == Some(u64::from(main_pid(&sd, unit))),
        || format!("main_pid {} is not MainPID", a["units"][0]["main_pid"]),
    )?;
    rgen(&["uninstall", "it-killshim", "--system"], &dir).ok()?;
    nothing_left(&sd, &dir, &["it-killshim"])
}

fn stop_sigint_then_sigkill() -> TestResult {
    let dir = workdir("stopsig");
    node_app(&dir);
    let notes_path = dir.join("notes.txt");
    ecosystem(
        &dir,
        serde_json::json!([
            // Through the shim (it holds a socket) and directly (KillSignal=SIGINT).
            { "name": "it-graceful", "script": "server.js", "port": 4307, "env": { "NOTES": notes_path } },
            { "name": "it-plain", "script": "server.js", "env": { "PORT": "4308", "NOTES": notes_path, "X": "plain" }, "exec_mode": "fork" },
            { "name": "it-stubborn", "script": "server.js", "kill_timeout": 1500,
              "env": { "PORT": "4309", "NOTES": notes_path, "IGNORE_SIGINT": "1" } },
        ]),
    );
    rgen(&["install", "--system"], &dir).ok()?;
    let sd = system();
    for port in [4307, 4308, 4309] {
        poll(&format!("port {port}"), Duration::from_secs(20), || {
            http_get(port)
        })?;
    }
    let app_pid = |port| http_get(port).as_deref().and_then(pid_of).unwrap_or(0);
    let (graceful, plain, stubborn) = (app_pid(4307), app_pid(4308), app_pid(4309));
    rgen(&["stop", "it-graceful", "it-plain", "--system"], &dir).ok()?;
    let n = notes(&dir);
    for pid in [graceful, plain] {
        check(n.contains(&format!("SIGINT {pid}")), || {
            format!("{pid} got no SIGINT: {n}")
        })?;
        check(!Path::new(&format!("/proc/{pid}")).exists(), || {
            format!("{pid} still runs after stop")
        })?;
    }
    let started = Instant::now();
    rgen(&["stop", "it-stubborn", "--system"], &dir).ok()?;
    check(notes(&dir).contains(&format!("SIGINT {stubborn}")), || {
        "the stubborn app got no SIGINT".into()
    })?;
    check(!Path::new(&format!("/proc/{stubborn}")).exists(), || {
        "the stubborn app survived the stop".into()
    })?;
    check(started.elapsed() >= Duration::from_millis(1500), || {
        format!(
            "SIGKILL came after {:?}, before kill_timeout",
            started.elapsed()
        )
    })?;
    rgen(&["uninstall", "stopsig", "--system"], &dir).ok()?;
    nothing_left(&sd, &dir, &["it-graceful", "it-plain", "it-stubborn"])
}

fn shim_backoff_on_252() -> TestResult {
    let dir = workdir("backoff252");
    // Each start notes its time and the delay the shim recorded for it (its state file, in the
    // shim's runtime base, is written before the app is spawned), so the curve is read, not
    // inferred from timing.
    write(
        &dir.join("crash.py"),
        "import glob, time\n\
         state = ''.join(open(p).read() for p in glob.glob('/tmp/rgen-*/it-backoff*.backoff') + glob.glob('/run/**/it-backoff*.backoff', recursive=True))\n\
         delay = next((l.split('=')[1].strip() for l in state.splitlines() if '=' in l), '-')\n\
         open('starts.txt', 'a').write(f'{time.monotonic()} {delay}\\n')\n\
         raise SystemExit(1)\n",
    );
    ecosystem(
        &dir,
        serde_json::json!([{ "name": "it-backoff", "script": "crash.py", "exp_backoff_restart_delay": 200, "max_restarts": 100 }]),
    );
    let unit_file = Path::new(UNIT_DIR).join("it-backoff.service");
    rgen(&["install", "--system"], &dir).ok()?;
    let text = std::fs::read_to_string(&unit_file).map_err(|e| e.to_string())?;
    check(
        text.contains("--backoff-initial") && !text.contains("RestartSteps"),
        || text.clone(),
    )?;
    let starts: Vec<(f64, String)> = poll("six starts", Duration::from_secs(30), || {
        let s: Vec<(f64, String)> = std::fs::read_to_string(dir.join("starts.txt"))
            .ok()?
            .lines()
            .filter_map(|l| {
                let (time, delay) = l.split_once(' ')?;
                Some((time.parse().ok()?, delay.to_string()))
            })
            .collect();
        (s.len() >= 6).then_some(s)
    })?;
    // PM2's curve from 200 ms: 200, 300, 450, 675, 1012, after a first start with none.
    let expected = rgen::plan::pm2_backoff_sequence(200, 5);
    let recorded: Vec<String> = starts.iter().take(6).map(|(_, d)| d.clone()).collect();
    let want: Vec<String> = std::iter::once(0)
        .chain(expected.iter().copied())
        .map(|d| d.to_string())
        .collect();
    check(recorded == want, || {
        format!("the shim waited {recorded:?} ms, PM2 waits {want:?}")
    })?;
    // And it really waited: each gap is at least its delay (load only makes gaps longer).
    for (i, w) in starts.windows(2).take(5).enumerate() {
        let gap_ms = (w[1].0 - w[0].0) * 1000.0;
        check(gap_ms + 1.0 >= expected[i] as f64, || {
            format!(
                "restart {} after {gap_ms:.0} ms, PM2 waits {} ms",
                i + 1,
                expected[i]
            )
        })?;
    }
    rgen(&["uninstall", "it-backoff", "--system"], &dir).ok()?;
    Ok(())
}

// ---- Reboot: what `pm2 startup` + `pm2 save` are for ----

/// The group of the reboot scenario: its apps live in the repository's target directory, which
/// both boots see (the container's own /var/tmp vanishes with it).
const BOOT_GROUP: &str = "it-boot";

pub fn boot_dir() -> std::path::PathBuf {
    repo().join("target").join(BOOT_GROUP)
}

fn boot_user_dir() -> std::path::PathBuf {
    repo().join("target").join(format!("{BOOT_GROUP}-user"))
}

/// Installs two apps (a plain process, and a Node server behind a socket unit and the shim),
/// then keeps a copy of their unit files and enable links for the next boot.
fn before_reboot() -> TestResult {
    let dir = boot_dir();
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    write(&dir.join("sleeper.py"), SLEEPER);
    node_app(&dir);
    ecosystem(
        &dir,
        serde_json::json!([
            { "name": "it-boot-sleeper", "script": "sleeper.py" },
            { "name": "it-boot-web", "script": "server.js", "env": { "PORT": "4320" } },
        ]),
    );
    rgen(&["install", "--system"], &dir).ok()?;
    poll("it-boot-web answers", Duration::from_secs(30), || {
        http_get(4320)
    })?;
    // And one app of the user scope, which only lingering brings up at boot.
    let user = user_manager(false)?;
    let user_dir = boot_user_dir();
    let _ = std::fs::remove_dir_all(&user_dir);
    std::fs::create_dir_all(&user_dir).map_err(|e| e.to_string())?;
    write(&user_dir.join("sleeper.py"), SLEEPER);
    ecosystem(
        &user_dir,
        serde_json::json!([{ "name": "it-boot-user-sleeper", "script": "sleeper.py" }]),
    );
    rgen_env(&["install", "--user"], &user_dir, &USER_ENV).ok()?;
    poll(
        "it-boot-user-sleeper running",
        Duration::from_secs(20),
        || (main_pid(&user, "it-boot-user-sleeper.service") != 0).then_some(()),
    )?;
    check(Path::new("/var/lib/systemd/linger/root").exists(), || {
        "install --user did not turn lingering on".into()
    })?;
    let kept = crate::boot_units_dir();
    let _ = std::fs::remove_dir_all(&kept);
    copy_units_named(Path::new(UNIT_DIR), &kept, BOOT_GROUP)
}

/// Copies the unit files and enable links whose names contain `needle`, keeping the layout
/// (links stay links), so the next boot sees what this one was left with.
fn copy_units_named(from: &Path, to: &Path, needle: &str) -> TestResult {
    std::fs::create_dir_all(to).map_err(|e| e.to_string())?;
    for entry in std::fs::read_dir(from).map_err(|e| e.to_string())? {
        let entry = entry.map_err(|e| e.to_string())?;
        let path = entry.path();
        let kind = entry.file_type().map_err(|e| e.to_string())?;
        let name = entry.file_name();
        if kind.is_dir() {
            copy_units_named(&path, &to.join(&name), needle)?;
        } else if name.to_string_lossy().contains(needle) {
            if kind.is_symlink() {
                let target = std::fs::read_link(&path).map_err(|e| e.to_string())?;
                std::os::unix::fs::symlink(target, to.join(&name)).map_err(|e| e.to_string())?;
            } else {
                std::fs::copy(&path, to.join(&name)).map_err(|e| e.to_string())?;
            }
        }
    }
    Ok(())
}

/// A new boot with the same /etc: nothing but systemd runs the apps.
fn after_reboot() -> TestResult {
    let sd = system();
    for unit in ["it-boot-sleeper.service", "it-boot-web.service"] {
        poll(
            &format!("{unit} active after boot"),
            Duration::from_secs(30),
            || (active_state(&sd, unit) == "active").then_some(()),
        )?;
    }
    let body = poll(
        "it-boot-web answers after boot",
        Duration::from_secs(30),
        || http_get(4320),
    )?;
    check(pid_of(&body).is_some(), || {
        format!("it-boot-web said {body}")
    })?;
    let dir = boot_dir();
    let st = status_json(&dir, "--system", &[])?;
    for app in ["it-boot-sleeper", "it-boot-web"] {
        let a = app_json(&st, app)?;
        check(a["status"] == "online" && a["restarts"] == 0, || {
            format!("{app} after boot: {a}")
        })?;
    }
    // The user scope's app: its manager was started by lingering, not by a login.
    let user = user_manager(true)?;
    let unit = "it-boot-user-sleeper.service";
    poll(
        &format!("{unit} active after boot"),
        Duration::from_secs(30),
        || (active_state(&user, unit) == "active").then_some(()),
    )?;
    let user_dir = boot_user_dir();
    rgen_env(&["uninstall", "--all", "--user"], &user_dir, &USER_ENV).ok()?;
    rgen(&["uninstall", "--all", "--system"], &dir).ok()?;
    nothing_left(
        &sd,
        &dir,
        &["it-boot-sleeper", "it-boot-web", "rgen-it-boot"],
    )
}

// ---- PM2's command line: ad-hoc apps, scale, signal, reset ----

fn adhoc_scale() -> TestResult {
    let name = "it-adhoc";
    let port = 4321;
    let dir = workdir("adhoc");
    node_app(&dir);
    // `pm2 start server.js --name it-adhoc -i 2 --port 4321 -- --flag "a b"`, no ecosystem file.
    let port_text = port.to_string();
    let install = [
        "install",
        "server.js",
        "--name",
        name,
        "-i",
        "2",
        "--port",
        &port_text,
        "--system",
        "--",
        "--flag",
        "a b",
    ];
    rgen(&install, &dir).ok()?;
    poll("the app answering", Duration::from_secs(20), || {
        http_get(port)
    })?;
    let sd = system();
    let argv = std::fs::read(format!(
        "/proc/{}/cmdline",
        pid_behind(&sd, "it-adhoc@0.service")?
    ))
    .map_err(|e| e.to_string())?;
    check(argv.ends_with(b"--flag\0a b\0"), || {
        format!("argv: {:?}", String::from_utf8_lossy(&argv))
    })?;
    let st = status_json(&dir, "--system", &[])?;
    let a = app_json(&st, name)?;
    check(a["instances"] == 2 && a["drift"] == false, || {
        format!("{a}")
    })?;
    // Installing the same command again changes nothing.
    let again = rgen(&install, &dir);
    again.ok()?;
    check(again.stdout.contains("(0 changed)"), || {
        again.stdout.clone()
    })?;

    let (ok, failed, pids) = under_load(port, || {
        rgen(&["scale", name, "4", "--system"], &dir).ok()?;
        poll("4 instances running", Duration::from_secs(20), || {
            (0..4)
                .all(|i| active_state(&sd, &format!("it-adhoc@{i}.service")) == "active")
                .then_some(())
        })?;
        rgen(&["scale", name, "-3", "--system"], &dir).ok()?;
        poll("1 instance running", Duration::from_secs(20), || {
            (1..4)
                .all(|i| active_state(&sd, &format!("it-adhoc@{i}.service")) != "active")
                .then_some(())
        })
    })?;
    check(failed == 0, || {
        format!("{failed} of {} requests failed while scaling", ok + failed)
    })?;
    check(pids.len() >= 2, || format!("only {pids:?} answered"))?;
    let st = status_json(&dir, "--system", &[])?;
    let a = app_json(&st, name)?;
    // The app now differs from how it was installed: that is drift, reported.
    check(a["instances"] == 1 && a["drift"] == true, || format!("{a}"))?;
    rgen(&["uninstall", name, "--system"], &dir).ok()?;
    nothing_left(&sd, &dir, &["it-adhoc"])
}

/// `rgen install server.js …`, then `rgen import --from-installed` and `rgen install` of the
/// file it wrote: the file takes the app over without a restart, and then nothing changes.
fn adhoc_import() -> TestResult {
    let name = "it-frominst";
    let port = 4331;
    let dir = workdir("frominst");
    node_app(&dir);
    let port_text = port.to_string();
    rgen(
        &[
            "install",
            "server.js",
            "--name",
            name,
            "-i",
            "2",
            "--port",
            &port_text,
            "--max-memory-restart",
            "300M",
            "--cron-restart",
            "0 3 * * *",
            "--system",
            "--",
            "--flag",
            "a b",
        ],
        &dir,
    )
    .ok()?;
    poll("the app answering", Duration::from_secs(20), || {
        http_get(port)
    })?;
    let sd = system();
    let instances = ["it-frominst@0.service", "it-frominst@1.service"];
    let pids: Vec<u32> = instances.iter().map(|u| main_pid(&sd, u)).collect();
    check(pids.iter().all(|p| *p != 0), || format!("pids: {pids:?}"))?;

    rgen(
        &[
            "import",
            "--from-installed",
            name,
            "--system",
            "--out",
            "rgen.toml",
        ],
        &dir,
    )
    .ok()?;
    let file = std::fs::read_to_string(dir.join("rgen.toml")).map_err(|e| e.to_string())?;
    check(file.contains("name = \"it-frominst\""), || file.clone())?;

    let taken = rgen(&["install", "rgen.toml", "--system"], &dir);
    taken.ok()?;
    check(
        taken.stdout.contains("(0 changed)")
            && taken
                .stdout
                .contains("(rgen's record of the source updated)")
            && !taken.stdout.contains("  ~ ")
            && !taken.stdout.contains("  + "),
        || taken.stdout.clone(),
    )?;
    let after: Vec<u32> = instances.iter().map(|u| main_pid(&sd, u)).collect();
    check(after == pids, || {
        format!("restarted: {pids:?} became {after:?}")
    })?;
    check(http_get(port).is_some(), || {
        "the app stopped answering".into()
    })?;
    let st = status_json(&dir, "--system", &[])?;
    let a = app_json(&st, name)?;
    check(
        a["instances"] == 2
            && a["drift"] == false
            && a["source"]
                .as_str()
                .is_some_and(|s| s.ends_with("frominst/rgen.toml")),
        || format!("{a}"),
    )?;

    // The file is the record now: installing it again is a no-op.
    let again = rgen(&["install", "rgen.toml", "--system"], &dir);
    again.ok()?;
    check(
        again.stdout.contains("(0 changed)")
            && !again.stdout.contains("record of the source updated")
            && !again.stdout.contains("  ~ "),
        || again.stdout.clone(),
    )?;
    check(
        instances
            .iter()
            .map(|u| main_pid(&sd, u))
            .collect::<Vec<_>>()
            == pids,
        || "restarted by the second install".into(),
    )?;
    rgen(&["uninstall", name, "--system"], &dir).ok()?;
    nothing_left(&sd, &dir, &[name])
}

/// The app behind the shim (or the unit's main process).
fn pid_behind(sd: &Systemd, unit: &str) -> Result<u32, String> {
    let main = main_pid(sd, unit);
    let children =
        std::fs::read_to_string(format!("/proc/{main}/task/{main}/children")).unwrap_or_default();
    Ok(children
        .split_whitespace()
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or(main))
}

const SIGNAL_NOTER: &str = "import os, signal, sys, time\nout = os.environ['OUT']\ndef got(n, f):\n    open(out, 'a').write(f\"{os.environ.get('NODE_APP_INSTANCE', '-')} {os.getpid()} {n}\\n\")\nsignal.signal(signal.SIGUSR2, got)\nopen(out, 'a').write(f\"up {os.getpid()}\\n\")\nwhile True:\n    time.sleep(3600)\n";

fn signal_every_process() -> TestResult {
    let dir = workdir("signal");
    write(&dir.join("noter.py"), SIGNAL_NOTER);
    let out = |n: &str| dir.join(format!("{n}.txt"));
    ecosystem(
        &dir,
        serde_json::json!([
            // Two instances behind the shim (log files), and one plain app.
            { "name": "it-sig-many", "script": "noter.py", "instances": 2,
              "out_file": "many.log", "env": { "OUT": out("many") } },
            { "name": "it-sig-one", "script": "noter.py", "env": { "OUT": out("one") } },
        ]),
    );
    rgen(&["install", "--system"], &dir).ok()?;
    let ups = |n: &str| {
        std::fs::read_to_string(out(n))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with("up "))
            .count()
    };
    poll("the apps up", Duration::from_secs(20), || {
        (ups("many") == 2 && ups("one") == 1).then_some(())
    })?;
    rgen(
        &["signal", "SIGUSR2", "it-sig-many", "it-sig-one", "--system"],
        &dir,
    )
    .ok()?;
    poll(
        "every instance got SIGUSR2",
        Duration::from_secs(10),
        || {
            let many = std::fs::read_to_string(out("many")).unwrap_or_default();
            let one = std::fs::read_to_string(out("one")).unwrap_or_default();
            (many.contains("0 ")
                && many.contains("1 ")
                && many.matches(" 12\n").count() == 2
                && one.matches(" 12\n").count() == 1)
                .then_some(())
        },
    )?;
    rgen(&["uninstall", "signal", "--system"], &dir).ok()?;
    Ok(())
}

fn reset_counts() -> TestResult {
    let dir = workdir("reset");
    write(&dir.join("a.py"), SLEEPER);
    ecosystem(
        &dir,
        serde_json::json!([{ "name": "it-reset", "script": "a.py" }]),
    );
    rgen(&["install", "--system"], &dir).ok()?;
    let sd = system();
    let unit = "it-reset.service";
    for _ in 0..2 {
        let pid = poll("it-reset running", Duration::from_secs(20), || {
            Some(main_pid(&sd, unit)).filter(|&p| p != 0)
        })?;
        // SAFETY: kill has no memory preconditions.
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        poll("restarted", Duration::from_secs(20), || {
            (main_pid(&sd, unit) != pid && main_pid(&sd, unit) != 0).then_some(())
        })?;
    }
    check(n_restarts(&sd, unit) >= 2, || {
        format!("NRestarts {}", n_restarts(&sd, unit))
    })?;
    let before = main_pid(&sd, unit);
    rgen(&["reset", "it-reset", "--system"], &dir).ok()?;
    check(n_restarts(&sd, unit) == 0, || {
        format!("NRestarts {} after reset", n_restarts(&sd, unit))
    })?;
    check(main_pid(&sd, unit) == before, || {
        "reset restarted the app".into()
    })?;
    rgen(&["uninstall", "it-reset", "--system"], &dir).ok()?;
    Ok(())
}

/// `rgen status` reads the same through the manager's private socket (the default for root from
/// eight services on) and through the bus (`RGEN_DBUS_VIA=bus`, and the silent fallback for everyone else), in the
/// system scope and in a non-root user's own scope.
fn status_private_socket_and_bus() -> TestResult {
    let dir = workdir("via");
    write(&dir.join("a.py"), SLEEPER);
    ecosystem(
        &dir,
        serde_json::json!([{ "name": "it-via-a", "script": "a.py" }, { "name": "it-via-b", "script": "a.py" }]),
    );
    rgen(&["install", "--system"], &dir).ok()?;
    let sd = system();
    let pids = poll("it-via-a and -b running", Duration::from_secs(20), || {
        let a = main_pid(&sd, "it-via-a.service");
        let b = main_pid(&sd, "it-via-b.service");
        (a != 0 && b != 0).then_some([a, b])
    })?;
    let same = |st: &serde_json::Value, how: &str| -> TestResult {
        for (name, pid) in ["it-via-a", "it-via-b"].iter().zip(pids) {
            let a = app_json(st, name)?;
            check(
                a["status"] == "online" && a["pid"] == pid && a["restarts"] == 0,
                || format!("{name} {how}: {a}"),
            )?;
        }
        Ok(())
    };
    for via in ["private", "bus", "auto"] {
        let st = status_json(&dir, "--system", &[("RGEN_DBUS_VIA", via)])?;
        same(&st, &format!("with RGEN_DBUS_VIA={via}"))?;
    }
    // A nobody: the private socket is root's, so the bus it is, silently; insisting says why.
    let as_nobody = |via: &str| {
        std::process::Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(env!("CARGO_BIN_EXE_rgen"))
            .args(["status", "--json", "--system"])
            .current_dir(&dir)
            .env("PATH", PATH)
            .env("RGEN_DBUS_VIA", via)
            .output()
            .map_err(|e| format!("cannot run setpriv: {e}"))
    };
    let out = as_nobody("auto")?;
    check(out.status.success() && out.stderr.is_empty(), || {
        format!(
            "status as nobody: {:?}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )
    })?;
    let st: serde_json::Value =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("status as nobody: {e}"))?;
    same(&st, "as nobody")?;
    let out = as_nobody("private")?;
    let text = String::from_utf8_lossy(&out.stderr);
    check(
        out.status.code() == Some(1) && text.contains("private socket"),
        || format!("RGEN_DBUS_VIA=private as nobody: {:?}\n{text}", out.status),
    )?;
    rgen(&["uninstall", "via", "--system"], &dir).ok()?;
    user_status_as_non_root()
}

/// A user's own scope, as that (non-root) user: her manager's private socket is hers.
fn user_status_as_non_root() -> TestResult {
    const UID: u32 = 4711;
    let home = Path::new("/home/it-via");
    // A user of this container only: its /etc is a throwaway overlay.
    let added = std::process::Command::new("useradd")
        .args([
            "--create-home",
            "--home-dir",
            "/home/it-via",
            "--uid",
            "4711",
            "--user-group",
            "it-via",
        ])
        .status()
        .map_err(|e| format!("cannot run useradd: {e}"))?;
    check(added.success() || added.code() == Some(9), || {
        format!("useradd: {added:?}")
    })?;
    let manager = format!("user@{UID}.service");
    let outcomes = system()
        .run_jobs(&[(JobKind::Start, manager.clone())])
        .map_err(|e| e.to_string())?;
    check(outcomes.iter().all(|o| o.done()), || {
        format!("{manager} did not start: {outcomes:?}")
    })?;
    let runtime = format!("/run/user/{UID}");
    poll("the user's bus", Duration::from_secs(30), || {
        Path::new(&runtime).join("bus").exists().then_some(())
    })?;
    let dir = home.join("app");
    write(&dir.join("a.py"), SLEEPER);
    ecosystem(
        &dir,
        serde_json::json!([{ "name": "it-via-user", "script": "a.py" }]),
    );
    let chown = std::process::Command::new("chown")
        .args(["-R", "it-via:it-via"])
        .arg(home)
        .status()
        .map_err(|e| e.to_string())?;
    check(chown.success(), || "chown failed".into())?;
    let as_user = |args: &[&str], via: &str| {
        let out = std::process::Command::new("setpriv")
            .args(["--reuid=4711", "--regid=4711", "--init-groups"])
            .arg(env!("CARGO_BIN_EXE_rgen"))
            .args(args)
            .current_dir(&dir)
            .env_clear()
            .env("PATH", PATH)
            .env("HOME", home)
            .env("XDG_RUNTIME_DIR", &runtime)
            .env("NO_COLOR", "1")
            .env("RGEN_DBUS_VIA", via)
            .output()
            .map_err(|e| format!("cannot run setpriv: {e}"))?;
        Ok::<_, String>(Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    };
    as_user(&["install", "--user"], "auto")?.ok()?;
    let mut pid = serde_json::Value::Null;
    for via in ["auto", "private", "bus"] {
        let st = poll(
            &format!("it-via-user online (RGEN_DBUS_VIA={via})"),
            Duration::from_secs(20),
            || {
                let out = as_user(&["status", "--json", "--user"], via).ok()?;
                let st: serde_json::Value = serde_json::from_str(&out.stdout).ok()?;
                let a = app_json(&st, "it-via-user").ok()?.clone();
                (a["status"] == "online").then_some(a)
            },
        )?;
        if pid.is_null() {
            pid = st["pid"].clone();
        }
        check(st["pid"] == pid && pid.is_u64(), || {
            format!("user status with RGEN_DBUS_VIA={via}: {st}")
        })?;
    }
    as_user(&["uninstall", "it-via-user", "--user"], "auto")?.ok()?;
    system()
        .run_jobs(&[(JobKind::Stop, manager)])
        .map_err(|e| e.to_string())?;
    Ok(())
}
