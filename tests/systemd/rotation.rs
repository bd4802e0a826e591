//! Issue #14: log rotation that loses nothing, on the real systemd.
//!
//! An app writes numbered lines (`<pid> <n>`) into its stdout and, when it stops or has written
//! them all, records how many it wrote; afterwards every file of its log — the live one and the
//! rotated ones, `.gz` decompressed — is read back and each line counted. Rotation by size at full
//! speed with a restart in the middle, by a 6-field cron with `retain`, in the user scope, and an
//! app's user who plants symlinks where the shim would write.
//!
//! The security scenario adds the user `rgenrot` with `useradd`, only inside the harness
//! container (whose `/etc` is an overlay that vanishes at teardown), checked first.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use libtest_mimic::Trial;
use rgen::backend::systemd::dbus::{Client as Systemd, JobKind};
use rgen::target::Scope;

use crate::Suite;
use crate::support::{
    PATH, TestResult, app_json, check, main_pid, poll, rgen, rgen_env, status_json, system,
    workdir, write,
};

type Case = (Suite, &'static str, fn() -> TestResult);

pub fn trials(suite: Suite) -> Vec<Trial> {
    all()
        .into_iter()
        .filter(|(s, _, _)| *s == suite)
        .map(|(_, name, f)| {
            Trial::test(name, move || f().map_err(Into::into)).with_kind("rotation")
        })
        .collect()
}

fn all() -> Vec<Case> {
    vec![
        (
            Suite::Host,
            "rotation_by_size_at_full_speed_through_a_restart_loses_no_line",
            by_size_through_a_restart,
        ),
        (
            Suite::Host,
            "rotation_on_a_cron_schedule_keeps_retain_files_in_the_user_scope",
            by_cron_with_retain,
        ),
        (
            Suite::Host,
            "an_apps_user_cannot_make_rotation_touch_a_file_it_does_not_own",
            planted_symlinks,
        ),
    ]
}

/// `writer.py TOTAL RATE PROGRESS_DIR`: `<pid> <n>` lines to stdout, one write(2) each (as
/// console.log does), at RATE lines/s (0: as fast as it can); on SIGINT/SIGTERM or after TOTAL,
/// `PROGRESS_DIR/<pid>` gets the number of lines written, then it waits to be stopped.
const WRITER: &str = r#"
import os, signal, sys, time
total, rate, progress = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
pid = os.getpid()
stop = False
def on_signal(*_):
    global stop
    stop = True
signal.signal(signal.SIGINT, on_signal)
signal.signal(signal.SIGTERM, on_signal)
start = time.monotonic()
i = 0
while i < total and not stop:
    os.write(1, b"%d %d\n" % (pid, i))
    i += 1
    if rate:
        ahead = i / rate - (time.monotonic() - start)
        if ahead > 0:
            time.sleep(ahead)
tmp = os.path.join(progress, "%d.tmp" % pid)
with open(tmp, "w") as f:
    f.write("%d\n" % i)
os.rename(tmp, os.path.join(progress, str(pid)))
while not stop:
    signal.pause()
"#;

const WAIT: Duration = Duration::from_secs(60);

/// What a log holds, over the live file and every rotated one.
#[derive(Default, Debug)]
struct Lines {
    /// pid → how many times each number was seen.
    seen: BTreeMap<u32, Vec<u32>>,
    /// Lines that are not `<pid> <n>`.
    garbage: Vec<String>,
}

impl Lines {
    fn add(&mut self, text: &[u8]) {
        for line in text.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let s = String::from_utf8_lossy(line);
            let mut it = s.split(' ');
            match (
                it.next().and_then(|p| p.parse::<u32>().ok()),
                it.next().and_then(|n| n.parse::<usize>().ok()),
                it.next(),
            ) {
                (Some(pid), Some(n), None) => {
                    let counts = self.seen.entry(pid).or_default();
                    if counts.len() <= n {
                        counts.resize(n + 1, 0);
                    }
                    counts[n] += 1;
                }
                _ => self.garbage.push(s.into_owned()),
            }
        }
    }

    /// Problems with run `pid`, which wrote `written` lines, expected from `first` on.
    fn problems(&self, pid: u32, first: usize, written: usize) -> Vec<String> {
        let counts = self.seen.get(&pid).cloned().unwrap_or_default();
        let mut lost = Vec::new();
        let mut doubled = Vec::new();
        for n in first..written.max(counts.len()) {
            match counts.get(n).copied().unwrap_or(0) {
                0 if n < written => lost.push(n),
                0 => {}
                1 if n < written => {}
                _ => doubled.push(n),
            }
        }
        let mut out = Vec::new();
        if !lost.is_empty() {
            out.push(format!(
                "run {pid}: {} of lines {first}..{written} lost (first: {:?})",
                lost.len(),
                &lost[..lost.len().min(10)]
            ));
        }
        if !doubled.is_empty() {
            out.push(format!(
                "run {pid}: {} lines twice or past its {written} (first: {:?})",
                doubled.len(),
                &doubled[..doubled.len().min(10)]
            ));
        }
        out
    }

    fn total(&self) -> usize {
        self.seen
            .values()
            .map(|c| c.iter().map(|&n| n as usize).sum::<usize>())
            .sum()
    }
}

/// The rotated files of `dir/<stem>.log` as the shim names them, by logical name (a file being
/// compressed counts once).
fn rotated(dir: &Path, stem: &str) -> Vec<String> {
    let prefix = format!("{stem}__");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&prefix))
        .filter_map(|n| {
            let logical = n.strip_suffix(".gz").unwrap_or(&n);
            logical.ends_with(".log").then(|| logical.to_string())
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Reads the live log and every rotated one, once every compression has finished.
fn read_log(dir: &Path, stem: &str) -> Result<Lines, String> {
    poll("compressions to finish", WAIT, || {
        let busy = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok())
            .any(|e| e.file_name().to_string_lossy().contains(".gz.tmp."));
        (!busy).then_some(())
    })?;
    let mut lines = Lines::default();
    let mut files: Vec<PathBuf> = vec![dir.join(format!("{stem}.log"))];
    for logical in rotated(dir, stem) {
        let plain = dir.join(&logical);
        let gz = dir.join(format!("{logical}.gz"));
        // While one is compressed both exist, the archive complete: read one of them.
        files.push(if gz.exists() { gz } else { plain });
    }
    for f in files {
        let raw = std::fs::read(&f).map_err(|e| format!("{}: {e}", f.display()))?;
        if f.extension().is_some_and(|x| x == "gz") {
            let mut text = Vec::new();
            flate2::read::MultiGzDecoder::new(&raw[..])
                .read_to_end(&mut text)
                .map_err(|e| format!("{}: not gzip: {e}", f.display()))?;
            lines.add(&text);
        } else {
            lines.add(&raw);
        }
    }
    Ok(lines)
}

/// Runs of the writer that have finished or been stopped: pid → lines written.
fn progress(dir: &Path) -> BTreeMap<u32, usize> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let pid = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            let n = std::fs::read_to_string(e.path())
                .ok()?
                .trim()
                .parse()
                .ok()?;
            Some((pid, n))
        })
        .collect()
}

/// Waits until the log holds as many lines as the runs say they wrote (the shim may still be
/// writing the last of them), then reads it.
fn settled_log(dir: &Path, stem: &str, runs: &BTreeMap<u32, usize>, first: usize) -> Lines {
    let expected: usize = runs.values().sum::<usize>() - first;
    let mut last = Lines::default();
    let _ = poll("the log to hold every line written", WAIT, || {
        last = read_log(dir, stem).ok()?;
        (last.total() >= expected).then_some(())
    });
    last
}

fn uninstall(dir: &Path, app: &str, scope: &str, env: &[(&str, &str)]) {
    let _ = rgen_env(&["uninstall", scope, "--", app], dir, env);
}

/// Removes the app however the scenario ends.
struct Installed<'a> {
    dir: PathBuf,
    app: &'static str,
    scope: &'static str,
    env: &'a [(&'a str, &'a str)],
}

impl Drop for Installed<'_> {
    fn drop(&mut self) {
        uninstall(&self.dir, self.app, self.scope, self.env);
    }
}

fn ecosystem(dir: &Path, value: serde_json::Value) {
    write(&dir.join("ecosystem.json"), &value.to_string());
}

// ---- by size, at full speed, through a restart ----

fn by_size_through_a_restart() -> TestResult {
    const APP: &str = "it-rot-size";
    const MAX: u64 = 256 << 10;
    const TOTAL: usize = 1_000_000;
    let dir = workdir("rotation-size");
    let logs = dir.join("logs");
    let runs_dir = dir.join("runs");
    std::fs::create_dir_all(&runs_dir).map_err(|e| e.to_string())?;
    write(&dir.join("writer.py"), WRITER);
    // Beside `apps`: for every app of the file.
    ecosystem(
        &dir,
        serde_json::json!({
            "log_rotate": { "max_size": "256K", "retain": "all", "compress": true },
            "apps": [{
                "name": APP, "script": "writer.py",
                "args": [TOTAL.to_string(), "0", runs_dir.to_string_lossy()],
                "out_file": "logs/out.log",
            }],
        }),
    );
    let _installed = Installed {
        dir: dir.clone(),
        app: APP,
        scope: "--system",
        env: &[],
    };
    rgen(&["install", "--system"], &dir).ok()?;
    let check_out = rgen(&["check", "--system"], &dir);
    check(
        check_out
            .stdout
            .contains("rotated by rgen-shim at 256K, all kept, gzip"),
        || {
            format!(
                "rgen check does not say how it rotates:\n{}",
                check_out.stdout
            )
        },
    )?;
    // Restart while it writes at full speed and rotates every few milliseconds.
    poll("three rotations", WAIT, || {
        (rotated(&logs, "out").len() >= 3).then_some(())
    })?;
    rgen(&["restart", APP, "--system"], &dir).ok()?;
    let runs = poll("two runs to finish writing", WAIT, || {
        let runs = progress(&runs_dir);
        (runs.len() >= 2 && runs.values().filter(|&&n| n == TOTAL).count() >= 1).then_some(runs)
    })?;
    check(runs.values().any(|&n| n < TOTAL), || {
        format!("the first run finished before the restart: {runs:?}")
    })?;
    let lines = settled_log(&logs, "out", &runs, 0);
    let mut problems: Vec<String> = runs
        .iter()
        .flat_map(|(&pid, &n)| lines.problems(pid, 0, n))
        .collect();
    for pid in lines.seen.keys().filter(|p| !runs.contains_key(p)) {
        problems.push(format!(
            "lines of a run {pid} that never said it wrote them"
        ));
    }
    if !lines.garbage.is_empty() {
        problems.push(format!(
            "{} lines not written by the app, first {:?}",
            lines.garbage.len(),
            &lines.garbage[..lines.garbage.len().min(3)]
        ));
    }
    let names = rotated(&logs, "out");
    check(names.len() >= 5, || {
        format!("only {} rotations: {names:?}", names.len())
    })?;
    // pm2-logrotate's names, compressed; none larger than max_size (one writer: exact).
    for name in &names {
        let gz = logs.join(format!("{name}.gz"));
        if !gz.exists() {
            problems.push(format!("{name} was not compressed"));
        }
        let mut text = Vec::new();
        if let Ok(raw) = std::fs::read(&gz) {
            let _ = flate2::read::MultiGzDecoder::new(&raw[..]).read_to_end(&mut text);
        }
        if text.len() as u64 > MAX {
            problems.push(format!("{name} holds {} bytes, over {MAX}", text.len()));
        }
        if !is_pm2_logrotate_name(name, "out") {
            problems.push(format!(
                "{name} is not named <stem>__YYYY-MM-DD_HH-mm-ss.log"
            ));
        }
    }
    check(problems.is_empty(), || {
        format!(
            "{} lines over {} files: {}",
            lines.total(),
            names.len() + 1,
            problems.join("; ")
        )
    })?;
    // status and show see the files and how they rotate.
    let st = status_json(&dir, "--system", &[])?;
    let a = app_json(&st, APP)?;
    let log = &a["logs"][0];
    check(
        log["rotated_files"].as_u64() == Some(names.len() as u64)
            && log["rotation"]["max_size_bytes"] == MAX
            && log["rotation"]["compress"] == true
            && log["rotation"]["retain"].is_null()
            && log["size_bytes"].is_u64(),
        || format!("status --json logs: {}", a["logs"]),
    )?;
    eprintln!(
        "note: {APP}: {} lines of {} runs {runs:?} in {} files, every one once",
        lines.total(),
        runs.len(),
        names.len() + 1
    );
    let show = rgen(&["show", APP, "--system"], &dir);
    check(
        show.stdout.contains(&format!("{} rotated", names.len())),
        || format!("rgen show:\n{}", show.stdout),
    )?;
    Ok(())
}

/// `out__2025-01-31_23-59-59.log`, maybe `_N` before `.log`.
fn is_pm2_logrotate_name(name: &str, stem: &str) -> bool {
    let Some(rest) = name
        .strip_prefix(&format!("{stem}__"))
        .and_then(|r| r.strip_suffix(".log"))
    else {
        return false;
    };
    let date = rest.split_once('_').map_or(rest, |(d, _)| d);
    let shape = |s: &str, pattern: &str| {
        s.len() == pattern.len()
            && s.chars()
                .zip(pattern.chars())
                .all(|(c, p)| if p == '9' { c.is_ascii_digit() } else { c == p })
    };
    shape(date, "9999-99-99") && {
        let time = &rest[date.len()..];
        let time = time.strip_prefix('_').unwrap_or(time);
        let time = time.split_once('_').map_or(time, |(t, _)| t);
        shape(time, "99-99-99")
    }
}

// ---- on a cron schedule, with retain, in the user scope ----

const USER_BUS: &str = "unix:path=/run/user/0/bus";
const USER_ENV: [(&str, &str); 3] = [
    ("XDG_RUNTIME_DIR", "/run/user/0"),
    ("DBUS_SESSION_BUS_ADDRESS", USER_BUS),
    ("HOME", "/root"),
];

fn user_manager() -> Result<Systemd, String> {
    let outcomes = system()
        .run_jobs(&[(JobKind::Start, "user@0.service".into())])
        .map_err(|e| e.to_string())?;
    check(outcomes.iter().all(|o| o.result == "done"), || {
        format!("user@0 did not start: {outcomes:?}")
    })?;
    poll("the user bus", Duration::from_secs(30), || {
        Path::new("/run/user/0/bus").exists().then_some(())
    })?;
    Systemd::connect_to(USER_BUS, Scope::User).map_err(|e| e.to_string())
}

fn by_cron_with_retain() -> TestResult {
    const APP: &str = "it-rot-cron";
    const RETAIN: usize = 3;
    // 16 s at 1000 lines/s: about 8 rotations at every even second.
    const TOTAL: usize = 16_000;
    let user = user_manager()?;
    let dir = workdir("rotation-cron");
    let logs = dir.join("logs");
    let runs_dir = dir.join("runs");
    std::fs::create_dir_all(&runs_dir).map_err(|e| e.to_string())?;
    write(&dir.join("writer.py"), WRITER);
    ecosystem(
        &dir,
        serde_json::json!({ "apps": [{
            "name": APP, "script": "writer.py",
            "args": [TOTAL.to_string(), "1000", runs_dir.to_string_lossy()],
            "out_file": "logs/out.log",
            "log_rotate": {
                "max_size": false, "retain": RETAIN,
                "rotateInterval": "*/2 * * * * *", "workerInterval": 1,
            },
        }]}),
    );
    let _installed = Installed {
        dir: dir.clone(),
        app: APP,
        scope: "--user",
        env: &USER_ENV,
    };
    rgen_env(&["install", "--user"], &dir, &USER_ENV).ok()?;
    let unit = format!("{APP}.service");
    let pid = poll(
        "the app in the user manager",
        Duration::from_secs(20),
        || Some(main_pid(&user, &unit)).filter(|&p| p != 0),
    )?;
    // In the user scope systemd would write the file itself (`append:`), and could not rotate
    // it without losing lines: the shim writes it.
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    check(comm.trim() == "rgen-shim", || {
        format!("the user unit runs {comm:?}, not the shim")
    })?;
    // Watch the directory while it runs: never more than `retain` rotated files.
    let mut ever: Vec<String> = Vec::new();
    let mut most = 0;
    let runs = poll("the run to finish writing", WAIT, || {
        let now = rotated(&logs, "out");
        most = most.max(now.len());
        for n in now {
            if !ever.contains(&n) {
                ever.push(n);
            }
        }
        let runs = progress(&runs_dir);
        (!runs.is_empty()).then_some(runs)
    })?;
    check(most <= RETAIN, || {
        format!("{most} rotated files at once, retain is {RETAIN}: {ever:?}")
    })?;
    check(ever.len() >= 5, || {
        format!(
            "only {} cron rotations in {TOTAL} lines: {ever:?}",
            ever.len()
        )
    })?;
    // Every rotation happened on the schedule: at an even second (size rotation is off).
    let odd: Vec<&String> = ever
        .iter()
        .filter(|n| {
            let secs = n.strip_prefix("out__").map(|r| &r[17..19]);
            secs.and_then(|s| s.parse::<u32>().ok())
                .is_none_or(|s| s % 2 == 1)
        })
        .collect();
    check(odd.is_empty(), || {
        format!("rotated outside `*/2 * * * * *`: {odd:?}")
    })?;
    // What is left is a contiguous tail: the oldest files were pruned, nothing else lost.
    let (&pid, &written) = runs.iter().next().expect("one run");
    let lines = read_log(&logs, "out")?;
    let counts = lines.seen.get(&pid).cloned().unwrap_or_default();
    let first = counts.iter().position(|&c| c > 0).unwrap_or(0);
    let lines = settled_log(&logs, "out", &runs, first);
    let problems = lines.problems(pid, first, written);
    check(first > 0 && problems.is_empty(), || {
        format!("kept lines {first}..{written}: {}", problems.join("; "))
    })?;
    eprintln!(
        "note: {APP}: {} cron rotations, at most {most} rotated files at once; lines {first}..{written} kept, each once",
        ever.len()
    );
    check(rotated(&logs, "out").len() <= RETAIN, || {
        format!("more than {RETAIN} left: {:?}", rotated(&logs, "out"))
    })?;
    Ok(())
}

// ---- the app's user plants symlinks ----

const ROTOR: &str = "rgenrot";

/// Adds `rgenrot`, once, and only inside the throwaway container.
fn rotor() -> TestResult {
    static MADE: OnceLock<Result<(), String>> = OnceLock::new();
    MADE.get_or_init(|| {
        if std::env::var_os("RGEN_HARNESS_INSIDE").is_none_or(|v| v != "1") {
            return Err("refusing to add a user outside the harness container".into());
        }
        let fs = output("findmnt", &["-no", "FSTYPE", "/"])?;
        if fs.trim() != "overlay" {
            return Err(format!(
                "/ is {:?}, not the container's overlay: refusing to add a user",
                fs.trim()
            ));
        }
        if output("id", &["-u", ROTOR]).is_err() {
            output(
                "useradd",
                &["--create-home", "--user-group", "--shell", "/bin/sh", ROTOR],
            )?;
        }
        Ok(())
    })
    .clone()
}

fn output(program: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(program)
        .args(args)
        .env("PATH", PATH)
        .output()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{program} {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn as_rotor(script: &str) -> Result<String, String> {
    output("runuser", &["-u", ROTOR, "--", "sh", "-c", script])
}

/// A root-owned file with known content, that the scenario tries to reach.
struct Victim {
    path: PathBuf,
    mtime: i64,
}

const VICTIM_TEXT: &str = "root's, not the app's\n";

impl Victim {
    fn new(path: &str) -> Result<Victim, String> {
        let path = PathBuf::from(path);
        let _ = std::fs::remove_file(&path);
        std::fs::write(&path, VICTIM_TEXT).map_err(|e| e.to_string())?;
        let mtime = std::fs::metadata(&path).map_err(|e| e.to_string())?.mtime();
        Ok(Victim { path, mtime })
    }

    fn damage(&self) -> Option<String> {
        let Ok(meta) = std::fs::symlink_metadata(&self.path) else {
            return Some(format!("{} is gone", self.path.display()));
        };
        let text = std::fs::read_to_string(&self.path).unwrap_or_default();
        (text != VICTIM_TEXT || meta.uid() != 0 || meta.mtime() != self.mtime).then(|| {
            format!(
                "{} now holds {:?} (uid {}, mtime {} was {})",
                self.path.display(),
                text.chars().take(100).collect::<String>(),
                meta.uid(),
                meta.mtime(),
                self.mtime
            )
        })
    }
}

impl Drop for Victim {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn planted_symlinks() -> TestResult {
    const APP: &str = "it-rot-planted";
    rotor()?;
    let victims = [
        Victim::new("/etc/rgen-rotation-victim-0")?,
        Victim::new("/etc/rgen-rotation-victim-1")?,
        Victim::new("/etc/rgen-rotation-victim-2")?,
    ];
    let dir = Path::new("/home").join(ROTOR).join("rotation");
    let _ = std::fs::remove_dir_all(&dir);
    let logs = dir.join("logs");
    let runs_dir = dir.join("runs");
    std::fs::create_dir_all(&logs).map_err(|e| e.to_string())?;
    std::fs::create_dir_all(&runs_dir).map_err(|e| e.to_string())?;
    write(&dir.join("writer.py"), WRITER);
    // A literal date: the rotated names are known in advance (`out__planted.log`, then `_1`…).
    ecosystem(
        &dir,
        serde_json::json!({ "apps": [{
            "name": APP, "script": "writer.py", "uid": ROTOR,
            "args": ["200000", "20000", runs_dir.to_string_lossy()],
            "out_file": "logs/out.log",
            "log_rotate": { "max_size": "16K", "retain": 4, "compress": true, "dateFormat": "[planted]" },
        }]}),
    );
    output(
        "chown",
        &["-R", &format!("{ROTOR}:"), &dir.to_string_lossy()],
    )?;
    // Where rotated files would go, before the app starts: links to root's files.
    let logs_q = logs.to_string_lossy();
    as_rotor(&format!(
        "ln -s {v0} {l}/out__planted.log && ln -s {v1} {l}/out__planted_1.log && \
         ln -s {v2} {l}/out__planted_2.log.gz && ln -s {v0} {l}/out__planted_3.log.gz.tmp.1",
        v0 = victims[0].path.display(),
        v1 = victims[1].path.display(),
        v2 = victims[2].path.display(),
        l = logs_q
    ))?;
    let env = [("SUDO_USER", ROTOR), ("RGEN_RUN_AS", ROTOR)];
    let _installed = Installed {
        dir: dir.clone(),
        app: APP,
        scope: "--system",
        env: &[],
    };
    rgen_env(&["install", "--system"], &dir, &env).ok()?;
    // Rotations past the planted names: regular files of the app's, not links.
    let real_rotations = || {
        std::fs::read_dir(&logs)
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with("out__"))
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .count()
    };
    poll("rotations past the planted links", WAIT, || {
        (real_rotations() >= 4).then_some(())
    })?;
    // Then at the live path: the shim must not follow it to root's file.
    as_rotor(&format!(
        "ln -s {v} {l}/swap && mv -T {l}/swap {l}/out.log",
        v = victims[1].path.display(),
        l = logs_q
    ))?;
    poll("the run to finish writing", WAIT, || {
        (!progress(&runs_dir).is_empty()).then_some(())
    })?;
    // Long enough for pending compressions and the shim's identity re-check (1 s).
    poll("compressions to finish", WAIT, || {
        let busy = std::fs::read_dir(&logs)
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok())
            .any(|e| {
                let n = e.file_name().to_string_lossy().into_owned();
                n.contains(".gz.tmp.") && !n.ends_with(".tmp.1")
            });
        (!busy).then_some(())
    })?;
    let mut problems: Vec<String> = victims.iter().filter_map(Victim::damage).collect();
    // Everything the shim made there is the app's user's.
    let rotor_uid: u32 = output("id", &["-u", ROTOR])?
        .trim()
        .parse()
        .unwrap_or(u32::MAX);
    for e in std::fs::read_dir(&logs)
        .map_err(|e| e.to_string())?
        .flatten()
    {
        if let Ok(m) = e.metadata()
            && m.uid() != rotor_uid
        {
            problems.push(format!(
                "{} belongs to uid {}",
                e.file_name().to_string_lossy(),
                m.uid()
            ));
        }
    }
    // Root's read-only verbs still work on a directory full of links.
    let st = status_json(&dir, "--system", &[])?;
    let a = app_json(&st, APP)?;
    if a["logs"][0]["size_bytes"].is_u64() {
        problems.push(format!(
            "status reads a size through the link at the live path: {}",
            a["logs"]
        ));
    }
    let names: Vec<String> = std::fs::read_dir(&logs)
        .map_err(|e| e.to_string())?
        .flatten()
        .map(|e| {
            let link = e.file_type().is_ok_and(|t| t.is_symlink());
            format!(
                "{}{}",
                e.file_name().to_string_lossy(),
                if link { " (link)" } else { "" }
            )
        })
        .collect();
    eprintln!("note: {APP}: the log directory holds {names:?}");
    check(problems.is_empty(), || problems.join("; "))
}
