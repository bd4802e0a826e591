//! Hostile input is answered with exit 2 and a message naming the file — promptly and in bounded
//! memory, never with a stack overflow, an abort or a hang (security issue #9: 9.3, 9.9).
//!
//! Every run has a deadline and a memory ceiling so a regression fails the test instead of
//! stalling or swapping the machine; the deadlines are safety nets, far above the expected time.

use std::io::Read as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::support::rgen;

/// Address-space ceiling for each rgen run: far above what loading any of these files needs, far
/// below what would hurt the machine.
const MEMORY_CEILING: u64 = 1 << 30;

struct Finished {
    /// `None` when rgen died of a signal (an abort, a stack overflow) or was killed at the deadline.
    code: Option<i32>,
    timed_out: bool,
    stderr: String,
    /// Peak resident set of rgen, from `wait4`.
    max_rss_bytes: u64,
}

impl Finished {
    fn assert_refused(&self, file: &str, message: &str) {
        assert!(!self.timed_out, "rgen did not finish: {}", self.stderr);
        assert_eq!(self.code, Some(2), "{}", self.stderr);
        assert!(
            self.stderr.contains(file) && self.stderr.contains(message),
            "expected an error about {file} saying {message:?}:\n{}",
            self.stderr
        );
        assert!(!self.stderr.contains("panicked"), "{}", self.stderr);
    }
}

/// Runs `cmd` until it exits or `deadline` passes (then it is killed). The child is reaped only
/// here, after the kill, so its pid cannot have been reused by the time it is signalled.
fn run_capped(cmd: Command, deadline: Duration) -> Finished {
    run_capped_at(cmd, deadline, MEMORY_CEILING)
}

fn run_capped_at(mut cmd: Command, deadline: Duration, memory_ceiling: u64) -> Finished {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    // SAFETY: setrlimit is async-signal-safe and touches only the child.
    unsafe {
        cmd.pre_exec(move || {
            let limit = libc::rlimit {
                rlim_cur: memory_ceiling,
                rlim_max: memory_ceiling,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().expect("rgen starts");
    let pid = child.id() as libc::pid_t;
    let mut stderr_pipe = child.stderr.take().unwrap();
    let stderr_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr_pipe.read_to_string(&mut s);
        s
    });
    let (exited_tx, exited_rx) = mpsc::channel();
    std::thread::spawn(move || {
        // Blocks until the child has exited, leaving it unreaped (WNOWAIT).
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        unsafe {
            libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOWAIT,
            )
        };
        let _ = exited_tx.send(());
    });
    let timed_out = exited_rx.recv_timeout(deadline).is_err();
    if timed_out {
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(reaped, pid, "wait4: {}", std::io::Error::last_os_error());
    std::mem::forget(child);
    Finished {
        code: libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status)),
        timed_out,
        stderr: if timed_out {
            String::from("(killed at the deadline)")
        } else {
            stderr_reader.join().unwrap()
        },
        max_rss_bytes: usage.ru_maxrss as u64 * 1024,
    }
}

fn check(file: &Path) -> Command {
    let mut cmd = rgen();
    cmd.current_dir(file.parent().unwrap())
        .arg("check")
        .arg(file);
    cmd
}

fn write(dir: &Path, name: &str, text: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

const DEADLINE: Duration = Duration::from_secs(30);

/// 25,000 levels: 50 kB of brackets, far past any parser's stack.
const DEEP: usize = 25_000;

#[test]
fn deep_json_is_refused_without_overflowing_the_stack() {
    let tmp = tempfile::tempdir().unwrap();
    for name in ["ecosystem.json", "ecosystem.json5", "forever.json"] {
        let text = format!("{{\"apps\": {}{}}}", "[".repeat(DEEP), "]".repeat(DEEP));
        let file = write(tmp.path(), name, text);
        run_capped(check(&file), DEADLINE).assert_refused(name, "nested more than 64 levels deep");
    }
}

#[test]
fn deep_yaml_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let block: String = (0..200).map(|i| format!("{}a:\n", " ".repeat(i))).collect();
    let file = write(tmp.path(), "block.yaml", block);
    run_capped(check(&file), DEADLINE)
        .assert_refused("block.yaml", "nested more than 64 levels deep");
    // Flow collections cost libyaml time in proportion to their depth for every token: 200 kB of
    // `{a: ` took minutes before the depth was checked while parsing.
    let file = write(tmp.path(), "flow.yaml", "{a: ".repeat(50_000));
    run_capped(check(&file), DEADLINE)
        .assert_refused("flow.yaml", "nested more than 64 levels deep");
}

#[test]
fn yaml_aliases_cannot_multiply_the_document() {
    // 15 kB whose aliases expand to 9 million values ("billion laughs").
    let tmp = tempfile::tempdir().unwrap();
    let list = vec!["x"; 3000].join(",");
    let aliases = vec!["*a"; 3000].join(",");
    let file = write(
        tmp.path(),
        "ecosystem.yaml",
        format!("a: &a [{list}]\napps: [{aliases}]\n"),
    );
    run_capped(check(&file), DEADLINE).assert_refused("ecosystem.yaml", "more than");
}

#[test]
fn deep_toml_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let inline = format!("x = {}{}\n", "[".repeat(DEEP), "]".repeat(DEEP));
    let dotted = format!("{} = 1\n", vec!["a"; DEEP].join("."));
    let header = format!("[{}]\nx = 1\n", vec!["a"; DEEP].join("."));
    // Deeper than rgen's limit but within the toml crate's own (80 levels of inline tables).
    let moderate = format!("x = {}1{}\n", "{a = ".repeat(70), "}".repeat(70));
    for (name, text) in [
        ("inline.toml", inline),
        ("dotted.toml", dotted),
        ("header.toml", header),
        ("moderate.toml", moderate),
    ] {
        let file = write(tmp.path(), name, text);
        run_capped(check(&file), DEADLINE).assert_refused(name, "nested more than 64 levels deep");
    }
}

#[test]
fn a_fifo_is_refused_without_blocking() {
    let tmp = tempfile::tempdir().unwrap();
    let fifo = tmp.path().join("ecosystem.json");
    let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    run_capped(check(&fifo), DEADLINE).assert_refused("ecosystem.json", "not a regular file");
    let dir = tmp.path().join("ecosystem.yaml");
    std::fs::create_dir(&dir).unwrap();
    run_capped(check(&dir), DEADLINE).assert_refused("ecosystem.yaml", "is a directory");
}

#[test]
fn a_symlink_to_an_ecosystem_file_is_followed() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "app.js", "");
    let real = write(
        tmp.path(),
        "real.json",
        r#"{"apps": [{"name": "web", "script": "app.js"}]}"#,
    );
    let link = tmp.path().join("ecosystem.json");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let done = run_capped(check(&link), DEADLINE);
    assert_eq!(done.code, Some(0), "{}", done.stderr);
}

/// Writes one valid JSON document of about `size` bytes: an app whose env has many long values.
/// Written in pieces, so the test process stays small: a child's peak memory, as `wait4`
/// reports it, starts from its parent's at the fork.
fn write_big_json(path: &Path, size: usize) -> u64 {
    use std::io::Write as _;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let head = r#"{"apps": [{"name": "web", "script": "app.js", "env": {"#;
    let tail = r#""LAST": "1"}}]}"#;
    out.write_all(head.as_bytes()).unwrap();
    let mut written = head.len() + tail.len();
    let value = "v".repeat(200);
    for i in 0.. {
        let pair = format!("\"K{i}\": \"{value}\", ");
        if written + pair.len() > size {
            break;
        }
        out.write_all(pair.as_bytes()).unwrap();
        written += pair.len();
    }
    out.write_all(tail.as_bytes()).unwrap();
    out.flush().unwrap();
    written as u64
}

#[test]
fn a_huge_file_is_refused_before_it_is_read() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("ecosystem.json");
    write_big_json(&file, 50_000_000);
    let done = run_capped(check(&file), DEADLINE);
    done.assert_refused("ecosystem.json", "larger than 16 MiB");
    assert!(
        done.max_rss_bytes < 64 << 20,
        "rgen used {} MiB to refuse a file it should not read",
        done.max_rss_bytes >> 20
    );
}

#[test]
fn a_file_at_the_size_limit_loads_in_bounded_memory() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "app.js", "");
    let file = tmp.path().join("ecosystem.json");
    let size = write_big_json(&file, 16 << 20);
    let done = run_capped(check(&file), DEADLINE);
    assert!(!done.timed_out);
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    // Loading holds the text and one tree of values; model, plan and render each copy the env
    // once more (measured: 8.2 times the file at 16 MiB).
    assert!(
        done.max_rss_bytes < 12 * size,
        "rgen used {} MiB for a {} MiB file",
        done.max_rss_bytes >> 20,
        size >> 20
    );
}

#[test]
fn json_is_never_evaluated_as_javascript() {
    let tmp = tempfile::tempdir().unwrap();
    let marker = tmp.path().join("node-ran");
    let text = format!(
        "(function () {{ require('fs').writeFileSync({:?}, 'ran'); return {{apps: [{{name: 'web', script: 'app.js'}}]}}; }})()",
        marker.to_str().unwrap()
    );
    let file = write(tmp.path(), "ecosystem.json", text);
    let done = run_capped(check(&file), DEADLINE);
    done.assert_refused("ecosystem.json", "invalid JSON");
    assert!(
        done.stderr.contains("line 1 column 1"),
        "the error gives the position: {}",
        done.stderr
    );
    assert!(!marker.exists(), "node evaluated a .json file");
}

/// Whether the process `pid` is gone (or a zombie waiting for its new parent to reap it).
fn process_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

fn wait_until_gone(pid: u32) -> bool {
    let deadline = Instant::now() + DEADLINE;
    while Instant::now() < deadline {
        if process_gone(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

fn read_pid(path: &Path) -> u32 {
    std::fs::read_to_string(path)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// A sleeping child that inherits node's stdout and stderr: rgen's pipes stay open after node
/// has printed the config and exited.
fn js_with_child(dir: &Path, spawn_options: &str, export: &str) -> PathBuf {
    write(dir, "app.js", "");
    write(
        dir,
        "ecosystem.config.js",
        format!(
            "const child = require('child_process').spawn('sleep', ['120'], {{ stdio: ['ignore', 'inherit', 'inherit'], {spawn_options} }});\n\
             require('fs').writeFileSync(__dirname + '/child.pid', String(child.pid));\n\
             module.exports = {export};\n"
        ),
    )
}

/// Kills a leftover child of a test by its pid, if a regression left it running.
fn reap_leftover(pid: u32) {
    if !process_gone(pid) {
        unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
    }
}

#[test]
fn a_child_holding_stdout_does_not_block_rgen() {
    for spawn_options in ["detached: true", "detached: false"] {
        let tmp = tempfile::tempdir().unwrap();
        let file = js_with_child(
            tmp.path(),
            spawn_options,
            "{ apps: [{ name: 'web', script: 'app.js' }] }",
        );
        let done = run_capped(check(&file), DEADLINE);
        let child = read_pid(&tmp.path().join("child.pid"));
        let gone = spawn_options == "detached: true" || wait_until_gone(child);
        reap_leftover(child);
        assert!(
            !done.timed_out,
            "rgen waited for the child of node ({spawn_options})"
        );
        assert_eq!(done.code, Some(0), "{}", done.stderr);
        assert!(
            gone,
            "node's child, in node's process group, outlived the evaluation"
        );
    }
}

#[test]
fn the_js_timeout_kills_the_whole_process_group() {
    let tmp = tempfile::tempdir().unwrap();
    // The child keeps node's event loop alive and the export never settles.
    let file = js_with_child(tmp.path(), "detached: false", "new Promise(() => {})");
    let mut cmd = check(&file);
    cmd.env("RGEN_JS_TIMEOUT_MS", "1000");
    let done = run_capped(cmd, Duration::from_secs(15));
    let child = read_pid(&tmp.path().join("child.pid"));
    let gone = wait_until_gone(child);
    reap_leftover(child);
    done.assert_refused(
        "ecosystem.config.js",
        "did not finish evaluating the file within 1 s",
    );
    assert!(gone, "node's child survived the timeout");
}

#[test]
fn a_bad_js_timeout_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "app.js", "");
    let file = write(
        tmp.path(),
        "ecosystem.config.js",
        "module.exports = { apps: [{ name: 'web', script: 'app.js' }] };\n",
    );
    let mut cmd = check(&file);
    cmd.env("RGEN_JS_TIMEOUT_MS", "soon");
    run_capped(cmd, DEADLINE).assert_refused("ecosystem.config.js", "RGEN_JS_TIMEOUT_MS");
}

#[test]
fn a_huge_js_export_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "app.js", "");
    let file = write(
        tmp.path(),
        "ecosystem.config.js",
        "module.exports = { apps: [{ name: 'web', script: 'app.js', env: { X: 'x'.repeat(17 << 20) } }] };\n",
    );
    // node itself needs more address space than rgen to build the string.
    run_capped_at(check(&file), DEADLINE, 8 << 30)
        .assert_refused("ecosystem.config.js", "larger than 16 MiB of JSON");
}

fn is_root() -> bool {
    unsafe { libc::geteuid() == 0 }
}

/// The account every Debian-like system has and no file of ours belongs to.
const NOBODY: (u32, u32) = (65534, 65534);

#[test]
fn root_evaluates_another_users_file_as_that_user_with_a_clean_environment() {
    if !is_root() {
        eprintln!("skipped: needs root to own files as another user");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "app.js", "");
    let file = write(
        tmp.path(),
        "ecosystem.config.js",
        "module.exports = { apps: [{ name: `u${process.getuid()}-g${process.getgid()}-${process.env.RGEN_TEST_SECRET || 'nosecret'}-${process.env.HOME}`, script: 'app.js' }] };\n",
    );
    std::os::unix::fs::chown(tmp.path(), Some(NOBODY.0), Some(NOBODY.1)).unwrap();
    std::os::unix::fs::chown(&file, Some(NOBODY.0), Some(NOBODY.1)).unwrap();
    let mut cmd = rgen();
    cmd.current_dir(tmp.path())
        .args([
            "render",
            "--systemd",
            "--system",
            "--systemd-version",
            "252",
        ])
        .arg(&file)
        .env("RGEN_TEST_SECRET", "hunter2");
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("u65534-g65534-nosecret-/nonexistent"),
        "node ran as root or saw the caller's environment:\n{stdout}"
    );

    // The caller's own file keeps the caller's identity and environment (PM2 users rely on
    // `process.env.X` in ecosystem files).
    std::os::unix::fs::chown(tmp.path(), Some(0), Some(0)).unwrap();
    std::os::unix::fs::chown(&file, Some(0), Some(0)).unwrap();
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("u0-g0-hunter2-/home/rgen-test"), "{stdout}");
}

#[test]
fn root_refuses_a_file_that_anyone_could_have_changed() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    use std::os::unix::fs::PermissionsExt as _;
    let tmp = tempfile::tempdir().unwrap();
    let open = tmp.path().join("shared");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    let marker = open.join("node-ran");
    write(&open, "app.js", "");
    let file = write(
        &open,
        "ecosystem.config.js",
        format!(
            "require('fs').writeFileSync({:?}, 'ran');\nmodule.exports = {{ apps: [{{ name: 'web', script: 'app.js' }}] }};\n",
            marker.to_str().unwrap()
        ),
    );
    run_capped(check(&file), DEADLINE).assert_refused("ecosystem.config.js", "anyone");
    assert!(
        !marker.exists(),
        "node evaluated a file everyone can write to"
    );
}

/// `instances: 1e8` in cluster mode with a port once allocated 2.4 GB and aborted. The cap
/// belongs in the model (validation of `instances`), outside the loader.
#[test]
fn a_huge_instance_count_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "app.js", "");
    let file = write(
        tmp.path(),
        "ecosystem.json",
        r#"{"apps": [{"name": "web", "script": "app.js", "exec_mode": "cluster", "instances": 1e8, "port": 3000}]}"#,
    );
    let mut cmd = rgen();
    cmd.current_dir(tmp.path())
        .args([
            "render",
            "--systemd",
            "--system",
            "--systemd-version",
            "252",
        ])
        .arg(&file);
    run_capped(cmd, DEADLINE).assert_refused("ecosystem.json", "instances");
}
