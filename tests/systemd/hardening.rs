//! Issue #9 item 12: `hardening: 'strict'` (and `--hardening strict`) on the real manager.
//!
//! Each scenario installs an app with the strict profile and checks three things: it still does
//! its job (answers HTTP, writes its logs, through the shim where it runs behind one), the
//! sandbox is real (what the app reports it could and could not write), and
//! `systemd-analyze security` rates the unit at most [`STRICT_EXPOSURE_MAX`]. Where an app has a
//! twin with the default profile, both exposures are printed (`hardening exposure: …` lines), so
//! the test output carries the numbers the README quotes.
//!
//! The apps run as root unless they say `uid`; one scenario adds the user `hardy` with
//! `useradd`, which is safe only inside the container (its `/etc` is an overlay that vanishes at
//! teardown; checked before the user is added).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use libtest_mimic::Trial;

use crate::Suite;
use crate::support::*;

type Case = (Suite, &'static str, fn() -> TestResult);

/// The bar the strict profile must clear: systemd-analyze calls 2.0 and below "OK".
const STRICT_EXPOSURE_MAX: f64 = 2.0;

/// The user of the scenarios whose apps live in a home directory.
const HARDY: &str = "hardy";

pub fn trials(suite: Suite) -> Vec<Trial> {
    all()
        .into_iter()
        .filter(|(s, _, _)| *s == suite)
        .map(|(_, name, f)| {
            Trial::test(name, move || f().map_err(Into::into)).with_kind("hardening")
        })
        .collect()
}

fn all() -> Vec<Case> {
    vec![
        (
            Suite::Host,
            "hardening_strict_node_server_behind_the_shim_serves_with_exposure_at_most_2",
            node_server,
        ),
        (
            Suite::Host,
            "hardening_strict_cluster_instances_share_their_port",
            node_cluster,
        ),
        (
            Suite::Host,
            "hardening_strict_python_server_of_a_user_under_home_binds_a_low_port_with_exposure_at_most_2",
            python_server,
        ),
        (
            Suite::Host,
            "hardening_flag_sandboxes_a_script_under_root_that_writes_its_own_logs",
            script_writing_logs,
        ),
        (
            Suite::Host,
            "hardening_strict_keeps_the_shims_backoff_state_across_restarts_on_systemd_252",
            shim_backoff,
        ),
        (
            Suite::Host,
            "hardening_strict_in_a_users_own_manager_applies_the_unprivileged_part",
            user_manager,
        ),
        (
            Suite::Modern,
            "hardening_strict_python_server_of_a_user_under_home_on_systemd_257",
            python_server,
        ),
        (
            Suite::Modern,
            "hardening_flag_sandboxes_a_script_under_root_on_systemd_257",
            script_writing_logs,
        ),
    ]
}

const UNIT_DIR: &str = "/etc/systemd/system";

fn ecosystem(dir: &Path, apps: serde_json::Value) {
    write(
        &dir.join("ecosystem.json"),
        &serde_json::json!({ "apps": apps }).to_string(),
    );
}

/// A Node HTTP server that reports what it could write. With `SEND_READY` it tells the shim it
/// is ready (`wait_ready`).
const NODE_SERVER: &str = r#"
const fs = require('fs');
const http = require('http');
const probe = (path) => {
  try { fs.appendFileSync(path, 'probe\n'); return 'written'; } catch (e) { return 'denied'; }
};
const facts = {
  cwd: probe('probe.txt'),
  tmp: probe('/tmp/probe-' + process.pid),
  etc: probe('/etc/rgen-it-hardening-' + process.env.APP),
  cpus: require('os').cpus().length,
  pid: process.pid,
};
const server = http.createServer((req, res) => {
  res.setHeader('connection', 'close');
  res.end(JSON.stringify(facts));
});
server.listen(Number(process.env.PORT), () => {
  console.log('listening ' + process.pid);
  if (process.env.SEND_READY && process.send) process.send('ready');
});
process.on('SIGINT', () => server.close(() => process.exit(0)));
"#;

/// The same in Python with the socket module only (python3-minimal has no http.server). It binds
/// its port itself, so a port below 1024 needs the capability the strict profile keeps for it.
const PYTHON_SERVER: &str = r#"
import json, os, socket
def probe(path):
    try:
        with open(path, 'a') as f:
            f.write('probe\n')
        return 'written'
    except OSError:
        return 'denied'
facts = {
    'uid': os.getuid(),
    'cwd': probe('probe.txt'),
    'tmp': probe('/tmp/probe-%d' % os.getpid()),
    'home': probe(os.path.join(os.path.dirname(os.getcwd()), 'outside-%d' % os.getpid())),
    'etc': probe('/etc/rgen-it-hardening-' + os.environ['APP']),
}
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', int(os.environ['PORT'])))
s.listen(16)
print('listening', os.getpid())
while True:
    c, _ = s.accept()
    c.recv(4096)
    c.sendall(b'HTTP/1.0 200 OK\r\nconnection: close\r\n\r\n' + json.dumps(facts).encode())
    c.close()
"#;

/// What a server said about itself.
fn facts(port: u16) -> Result<serde_json::Value, String> {
    let body = poll(
        &format!("an answer on port {port}"),
        Duration::from_secs(30),
        || http_get(port),
    )?;
    serde_json::from_str(&body).map_err(|e| format!("port {port} answered {body:?}: {e}"))
}

/// `systemd-analyze security UNIT`'s overall exposure, printed with `what` for the test output.
fn exposure(unit: &str, user: Option<&str>, what: &str) -> Result<f64, String> {
    let mut cmd = match user {
        Some(u) => {
            let uid = uid_of(u).ok_or_else(|| format!("no user {u}"))?;
            let mut c = Command::new("runuser");
            c.args(["-u", u, "--", "env"])
                .arg(format!("XDG_RUNTIME_DIR=/run/user/{uid}"))
                .arg(format!(
                    "DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/{uid}/bus"
                ))
                .args(["systemd-analyze", "--user", "security", unit]);
            c
        }
        None => {
            let mut c = Command::new("systemd-analyze");
            c.args(["security", unit]);
            c
        }
    };
    let out = cmd
        .env("PATH", PATH)
        .env("SYSTEMD_COLORS", "0")
        .output()
        .map_err(|e| format!("cannot run systemd-analyze: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let value = text
        .lines()
        .find_map(|l| {
            l.split_once("Overall exposure level for ")?
                .1
                .split_once(": ")
        })
        .and_then(|(_, rest)| rest.split_whitespace().next()?.parse::<f64>().ok())
        .ok_or_else(|| {
            format!(
                "systemd-analyze security {unit}: no exposure in\n{text}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        })?;
    println!(
        "hardening exposure: systemd {} {what} {unit}: {value:.1}",
        systemd_version()
    );
    Ok(value)
}

/// The exposure must clear the bar; the directives that still count are shown when it does not.
fn at_most_bar(unit: &str, value: f64) -> TestResult {
    check(value <= STRICT_EXPOSURE_MAX, || {
        let table = Command::new("systemd-analyze")
            .args(["security", unit])
            .env("PATH", PATH)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        let open: Vec<&str> = table.lines().filter(|l| l.starts_with('✗')).collect();
        format!(
            "{unit}: exposure {value} > {STRICT_EXPOSURE_MAX}; still open:\n{}",
            open.join("\n")
        )
    })
}

fn systemd_version() -> String {
    static VERSION: OnceLock<String> = OnceLock::new();
    VERSION
        .get_or_init(|| {
            Command::new("systemctl")
                .arg("--version")
                .env("PATH", PATH)
                .output()
                .ok()
                .and_then(|o| {
                    String::from_utf8_lossy(&o.stdout)
                        .split_whitespace()
                        .nth(1)
                        .map(str::to_string)
                })
                .unwrap_or_else(|| "?".into())
        })
        .clone()
}

fn unit_text(unit: &str) -> String {
    std::fs::read_to_string(Path::new(UNIT_DIR).join(unit)).unwrap_or_default()
}

fn wait_active(sd: &rgen::backend::systemd::dbus::Client, unit: &str) -> TestResult {
    poll(&format!("{unit} active"), Duration::from_secs(30), || {
        (active_state(sd, unit) == "active").then_some(())
    })
}

/// (a) A Node HTTP server behind the shim (a socket unit holds its port, `wait_ready`, a log
/// file the shim writes), strict, next to the same app with the default profile.
fn node_server() -> TestResult {
    let dir = workdir("harden-node");
    write(&dir.join("server.js"), NODE_SERVER);
    let app = |name: &str, port: u16, hardening: &str| {
        serde_json::json!({ "name": name, "script": "server.js", "port": port,
            "wait_ready": true, "out_file": format!("logs/{name}-out.log"), "hardening": hardening,
            "env": { "SEND_READY": "1", "APP": name } })
    };
    ecosystem(
        &dir,
        serde_json::json!([
            app("it-harden-node", 4401, "strict"),
            app("it-harden-node-default", 4402, "default"),
        ]),
    );
    rgen(&["install", "--system"], &dir).ok()?;
    let sd = system();
    let result = (|| -> TestResult {
        let unit = "it-harden-node.service";
        wait_active(&sd, unit)?;
        let text = unit_text(unit);
        check(
            text.contains("rgen-shim")
                && text.contains("ProtectSystem=strict")
                && text.contains("NotifyAccess=main"),
            || format!("{unit} is not a strict unit behind the shim:\n{text}"),
        )?;
        let strict = facts(4401)?;
        check(
            strict["cwd"] == "written"
                && strict["tmp"] == "written"
                && strict["etc"] == "denied"
                && strict["cpus"].as_u64().is_some_and(|n| n > 0),
            || format!("the strict app reports {strict}"),
        )?;
        let default = facts(4402)?;
        check(default["etc"] == "written", || {
            format!("the default app reports {default} (the probe should reach /etc)")
        })?;
        poll("the shim's log file", Duration::from_secs(10), || {
            std::fs::read_to_string(dir.join("logs/it-harden-node-out.log"))
                .ok()
                .filter(|t| t.contains("listening"))
        })?;
        exposure("it-harden-node-default.service", None, "node default")?;
        at_most_bar(unit, exposure(unit, None, "node strict")?)
    })();
    rgen(
        &[
            "uninstall",
            "it-harden-node",
            "it-harden-node-default",
            "--system",
        ],
        &dir,
    )
    .ok()?;
    let _ = std::fs::remove_file("/etc/rgen-it-hardening-it-harden-node-default");
    result
}

/// Cluster mode: instances of a template unit share the socket systemd holds, each behind its
/// own shim with the Node preload in the unit's runtime directory (`rgen/%N`).
fn node_cluster() -> TestResult {
    let dir = workdir("harden-cluster");
    write(&dir.join("server.js"), NODE_SERVER);
    ecosystem(
        &dir,
        serde_json::json!([{ "name": "it-harden-cluster", "script": "server.js", "port": 4403,
            "exec_mode": "cluster", "instances": 2, "hardening": "strict",
            "env": { "APP": "it-harden-cluster" } }]),
    );
    rgen(&["install", "--system"], &dir).ok()?;
    let sd = system();
    let result = (|| -> TestResult {
        for unit in ["it-harden-cluster@0.service", "it-harden-cluster@1.service"] {
            wait_active(&sd, unit)?;
        }
        check(
            unit_text("it-harden-cluster@.service").contains("RuntimeDirectory=rgen/%N"),
            || unit_text("it-harden-cluster@.service"),
        )?;
        let pids: std::collections::BTreeSet<u32> = [0, 1]
            .iter()
            .map(|i| main_pid(&sd, &format!("it-harden-cluster@{i}.service")))
            .collect();
        check(pids.len() == 2 && !pids.contains(&0), || {
            format!("instances' main pids: {pids:?}")
        })?;
        // Both instances accept on the one socket; the kernel spreads the connections.
        let mut seen = std::collections::BTreeSet::new();
        poll(
            "answers from both instances",
            Duration::from_secs(30),
            || {
                let body = http_get(4403)?;
                let facts: serde_json::Value = serde_json::from_str(&body).ok()?;
                if facts["cwd"] == "written" && facts["etc"] == "denied" {
                    seen.insert(facts["pid"].as_u64()?);
                }
                (seen.len() == 2).then_some(())
            },
        )?;
        at_most_bar(
            "it-harden-cluster@0.service",
            exposure("it-harden-cluster@0.service", None, "node cluster strict")?,
        )
    })();
    rgen(&["uninstall", "it-harden-cluster", "--system"], &dir).ok()?;
    result
}

/// (b) A Python HTTP server of a user, under her home, binding a port below 1024 itself, its
/// output in a log file the shim writes as her; next to a default twin on a high port.
fn python_server() -> TestResult {
    hardy()?;
    let home = PathBuf::from(format!("/home/{HARDY}"));
    let dir = home.join("it-harden-py");
    let _ = std::fs::remove_dir_all(&dir);
    write(&dir.join("server.py"), PYTHON_SERVER);
    let app = |name: &str, port: u16, hardening: &str| {
        serde_json::json!({ "name": name, "script": "server.py", "uid": HARDY, "port": port,
            "out_file": format!("logs/{name}-out.log"), "hardening": hardening,
            "env": { "APP": name } })
    };
    ecosystem(
        &dir,
        serde_json::json!([
            app("it-harden-py", 81, "strict"),
            app("it-harden-py-default", 4411, "default"),
        ]),
    );
    chown_to_hardy(&dir)?;
    rgen(&["install", "--system"], &dir).ok()?;
    let sd = system();
    let result = (|| -> TestResult {
        let unit = "it-harden-py.service";
        wait_active(&sd, unit)?;
        let uid = uid_of(HARDY).ok_or("no uid for hardy")?;
        let strict = facts(81)?;
        check(
            strict["uid"] == uid
                && strict["cwd"] == "written"
                && strict["tmp"] == "written"
                && strict["home"] == "denied"
                && strict["etc"] == "denied",
            || format!("the strict app reports {strict}"),
        )?;
        let default = facts(4411)?;
        check(default["home"] == "written", || {
            format!("the default app reports {default} (its home should be writable)")
        })?;
        poll("the shim's log file", Duration::from_secs(10), || {
            std::fs::read_to_string(dir.join("logs/it-harden-py-out.log"))
                .ok()
                .filter(|t| t.contains("listening"))
        })?;
        exposure("it-harden-py-default.service", None, "python default")?;
        at_most_bar(unit, exposure(unit, None, "python strict")?)
    })();
    rgen(
        &[
            "uninstall",
            "it-harden-py",
            "it-harden-py-default",
            "--system",
        ],
        &dir,
    )
    .ok()?;
    result
}

/// (c) A script under /root that creates and writes its own log directory below its cwd,
/// hardened by `--hardening strict` (the file does not say `hardening`).
fn script_writing_logs() -> TestResult {
    // A space, a colon and a percent sign: `BindPaths=` splits at the first two and expands the
    // third, unless quoted.
    let dir = PathBuf::from("/root/rgen-it harden:script 100%");
    let _ = std::fs::remove_dir_all(&dir);
    write_exec(
        &dir.join("run.sh"),
        "#!/bin/sh\nmkdir -p logs\necho \"started $$\" >> logs/run.log\n\
         if echo x > ../rgen-it-harden-outside 2>/dev/null; then echo 'outside: written' >> logs/run.log; else echo 'outside: denied' >> logs/run.log; fi\n\
         exec sleep infinity\n",
    );
    ecosystem(
        &dir,
        serde_json::json!([{ "name": "it-harden-script", "script": "run.sh" }]),
    );
    let result = (|| -> TestResult {
        // Default first: the same file without the flag renders no sandbox.
        rgen(&["install", "--system"], &dir).ok()?;
        let unit = "it-harden-script.service";
        let sd = system();
        wait_active(&sd, unit)?;
        check(!unit_text(unit).contains("ProtectSystem"), || {
            format!("without the flag: {}", unit_text(unit))
        })?;
        exposure(unit, None, "script default")?;
        let out = rgen(&["install", "--system", "--hardening", "strict"], &dir);
        out.ok()?;
        check(unit_text(unit).contains("ProtectSystem=strict"), || {
            format!("with --hardening strict: {}", unit_text(unit))
        })?;
        wait_active(&sd, unit)?;
        let log = poll(
            "logs/run.log of the strict run",
            Duration::from_secs(10),
            || {
                std::fs::read_to_string(dir.join("logs/run.log"))
                    .ok()
                    .filter(|t| t.matches("started").count() >= 2 && t.contains("outside: denied"))
            },
        )?;
        check(log.contains("outside: written"), || {
            format!("the default run should have written outside its cwd: {log}")
        })?;
        at_most_bar(unit, exposure(unit, None, "script strict")?)
    })();
    rgen(&["uninstall", "it-harden-script", "--system"], &dir).ok()?;
    let _ = std::fs::remove_file("/root/rgen-it-harden-outside");
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// On systemd < 254 the shim sleeps PM2's backoff, remembering the last delay in a state file.
/// The private /tmp is new at every start, so strict units keep it in a preserved runtime
/// directory: the delays must still grow.
fn shim_backoff() -> TestResult {
    let dir = workdir("harden-backoff");
    write(
        &dir.join("crash.py"),
        "import time\nopen('starts.txt', 'a').write(f'{time.monotonic()}\\n')\nraise SystemExit(1)\n",
    );
    ecosystem(
        &dir,
        serde_json::json!([{ "name": "it-harden-backoff", "script": "crash.py",
            "exp_backoff_restart_delay": 200, "max_restarts": 100, "hardening": "strict" }]),
    );
    rgen(&["install", "--system"], &dir).ok()?;
    let result = (|| -> TestResult {
        let text = unit_text("it-harden-backoff.service");
        check(
            text.contains("--backoff-initial") && text.contains("RuntimeDirectoryPreserve=restart"),
            || text.clone(),
        )?;
        let starts: Vec<f64> = poll("six starts", Duration::from_secs(30), || {
            let s: Vec<f64> = std::fs::read_to_string(dir.join("starts.txt"))
                .ok()?
                .lines()
                .filter_map(|l| l.parse().ok())
                .collect();
            (s.len() >= 6).then_some(s)
        })?;
        let expected = rgen::plan::pm2_backoff_sequence(200, 5);
        for (i, w) in starts.windows(2).take(5).enumerate() {
            let gap_ms = (w[1] - w[0]) * 1000.0;
            check(gap_ms + 1.0 >= expected[i] as f64, || {
                format!(
                    "restart {} after {gap_ms:.0} ms, PM2 waits {} ms",
                    i + 1,
                    expected[i]
                )
            })?;
        }
        Ok(())
    })();
    rgen(&["uninstall", "it-harden-backoff", "--system"], &dir).ok()?;
    result
}

/// The user scope: hardy's own (unprivileged) manager applies `NoNewPrivileges=` and the
/// seccomp filters; rgen says the rest needs `--system`, and the app still serves.
fn user_manager() -> TestResult {
    hardy()?;
    let uid = uid_of(HARDY).ok_or("no uid for hardy")?;
    let outcomes = system()
        .run_jobs(&[(
            rgen::backend::systemd::dbus::JobKind::Start,
            format!("user@{uid}.service"),
        )])
        .map_err(|e| e.to_string())?;
    check(outcomes.iter().all(|o| o.result == "done"), || {
        format!("user@{uid} did not start: {outcomes:?}")
    })?;
    let bus = format!("/run/user/{uid}/bus");
    poll("hardy's user bus", Duration::from_secs(30), || {
        Path::new(&bus).exists().then_some(())
    })?;
    let dir = PathBuf::from(format!("/home/{HARDY}/it-harden-user"));
    let _ = std::fs::remove_dir_all(&dir);
    write(&dir.join("server.py"), PYTHON_SERVER);
    ecosystem(
        &dir,
        serde_json::json!([{ "name": "it-harden-user", "script": "server.py", "port": 4421,
            "hardening": "strict", "env": { "APP": "it-harden-user" } }]),
    );
    chown_to_hardy(&dir)?;
    let install = as_hardy(&["install", "--user"], &dir, uid);
    let result = (|| -> TestResult {
        check(install.code == 0, || {
            format!(
                "install --user as hardy: {}\n{}",
                install.stdout, install.stderr
            )
        })?;
        check(install.stderr.contains("hardening-limited"), || {
            format!("no hardening-limited warning: {}", install.stderr)
        })?;
        let unit_file = PathBuf::from(format!(
            "/home/{HARDY}/.config/systemd/user/it-harden-user.service"
        ));
        let text = std::fs::read_to_string(&unit_file).unwrap_or_default();
        check(
            text.contains("SystemCallFilter=") && !text.contains("ProtectSystem"),
            || format!("the user unit:\n{text}"),
        )?;
        let facts = facts(4421)?;
        check(facts["uid"] == uid && facts["cwd"] == "written", || {
            format!("the user-scope app reports {facts}")
        })?;
        exposure(
            "it-harden-user.service",
            Some(HARDY),
            "python strict, user scope",
        )?;
        Ok(())
    })();
    let uninstall = as_hardy(&["uninstall", "it-harden-user", "--user"], &dir, uid);
    result?;
    check(uninstall.code == 0, || {
        format!("uninstall as hardy: {}", uninstall.stderr)
    })
}

/// `rgen ARGS` as hardy, in her user manager.
fn as_hardy(args: &[&str], dir: &Path, uid: u32) -> Out {
    let out = Command::new("runuser")
        .args(["-u", HARDY, "--", "env"])
        .arg(format!("XDG_RUNTIME_DIR=/run/user/{uid}"))
        .arg(format!(
            "DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/{uid}/bus"
        ))
        .arg(format!("HOME=/home/{HARDY}"))
        .arg(format!("RGEN_SHIM={}", env!("CARGO_BIN_EXE_rgen-shim")))
        .arg("NO_COLOR=1")
        .arg(env!("CARGO_BIN_EXE_rgen"))
        .args(args)
        .current_dir(dir)
        .env("PATH", PATH)
        .env_remove("RGEN_RUN_AS")
        .output();
    match out {
        Ok(o) => Out {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        },
        Err(e) => Out {
            code: -1,
            stdout: String::new(),
            stderr: e.to_string(),
        },
    }
}

fn chown_to_hardy(dir: &Path) -> TestResult {
    let out = Command::new("chown")
        .args(["-R", &format!("{HARDY}:{HARDY}")])
        .arg(dir)
        .env("PATH", PATH)
        .output()
        .map_err(|e| e.to_string())?;
    check(out.status.success(), || {
        String::from_utf8_lossy(&out.stderr).into_owned()
    })
}

/// Adds the user hardy (once), only inside the container.
fn hardy() -> TestResult {
    static MADE: OnceLock<Result<(), String>> = OnceLock::new();
    MADE.get_or_init(|| {
        if std::env::var_os("RGEN_HARNESS_INSIDE").is_none_or(|v| v != "1") {
            return Err("refusing to add a user outside the harness container".into());
        }
        // The container's root (and with it /etc) is an overlay on a tmpfs; the host's /etc is
        // the read-only lower layer and never sees this user.
        let fs = Command::new("findmnt")
            .args(["-no", "FSTYPE", "/"])
            .env("PATH", PATH)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default();
        if fs != "overlay" {
            return Err(format!(
                "/ is {fs:?}, not the container's overlay: refusing to add a user"
            ));
        }
        if uid_of(HARDY).is_some() {
            return Ok(());
        }
        let out = Command::new("useradd")
            .args(["--create-home", "--user-group", "--shell", "/bin/sh", HARDY])
            .env("PATH", PATH)
            .output()
            .map_err(|e| format!("cannot run useradd: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "useradd {HARDY}: {}",
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    })
    .clone()
}

fn uid_of(user: &str) -> Option<u32> {
    let out = Command::new("id")
        .args(["-u", user])
        .env("PATH", PATH)
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}
