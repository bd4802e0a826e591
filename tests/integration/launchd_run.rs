//! launchd jobs that really run: the fake `launchctl` as a tiny launchd (RGEN_FAKE_LAUNCHD=run,
//! see its docstring) starts the real `rgen-shim` from the plists rgen wrote, and the shim
//! behaves as on macOS (no `PR_SET_PDEATHSIG`, so an app outlives a SIGKILLed shim). The app
//! is a small server that holds a port, as ngrok holds its one session: two copies at once
//! would fail, so the order of its starts and stops is the proof.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::launchd_apply::{Mac, uid};
use crate::support::run;

const APP: &str = r#"
import os, signal, socket, sys, time
events = os.environ["EVENTS"]
def note(what):
    with open(events, "a") as f:
        f.write(f"{what} {os.getpid()}\n")
if os.environ.get("MODE") == "crash":
    note("crash")
    sys.exit(1)
s = socket.socket()
try:
    s.bind(("127.0.0.1", int(os.environ["PORT"])))
except OSError:
    note("port-busy")
    sys.exit(3)
s.listen()
def stop(*_):
    time.sleep(0.3)  # a graceful stop takes a moment, during which the port is still held
    note("stop")
    sys.exit(0)
signal.signal(signal.SIGINT, stop)
note("start")
while True:
    time.sleep(1)
"#;

struct Project {
    dir: tempfile::TempDir,
    events: PathBuf,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An ecosystem with one app `app` running the server above, and `extra` keys on it.
fn project(extra: serde_json::Value) -> Project {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("app.py"), APP).unwrap();
    let events = dir.path().join("events");
    let mut app = serde_json::json!({
        "name": "app",
        "script": "app.py",
        "interpreter": "python3",
        "kill_timeout": 3000,
        "env": {"EVENTS": events, "PORT": free_port().to_string()},
    });
    for (k, v) in extra.as_object().unwrap() {
        if k == "env" {
            for (name, value) in v.as_object().unwrap() {
                app["env"][name] = value.clone();
            }
        } else {
            app[k] = v.clone();
        }
    }
    std::fs::write(
        dir.path().join("ecosystem.json"),
        serde_json::json!({ "apps": [app] }).to_string(),
    )
    .unwrap();
    Project { dir, events }
}

impl Project {
    fn file(&self) -> PathBuf {
        self.dir.path().join("ecosystem.json")
    }

    /// `(what, pid)` in the order the app wrote them.
    fn events(&self) -> Vec<(String, u32)> {
        std::fs::read_to_string(&self.events)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let (what, pid) = l.split_once(' ')?;
                Some((what.to_string(), pid.parse().ok()?))
            })
            .collect()
    }

    fn wait_for_events(&self, what: &str, n: usize) -> Vec<(String, u32)> {
        wait_until(&format!("{n} `{what}` events"), || {
            let e = self.events();
            (e.iter().filter(|(w, _)| w == what).count() >= n).then_some(e)
        })
    }
}

/// Polls `check` every 20 ms until it answers, for at most 30 s.
fn wait_until<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20)); // poll interval
    }
}

fn gone(pid: u32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.is_empty()
        || stat
            .rsplit(')')
            .next()
            .is_some_and(|r| r.trim_start().starts_with('Z'))
}

/// The app stopped (and was gone) before the next one started, and no start found the port
/// taken.
fn assert_one_at_a_time(events: &[(String, u32)]) {
    assert!(
        !events.iter().any(|(w, _)| w == "port-busy"),
        "two apps at once: {events:?}"
    );
    let starts: Vec<u32> = events
        .iter()
        .filter(|(w, _)| w == "start")
        .map(|(_, p)| *p)
        .collect();
    for pair in starts.windows(2) {
        let (old, new) = (pair[0], pair[1]);
        let stop = events.iter().position(|e| *e == ("stop".to_string(), old));
        let start = events.iter().position(|e| *e == ("start".to_string(), new));
        assert!(
            stop.is_some() && stop < start,
            "{old} did not stop before {new} started: {events:?}"
        );
    }
}

fn label_service(label: &str) -> String {
    format!("gui/{}/{label}", uid())
}

#[test]
fn restart_stops_the_old_app_before_the_new_one_starts() {
    let mac = Mac::running();
    let p = project(serde_json::json!({}));
    let out = mac.install(&p.file());
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let first = p.wait_for_events("start", 1)[0].1;

    let out = run(mac.rgen().args(["restart", "app", "--launchd", "--user"]));
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let events = p.wait_for_events("start", 2);
    assert_one_at_a_time(&events);
    assert!(gone(first), "the old app {first} is still running");
    let calls = mac.calls();
    assert!(
        calls.contains(&format!("kill SIGURG {}", label_service("rgen.app"))),
        "{calls:?}"
    );
    assert!(
        !calls.iter().any(|c| c.starts_with("kickstart -k")),
        "{calls:?}"
    );

    // `reload` is the same, one job at a time.
    let out = run(mac.rgen().args(["reload", "app", "--launchd", "--user"]));
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_one_at_a_time(&p.wait_for_events("start", 3));

    let status = run(mac.rgen().args(["status", "--json", "--launchd", "--user"]));
    let report: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    let app = &report["apps"][0];
    assert_eq!(app["status"], "online", "{app}");
    assert_eq!(app["restarts"], 2, "{app}");
    let newest = p
        .events()
        .iter()
        .rev()
        .find(|(w, _)| w == "start")
        .unwrap()
        .1;
    assert_eq!(app["pid"], newest, "{app}");

    // Uninstalling stops the app the same way and leaves none of the shim's files behind.
    let status_file = mac
        .home
        .path()
        .join("Library/Application Support/rgen/run/app.status.json");
    assert!(status_file.exists());
    let out = run(mac
        .rgen()
        .args(["uninstall", "--all", "--launchd", "--user"]));
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let events = p.wait_for_events("stop", 3);
    assert_eq!(events.last(), Some(&("stop".to_string(), newest)));
    assert!(gone(newest));
    assert!(!status_file.exists());
}

#[test]
fn a_shim_killed_outright_leaves_no_orphan_behind() {
    // `kickstart -k` (or jetsam, or `kill -9`) SIGKILLs the shim; on macOS its app, in a process
    // group of its own, lives on holding the port. The next shim finds it in the pid file and
    // stops it before starting a new one.
    let mac = Mac::running();
    let p = project(serde_json::json!({}));
    assert_eq!(mac.install(&p.file()).code, 0);
    let first = p.wait_for_events("start", 1)[0].1;
    let out = mac.launchctl(&["kickstart", "-k", &label_service("rgen.app")]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let events = p.wait_for_events("start", 2);
    assert_one_at_a_time(&events);
    assert!(gone(first), "the orphan {first} is still running");
}

#[test]
fn the_cron_job_restarts_gracefully_when_it_fires() {
    let mac = Mac::running();
    let p = project(serde_json::json!({"cron_restart": "0 3 * * *"}));
    assert_eq!(mac.install(&p.file()).code, 0);
    p.wait_for_events("start", 1);
    // What launchd does at 03:00.
    let out = mac.launchctl(&["kickstart", &label_service("rgen.app.cron-restart")]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_one_at_a_time(&p.wait_for_events("start", 2));
    let log = mac
        .home
        .path()
        .join("Library/Logs/rgen/app.cron-restart.log");
    let text = wait_until("the helper's log line", || {
        std::fs::read_to_string(&log)
            .ok()
            .filter(|t| t.contains("restarting"))
    });
    assert!(text.contains("cron_restart"), "{text}");
}

#[test]
fn the_watch_job_waits_and_ignores_what_ignore_watch_names() {
    let mac = Mac::running();
    let p = project(serde_json::json!({
        "watch": ["src"],
        "ignore_watch": ["*.tmp"],
        "watch_delay": 100,
    }));
    let src = p.dir.path().join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("code.js"), "1").unwrap();
    let out = mac.install(&p.file());
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    p.wait_for_events("start", 1);
    let log = mac.home.path().join("Library/Logs/rgen/app.watch.log");
    let fire = |seen: usize| {
        // What launchd does when a watched directory changes.
        let out = mac.launchctl(&["kickstart", &label_service("rgen.app.watch")]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        wait_until("the watch job's log line", || {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            (text.lines().count() > seen).then_some(text)
        })
    };
    std::fs::write(src.join("scratch.tmp"), "x").unwrap();
    let text = fire(0);
    assert!(text.contains("nothing restarted"), "{text}");
    assert_eq!(p.events().len(), 1, "{:?}", p.events());

    std::fs::write(src.join("new.js"), "2").unwrap();
    let text = fire(1);
    assert!(text.contains("restarting"), "{text}");
    assert_one_at_a_time(&p.wait_for_events("start", 2));
}

#[test]
fn a_crash_loop_ends_errored_and_launchd_leaves_it_down() {
    // A bad ngrok token: the app dies at once, every time. PM2 gives up after max_restarts
    // unstable restarts; so does the shim, which then exits 0 so KeepAlive
    // {SuccessfulExit: false} does not start it again.
    let mac = Mac::running();
    let p = project(serde_json::json!({
        "max_restarts": 3,
        "min_uptime": 5000,
        "env": {"MODE": "crash"},
    }));
    assert_eq!(mac.install(&p.file()).code, 0);
    let app = wait_until("status errored", || {
        let out = run(mac.rgen().args(["status", "--json", "--launchd", "--user"]));
        let report: serde_json::Value = serde_json::from_str(&out.stdout).ok()?;
        let app = report["apps"][0].clone();
        (app["status"] == "errored").then_some(app)
    });
    // PM2's count: the third unstable exit reaches max_restarts, so two restarts.
    assert_eq!(
        p.wait_for_events("crash", 3).len(),
        3,
        "{:?} {:?}",
        p.events(),
        mac.calls()
    );
    assert_eq!(app["restarts"], 2, "{app}");
    // The app's own exit, not the shim's 0.
    assert_eq!(app["units"][0]["result"], "exit 1", "{app}");
    let runs = std::fs::read_to_string(
        mac.state
            .join("jobs")
            .join(label_service("rgen.app").replace('/', "%"))
            .join("runs"),
    )
    .unwrap();
    assert_eq!(runs.trim(), "1", "launchd started the shim again");
    let table = run(mac.rgen().args(["status", "--launchd", "--user"]));
    assert!(table.stdout.contains("errored"), "{}", table.stdout);
}
