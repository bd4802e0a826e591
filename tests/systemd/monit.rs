//! Issue #13: `rgen monit` in a real terminal (tmux) against apps on the real systemd: the rows
//! appear, a memory hog's memory climbs on screen and its OOM restart is marked, `r` restarts
//! the selected app after confirmation, `q` exits 0 and gives the terminal back.
//!
//! The screen is read as a person would, with `tmux capture-pane`; keys are typed with
//! `tmux send-keys`. tmux runs on its own socket, so nothing else's sessions are touched.

use std::process::Command;
use std::time::Duration;

use libtest_mimic::Trial;

use crate::Suite;
use crate::support::{
    PATH, TestResult, check, main_pid, poll, rgen, system, workdir, write, write_exec,
};

pub fn trials(suite: Suite) -> Vec<Trial> {
    if suite != Suite::Host {
        return Vec::new();
    }
    vec![Trial::test(
        "monit_shows_a_leak_its_oom_kill_and_restarts_an_app",
        || monit_in_a_terminal().map_err(Into::into),
    )]
}

const SOCKET: &str = "rgen-monit-it";
const SESSION: &str = "monit";

fn tmux(args: &[&str]) -> Result<String, String> {
    let out = Command::new("tmux")
        .args(["-L", SOCKET])
        .args(args)
        .output()
        .map_err(|e| format!("cannot run tmux ({e}); apt-get install -y tmux"))?;
    if !out.status.success() {
        return Err(format!(
            "tmux {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn screen() -> String {
    tmux(&["capture-pane", "-p", "-t", SESSION]).unwrap_or_default()
}

fn keys(keys: &[&str]) -> Result<(), String> {
    let mut args = vec!["send-keys", "-t", SESSION];
    args.extend(keys);
    tmux(&args).map(|_| ())
}

/// Waits until the screen shows what `find` looks for; the screen in the error otherwise.
fn wait_for<T>(
    what: &str,
    secs: u64,
    mut find: impl FnMut(&str) -> Option<T>,
) -> Result<T, String> {
    let mut last = String::new();
    poll(what, Duration::from_secs(secs), || {
        last = screen();
        find(&last)
    })
    .map_err(|e| format!("{e}; the screen:\n{last}"))
}

/// The row of an app (the line whose name column is it).
fn row<'a>(screen: &'a str, app: &str) -> Option<&'a str> {
    screen.lines().find(|l| {
        l.split_whitespace()
            .find(|w| !matches!(*w, "›" | "▸" | "▾"))
            .is_some_and(|w| w.trim_start_matches(['›', '▸', '▾']) == app)
    })
}

/// The memory column of a row, in MiB (`46.8mb`, `512.0kb`).
fn memory_mib(row: &str) -> Option<f64> {
    row.split_whitespace().find_map(|w| {
        let (n, scale) = if let Some(n) = w.strip_suffix("mb") {
            (n, 1.0)
        } else if let Some(n) = w.strip_suffix("kb") {
            (n, 1.0 / 1024.0)
        } else {
            return None;
        };
        n.parse::<f64>().ok().map(|v| v * scale)
    })
}

struct Tmux;

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = tmux(&["kill-server"]);
    }
}

fn monit_in_a_terminal() -> TestResult {
    let dir = workdir("monit");
    // Grows 4 MiB every 250 ms: slow enough to watch climb, killed at 64 MiB within seconds.
    write(
        &dir.join("hog.py"),
        "import time\nheld = []\nwhile True:\n    held.append(b'x' * (4 << 20))\n    time.sleep(0.25)\n",
    );
    write(
        &dir.join("idle.py"),
        "import time\nwhile True:\n    time.sleep(3600)\n",
    );
    write(
        &dir.join("ecosystem.json"),
        &serde_json::json!({ "apps": [
            { "name": "it-mon-hog", "script": "hog.py", "interpreter": "/usr/bin/python3",
              "max_memory_restart": "64M", "restart_delay": 1000 },
            { "name": "it-mon-idle", "script": "idle.py", "interpreter": "/usr/bin/python3" },
        ]})
        .to_string(),
    );
    rgen(&["install", "--system"], &dir).ok()?;
    let sd = system();
    let _ = tmux(&["kill-server"]);
    let _server = Tmux;
    let exit_file = dir.join("exit-status");
    let script = dir.join("run-monit");
    write_exec(
        &script,
        &format!(
            "#!/bin/sh\ncd {dir}\nPATH={PATH} NO_COLOR=1 {rgen} monit --system it-mon-hog it-mon-idle\n\
             code=$?\necho \"rgen-monit-exit=$code\"\necho $code > {exit}\nstty -a > {dir}/stty-after\nexec sleep 600\n",
            dir = dir.display(),
            rgen = env!("CARGO_BIN_EXE_rgen"),
            exit = exit_file.display(),
        ),
    );
    tmux(&[
        "new-session",
        "-d",
        "-s",
        SESSION,
        "-x",
        "140",
        "-y",
        "45",
        &script.to_string_lossy(),
    ])?;

    // The rows appear.
    wait_for("both apps' rows", 20, |s| {
        (row(s, "it-mon-hog").is_some() && row(s, "it-mon-idle").is_some()).then_some(())
    })?;
    // The hog's memory climbs on screen.
    let first = wait_for("the hog's memory", 20, |s| {
        row(s, "it-mon-hog").and_then(memory_mib)
    })?;
    wait_for("the hog's memory to rise", 20, |s| {
        row(s, "it-mon-hog")
            .and_then(memory_mib)
            .filter(|&m| m > first + 4.0)
    })?;
    // Killed at its limit, and marked so.
    wait_for("the OOM kill marked on the hog's row", 60, |s| {
        row(s, "it-mon-hog")
            .filter(|r| r.contains("oom-kill"))
            .map(|_| ())
    })?;

    // `r` on the idle app, confirmed: it is restarted.
    let before = main_pid(&sd, "it-mon-idle.service");
    check(before != 0, || "the idle app has no main pid".into())?;
    keys(&["j"])?;
    wait_for("the idle app selected", 10, |s| {
        row(s, "it-mon-idle")
            .filter(|r| r.starts_with('›'))
            .map(|_| ())
    })?;
    keys(&["r"])?;
    wait_for("the confirmation", 10, |s| {
        s.contains("restart it-mon-idle? y to confirm")
            .then_some(())
    })?;
    keys(&["y"])?;
    wait_for("the restart reported", 30, |s| {
        s.contains("it-mon-idle: restarted").then_some(())
    })?;
    let after = main_pid(&sd, "it-mon-idle.service");
    check(after != 0 && after != before, || {
        format!("main pid {before} → {after}: not restarted")
    })?;

    // `q` exits 0 and the terminal is itself again: the primary screen, cooked mode.
    keys(&["q"])?;
    wait_for("rgen monit to exit", 10, |s| {
        s.contains("rgen-monit-exit=").then_some(())
    })?;
    let code = std::fs::read_to_string(&exit_file).unwrap_or_default();
    let screen = screen();
    check(screen.contains("rgen-monit-exit=0"), || {
        format!("exit status {code}; the screen:\n{screen}")
    })?;
    let alternate = tmux(&["display-message", "-p", "-t", SESSION, "#{alternate_on}"])?;
    check(alternate.trim() == "0", || {
        "still on the alternate screen".into()
    })?;
    let stty = poll("stty's report", Duration::from_secs(5), || {
        std::fs::read_to_string(dir.join("stty-after"))
            .ok()
            .filter(|s| !s.is_empty())
    })?;
    check(
        stty.split_whitespace().any(|w| w == "icanon")
            && stty.split_whitespace().any(|w| w == "echo"),
        || format!("the terminal is still raw: {stty}"),
    )?;
    rgen(
        &["uninstall", "it-mon-hog", "it-mon-idle", "--system"],
        &dir,
    )
    .ok()?;
    Ok(())
}
