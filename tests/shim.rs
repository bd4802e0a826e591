//! `rgen-shim` against real processes: Node, Python and sh apps from `tests/fixtures/apps`.
//! The test plays the service manager: it owns a NOTIFY_SOCKET, sends SIGTERM, and reads exit
//! statuses. Every wait polls with a deadline; nothing asserts on durations.

use std::collections::BTreeSet;
use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixDatagram;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

const SHIM: &str = env!("CARGO_BIN_EXE_rgen-shim");
const NODE: &str = "/usr/bin/node";
const PYTHON: &str = "/usr/bin/python3";
const SH: &str = "/bin/sh";
/// Generous: only reached when something is broken.
const DEADLINE: Duration = Duration::from_secs(60);

fn app(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/apps")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

fn wait_until<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + DEADLINE;
    loop {
        if let Some(v) = probe() {
            return v;
        }
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10)); // poll interval, bounded by the deadline
    }
}

fn signal(pid: u32, sig: libc::c_int) {
    // SAFETY: plain syscall.
    unsafe { libc::kill(pid as libc::pid_t, sig) };
}

/// Alive and not a zombie (a container's init may be slow to reap orphans).
fn running(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rfind(')')
            .and_then(|i| stat[i + 1..].split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// A shim child that is SIGKILLed (and, by PR_SET_PDEATHSIG, its app with it) if a test fails.
struct Shim {
    child: Child,
    stderr: PathBuf,
}

impl Shim {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn term(&self) {
        signal(self.pid(), libc::SIGTERM);
    }

    fn wait(&mut self) -> ExitStatus {
        let child = &mut self.child;
        wait_until("the shim to exit", || child.try_wait().expect("try_wait"))
    }

    fn stderr(&self) -> String {
        fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    fn wait_stderr(&self, needle: &str) -> String {
        wait_until(&format!("`{needle}` on the shim's stderr"), || {
            let s = self.stderr();
            s.contains(needle).then_some(s)
        })
    }
}

impl Drop for Shim {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// One test's world: a private directory and the NOTIFY_SOCKET the shims report to.
struct World {
    dir: tempfile::TempDir,
    notify: UnixDatagram,
    notify_path: PathBuf,
}

impl World {
    fn new() -> World {
        let dir = tempfile::tempdir().expect("tempdir");
        let notify_path = dir.path().join("notify.sock");
        let notify = UnixDatagram::bind(&notify_path).expect("bind notify socket");
        notify
            .set_read_timeout(Some(Duration::from_millis(50)))
            .expect("timeout");
        World {
            dir,
            notify,
            notify_path,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The shim with its stderr in `<label>.err`, runtime files under the test directory.
    fn command(&self, label: &str, args: &[&str]) -> (Command, PathBuf) {
        let stderr = self.path(&format!("{label}.err"));
        let mut cmd = Command::new(SHIM);
        cmd.args(args)
            .env("NOTIFY_SOCKET", &self.notify_path)
            .env("XDG_RUNTIME_DIR", self.dir.path())
            .env_remove("RUNTIME_DIRECTORY")
            .env_remove("NODE_OPTIONS")
            .env_remove("LISTEN_FDS")
            .env_remove("LISTEN_PID")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(&stderr).expect("stderr file"));
        (cmd, stderr)
    }

    fn spawn(&self, label: &str, args: &[&str], env: &[(&str, &str)]) -> Shim {
        let (mut cmd, stderr) = self.command(label, args);
        cmd.envs(env.iter().copied());
        Shim {
            child: cmd.spawn().expect("spawn rgen-shim"),
            stderr,
        }
    }

    /// Runs a shim to completion.
    fn run(&self, label: &str, args: &[&str], env: &[(&str, &str)]) -> (ExitStatus, String) {
        let mut shim = self.spawn(label, args, env);
        let status = shim.wait();
        (status, shim.stderr())
    }

    /// Datagrams received until one contains `needle`; that one is last.
    fn notifications_until(&self, needle: &str) -> Vec<String> {
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        wait_until(&format!("`{needle}` on NOTIFY_SOCKET"), || {
            if let Ok(n) = self.notify.recv(&mut buf) {
                let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
                let done = msg.contains(needle);
                seen.push(msg);
                if done {
                    return Some(());
                }
            }
            None
        });
        seen
    }

    /// Forgets datagrams from earlier shims, so the next wait sees only new ones.
    fn drain_notifications(&self) {
        let mut buf = [0u8; 4096];
        while self.notify.recv(&mut buf).is_ok() {}
    }

    fn expect_ready(&self) -> String {
        let seen = self.notifications_until("READY=1");
        seen.last().cloned().unwrap_or_default()
    }

    fn read_json(&self, name: &str) -> serde_json::Value {
        let text = fs::read_to_string(self.path(name)).expect("read json");
        serde_json::from_str(&text).expect("parse json")
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

#[test]
fn ready_is_sent_only_after_the_app_sends_ready() {
    let w = World::new();
    let marker = w.path("ready.marker");
    let mut shim = w.spawn(
        "wr",
        &[
            "--name",
            "wr",
            "--wait-ready",
            "--listen-timeout",
            "60000",
            "--status-file",
            &w.path("status.json").to_string_lossy(),
            "--",
            NODE,
            &app("ready-app.js"),
        ],
        &[
            ("READY_DELAY_MS", "300"),
            ("READY_MARKER", &marker.to_string_lossy()),
        ],
    );
    let seen = w.notifications_until("READY=1");
    assert!(
        marker.exists(),
        "READY=1 arrived before the app called process.send('ready')"
    );
    assert_eq!(
        seen.iter().filter(|m| m.contains("READY=1")).count(),
        1,
        "{seen:?}"
    );
    assert!(
        seen.last().is_some_and(|m| m.contains("STATUS=wr online")),
        "{seen:?}"
    );
    let status = w.read_json("status.json");
    assert_eq!(status["ready"], true);
    assert_eq!(status["state"], "online");
    assert_eq!(status["name"], "wr");
    assert!(status["pid"].as_u64().is_some_and(|p| p > 0));
    assert!(
        !shim.stderr().contains("listen_timeout"),
        "{}",
        shim.stderr()
    );

    shim.term();
    // Node's default SIGINT action kills it; the shim dies of the same signal.
    assert_eq!(shim.wait().signal(), Some(libc::SIGINT));
    let status = w.read_json("status.json");
    assert_eq!(status["state"], "stopped");
    assert_eq!(status["pid"], serde_json::Value::Null);
    assert_eq!(status["last_exit"]["signal"], libc::SIGINT);
}

#[test]
fn listen_timeout_declares_the_app_ready_and_says_so() {
    let w = World::new();
    let mut shim = w.spawn(
        "lt",
        &[
            "--name",
            "lt",
            "--wait-ready",
            "--listen-timeout",
            "200",
            "--",
            NODE,
            &app("ready-app.js"),
        ],
        &[],
    );
    w.expect_ready();
    let err = shim.stderr();
    assert!(
        err.contains(
            "rgen-shim[lt]: listen_timeout (200 ms) passed without 'ready'; declaring lt ready as PM2 does"
        ),
        "{err}"
    );
    shim.term();
    shim.wait();
}

#[test]
fn ready_from_a_grandchild_behind_an_npm_like_wrapper() {
    let w = World::new();
    let marker = w.path("ready.marker");
    let mut shim = w.spawn(
        "npm",
        &[
            "--name",
            "npm",
            "--wait-ready",
            "--node-preload",
            "--listen-timeout",
            "60000",
            "--status-file",
            &w.path("status.json").to_string_lossy(),
            "--",
            NODE,
            &app("npm-like.js"),
            &app("ready-app.js"),
        ],
        &[
            ("READY_DELAY_MS", "200"),
            ("READY_MARKER", &marker.to_string_lossy()),
        ],
    );
    w.expect_ready();
    let app_pid: u64 = fs::read_to_string(&marker)
        .expect("the app wrote its marker before sending ready")
        .parse()
        .expect("pid");
    let wrapper_pid = w.read_json("status.json")["pid"].as_u64();
    assert_ne!(
        Some(app_pid),
        wrapper_pid,
        "'ready' must come from the grandchild"
    );
    assert!(
        !shim.stderr().contains("listen_timeout"),
        "{}",
        shim.stderr()
    );
    shim.term();
    shim.wait();
}

#[test]
fn sigterm_becomes_sigint_and_the_apps_exit_code_is_the_shims() {
    let w = World::new();
    let signals = w.path("signals");
    let mut shim = w.spawn(
        "term",
        &[
            "--name",
            "term",
            "--wait-ready",
            "--",
            NODE,
            &app("ready-app.js"),
        ],
        &[
            ("READY_DELAY_MS", "0"),
            ("SIGNAL_FILE", &signals.to_string_lossy()),
            ("EXIT_ON_SIGINT", "42"),
        ],
    );
    w.expect_ready();
    shim.term();
    assert_eq!(shim.wait().code(), Some(42));
    assert_eq!(fs::read_to_string(&signals).unwrap_or_default(), "SIGINT\n");
    w.notifications_until("STOPPING=1");
}

#[test]
fn kill_signal_option_picks_the_stop_signal() {
    let w = World::new();
    let mut shim = w.spawn(
        "ks",
        &[
            "--name",
            "ks",
            "--kill-signal",
            "SIGUSR2",
            "--",
            SH,
            "-c",
            "exec sleep 300",
        ],
        &[],
    );
    w.expect_ready();
    shim.term();
    assert_eq!(shim.wait().signal(), Some(libc::SIGUSR2));
}

#[test]
fn an_app_ignoring_sigint_is_sigkilled_after_kill_timeout() {
    let w = World::new();
    let signals = w.path("signals");
    let mut shim = w.spawn(
        "ign",
        &[
            "--name",
            "ign",
            "--wait-ready",
            "--kill-timeout",
            "300",
            "--",
            NODE,
            &app("ready-app.js"),
        ],
        &[
            ("READY_DELAY_MS", "0"),
            ("IGNORE_SIGINT", "1"),
            ("SIGNAL_FILE", &signals.to_string_lossy()),
        ],
    );
    w.expect_ready();
    shim.term();
    assert_eq!(shim.wait().signal(), Some(libc::SIGKILL));
    assert!(
        shim.stderr()
            .contains("ms after the stop signal; sending SIGKILL")
    );
    assert_eq!(fs::read_to_string(&signals).unwrap_or_default(), "SIGINT\n");
}

#[test]
fn shutdown_with_message_stops_through_ipc() {
    let w = World::new();
    let messages = w.path("messages");
    let signals = w.path("signals");
    let mut shim = w.spawn(
        "swm",
        &[
            "--name",
            "swm",
            "--wait-ready",
            "--shutdown-with-message",
            "--",
            NODE,
            &app("ready-app.js"),
        ],
        &[
            ("READY_DELAY_MS", "0"),
            ("MESSAGE_FILE", &messages.to_string_lossy()),
            ("SIGNAL_FILE", &signals.to_string_lossy()),
        ],
    );
    w.expect_ready();
    shim.term();
    assert_eq!(shim.wait().code(), Some(0));
    assert_eq!(
        fs::read_to_string(&messages).unwrap_or_default(),
        "\"shutdown\"\n"
    );
    assert!(!signals.exists(), "no signal expected");
}

#[test]
fn hup_and_usr2_are_forwarded_to_the_app() {
    let w = World::new();
    let signals = w.path("signals");
    let mut shim = w.spawn(
        "fwd",
        &[
            "--name",
            "fwd",
            "--wait-ready",
            "--",
            NODE,
            &app("ready-app.js"),
        ],
        &[
            ("READY_DELAY_MS", "0"),
            ("SIGNAL_FILE", &signals.to_string_lossy()),
        ],
    );
    w.expect_ready();
    signal(shim.pid(), libc::SIGHUP);
    wait_until("SIGHUP at the app", || {
        fs::read_to_string(&signals)
            .ok()?
            .contains("SIGHUP")
            .then_some(())
    });
    signal(shim.pid(), libc::SIGUSR2);
    wait_until("SIGUSR2 at the app", || {
        fs::read_to_string(&signals)
            .ok()?
            .contains("SIGUSR2")
            .then_some(())
    });
    shim.term();
    assert_eq!(shim.wait().code(), Some(0));
}

#[test]
fn exit_codes_and_signals_propagate() {
    let w = World::new();
    let (st, _) = w.run("code", &["--", SH, "-c", "exit 7"], &[]);
    assert_eq!(st.code(), Some(7));

    let (st, err) = w.run(
        "sig",
        &["--name", "sig", "--", SH, "-c", "kill -USR1 $$"],
        &[],
    );
    assert_eq!(st.signal(), Some(libc::SIGUSR1));
    assert!(
        err.contains("rgen-shim[sig]: sig was killed by SIGUSR1"),
        "{err}"
    );
    assert!(!st.core_dumped());

    let (st, err) = w.run("segv", &["--", SH, "-c", "kill -SEGV $$"], &[]);
    assert_eq!(st.signal(), Some(libc::SIGSEGV));
    assert!(!st.core_dumped(), "{err}");

    let missing = w.path("no-such-program");
    let (st, err) = w.run(
        "enoent",
        &["--name", "x", "--", &missing.to_string_lossy()],
        &[],
    );
    assert_eq!(st.code(), Some(127));
    assert!(
        err.contains("cannot execute") && err.contains("No such file or directory"),
        "{err}"
    );
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["--name", "x"][..],
        &["--", "relative/program"],
        &["--kill-signal", "SIGNOPE", "--", SH],
        &["--kill-timeout", "soon", "--", SH],
        &["--frobnicate", "--", SH],
        &["--increment-var", "PORT", "--", SH],
        &["--ready-on-listen", "--", SH],
        &["--log-max-size", "100", "--", SH],
        &["--listen", "nowhere", "--", SH],
    ] {
        let out = Command::new(SHIM).args(args).output().expect("run shim");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.starts_with("rgen-shim: error: "), "{args:?}: {err}");
    }
}

#[test]
fn two_shims_share_one_port_via_reuseport_and_the_preload() {
    let w = World::new();
    let port = free_port().to_string();
    let listen = format!("127.0.0.1:{port}");
    let mut shims = Vec::new();
    for i in 0..2 {
        let status = w
            .path(&format!("status{i}.json"))
            .to_string_lossy()
            .into_owned();
        shims.push(w.spawn(
            &format!("web{i}"),
            &[
                "--name",
                "web",
                "--listen",
                &listen,
                "--node-preload",
                "--ready-on-listen",
                "--listen-timeout",
                "60000",
                "--status-file",
                &status,
                "--",
                NODE,
                &app("http-server.js"),
            ],
            &[("PORT", &port)],
        ));
    }
    w.notifications_until("READY=1");
    w.notifications_until("READY=1");
    let expected: BTreeSet<String> = (0..2)
        .map(|i| w.read_json(&format!("status{i}.json"))["pid"].to_string())
        .collect();
    assert_eq!(expected.len(), 2);

    let mut seen = BTreeSet::new();
    for _ in 0..2000 {
        let mut conn = TcpStream::connect(&listen).expect("connect");
        conn.write_all(b"GET / HTTP/1.0\r\n\r\n").expect("request");
        let mut reply = String::new();
        conn.read_to_string(&mut reply).expect("reply");
        let body = reply
            .split("\r\n\r\n")
            .nth(1)
            .unwrap_or_default()
            .to_owned();
        seen.insert(body);
        if seen == expected {
            break;
        }
    }
    assert_eq!(seen, expected, "both apps should answer on port {port}");
    for s in &shims {
        assert!(!s.stderr().contains("listen_timeout"), "{}", s.stderr());
        s.term();
    }
    for s in &mut shims {
        s.wait();
    }
}

fn python_report(out: &[u8]) -> serde_json::Value {
    let text = String::from_utf8_lossy(out);
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[test]
fn socket_activation_rewrites_listen_pid_for_the_child() {
    let w = World::new();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let raw = listener.as_raw_fd();
    // systemd's side: fd 3 is the socket and LISTEN_PID names the shim (sh execs into it).
    let mut sh = Command::new(SH);
    sh.args([
        "-c",
        "export LISTEN_PID=$$ LISTEN_FDS=1 LISTEN_FDNAMES=web.socket; exec \"$0\" \"$@\"",
        SHIM,
        "--ipc",
        "--",
        PYTHON,
        &app("check-listen.py"),
    ])
    .env("XDG_RUNTIME_DIR", w.dir.path());
    // SAFETY: dup2 is async-signal-safe.
    unsafe {
        sh.pre_exec(move || {
            if libc::dup2(raw, 3) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = sh.output().expect("run");
    assert!(out.status.success(), "{out:?}");
    let r = python_report(&out.stdout);
    assert_eq!(r["LISTEN_PID"], r["pid"].to_string());
    assert_eq!(r["LISTEN_FDS"], "1");
    assert_eq!(r["LISTEN_FDNAMES"], "web.socket");
    assert_eq!(r["RGEN_LISTEN_FD"], "3");
    assert_eq!(r["RGEN_LISTEN_PORT"], port.to_string());
    assert_eq!(r["fd3_listening"], true);
    assert_eq!(r["fd3_port"], port);
    // The IPC channel sits above the passed sockets, and nothing else leaks in.
    assert_eq!(r["NODE_CHANNEL_FD"], "4");
    assert_eq!(r["open_fds"], serde_json::json!([0, 1, 2, 3, 4]));
}

#[test]
fn listen_pid_for_someone_else_is_not_forwarded() {
    let w = World::new();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let raw = listener.as_raw_fd();
    let mut cmd = Command::new(SHIM);
    cmd.args(["--", PYTHON, &app("check-listen.py")])
        .env("LISTEN_PID", "1")
        .env("LISTEN_FDS", "1")
        .env("LISTEN_FDNAMES", "other")
        .env("XDG_RUNTIME_DIR", w.dir.path());
    // SAFETY: dup2 is async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(raw, 3) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = cmd.output().expect("run");
    assert!(out.status.success(), "{out:?}");
    let r = python_report(&out.stdout);
    assert_eq!(r["LISTEN_PID"], serde_json::Value::Null);
    assert_eq!(r["LISTEN_FDS"], serde_json::Value::Null);
    assert_eq!(r["LISTEN_FDNAMES"], serde_json::Value::Null);
    assert_eq!(r["fd3_listening"], false);
    assert_eq!(r["open_fds"], serde_json::json!([0, 1, 2]));
}

#[test]
fn listen_option_passes_a_reuseport_socket_as_fd_3() {
    let out = Command::new(SHIM)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--",
            PYTHON,
            &app("check-listen.py"),
        ])
        .env_remove("LISTEN_PID")
        .env_remove("LISTEN_FDS")
        .output()
        .expect("run");
    assert!(out.status.success(), "{out:?}");
    let r = python_report(&out.stdout);
    assert_eq!(r["LISTEN_PID"], r["pid"].to_string());
    assert_eq!(r["LISTEN_FDS"], "1");
    assert_eq!(r["LISTEN_FDNAMES"], "rgen");
    assert_eq!(r["fd3_listening"], true);
    assert_eq!(r["RGEN_LISTEN_PORT"], r["fd3_port"].to_string());
    assert_eq!(r["open_fds"], serde_json::json!([0, 1, 2, 3]));
}

/// The delay a run announced, if any.
fn announced_delay(stderr: &str) -> Option<u64> {
    let rest = stderr.split(" in ").nth(1)?;
    rest.split("ms (exponential backoff)").next()?.parse().ok()
}

#[test]
fn exponential_backoff_across_shim_runs() {
    let w = World::new();
    let state_dir = w.path("state");
    let state_file = state_dir.join("crashy.backoff");
    let sd = state_dir.to_string_lossy().into_owned();
    let crash = app("crash.sh");
    let args = [
        "--name",
        "crashy",
        "--backoff-initial",
        "20",
        "--state-dir",
        &sd,
        "--",
        SH,
        &crash,
    ];
    let cap = ("RGEN_SHIM_BACKOFF_CAP_MS", "50");
    let mut delays = Vec::new();
    for i in 0..6 {
        let (st, err) = w.run(&format!("run{i}"), &args, &[cap]);
        assert_eq!(st.code(), Some(1));
        delays.push(announced_delay(&err));
    }
    // PM2: first start none, then initial, ×1.5 floored, capped.
    assert_eq!(
        delays,
        [None, Some(20), Some(30), Some(45), Some(50), Some(50)]
    );
    assert_eq!(
        fs::read_to_string(&state_file).unwrap(),
        "prev_restart_delay_ms=50\n"
    );

    // A run that stays up past the reset threshold starts the sequence over.
    let (_, err) = w.run("reset", &args, &[cap, ("RGEN_SHIM_BACKOFF_RESET_MS", "0")]);
    assert_eq!(announced_delay(&err), Some(50));
    assert_eq!(
        fs::read_to_string(&state_file).unwrap(),
        "prev_restart_delay_ms=0\n"
    );
    let (_, err) = w.run("after-reset", &args, &[cap]);
    assert_eq!(announced_delay(&err), Some(20));

    // A stop by the manager resets the backoff (PM2 resetState), after the app is gone.
    let long = [
        "--name",
        "crashy",
        "--backoff-initial",
        "20",
        "--state-dir",
        &sd,
        "--",
        SH,
        "-c",
        "exec sleep 300",
    ];
    w.drain_notifications();
    let mut shim = w.spawn("stopped", &long, &[cap]);
    // READY=1 only after the delay and the spawn.
    w.expect_ready();
    assert_eq!(announced_delay(&shim.stderr()), Some(30));
    shim.term();
    assert_eq!(shim.wait().signal(), Some(libc::SIGINT));
    assert!(!state_file.exists());
    let (_, err) = w.run("fresh", &args, &[cap]);
    assert_eq!(announced_delay(&err), None);

    // A stop during the backoff sleep exits 0 at once and resets too.
    let slow = [
        "--name",
        "crashy",
        "--backoff-initial",
        "600000",
        "--state-dir",
        &sd,
        "--",
        SH,
        &crash,
    ];
    w.drain_notifications();
    let mut shim = w.spawn("sleeping", &slow, &[]);
    shim.wait_stderr("restarting crashy in 600000ms (exponential backoff)");
    w.notifications_until("STATUS=restarting crashy in 600000ms");
    shim.term();
    assert_eq!(shim.wait().code(), Some(0));
    assert!(!state_file.exists());
}

#[test]
fn memory_watchdog_stops_a_growing_app_and_exits_75() {
    let w = World::new();
    let limit: u64 = 200 << 20;
    let (st, err) = w.run(
        "mem",
        &[
            "--name",
            "hog",
            "--max-memory",
            "200M",
            "--memory-poll-ms",
            "50",
            "--status-file",
            &w.path("status.json").to_string_lossy(),
            "--",
            NODE,
            &app("grow.js"),
        ],
        &[],
    );
    assert_eq!(st.code(), Some(75), "{err}");
    assert!(
        err.contains(&format!("above max_memory_restart {limit}: restarting")),
        "{err}"
    );
    let used: u64 = err
        .split("hog uses ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("reported usage");
    assert!(used > limit);
    assert_eq!(w.read_json("status.json")["state"], "restarting");
}

#[test]
fn logs_append_split_and_combine() {
    let w = World::new();
    let dir = w.path("logs/nested");
    let out = dir.join("out.log");
    let err = dir.join("err.log");
    let all = dir.join("all.log");
    fs::create_dir_all(&dir).unwrap();
    fs::write(&out, "old\n").unwrap();
    let (st, _) = w.run(
        "logs",
        &[
            "--stdout",
            &out.to_string_lossy(),
            "--stderr",
            &err.to_string_lossy(),
            "--combined",
            &all.to_string_lossy(),
            "--",
            SH,
            &app("logger.sh"),
        ],
        &[("LINES", "2")],
    );
    assert!(st.success());
    assert_eq!(
        fs::read_to_string(&out).unwrap(),
        "old\nout line 1\nout line 2\n"
    );
    assert_eq!(fs::read_to_string(&err).unwrap(), "err line\n");
    let combined = fs::read_to_string(&all).unwrap();
    let mut lines: Vec<&str> = combined.lines().collect();
    lines.sort_unstable();
    assert_eq!(lines, ["err line", "out line 1", "out line 2"]);

    // Parent directories are created; a second run appends.
    let fresh = w.path("new/dir/app.log");
    for _ in 0..2 {
        let (st, _) = w.run(
            "logs2",
            &[
                "--combined",
                &fresh.to_string_lossy(),
                "--",
                SH,
                &app("logger.sh"),
            ],
            &[],
        );
        assert!(st.success());
    }
    let text = fs::read_to_string(&fresh).unwrap();
    assert_eq!(text.matches("out line 1\n").count(), 2, "{text}");
    assert_eq!(text.matches("err line\n").count(), 2, "{text}");
}

/// `dddd-dd-ddTdd:dd:dd.ddd +dd:dd: ` where d is a digit and + may be -.
fn looks_stamped(line: &str) -> bool {
    let shape = "dddd-dd-ddTdd:dd:dd.ddd +dd:dd: ";
    line.len() > shape.len()
        && line.chars().zip(shape.chars()).all(|(c, s)| match s {
            'd' => c.is_ascii_digit(),
            '+' => c == '+' || c == '-',
            s => c == s,
        })
}

#[test]
fn log_date_format_prefixes_every_line() {
    let w = World::new();
    let all = w.path("all.log");
    let (st, _) = w.run(
        "date",
        &[
            "--combined",
            &all.to_string_lossy(),
            "--log-date-format",
            "YYYY-MM-DD[T]HH:mm:ss.SSS Z",
            "--",
            SH,
            &app("logger.sh"),
        ],
        &[("LINES", "3")],
    );
    assert!(st.success());
    let text = fs::read_to_string(&all).unwrap();
    assert_eq!(text.lines().count(), 4, "{text}");
    for line in text.lines() {
        assert!(looks_stamped(line), "{line}");
    }
    assert!(text.lines().any(|l| l.ends_with(": out line 3")), "{text}");
}

#[test]
fn logs_rotate_by_size_and_keep_n() {
    let w = World::new();
    let out = w.path("out.log");
    let o = out.to_string_lossy().into_owned();
    let (st, _) = w.run(
        "rot",
        &[
            "--stdout",
            &o,
            "--log-max-size",
            "100",
            "--log-keep",
            "2",
            "--",
            SH,
            &app("logger.sh"),
        ],
        &[("LINES", "40")],
    );
    assert!(st.success());
    let rotated = rotated_logs(w.dir.path(), "out");
    assert_eq!(
        rotated.len(),
        2,
        "only 2 rotated files are kept: {rotated:?}"
    );
    let mut kept = String::new();
    for part in rotated.iter().chain([&out]) {
        let text = fs::read_to_string(part).unwrap_or_else(|e| panic!("{part:?}: {e}"));
        assert!(
            !text.is_empty() && text.len() <= 100,
            "{part:?}: {}",
            text.len()
        );
        kept.push_str(&text);
    }
    // What is kept is an unbroken tail of the output, newest line last.
    let numbers: Vec<u32> = kept
        .lines()
        .map(|l| {
            l.trim_start_matches("out line ")
                .parse()
                .expect("line number")
        })
        .collect();
    assert_eq!(numbers.last(), Some(&40));
    assert!(numbers.windows(2).all(|p| p[1] == p[0] + 1), "{numbers:?}");
}

#[test]
fn instance_and_increment_vars() {
    let w = World::new();
    let out = w.path("out.log");
    let (st, _) = w.run(
        "inst",
        &[
            "--instance",
            "2",
            "--instance-var",
            "INSTANCE_ID",
            "--increment-var",
            "PORT",
            "--stdout",
            &out.to_string_lossy(),
            "--",
            SH,
            "-c",
            "echo \"$INSTANCE_ID $PORT\"",
        ],
        &[("PORT", "3000")],
    );
    assert!(st.success());
    assert_eq!(fs::read_to_string(&out).unwrap(), "2 3002\n");
}

#[test]
fn treekill_reaches_descendants_that_ignore_sigint() {
    let w = World::new();
    let pids_file = w.path("pids");
    let mut shim = w.spawn(
        "tree",
        &[
            "--name",
            "tree",
            "--kill-timeout",
            "200",
            "--",
            SH,
            &app("leave-children.sh"),
        ],
        &[("PIDS_FILE", &pids_file.to_string_lossy())],
    );
    let pids: Vec<u32> = wait_until("the sleeps' pids", || {
        let text = fs::read_to_string(&pids_file).ok()?;
        Some(
            text.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect(),
        )
    });
    assert_eq!(pids.len(), 2);
    shim.term();
    shim.wait();
    for pid in pids {
        assert!(!running(pid), "descendant {pid} survived the stop");
    }
}

#[test]
fn processes_left_behind_by_an_exiting_app_are_stopped() {
    let w = World::new();
    let pids_file = w.path("pids");
    let (st, err) = w.run(
        "left",
        &[
            "--name",
            "left",
            "--kill-timeout",
            "200",
            "--",
            SH,
            &app("leave-children.sh"),
        ],
        &[
            ("PIDS_FILE", &pids_file.to_string_lossy()),
            ("EXIT_AT_ONCE", "1"),
        ],
    );
    assert_eq!(st.code(), Some(5));
    assert!(
        err.contains("left exited and left processes behind"),
        "{err}"
    );
    let text = fs::read_to_string(&pids_file).unwrap();
    for pid in text
        .split_whitespace()
        .filter_map(|p| p.parse::<u32>().ok())
    {
        assert!(!running(pid), "leftover {pid} still runs");
    }
}

#[test]
fn sigkill_of_the_shim_takes_the_app_down() {
    let w = World::new();
    let status = w.path("status.json");
    let mut shim = w.spawn(
        "pdeath",
        &[
            "--status-file",
            &status.to_string_lossy(),
            "--",
            SH,
            "-c",
            "exec sleep 300",
        ],
        &[],
    );
    w.expect_ready();
    let app_pid = w.read_json("status.json")["pid"].as_u64().expect("pid") as u32;
    assert!(running(app_pid));
    signal(shim.pid(), libc::SIGKILL);
    shim.wait();
    wait_until("the app to die with the shim", || {
        (!running(app_pid)).then_some(())
    });
}

/// Not a limit check (the figure depends on the build profile and libc): prints what the shim
/// costs while it supervises, for the record.
#[test]
fn reports_own_memory_while_supervising() {
    let w = World::new();
    let mut shim = w.spawn(
        "rss",
        &[
            "--name",
            "rss",
            "--wait-ready",
            "--node-preload",
            "--max-memory",
            "1G",
            "--memory-poll-ms",
            "20",
            "--combined",
            &w.path("all.log").to_string_lossy(),
            "--log-date-format",
            "YYYY-MM-DDTHH:mm:ss",
            "--",
            NODE,
            &app("ready-app.js"),
        ],
        &[("READY_DELAY_MS", "0")],
    );
    w.expect_ready();
    let status = fs::read_to_string(format!("/proc/{}/status", shim.pid())).expect("status");
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .map(|l| l.split_whitespace().nth(1).unwrap_or("?").to_owned())
            .unwrap_or_default()
    };
    let pss = fs::read_to_string(format!("/proc/{}/smaps_rollup", shim.pid()))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Pss:"))
                .map(|l| l.split_whitespace().nth(1).unwrap_or("?").to_owned())
        })
        .unwrap_or_default();
    eprintln!(
        "rgen-shim while supervising: VmRSS {} kB (RssAnon {} kB, RssFile {} kB), Pss {pss} kB",
        field("VmRSS:"),
        field("RssAnon:"),
        field("RssFile:")
    );
    assert!(!field("VmRSS:").is_empty());
    shim.term();
    shim.wait();
}

// ---- log rotation: nothing lost, nothing twice ----

/// An app printing numbered lines as fast as it can, one write(2) per line as `console.log`
/// does: `$TAG<n>` for n in 0..$LINES, then exit $EXIT (default 0).
const FLOOD_PY: &str = r#"
import os, sys
n = int(os.environ.get("LINES", "1000"))
tag = os.environ.get("TAG", "")
out = sys.stdout
for i in range(n):
    out.write(f"{tag}{i}\n")
    out.flush()
sys.exit(int(os.environ.get("EXIT", "0")))
"#;

impl World {
    /// Writes a script into the test's directory and returns its path.
    fn script(&self, name: &str, body: &str) -> String {
        let p = self.path(name);
        fs::write(&p, body).expect("write script");
        p.to_string_lossy().into_owned()
    }
}

/// Rotated files of `<dir>/<stem>.log` (pm2-logrotate names, `.log` or `.log.gz`), oldest first.
fn rotated_logs(dir: &Path, stem: &str) -> Vec<PathBuf> {
    let prefix = format!("{stem}__");
    let mut files: Vec<(std::time::SystemTime, PathBuf)> = fs::read_dir(dir)
        .expect("read_dir")
        .flatten()
        .filter(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.starts_with(&prefix) && (n.ends_with(".log") || n.ends_with(".log.gz"))
        })
        .map(|e| {
            (
                e.metadata().and_then(|m| m.modified()).expect("mtime"),
                e.path(),
            )
        })
        .collect();
    files.sort();
    files.into_iter().map(|(_, p)| p).collect()
}

/// Logical rotated files right now (a `.log` being compressed and its `.gz` count once).
fn rotated_count(dir: &Path, stem: &str) -> usize {
    let prefix = format!("{stem}__");
    let mut names: Vec<String> = fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(&prefix))
                .filter_map(|n| {
                    let n = n.strip_suffix(".gz").unwrap_or(&n).to_owned();
                    n.ends_with(".log").then_some(n)
                })
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names.dedup();
    names.len()
}

fn read_log(p: &Path) -> String {
    let bytes = fs::read(p).unwrap_or_else(|e| panic!("{p:?}: {e}"));
    if p.extension().is_some_and(|e| e == "gz") {
        let mut text = String::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_string(&mut text)
            .unwrap_or_else(|e| panic!("{p:?} is not a whole gzip file: {e}"));
        text
    } else {
        String::from_utf8(bytes).expect("utf-8")
    }
}

/// Every line of the live file and its rotated files.
fn all_lines(dir: &Path, stem: &str) -> Vec<String> {
    let mut lines = Vec::new();
    for p in rotated_logs(dir, stem)
        .into_iter()
        .chain([dir.join(format!("{stem}.log"))])
    {
        lines.extend(read_log(&p).lines().map(str::to_owned));
    }
    lines
}

/// Asserts that `lines` hold `<tag><n>` exactly once for every n in 0..count of every tag.
fn assert_each_once(lines: &[String], tags: &[&str], count: u32) {
    let mut seen = std::collections::BTreeMap::new();
    for l in lines {
        *seen.entry(l.as_str()).or_insert(0u32) += 1;
    }
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).take(5).collect();
    assert!(twice.is_empty(), "duplicated lines: {twice:?}");
    for tag in tags {
        let missing: Vec<u32> = (0..count)
            .filter(|i| !seen.contains_key(format!("{tag}{i}").as_str()))
            .take(5)
            .collect();
        assert!(missing.is_empty(), "lost lines of `{tag}`: {missing:?}…");
    }
    assert_eq!(
        lines.len(),
        tags.len() * count as usize,
        "unexpected extra lines"
    );
}

fn no_temp_files(dir: &Path) {
    let temps: Vec<String> = fs::read_dir(dir)
        .expect("read_dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".gz.tmp"))
        .collect();
    assert!(temps.is_empty(), "{temps:?}");
}

#[test]
fn size_rotation_under_a_flood_loses_and_duplicates_no_line() {
    const LINES: u32 = 120_000;
    const MAX: u64 = 48 * 1024;
    for compress in [false, true] {
        let w = World::new();
        let flood = w.script("flood.py", FLOOD_PY);
        let out = w.path("out.log");
        let mut args = vec![
            "--stdout",
            out.to_str().unwrap(),
            "--log-max-size",
            "48K",
            "--log-retain",
            "all",
        ];
        if compress {
            args.push("--log-compress");
        }
        args.extend(["--", PYTHON, &flood]);
        let lines = LINES.to_string();
        let (st, err) = w.run("flood", &args, &[("LINES", &lines)]);
        assert!(st.success(), "{st:?} {err}");
        let rotated = rotated_logs(w.dir.path(), "out");
        assert!(rotated.len() >= 5, "only {} rotations", rotated.len());
        for p in &rotated {
            let gz = p.extension().is_some_and(|e| e == "gz");
            assert_eq!(gz, compress, "{p:?}");
            let size = read_log(p).len() as u64;
            assert!(size > 0 && size <= MAX, "{p:?} holds {size} bytes");
        }
        no_temp_files(w.dir.path());
        assert_each_once(&all_lines(w.dir.path(), "out"), &[""], LINES);
    }
}

#[test]
fn retain_keeps_at_most_n_rotated_files_at_any_moment() {
    const LINES: u32 = 100_000;
    let w = World::new();
    let flood = w.script("flood.py", FLOOD_PY);
    let out = w.path("out.log");
    let mut shim = w.spawn(
        "retain",
        &[
            "--stdout",
            out.to_str().unwrap(),
            "--log-max-size",
            "16K",
            "--log-retain",
            "3",
            "--log-compress",
            "--",
            PYTHON,
            &flood,
        ],
        &[("LINES", &LINES.to_string())],
    );
    let mut most = 0;
    let status = loop {
        most = most.max(rotated_count(w.dir.path(), "out"));
        if let Some(st) = shim.child.try_wait().expect("try_wait") {
            break st;
        }
    };
    assert!(status.success(), "{}", shim.stderr());
    assert!(most <= 3, "saw {most} rotated files");
    assert_eq!(rotated_count(w.dir.path(), "out"), 3);
    // What is kept is an unbroken tail of the output, each line once.
    let mut numbers: Vec<u32> = all_lines(w.dir.path(), "out")
        .iter()
        .map(|l| l.parse().expect("number"))
        .collect();
    numbers.sort_unstable();
    assert_eq!(numbers.last(), Some(&(LINES - 1)));
    assert!(
        numbers.windows(2).all(|p| p[1] == p[0] + 1),
        "a gap or a duplicate"
    );
}

#[test]
fn a_cron_interval_rotates_small_files_too() {
    let w = World::new();
    let ticker = w.script(
        "ticker.sh",
        "i=0\nwhile :; do echo \"$i\"; i=$((i + 1)); sleep 0.02; done\n",
    );
    let out = w.path("out.log");
    let mut shim = w.spawn(
        "cron",
        &[
            "--stdout",
            out.to_str().unwrap(),
            "--log-rotate-interval",
            "* * * * * *",
            "--log-retain",
            "all",
            "--",
            SH,
            &ticker,
        ],
        &[],
    );
    wait_until("two time-triggered rotations", || {
        (rotated_logs(w.dir.path(), "out").len() >= 2).then_some(())
    });
    shim.term();
    shim.wait();
    let rotated = rotated_logs(w.dir.path(), "out");
    // The default dateFormat: `out__YYYY-MM-DD_HH-mm-ss.log`.
    let name = rotated[0]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let shape = "out__dddd-dd-dd_dd-dd-dd.log";
    assert!(
        name.len() == shape.len()
            && name.chars().zip(shape.chars()).all(|(c, s)| if s == 'd' {
                c.is_ascii_digit()
            } else {
                c == s
            }),
        "{name}"
    );
    let mut numbers: Vec<u32> = all_lines(w.dir.path(), "out")
        .iter()
        .map(|l| l.parse().expect("number"))
        .collect();
    numbers.sort_unstable();
    assert_eq!(numbers.first(), Some(&0));
    assert!(
        numbers.windows(2).all(|p| p[1] == p[0] + 1),
        "a gap or a duplicate"
    );
}

/// Each run of the app appends `r<k>-<n>` lines (k counted in a file) and crashes, the last one
/// exits 0: restarts happen while rotations and compressions are under way.
const RUNS_PY: &str = r#"
import os, sys
runs = os.environ["RUNS_FILE"]
k = len(open(runs).read().splitlines()) if os.path.exists(runs) else 0
open(runs, "a").write(f"{os.getpid()}\n")
for i in range(int(os.environ["LINES"])):
    sys.stdout.write(f"r{k}-{i}\n")
    sys.stdout.flush()
sys.exit(0 if k + 1 >= int(os.environ["RUN_COUNT"]) else 1)
"#;

#[test]
fn app_restarts_in_the_middle_of_rotations_lose_nothing() {
    const LINES: u32 = 30_000;
    let w = World::new();
    let runs_py = w.script("runs.py", RUNS_PY);
    let out = w.path("out.log");
    let runs = w.path("runs");
    let env = [
        ("RUNS_FILE", runs.to_str().unwrap()),
        ("LINES", &LINES.to_string()),
        ("RUN_COUNT", "4"),
    ];
    let rotation = [
        "--stdout",
        out.to_str().unwrap(),
        "--log-max-size",
        "32K",
        "--log-retain",
        "all",
        "--log-compress",
    ];
    // Restarted by the shim itself: runs 0..3.
    let mut args: Vec<&str> = rotation.to_vec();
    args.extend([
        "--autorestart",
        "--stop-exit-codes",
        "0",
        "--",
        PYTHON,
        &runs_py,
    ]);
    let (st, err) = w.run("inproc", &args, &env);
    assert!(st.success(), "{err}");
    // Restarted as a service manager would: a new shim per run, runs 4..7 (exit 0 each).
    let env2 = [env[0], env[1], ("RUN_COUNT", "0")];
    let mut args: Vec<&str> = rotation.to_vec();
    args.extend(["--", PYTHON, &runs_py]);
    for i in 0..4 {
        let (st, err) = w.run(&format!("oneshot{i}"), &args, &env2);
        assert!(st.success(), "{err}");
    }
    no_temp_files(w.dir.path());
    let tags: Vec<String> = (0..8).map(|k| format!("r{k}-")).collect();
    let tags: Vec<&str> = tags.iter().map(String::as_str).collect();
    assert_each_once(&all_lines(w.dir.path(), "out"), &tags, LINES);
}

#[test]
fn two_shims_writing_one_file_rotate_it_without_losing_lines() {
    const LINES: u32 = 60_000;
    let w = World::new();
    let flood = w.script("flood.py", FLOOD_PY);
    let all = w.path("all.log");
    let lines = LINES.to_string();
    let args = [
        "--combined",
        all.to_str().unwrap(),
        "--log-max-size",
        "32K",
        "--log-retain",
        "all",
        "--log-compress",
        "--",
        PYTHON,
        &flood,
    ];
    let mut a = w.spawn("a", &args, &[("LINES", &lines), ("TAG", "a")]);
    let mut b = w.spawn("b", &args, &[("LINES", &lines), ("TAG", "b")]);
    assert!(a.wait().success(), "{}", a.stderr());
    assert!(b.wait().success(), "{}", b.stderr());
    no_temp_files(w.dir.path());
    assert!(rotated_logs(w.dir.path(), "all").len() >= 5);
    assert_each_once(&all_lines(w.dir.path(), "all"), &["a", "b"], LINES);
}

/// In a sticky directory anyone may create the live log's name (before the first start, or right
/// after a rotation moved it away): a root shim then wrote a root app's output into mallory's
/// file, for her to read.
#[test]
fn a_log_file_another_user_put_at_the_path_is_refused() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root to give a file to another user");
        return;
    }
    let w = World::new();
    let planted = w.path("out.log");
    std::fs::write(&planted, "").unwrap();
    std::os::unix::fs::chown(&planted, Some(54321), Some(54321)).unwrap();
    let (st, err) = w.run(
        "planted",
        &[
            "--stdout",
            planted.to_str().unwrap(),
            "--",
            SH,
            "-c",
            "echo root-app-secret",
        ],
        &[],
    );
    assert_eq!(std::fs::read_to_string(&planted).unwrap(), "", "{err}");
    assert_eq!(st.code(), Some(1), "{err}");
    assert!(err.contains("belongs to uid 54321"), "{err}");
}

/// A log directory gone from a sticky parent (tmpfiles ages /var/tmp) and replaced by mallory's
/// link to a directory of root's: a root shim created and filled the log there.
#[test]
fn a_log_directory_through_another_users_link_is_refused() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root to give a link to another user");
        return;
    }
    use std::os::unix::fs::PermissionsExt as _;
    let w = World::new();
    let sticky = w.path("sticky");
    std::fs::create_dir(&sticky).unwrap();
    std::fs::set_permissions(&sticky, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let roots = w.path("roots");
    std::fs::create_dir(&roots).unwrap();
    let link = sticky.join("logs");
    std::os::unix::fs::symlink(&roots, &link).unwrap();
    std::os::unix::fs::lchown(&link, Some(54321), Some(54321)).unwrap();
    let out = link.join("sub").join("out.log");
    let (st, err) = w.run(
        "linked-dir",
        &[
            "--stdout",
            out.to_str().unwrap(),
            "--",
            SH,
            "-c",
            "echo root-app-secret",
        ],
        &[],
    );
    assert_eq!(std::fs::read_dir(&roots).unwrap().count(), 0, "{err}");
    assert_eq!(st.code(), Some(1), "{err}");
    assert!(err.contains("is a symbolic link of uid 54321"), "{err}");
}

#[test]
fn symlinks_and_special_files_are_refused_as_log_paths() {
    let w = World::new();
    let target = w.path("target");
    let link = w.path("out.log");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let (st, err) = w.run(
        "symlink",
        &[
            "--stdout",
            link.to_str().unwrap(),
            "--",
            SH,
            "-c",
            "echo hi",
        ],
        &[],
    );
    assert_eq!(st.code(), Some(1), "{err}");
    assert!(err.contains("is a symbolic link"), "{err}");
    assert!(!target.exists(), "the symlink was followed");

    let fifo = w.path("fifo.log");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: valid C string.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let (st, err) = w.run(
        "fifo",
        &[
            "--stdout",
            fifo.to_str().unwrap(),
            "--",
            SH,
            "-c",
            "echo hi",
        ],
        &[],
    );
    assert_eq!(st.code(), Some(1), "{err}");
    assert!(err.contains("FIFO"), "{err}");

    // PM2 users write /dev/null to throw output away: accepted, never rotated.
    let (st, err) = w.run(
        "null",
        &[
            "--stdout",
            "/dev/null",
            "--log-max-size",
            "1",
            "--",
            SH,
            "-c",
            "echo hi; echo there",
        ],
        &[],
    );
    assert!(st.success(), "{err}");

    // A new file is created 0640 (less the umask).
    let out = w.path("new.log");
    let (st, _) = w.run(
        "mode",
        &["--stdout", out.to_str().unwrap(), "--", SH, "-c", "echo hi"],
        &[],
    );
    assert!(st.success());
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(&out).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode & !0o640, 0, "{mode:o}");
}

#[test]
fn a_log_emptied_in_place_is_written_from_its_new_end() {
    let w = World::new();
    let ticker = w.script(
        "ticker.sh",
        "i=0\nwhile :; do echo \"$i\"; i=$((i + 1)); sleep 0.01; done\n",
    );
    let out = w.path("out.log");
    let mut shim = w.spawn(
        "flush",
        &[
            "--stdout",
            out.to_str().unwrap(),
            "--log-max-size",
            "1M",
            "--",
            SH,
            &ticker,
        ],
        &[],
    );
    wait_until("some lines", || {
        (fs::read_to_string(&out).ok()?.lines().count() >= 5).then_some(())
    });
    // What `rgen flush` does.
    fs::OpenOptions::new()
        .write(true)
        .open(&out)
        .unwrap()
        .set_len(0)
        .unwrap();
    wait_until("lines after the flush", || {
        (fs::read_to_string(&out).ok()?.lines().count() >= 3).then_some(())
    });
    shim.term();
    shim.wait();
    let bytes = fs::read(&out).unwrap();
    assert!(
        !bytes.contains(&0),
        "a hole of NULs: the shim wrote at its old offset"
    );
    assert!(rotated_logs(w.dir.path(), "out").is_empty());
}

#[test]
fn a_symlink_swapped_in_at_the_live_path_is_never_followed_and_said_once() {
    let w = World::new();
    let victim = w.path("victim");
    fs::write(&victim, "victim\n").unwrap();
    let ticker = w.script(
        "ticker.sh",
        "i=0\nwhile :; do echo \"line $i\"; i=$((i + 1)); done\n",
    );
    let out = w.path("out.log");
    let mut shim = w.spawn(
        "swap",
        &[
            "--stdout",
            out.to_str().unwrap(),
            "--log-max-size",
            "4K",
            "--",
            SH,
            &ticker,
        ],
        &[],
    );
    wait_until("a rotation", || {
        (!rotated_logs(w.dir.path(), "out").is_empty()).then_some(())
    });
    let swap = w.path("swap");
    std::os::unix::fs::symlink(&victim, &swap).unwrap();
    fs::rename(&swap, &out).unwrap();
    // Every line from now on is over the size: each would be a rotation attempt. Either the
    // shim refuses to reopen through the link, or a rotation already under way renamed the link
    // itself away (rename does not follow it) and a fresh file took its place: both are safe.
    wait_until("the shim to notice", || {
        let said = fs::read_to_string(w.path("swap.err"))
            .ok()?
            .contains("cannot reopen");
        let link_gone = fs::symlink_metadata(&out).is_ok_and(|m| m.is_file());
        (said || link_gone).then_some(())
    });
    // Its user removes the link: the shim writes a fresh file again.
    fs::remove_file(&out).unwrap();
    wait_until("a new live file", || {
        fs::symlink_metadata(&out)
            .ok()
            .filter(|m| m.is_file() && m.len() > 0)
    });
    shim.term();
    shim.wait();
    assert_eq!(fs::read_to_string(&victim).unwrap(), "victim\n");
    let said = shim.stderr();
    assert!(said.matches("cannot reopen").count() <= 1, "{said}");
}

// ---- --autorestart: PM2's restart rules inside the shim ----

/// Appends its pid to $RUNS_FILE, then exits with $CRASH_CODE (default 1).
const COUNTED_CRASH_SH: &str = "echo $$ >> \"$RUNS_FILE\"\nexit \"${CRASH_CODE:-1}\"\n";

fn runs(path: &Path) -> usize {
    fs::read_to_string(path).map_or(0, |t| t.lines().count())
}

#[test]
fn a_crash_loop_errors_out_after_max_restarts() {
    let w = World::new();
    let crash = w.script("crash.sh", COUNTED_CRASH_SH);
    let runs_file = w.path("runs");
    let status = w.path("status.json");
    let env = [("RUNS_FILE", runs_file.to_str().unwrap())];
    let args = |stay_down: bool| {
        let mut a = vec![
            "--name",
            "loop",
            "--autorestart",
            "--max-restarts",
            "3",
            "--status-file",
            status.to_str().unwrap(),
        ];
        if stay_down {
            // What launchd (KeepAlive {SuccessfulExit: false}) needs to leave it down.
            a.extend(["--stay-down-exit-code", "0"]);
        }
        a.extend(["--", SH, crash.as_str()]);
        a
    };
    let (st, err) = w.run("loop", &args(true), &env);
    assert_eq!(st.code(), Some(0), "{err}");
    assert!(err.contains("too many unstable restarts"), "{err}");
    // PM2: the third unstable exit reaches max_restarts 3; the app ran three times.
    assert_eq!(runs(&runs_file), 3);
    let s = w.read_json("status.json");
    assert_eq!(s["state"], "errored", "{s}");
    assert_eq!(s["restarts"], 2, "{s}");
    assert_eq!(s["last_exit"]["code"], 1, "{s}");

    // Without --stay-down-exit-code the shim exits as the app did (a container's orchestrator
    // sees the failure).
    fs::remove_file(&runs_file).unwrap();
    let (st, _) = w.run("loop2", &args(false), &env);
    assert_eq!(st.code(), Some(1));
    assert_eq!(runs(&runs_file), 3);
}

#[test]
fn restart_delay_waits_after_each_exit_and_stop_exit_codes_stay_down() {
    let w = World::new();
    let crash = w.script("crash.sh", COUNTED_CRASH_SH);
    let runs_file = w.path("runs");
    let status = w.path("status.json");
    let mut shim = w.spawn(
        "delay",
        &[
            "--name",
            "delay",
            "--autorestart",
            "--restart-delay",
            "300",
            "--status-file",
            status.to_str().unwrap(),
            "--",
            SH,
            &crash,
        ],
        &[("RUNS_FILE", runs_file.to_str().unwrap())],
    );
    wait_until("waiting-restart", || {
        let s = fs::read_to_string(&status).ok()?;
        s.contains("\"waiting-restart\"").then_some(())
    });
    let first_runs = runs(&runs_file);
    wait_until("the next run", || {
        (runs(&runs_file) > first_runs).then_some(())
    });
    let err = shim.wait_stderr("in 300ms (restart_delay)");
    assert!(!err.contains("unstable"), "{err}");
    shim.term();
    let st = shim.wait();
    assert_eq!(
        st.code(),
        Some(0),
        "stopped while waiting: {}",
        shim.stderr()
    );
    assert_eq!(w.read_json("status.json")["state"], "stopped");

    // stop_exit_codes: an exit with 0 leaves it down; the shim exits with that code.
    fs::remove_file(&runs_file).unwrap();
    let (st, err) = w.run(
        "stay",
        &[
            "--autorestart",
            "--stop-exit-codes",
            "0,3",
            "--",
            SH,
            &crash,
        ],
        &[
            ("RUNS_FILE", runs_file.to_str().unwrap()),
            ("CRASH_CODE", "3"),
        ],
    );
    assert_eq!(st.code(), Some(3), "{err}");
    assert_eq!(runs(&runs_file), 1);
    assert!(err.contains("stop exit code"), "{err}");
}

#[test]
fn exponential_backoff_inside_one_shim() {
    let w = World::new();
    let crash = w.script("crash.sh", COUNTED_CRASH_SH);
    let runs_file = w.path("runs");
    let mut shim = w.spawn(
        "backoff",
        &[
            "--name",
            "bo",
            "--autorestart",
            "--max-restarts",
            "100",
            "--backoff-initial",
            "20",
            "--restart-delay",
            "5000",
            "--",
            SH,
            &crash,
        ],
        &[
            ("RUNS_FILE", runs_file.to_str().unwrap()),
            ("RGEN_SHIM_BACKOFF_CAP_MS", "50"),
        ],
    );
    let err = shim.wait_stderr("in 50ms (exponential backoff)");
    shim.term();
    shim.wait();
    let delays: Vec<u64> = err
        .lines()
        .filter_map(|l| {
            l.split(" in ")
                .nth(1)?
                .strip_suffix("ms (exponential backoff)")?
                .parse()
                .ok()
        })
        .collect();
    // PM2: exp_backoff_restart_delay replaces restart_delay; ×1.5 floored; capped.
    assert_eq!(delays[..4], [20, 30, 45, 50], "{err}");
}

// ---- graceful restart, and no app outliving its shim ----

/// Records `start <pid> old=<gone|alive>` (the previous pid in $EVENTS, checked through /proc)
/// and `stop <pid>` on SIGINT, which it takes its time over; with IGNORE_INT it ignores SIGINT.
const EVENTS_SH: &str = r#"
prev=$(sed -n 's/^start \([0-9]*\).*/\1/p' "$EVENTS" 2>/dev/null | tail -n 1)
state=gone
if [ -n "$prev" ] && [ -r "/proc/$prev/stat" ]; then
  s=$(sed 's/.*) \(.\).*/\1/' "/proc/$prev/stat")
  [ "$s" != Z ] && [ "$s" != X ] && state=alive
fi
echo "start $$ old=$state" >> "$EVENTS"
if [ -n "$IGNORE_INT" ]; then
  trap '' INT
else
  trap 'sleep 0.2; echo "stop $$" >> "$EVENTS"; exit 0' INT
fi
while :; do sleep 0.05; done
"#;

fn events(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .map(|t| t.lines().map(str::to_owned).collect())
        .unwrap_or_default()
}

fn starts(path: &Path) -> usize {
    events(path)
        .iter()
        .filter(|l| l.starts_with("start"))
        .count()
}

#[test]
fn the_restart_signal_replaces_the_app_only_after_it_is_gone() {
    for ignore_int in [false, true] {
        let w = World::new();
        let app_sh = w.script("events.sh", EVENTS_SH);
        let ev = w.path("events");
        let mut env = vec![("EVENTS", ev.to_str().unwrap())];
        if ignore_int {
            env.push(("IGNORE_INT", "1"));
        }
        let mut shim = w.spawn(
            "restart",
            &[
                "--name",
                "r",
                "--autorestart",
                "--kill-timeout",
                "300",
                "--",
                SH,
                &app_sh,
            ],
            &env,
        );
        wait_until("the first start", || (starts(&ev) == 1).then_some(()));
        signal(shim.pid(), libc::SIGURG);
        wait_until("the second start", || (starts(&ev) == 2).then_some(()));
        let e = events(&ev);
        assert!(e.last().unwrap().ends_with("old=gone"), "{e:?}");
        if !ignore_int {
            assert!(e[1].starts_with("stop "), "{e:?}");
        } else {
            assert!(
                shim.stderr().contains("sending SIGKILL"),
                "{}",
                shim.stderr()
            );
        }
        shim.term();
        shim.wait();
    }

    // Without --autorestart: stop the app, exit 75 for the manager to start the shim again.
    let w = World::new();
    let app_sh = w.script("events.sh", EVENTS_SH);
    let ev = w.path("events");
    let mut shim = w.spawn(
        "oneshot",
        &["--", SH, &app_sh],
        &[("EVENTS", ev.to_str().unwrap())],
    );
    wait_until("the start", || (starts(&ev) == 1).then_some(()));
    signal(shim.pid(), libc::SIGURG);
    assert_eq!(shim.wait().code(), Some(75));
    assert!(events(&ev)[1].starts_with("stop "));
}

#[test]
fn an_app_left_by_a_killed_shim_is_stopped_before_the_next_starts() {
    let w = World::new();
    let app_sh = w.script("events.sh", EVENTS_SH);
    let ev = w.path("events");
    let pid_file = w.path("app.pid");
    let args = [
        "--pid-file",
        pid_file.to_str().unwrap(),
        "--kill-timeout",
        "2000",
        "--",
        SH,
        &app_sh,
    ];
    // As on macOS: nothing takes the app down with the shim.
    let env = [
        ("EVENTS", ev.to_str().unwrap()),
        ("RGEN_SHIM_NO_PDEATHSIG", "1"),
    ];
    let mut first = w.spawn("first", &args, &env);
    wait_until("the first start", || (starts(&ev) == 1).then_some(()));
    let old: u32 = wait_until("the pid file", || {
        fs::read_to_string(&pid_file).ok()?.trim().parse().ok()
    });
    signal(first.pid(), libc::SIGKILL);
    first.wait();
    assert!(running(old), "the orphan is the point of this test");
    let mut second = w.spawn("second", &args, &env);
    wait_until("the second start", || (starts(&ev) == 2).then_some(()));
    let e = events(&ev);
    assert_eq!(e[1], format!("stop {old}"), "{e:?}");
    assert!(e[2].ends_with("old=gone"), "{e:?}");
    assert!(second.stderr().contains("still running without its shim"));
    second.term();
    second.wait();
    assert!(!pid_file.exists(), "removed once the app is gone");
}

// ---- as a container's PID 1 (the pm2-runtime role) ----

/// Records `start`, `hup` and `int` (then exit 3; ignored with IGNORE_INT) in $EVENTS, and
/// orphans a grandchild that records `orphan <pid>`, lives a moment and exits: PID 1 must reap it.
const PID1_APP_SH: &str = r#"
echo start >> "$EVENTS"
trap 'echo hup >> "$EVENTS"' HUP
if [ -n "$IGNORE_INT" ]; then trap '' INT; else trap 'echo int >> "$EVENTS"; exit 3' INT; fi
( sh -c 'echo "orphan $$" >> "$EVENTS"; sleep 0.2; echo orphan-done >> "$EVENTS"' & )
[ -n "$EXIT_CODE" ] && { sleep 0.5; exit "$EXIT_CODE"; }
while :; do sleep 0.05; done
"#;

impl World {
    /// The shim as PID 1 of a fresh PID namespace (needs root).
    fn spawn_pid1(&self, label: &str, args: &[&str], env: &[(&str, &str)]) -> Shim {
        let stderr = self.path(&format!("{label}.err"));
        let mut unshare = Command::new("unshare");
        unshare
            .args(["--pid", "--fork", "--mount-proc", SHIM])
            .args(args)
            .envs(env.iter().copied())
            .env("XDG_RUNTIME_DIR", self.dir.path())
            .env_remove("NOTIFY_SOCKET")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(&stderr).expect("stderr file"));
        Shim {
            child: unshare.spawn().expect("spawn unshare"),
            stderr,
        }
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// The shim's pid (in our namespace): the only child of `unshare --fork`.
fn pid1_of(unshare: &Shim) -> u32 {
    let u = unshare.pid();
    wait_until("the shim under unshare", || {
        fs::read_to_string(format!("/proc/{u}/task/{u}/children"))
            .ok()?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    })
}

fn zombie_children(pid: u32) -> Vec<u32> {
    let Ok(text) = fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")) else {
        return Vec::new();
    };
    text.split_whitespace()
        .filter_map(|c| c.parse().ok())
        .filter(|&c: &u32| {
            fs::read_to_string(format!("/proc/{c}/stat")).is_ok_and(|s| {
                s.rfind(')')
                    .and_then(|i| s[i + 1..].split_whitespace().next())
                    .is_some_and(|st| st == "Z")
            })
        })
        .collect()
}

#[test]
fn as_pid1_it_forwards_signals_reaps_orphans_and_exits_like_the_app() {
    if !is_root() {
        eprintln!("skipped: unshare --pid needs root");
        return;
    }
    let w = World::new();
    let app_sh = w.script("pid1.sh", PID1_APP_SH);
    let ev = w.path("events");
    let ready = w.path("ready");
    let args = [
        "--name",
        "web",
        "--ready-file",
        ready.to_str().unwrap(),
        "--kill-timeout",
        "300",
        "--",
        SH,
        &app_sh,
    ];
    let env = [("EVENTS", ev.to_str().unwrap())];
    let has = |what: &str| events(&ev).iter().any(|l| l == what);

    // Signals reach the app; the orphan is reaped; SIGTERM stops it with SIGINT, and the
    // container exits with the app's code.
    let mut c = w.spawn_pid1("pid1", &args, &env);
    let shim = pid1_of(&c);
    wait_until("the orphan to finish", || has("orphan-done").then_some(()));
    wait_until("the orphan to be reaped", || {
        zombie_children(shim).is_empty().then_some(())
    });
    assert_eq!(
        fs::read_to_string(&ready).unwrap().trim(),
        "2",
        "the app is pid 2 inside"
    );
    signal(shim, libc::SIGHUP);
    wait_until("the forwarded SIGHUP", || has("hup").then_some(()));
    signal(shim, libc::SIGTERM);
    let st = c.wait();
    assert_eq!(st.code(), Some(3), "{}", c.stderr());
    assert!(has("int"));
    assert!(!ready.exists(), "the ready file goes with the app");

    // An app that ignores SIGINT is SIGKILLed after kill_timeout.
    fs::remove_file(&ev).unwrap();
    let mut c = w.spawn_pid1("pid1-kill", &args, &[env[0], ("IGNORE_INT", "1")]);
    let shim = pid1_of(&c);
    wait_until("the start", || has("start").then_some(()));
    signal(shim, libc::SIGTERM);
    let st = c.wait();
    assert!(
        st.code() == Some(128 + libc::SIGKILL) || st.signal() == Some(libc::SIGKILL),
        "{st:?} {}",
        c.stderr()
    );
    assert!(c.stderr().contains("sending SIGKILL"), "{}", c.stderr());

    // An app that exits on its own: its code is the container's.
    fs::remove_file(&ev).unwrap();
    let mut c = w.spawn_pid1("pid1-exit", &args, &[env[0], ("EXIT_CODE", "7")]);
    assert_eq!(c.wait().code(), Some(7), "{}", c.stderr());

    // With --autorestart, PM2's restarts happen in the container, and giving up exits non-zero.
    let crash = w.script("crash.sh", COUNTED_CRASH_SH);
    let runs_file = w.path("runs");
    let mut c = w.spawn_pid1(
        "pid1-loop",
        &["--autorestart", "--max-restarts", "2", "--", SH, &crash],
        &[("RUNS_FILE", runs_file.to_str().unwrap())],
    );
    assert_eq!(c.wait().code(), Some(1), "{}", c.stderr());
    assert_eq!(runs(&runs_file), 2);
}

#[test]
fn the_shim_log_is_its_own_file_and_rotates() {
    let w = World::new();
    let crash = w.script("crash.sh", COUNTED_CRASH_SH);
    let runs_file = w.path("runs");
    let shim_log = w.path("api.rgen-shim.log");
    let mut shim = w.spawn(
        "own",
        &[
            "--name",
            "api",
            "--shim-log",
            shim_log.to_str().unwrap(),
            "--log-max-size",
            "400",
            "--log-retain",
            "2",
            "--autorestart",
            "--max-restarts",
            "1000",
            "--restart-delay",
            "20",
            "--",
            SH,
            &crash,
        ],
        &[("RUNS_FILE", runs_file.to_str().unwrap())],
    );
    wait_until("two rotated shim logs", || {
        (rotated_logs(w.dir.path(), "api.rgen-shim").len() >= 2).then_some(())
    });
    shim.term();
    shim.wait();
    assert_eq!(shim.stderr(), "", "messages go to the shim log, not stderr");
    let text = fs::read_to_string(&shim_log).unwrap();
    let line = text.lines().last().expect("a message");
    // `YYYY-MM-DDTHH:mm:ss: rgen-shim[api]: …`, as PM2's `time: true` lines.
    assert!(
        line.len() > 21
            && line.as_bytes()[10] == b'T'
            && line[19..].starts_with(": rgen-shim[api]: "),
        "{line}"
    );
    assert!(rotated_logs(w.dir.path(), "api.rgen-shim").len() <= 2);
}

#[test]
fn restart_and_rotation_options_are_checked() {
    let w = World::new();
    for (args, needle) in [
        (
            &["--restart-delay", "5", "--", SH][..],
            "needs `--autorestart`",
        ),
        (
            &["--max-restarts", "5", "--", SH][..],
            "needs `--autorestart`",
        ),
        (&["--log-compress", "--", SH][..], "needs `--stdout`"),
        (
            &[
                "--stdout",
                "/tmp/x.log",
                "--log-rotate-interval",
                "every day",
                "--",
                SH,
            ][..],
            "expects a cron expression",
        ),
        (
            &[
                "--stdout",
                "/tmp/x.log",
                "--log-rotate-date-format",
                "YYYY/MM",
                "--",
                SH,
            ][..],
            "without `/`",
        ),
        (
            &["--autorestart", "--stop-exit-codes", "0,x", "--", SH][..],
            "exit codes",
        ),
        (
            &["--stdout", "/tmp/x.log", "--log-retain", "-1", "--", SH][..],
            "or `all`",
        ),
    ] {
        let (st, err) = w.run("usage", args, &[]);
        assert_eq!(st.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}
