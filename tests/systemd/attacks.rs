//! Issue #9: nothing rgen does as root can be turned against the machine.
//!
//! Each scenario attacks one thing rgen does as root on behalf of an app that runs as someone
//! else, and checks only what the OS shows afterwards (files, modes, owners, the manager's
//! properties over `busctl`, what the app process received) and what rgen printed, never rgen's
//! internals, so the fixes are free in how they close the hole.
//!
//! A failing scenario says `HOLE: ...`. Those in [`EXPECTED_HOLES`] fail on the current code;
//! they are registered ignored so CI stays green. Run them all with
//! `cargo test --test systemd -- --include-ignored attack`, or one by name. When a fix lands,
//! delete its name from `EXPECTED_HOLES` and the scenario runs in CI from then on.
//!
//! The scenarios run inside the harness container, as root. They add the users `alice`, `bob`
//! and `mallory` with `useradd`, which is safe only there: the container's `/etc` is an overlay
//! that vanishes at teardown (checked before any user is added).

use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use libtest_mimic::Trial;

use crate::Suite;
use crate::support::{
    MANAGER_RELOADS, Out, PATH, TestResult, poll, repo, workdir, write, write_exec,
};

type Case = (Suite, &'static str, fn() -> TestResult);

/// The scenarios of one suite, of kind `attack` (so `attack` as a filter selects them all), those
/// in [`EXPECTED_HOLES`] ignored.
pub fn trials(suite: Suite) -> Vec<Trial> {
    let cases = all();
    // A misspelt name here would run its scenario in CI instead of ignoring it.
    for hole in EXPECTED_HOLES {
        assert!(
            cases.iter().any(|(_, name, _)| name == hole),
            "EXPECTED_HOLES names `{hole}`, which is no scenario"
        );
    }
    cases
        .into_iter()
        .filter(|(s, _, _)| *s == suite)
        .map(|(_, name, f)| {
            Trial::test(name, move || f().map_err(Into::into))
                .with_kind("attack")
                .with_ignored_flag(EXPECTED_HOLES.contains(&name))
        })
        .collect()
}

/// Scenarios that fail on the current code: registered ignored until their fix lands. Every
/// scenario here failed on commit ace1f47 and passes since the fixes of issue #9; a new hole
/// found later goes here first, with its test.
pub const EXPECTED_HOLES: &[&str] = &[];

pub fn all() -> Vec<Case> {
    vec![
        // 1. Log files systemd opens as root
        (
            Suite::Host,
            "a_service_user_cannot_redirect_its_log_into_a_root_file",
            log_symlink_on_restart,
        ),
        (
            Suite::Host,
            "flush_never_truncates_a_file_through_a_symlink_at_the_log_path",
            flush_through_symlink,
        ),
        // 2. Directories created and chowned as root
        (
            Suite::Host,
            "a_log_path_in_the_unit_directory_is_refused_at_check",
            log_in_unit_directory,
        ),
        (
            Suite::Host,
            "a_symlink_in_a_users_tree_gives_them_no_system_directory",
            symlinked_log_directories,
        ),
        (
            Suite::Host,
            "a_directory_another_user_owns_is_never_used_for_logs",
            another_users_directory,
        ),
        // 3. Read-only verbs and user code
        (
            Suite::Host,
            "read_only_verbs_never_evaluate_the_ecosystem_file",
            read_only_verbs,
        ),
        (
            Suite::Host,
            "check_as_root_evaluates_a_users_js_file_as_that_user_or_refuses",
            check_js_as_root,
        ),
        // 4. Values a unit file line cannot hold
        (
            Suite::Host,
            "a_trailing_backslash_never_swallows_the_next_directive",
            trailing_backslash,
        ),
        (
            Suite::Host,
            "nasty_values_reach_systemd_and_the_app_exactly",
            nasty_values,
        ),
        // 5. Identity
        (
            Suite::Host,
            "plain_root_never_silently_runs_a_users_app_as_root",
            plain_root_identity,
        ),
        (
            Suite::Host,
            "an_explicit_uid_root_runs_as_root",
            explicit_root,
        ),
        (
            Suite::Host,
            "reinstall_as_plain_root_keeps_the_users_identity_or_says_so",
            reinstall_identity,
        ),
        (
            Suite::Host,
            "doas_user_is_honoured_like_sudo_user",
            doas_user,
        ),
        // 6. Secrets
        (
            Suite::Host,
            "secrets_stay_out_of_unit_files_properties_and_default_output",
            secrets,
        ),
        // 7. Interrupted installs
        (
            Suite::Host,
            "an_install_killed_before_daemon_reload_converges_on_rerun",
            killed_before_reload,
        ),
        (
            Suite::Host,
            "an_install_killed_before_the_restart_converges_on_rerun",
            killed_before_restart,
        ),
        (
            Suite::Host,
            "leftover_temporary_files_are_removed_by_the_next_install",
            leftover_temporary_files,
        ),
        (
            Suite::Host,
            "installs_killed_at_random_moments_converge_on_rerun",
            killed_at_random,
        ),
        // 8. Accepted, then broken at runtime
        (
            Suite::Host,
            "env_names_systemd_drops_reach_the_app_or_are_refused",
            env_names_systemd_drops,
        ),
        (
            Suite::Host,
            "a_hidden_app_name_is_listed_and_uninstallable_or_refused",
            hidden_name,
        ),
        (
            Suite::Host,
            "a_name_starting_with_a_dash_works_with_cron_and_watch_helpers",
            dash_name,
        ),
        // 10. The binaries units run
        (
            Suite::Host,
            "a_system_unit_never_executes_a_user_writable_shim",
            user_writable_shim,
        ),
        (
            Suite::Host,
            "a_root_app_whose_script_or_interpreter_a_user_can_write_is_refused_or_warned",
            root_app_user_writable,
        ),
        (
            Suite::Host,
            "a_users_app_whose_script_another_user_can_write_is_refused_or_warned",
            user_app_other_writable,
        ),
        // 12. Report only
        (
            Suite::Host,
            "report_systemd_analyze_security_of_the_azak_units",
            security_report,
        ),
    ]
}

const UNIT_DIR: &str = "/etc/systemd/system";
pub(crate) const ALICE: &str = "alice";
pub(crate) const BOB: &str = "bob";
const MALLORY: &str = "mallory";
/// `sudo rgen …` as alice.
pub(crate) const AS_ALICE: (&str, &str) = ("SUDO_USER", ALICE);
/// Root's own apps, said explicitly: rgen never assumes root by itself.
const RUN_AS_ROOT: (&str, &str) = ("RGEN_RUN_AS", "root");
const REPORTER: &str = include_str!("../fixtures/attacks/reporter.py");
pub(crate) const WAIT: Duration = Duration::from_secs(20);

// ---- support ----

/// Every way a scenario's guarantee does not hold, reported together.
#[derive(Default)]
pub(crate) struct Holes(Vec<String>);

impl Holes {
    pub(crate) fn add(&mut self, hole: impl Into<String>) {
        self.0.push(hole.into());
    }

    pub(crate) fn result(self) -> TestResult {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(format!("HOLE (issue #9):\n  - {}", self.0.join("\n  - ")))
        }
    }
}

pub(crate) fn excerpt(text: &str) -> String {
    let t: String = text.chars().take(600).collect();
    t.trim_end().replace('\n', "\n      ")
}

pub(crate) fn said(out: &Out) -> String {
    format!("{}{}", out.stdout, out.stderr)
}

/// Refused as bad input (exit 2), with the app and the key named.
fn refused_naming(out: &Out, app: &str, key: &str) -> bool {
    let text = said(out);
    out.code == 2 && text.contains(app) && text.contains(key)
}

/// Adds alice, bob and mallory, once, and only inside the throwaway container.
pub(crate) fn users() -> TestResult {
    static MADE: OnceLock<Result<(), String>> = OnceLock::new();
    MADE.get_or_init(make_users).clone()
}

fn make_users() -> TestResult {
    if std::env::var_os("RGEN_HARNESS_INSIDE").is_none_or(|v| v != "1") {
        return Err("refusing to add users outside the harness container".into());
    }
    // The container's root (and with it /etc) is an overlay on a tmpfs; the host's /etc is the
    // read-only lower layer and never sees these users.
    let fs = output("findmnt", &["-no", "FSTYPE", "/"])?;
    if fs.trim() != "overlay" {
        return Err(format!(
            "/ is {:?}, not the container's overlay: refusing to add users",
            fs.trim()
        ));
    }
    for user in [ALICE, BOB, MALLORY] {
        if uid_of(user).is_some() {
            continue;
        }
        output(
            "useradd",
            &["--create-home", "--user-group", "--shell", "/bin/sh", user],
        )?;
    }
    Ok(())
}

pub(crate) fn output(program: &str, args: &[&str]) -> Result<String, String> {
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

fn uid_of(user: &str) -> Option<u32> {
    output("id", &["-u", user]).ok()?.trim().parse().ok()
}

pub(crate) fn uid(user: &str) -> u32 {
    uid_of(user).unwrap_or(u32::MAX)
}

/// `chown -R user: path` (symlinks themselves, not their targets).
pub(crate) fn give(user: &str, path: &Path) -> TestResult {
    output(
        "chown",
        &["-R", &format!("{user}:"), &path.to_string_lossy()],
    )
    .map(|_| ())
}

/// A fresh project in the user's home, owned by them, with the reporter app in it.
pub(crate) fn user_project(user: &str, name: &str) -> Result<PathBuf, String> {
    let dir = Path::new("/home").join(user).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    write(&dir.join("reporter.py"), REPORTER);
    give(user, &dir)?;
    Ok(dir)
}

/// A fresh project owned by root, with the reporter app in it.
fn root_project(name: &str) -> PathBuf {
    let dir = workdir(name);
    write(&dir.join("reporter.py"), REPORTER);
    dir
}

pub(crate) fn ecosystem(dir: &Path, apps: serde_json::Value) -> PathBuf {
    let file = dir.join("ecosystem.json");
    write(&file, &serde_json::json!({ "apps": apps }).to_string());
    file
}

/// How an rgen command shares the manager with the other scenarios.
#[derive(Clone, Copy, PartialEq)]
enum Reloads {
    /// `install` and `uninstall` wait while a scenario counts restarts (as support.rs does).
    Shared,
    /// The caller holds `MANAGER_RELOADS` exclusively already.
    Held,
}

/// rgen as root from `bin`, with a clean identity: no SUDO_USER or DOAS_USER unless given.
fn rgen_from(bin: &Path, with_shim: bool, args: &[&str], dir: &Path, env: &[(&str, &str)]) -> Out {
    run_rgen(bin, with_shim, Reloads::Shared, args, dir, env)
}

fn run_rgen(
    bin: &Path,
    with_shim: bool,
    reloads: Reloads,
    args: &[&str],
    dir: &Path,
    env: &[(&str, &str)],
) -> Out {
    let _shared = (reloads == Reloads::Shared
        && matches!(args.first(), Some(&"install") | Some(&"uninstall")))
    .then(|| MANAGER_RELOADS.read().unwrap_or_else(|e| e.into_inner()));
    let mut cmd = Command::new(bin);
    cmd.args(args)
        .current_dir(dir)
        .env("PATH", PATH)
        .env("NO_COLOR", "1")
        .env_remove("SUDO_USER")
        .env_remove("DOAS_USER")
        .env_remove("RGEN_SHIM");
    if with_shim {
        cmd.env("RGEN_SHIM", env!("CARGO_BIN_EXE_rgen-shim"));
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    match cmd.output() {
        Ok(out) => Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        },
        Err(e) => Out {
            code: -1,
            stdout: String::new(),
            stderr: format!("cannot run {}: {e}", bin.display()),
        },
    }
}

pub(crate) fn rgen_root(args: &[&str], dir: &Path, env: &[(&str, &str)]) -> Out {
    rgen_from(Path::new(env!("CARGO_BIN_EXE_rgen")), true, args, dir, env)
}

/// `rgen install --system` as plain root while the caller holds `MANAGER_RELOADS` exclusively.
fn install_holding_reloads(dir: &Path) -> Out {
    run_rgen(
        Path::new(env!("CARGO_BIN_EXE_rgen")),
        true,
        Reloads::Held,
        &["install", "--system"],
        dir,
        &[RUN_AS_ROOT],
    )
}

/// A shell command as `user`.
pub(crate) fn as_user(user: &str, script: &str) -> Out {
    let out = Command::new("runuser")
        .args(["-u", user, "--", "sh", "-c", script])
        .env("PATH", PATH)
        .output();
    match out {
        Ok(out) => Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        },
        Err(e) => Out {
            code: -1,
            stdout: String::new(),
            stderr: e.to_string(),
        },
    }
}

fn quote(p: &Path) -> String {
    shlex::try_quote(&p.to_string_lossy())
        .map(|q| q.into_owned())
        .unwrap_or_default()
}

/// Removes the apps however the scenario ends.
pub(crate) struct Uninstall {
    dir: PathBuf,
    apps: Vec<String>,
}

impl Uninstall {
    pub(crate) fn new(dir: &Path, apps: &[&str]) -> Self {
        Uninstall {
            dir: dir.to_path_buf(),
            apps: apps.iter().map(|a| a.to_string()).collect(),
        }
    }
}

impl Drop for Uninstall {
    fn drop(&mut self) {
        for app in &self.apps {
            let _ = rgen_root(&["uninstall", "--system", "--", app], &self.dir, &[]);
        }
    }
}

/// A file only root may write, with known content, that an attack tries to reach.
struct Victim(PathBuf);

const VICTIM_TEXT: &str = "VICTIM\n";

impl Victim {
    fn new(path: &str) -> Result<Victim, String> {
        let path = PathBuf::from(path);
        let _ = std::fs::remove_file(&path);
        std::fs::write(&path, VICTIM_TEXT).map_err(|e| e.to_string())?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644))
            .map_err(|e| e.to_string())?;
        std::os::unix::fs::chown(&path, Some(0), Some(0)).map_err(|e| e.to_string())?;
        Ok(Victim(path))
    }

    /// What happened to it, if anything.
    fn damage(&self) -> Option<String> {
        let meta = match std::fs::symlink_metadata(&self.0) {
            Ok(m) => m,
            Err(e) => return Some(format!("is gone ({e})")),
        };
        let text = std::fs::read_to_string(&self.0).unwrap_or_default();
        if text != VICTIM_TEXT {
            let head: String = text.chars().take(200).collect();
            return Some(format!("now holds {head:?}"));
        }
        if meta.uid() != 0 || meta.mode() & 0o7777 != 0o644 {
            return Some(format!(
                "is now owned by uid {} with mode {:o}",
                meta.uid(),
                meta.mode() & 0o7777
            ));
        }
        None
    }
}

impl Drop for Victim {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

// The manager's view, over D-Bus with busctl (independent of rgen's own client).

fn bus_path(unit: &str) -> String {
    let mut path = String::from("/org/freedesktop/systemd1/unit/");
    for b in unit.bytes() {
        if b.is_ascii_alphanumeric() {
            path.push(b as char);
        } else {
            path.push_str(&format!("_{b:02x}"));
        }
    }
    path
}

pub(crate) fn property(unit: &str, interface: &str, name: &str) -> Option<serde_json::Value> {
    let out = Command::new("busctl")
        .args([
            "--json=short",
            "get-property",
            "org.freedesktop.systemd1",
            &bus_path(unit),
            &format!("org.freedesktop.systemd1.{interface}"),
            name,
        ])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    Some(v["data"].clone())
}

pub(crate) fn service_str(unit: &str, name: &str) -> String {
    property(unit, "Service", name)
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default()
}

fn main_pid(unit: &str) -> u32 {
    property(unit, "Service", "MainPID")
        .and_then(|v| v.as_u64())
        .unwrap_or(0) as u32
}

fn need_daemon_reload(unit: &str) -> Option<bool> {
    property(unit, "Unit", "NeedDaemonReload").and_then(|v| v.as_bool())
}

fn journal(unit: &str) -> String {
    Command::new("journalctl")
        .args([
            "--no-pager",
            "-o",
            "cat",
            "-n",
            "15",
            &format!("--unit={unit}"),
        ])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

// What the app saw.

fn starts(report_dir: &Path) -> usize {
    std::fs::read_to_string(report_dir.join("starts.log"))
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

fn wait_starts(report_dir: &Path, n: usize) -> Result<(), String> {
    poll(
        &format!(
            "start {n} of the app reporting into {}",
            report_dir.display()
        ),
        WAIT,
        || (starts(report_dir) >= n).then_some(()),
    )
}

fn report(report_dir: &Path) -> Option<serde_json::Value> {
    serde_json::from_str(&std::fs::read_to_string(report_dir.join("report.json")).ok()?).ok()
}

fn reported_pid(report_dir: &Path) -> u32 {
    report(report_dir)
        .and_then(|r| r["pid"].as_u64())
        .unwrap_or(0) as u32
}

fn reported_uid(report_dir: &Path) -> Option<u32> {
    report(report_dir)
        .and_then(|r| r["uid"].as_u64())
        .map(|u| u as u32)
}

fn proc_list(pid: u32, what: &str) -> Vec<Vec<u8>> {
    std::fs::read(format!("/proc/{pid}/{what}"))
        .unwrap_or_default()
        .split(|&b| b == 0)
        .filter(|s| !s.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

fn proc_env(pid: u32, name: &str) -> Option<Vec<u8>> {
    let prefix = format!("{name}=");
    proc_list(pid, "environ")
        .into_iter()
        .find_map(|kv| kv.strip_prefix(prefix.as_bytes()).map(<[u8]>::to_vec))
}

/// Polls until the service's main process has `name=value` in its environment.
fn wait_env(unit: &str, name: &str, value: &str) -> Result<u32, String> {
    poll(&format!("{unit} with {name}={value}"), WAIT, || {
        let pid = main_pid(unit);
        (pid != 0 && proc_env(pid, name).as_deref() == Some(value.as_bytes())).then_some(pid)
    })
}

/// A small deterministic generator (xorshift64*), so every run attacks with the same values.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// One path component (no `/`, no NUL) of characters unit files treat specially.
    fn nasty_component(&mut self) -> String {
        const ALPHABET: &[&str] = &[
            "a", "z", "0", " ", "\\", "\\", "%", "%n", "%i", "$", "$V", "${W}", "\"", "'", ";",
            "\t", "\r", "#", "=", "&", "*", "!", "{", "}", "é", "日", "😀", "~", "-", ":",
        ];
        let len = 1 + self.below(6);
        let mut s = String::from("v");
        for _ in 0..len {
            s.push_str(ALPHABET[self.below(ALPHABET.len() as u64) as usize]);
        }
        if self.below(2) == 0 {
            s.push('\\');
        }
        s
    }
}

// ---- 1. Log files systemd opens as root ----

/// An app of alice's whose out and err files are `logs/out.log`, `logs/err.log` in her project.
fn logging_app(app: &str) -> Result<PathBuf, String> {
    users()?;
    let dir = user_project(ALICE, app)?;
    ecosystem(
        &dir,
        serde_json::json!([{ "name": app, "script": "reporter.py", "restart_delay": 100,
                              "out_file": "logs/out.log", "error_file": "logs/err.log" }]),
    );
    give(ALICE, &dir)?;
    Ok(dir)
}

/// As alice: both log files become symlinks to `target`. It may fail (a root-owned log
/// directory); then there is nothing to follow, which is the point.
fn plant_log_symlinks(dir: &Path, target: &Path) -> Out {
    as_user(
        ALICE,
        &format!(
            "cd {} && ln -sfn {t} logs/out.log && ln -sfn {t} logs/err.log",
            quote(dir),
            t = quote(target)
        ),
    )
}

fn log_symlink_on_restart() -> TestResult {
    let app = "atk-logsym";
    let dir = logging_app(app)?;
    let victim = Victim::new("/etc/rgen-victim-logsym")?;
    let _cleanup = Uninstall::new(&dir, &[app]);
    rgen_root(&["install", "--system"], &dir, &[AS_ALICE]).ok()?;
    wait_starts(&dir, 1)?;
    let unit = format!("{app}.service");
    let pid = main_pid(&unit);
    let planted = plant_log_symlinks(&dir, &victim.0);
    let kill = as_user(ALICE, &format!("kill -9 {pid}"));
    if kill.code != 0 {
        return Err(format!(
            "setup: alice could not kill her app's process {pid}: {}",
            said(&kill)
        ));
    }
    // The app restarting (and printing again) is what makes systemd open the log files again;
    // a fix may also keep it from starting, which is safe too.
    let restarted = wait_starts(&dir, 2).is_ok();
    let mut holes = Holes::default();
    if let Some(damage) = victim.damage() {
        holes.add(format!(
            "alice replaced logs/out.log and logs/err.log with symlinks to {} (exit {}) and killed her app; when it restarted, root's file {damage}",
            victim.0.display(),
            planted.code
        ));
    }
    let flush = rgen_root(&["flush", app, "--system"], &dir, &[]);
    if let Some(damage) = victim.damage() {
        holes.add(format!(
            "after `rgen flush {app}` as root (exit {}), root's file {damage}",
            flush.code
        ));
    }
    if !restarted {
        eprintln!(
            "note: {app} did not start again within {WAIT:?} (state {})",
            property(&format!("{app}.service"), "Unit", "ActiveState").unwrap_or_default()
        );
    }
    holes.result()
}

fn flush_through_symlink() -> TestResult {
    let app = "atk-flushsym";
    let dir = logging_app(app)?;
    let victim = Victim::new("/etc/rgen-victim-flushsym")?;
    let _cleanup = Uninstall::new(&dir, &[app]);
    rgen_root(&["install", "--system"], &dir, &[AS_ALICE]).ok()?;
    wait_starts(&dir, 1)?;
    let planted = plant_log_symlinks(&dir, &victim.0);
    let flush = rgen_root(&["flush", app, "--system"], &dir, &[]);
    let mut holes = Holes::default();
    if let Some(damage) = victim.damage() {
        holes.add(format!(
            "alice replaced her log files with symlinks to {} (exit {}); after `rgen flush {app}` as root (exit {}) root's file {damage}",
            victim.0.display(),
            planted.code,
            flush.code
        ));
    }
    holes.result()
}

// ---- 2. Directories created and chowned as root ----

fn log_in_unit_directory() -> TestResult {
    users()?;
    let app = "atk-unitdir";
    let dir = user_project(ALICE, app)?;
    let dropin = Path::new(UNIT_DIR).join("victim.service.d");
    let _ = std::fs::remove_dir_all(&dropin);
    write(
        &dir.join("ecosystem.yml"),
        &format!(
            "apps:\n  - name: {app}\n    script: reporter.py\n    out_file: {}/x.log\n",
            dropin.display()
        ),
    );
    give(ALICE, &dir)?;
    let _cleanup = Uninstall::new(&dir, &[app]);
    let mut holes = Holes::default();
    let check = rgen_root(&["check", "ecosystem.yml", "--system"], &dir, &[AS_ALICE]);
    if !refused_naming(&check, app, "out_file") {
        holes.add(format!(
            "`rgen check` of a log path inside {UNIT_DIR} exited {} (expected 2 naming `{app}` and `out_file`):\n      {}",
            check.code,
            excerpt(&said(&check))
        ));
    }
    let install = rgen_root(&["install", "ecosystem.yml", "--system"], &dir, &[AS_ALICE]);
    if install.code != 2 {
        holes.add(format!(
            "`sudo rgen install` (SUDO_USER=alice) exited {}, expected 2",
            install.code
        ));
    }
    if let Ok(meta) = std::fs::symlink_metadata(&dropin) {
        holes.add(format!(
            "{} now exists, owned by uid {} (alice is {}), mode {:o}: a drop-in directory of victim.service, where alice can put `ExecStartPre=` lines systemd runs as root",
            dropin.display(),
            meta.uid(),
            uid(ALICE),
            meta.mode() & 0o7777
        ));
    }
    let _ = std::fs::remove_dir_all(&dropin);
    holes.result()
}

fn symlinked_log_directories() -> TestResult {
    users()?;
    let dir = user_project(MALLORY, "atk-symdir")?;
    let wants = Path::new(UNIT_DIR).join("getty.target.wants");
    if wants.exists() {
        return Err(format!("setup: {} exists already", wants.display()));
    }
    let sysdir = Path::new("/etc/rgen-sysdir-symdir");
    let _ = std::fs::remove_dir_all(sysdir);
    std::fs::create_dir_all(sysdir).map_err(|e| e.to_string())?;
    std::os::unix::fs::symlink(UNIT_DIR, dir.join("sys")).map_err(|e| e.to_string())?;
    std::os::unix::fs::symlink(sysdir, dir.join("etcdir")).map_err(|e| e.to_string())?;
    let (a, b) = (dir.join("report-a"), dir.join("report-b"));
    for d in [&a, &b] {
        std::fs::create_dir_all(d).map_err(|e| e.to_string())?;
    }
    ecosystem(
        &dir,
        serde_json::json!([
            // A directory rgen would create (and chown) through the link, and one that exists.
            { "name": "atk-symdir-a", "script": "reporter.py", "out_file": "sys/getty.target.wants/out.log",
              "env": { "REPORT_DIR": a } },
            { "name": "atk-symdir-b", "script": "reporter.py", "out_file": "etcdir/out.log",
              "env": { "REPORT_DIR": b } },
        ]),
    );
    give(MALLORY, &dir)?;
    let _cleanup = Uninstall::new(&dir, &["atk-symdir-a", "atk-symdir-b"]);
    let install = rgen_root(&["install", "--system"], &dir, &[("SUDO_USER", MALLORY)]);
    if install.code == 0 {
        let _ = wait_starts(&a, 1);
        let _ = wait_starts(&b, 1);
    }
    let mut holes = Holes::default();
    if let Ok(meta) = std::fs::symlink_metadata(&wants) {
        holes.add(format!(
            "`sudo rgen install` (SUDO_USER=mallory, exit {}) created {} through mallory's symlink `sys -> {UNIT_DIR}`, owned by uid {} (mallory is {}): she can now enable units at boot",
            install.code,
            wants.display(),
            meta.uid(),
            uid(MALLORY)
        ));
    }
    let written = sysdir.join("out.log");
    if let Ok(meta) = std::fs::symlink_metadata(&written) {
        holes.add(format!(
            "{} was created (owner uid {}) through mallory's symlink `etcdir -> {}`",
            written.display(),
            meta.uid(),
            sysdir.display()
        ));
    }
    drop(_cleanup);
    let _ = std::fs::remove_dir_all(&wants);
    let _ = std::fs::remove_dir_all(sysdir);
    holes.result()
}

fn another_users_directory() -> TestResult {
    users()?;
    let bobs = Path::new("/home/bob/atk-pub");
    let _ = std::fs::remove_dir_all(bobs);
    std::fs::create_dir_all(bobs).map_err(|e| e.to_string())?;
    give(BOB, bobs)?;
    let dir = user_project(ALICE, "atk-pub")?;
    let (a, b) = (dir.join("report-new"), dir.join("report-old"));
    for d in [&a, &b] {
        std::fs::create_dir_all(d).map_err(|e| e.to_string())?;
    }
    let (new_dir, old_file) = (bobs.join("sub"), bobs.join("b.log"));
    ecosystem(
        &dir,
        serde_json::json!([
            { "name": "atk-pub-new", "script": "reporter.py", "out_file": new_dir.join("a.log"), "env": { "REPORT_DIR": a } },
            { "name": "atk-pub-old", "script": "reporter.py", "out_file": old_file, "env": { "REPORT_DIR": b } },
        ]),
    );
    give(ALICE, &dir)?;
    let _cleanup = Uninstall::new(&dir, &["atk-pub-new", "atk-pub-old"]);
    let mut holes = Holes::default();
    let check = rgen_root(&["check", "--system"], &dir, &[AS_ALICE]);
    if !refused_naming(&check, "atk-pub-", "out_file") {
        holes.add(format!(
            "`rgen check` (SUDO_USER=alice) of log paths in bob's {} exited {} (expected 2 naming `out_file`)",
            bobs.display(),
            check.code
        ));
    }
    let install = rgen_root(&["install", "--system"], &dir, &[AS_ALICE]);
    if install.code == 0 {
        let _ = wait_starts(&a, 1);
        let _ = wait_starts(&b, 1);
    }
    for p in [&new_dir, &old_file] {
        if let Ok(meta) = std::fs::symlink_metadata(p) {
            holes.add(format!(
                "`sudo rgen install` (SUDO_USER=alice, exit {}) created {} in bob's directory, owned by uid {} (alice {}, bob {})",
                install.code,
                p.display(),
                meta.uid(),
                uid(ALICE),
                uid(BOB)
            ));
        }
    }
    holes.result()
}

// ---- 3. Read-only verbs and user code ----

fn markers(prefix: &str) -> Vec<String> {
    std::fs::read_dir("/tmp")
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(prefix))
        .collect()
}

fn clear_markers(prefix: &str) {
    for m in markers(prefix) {
        let _ = std::fs::remove_file(Path::new("/tmp").join(m));
    }
}

fn read_only_verbs() -> TestResult {
    users()?;
    let app = "atk-jsro";
    let dir = user_project(ALICE, app)?;
    let config = |prelude: &str| {
        format!(
            "{prelude}module.exports = {{ apps: [{{ name: '{app}', script: 'reporter.py', out_file: 'out.log' }}] }};\n"
        )
    };
    let file = dir.join("ecosystem.config.js");
    write(&file, &config(""));
    give(ALICE, &dir)?;
    let _cleanup = Uninstall::new(&dir, &[app]);
    rgen_root(&["install", "--system"], &dir, &[AS_ALICE]).ok()?;
    wait_starts(&dir, 1)?;
    // alice changes her file: whoever evaluates it now leaves a marker with their uid.
    let prefix = "atk-jsro-ran-as-";
    clear_markers(prefix);
    write(
        &file,
        &config(&format!(
            "require('fs').writeFileSync('/tmp/{prefix}' + process.getuid(), '');\n"
        )),
    );
    give(ALICE, &file)?;
    let mut holes = Holes::default();
    let verbs: [&[&str]; 6] = [
        &["status", "--system"],
        &["status", "--json", "--system"],
        &["show", app, "--system"],
        &["logs", app, "--system", "--lines", "5"],
        &["flush", app, "--system"],
        &["uninstall", app, "--system"],
    ];
    for args in verbs {
        let out = rgen_root(args, &dir, &[]);
        let ran = markers(prefix);
        if !ran.is_empty() {
            holes.add(format!(
                "`rgen {}` as root (exit {}) evaluated alice's changed ecosystem.config.js ({})",
                args.join(" "),
                out.code,
                ran.iter()
                    .map(|m| format!("uid {}", m.trim_start_matches(prefix)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            clear_markers(prefix);
        }
    }
    holes.result()
}

fn check_js_as_root() -> TestResult {
    users()?;
    let app = "atk-jscheck";
    let dir = user_project(ALICE, app)?;
    let prefix = "atk-jscheck-";
    write(
        &dir.join("ecosystem.config.js"),
        &format!(
            "require('fs').writeFileSync('/tmp/{prefix}' + process.getuid() + '-' + process.pid,\n  JSON.stringify({{ uid: process.getuid(), secret: process.env.SECRET_ROOT || null }}));\nmodule.exports = {{ apps: [{{ name: '{app}', script: 'reporter.py' }}] }};\n"
        ),
    );
    give(ALICE, &dir)?;
    let alice = uid(ALICE);
    let mut holes = Holes::default();
    let identities: [(&str, &[(&str, &str)]); 2] = [
        ("plain root", &[("SECRET_ROOT", "1")]),
        ("SUDO_USER=alice", &[("SECRET_ROOT", "1"), AS_ALICE]),
    ];
    for (who, env) in identities {
        for args in [
            &["check", "--system"][..],
            &["install", "--system", "--dry-run"][..],
        ] {
            clear_markers(prefix);
            let out = rgen_root(args, &dir, env);
            let runs: Vec<serde_json::Value> = markers(prefix)
                .iter()
                .filter_map(|m| std::fs::read_to_string(Path::new("/tmp").join(m)).ok())
                .filter_map(|t| serde_json::from_str(&t).ok())
                .collect();
            let verb = format!("`rgen {}` as {who}", args.join(" "));
            if runs.is_empty() {
                if !(out.code == 2 && said(&out).contains("hint")) {
                    holes.add(format!(
                        "{verb} neither evaluated alice's file nor refused with a hint (exit {})",
                        out.code
                    ));
                }
                continue;
            }
            for run in runs {
                if run["uid"].as_u64() != Some(u64::from(alice)) {
                    holes.add(format!(
                        "{verb} ran node on alice's ecosystem.config.js as uid {} (alice is {alice})",
                        run["uid"]
                    ));
                }
                if !run["secret"].is_null() {
                    holes.add(format!(
                        "{verb}: root's environment (SECRET_ROOT={}) was visible to the evaluated file",
                        run["secret"]
                    ));
                }
            }
        }
    }
    clear_markers(prefix);
    holes.result()
}

// ---- 4. Values a unit file line cannot hold ----

enum Checked {
    /// `rgen check` refused it as it should (exit 2, app and key named).
    Refused,
    /// rgen check accepted it; install ran (with this result).
    Installed(Out),
}

/// `rgen check` as alice's sudo; if it accepts, `rgen install`. A refusal that does not name
/// the file, the app and one of `keys` is a hole.
fn check_then_install(dir: &Path, app: &str, keys: &[&str], holes: &mut Holes) -> Option<Checked> {
    let check = rgen_root(&["check", "--system"], dir, &[AS_ALICE]);
    if check.code != 0 {
        let text = said(&check);
        if check.code == 2
            && text.contains(app)
            && text.contains("ecosystem.json")
            && keys.iter().any(|k| text.contains(k))
        {
            return Some(Checked::Refused);
        }
        holes.add(format!(
            "`{app}`: refused (exit {}) without naming the file, the app and one of {keys:?}:\n      {}",
            check.code,
            excerpt(&text)
        ));
        return None;
    }
    Some(Checked::Installed(rgen_root(
        &["install", "--system"],
        dir,
        &[AS_ALICE],
    )))
}

fn file_has(path: &Path, needle: &str) -> bool {
    std::fs::read_to_string(path).is_ok_and(|t| t.contains(needle))
}

fn trailing_backslash() -> TestResult {
    users()?;
    let mut holes = Holes::default();

    // cwd: `WorkingDirectory=…\` is followed by `User=` (a shell script gets no `Environment=`).
    {
        let app = "atk-bs-cwd";
        let dir = user_project(ALICE, app)?;
        let cwd = dir.join("w\\");
        // alice also makes the directory systemd uses once it joins `User=alice` onto the path.
        for d in [&cwd, &dir.join("w User=alice")] {
            std::fs::create_dir_all(d).map_err(|e| e.to_string())?;
        }
        let script = dir.join("run.sh");
        write_exec(
            &script,
            "#!/bin/sh\nexec /usr/bin/python3 \"$(dirname \"$0\")/reporter.py\"\n",
        );
        ecosystem(
            &dir,
            serde_json::json!([{ "name": app, "script": script, "cwd": "w\\" }]),
        );
        give(ALICE, &dir)?;
        let _cleanup = Uninstall::new(&dir, &[app]);
        if let Some(Checked::Installed(install)) =
            check_then_install(&dir, app, &["cwd"], &mut holes)
        {
            let unit = format!("{app}.service");
            let started = wait_starts(&dir, 1).is_ok();
            let (user, wd, ran_as) = (
                service_str(&unit, "User"),
                service_str(&unit, "WorkingDirectory"),
                reported_uid(&dir),
            );
            if user != ALICE
                || wd != cwd.to_string_lossy()
                || !started
                || ran_as != Some(uid(ALICE))
            {
                holes.add(format!(
                    "`cwd: \"w\\\\\"`: the manager has User={user:?} and WorkingDirectory={wd:?}; the app (started {started}) runs as uid {ran_as:?}, alice is {} (install exit {})",
                    uid(ALICE),
                    install.code
                ));
            }
        }
    }

    // out_file: `StandardOutput=append:…\` is followed by `StandardError=`.
    // error_file: `StandardError=append:…\` is followed by `SyslogIdentifier=`.
    for (app, key, out_name, err_name) in [
        ("atk-bs-out", "out_file", "o\\", "e.log"),
        ("atk-bs-err", "error_file", "o.log", "e\\"),
    ] {
        let dir = user_project(ALICE, app)?;
        ecosystem(
            &dir,
            serde_json::json!([{ "name": app, "script": "reporter.py", "out_file": out_name, "error_file": err_name }]),
        );
        give(ALICE, &dir)?;
        let _cleanup = Uninstall::new(&dir, &[app]);
        let Some(Checked::Installed(install)) = check_then_install(&dir, app, &[key], &mut holes)
        else {
            continue;
        };
        let unit = format!("{app}.service");
        let started = wait_starts(&dir, 1).is_ok();
        let pid = reported_pid(&dir);
        let (out_ok, err_ok) = (
            file_has(&dir.join(out_name), &format!("ATTACK-OUT {pid}")),
            file_has(&dir.join(err_name), &format!("ATTACK-ERR {pid}")),
        );
        let (stderr, ident, user) = (
            service_str(&unit, "StandardError"),
            service_str(&unit, "SyslogIdentifier"),
            service_str(&unit, "User"),
        );
        if !(started && out_ok && err_ok && ident == app && user == ALICE) {
            holes.add(format!(
                "`{key}` ending in a backslash: started {started}, stdout in {out_name:?} {out_ok}, stderr in {err_name:?} {err_ok}; the manager has StandardError={stderr:?}, SyslogIdentifier={ident:?}, User={user:?} (install exit {}):\n      {}",
                install.code,
                excerpt(&journal(&unit))
            ));
        }
    }

    // watch: `PathChanged=…\` is followed by the next `PathChanged=`.
    {
        let app = "atk-bs-watch";
        let dir = user_project(ALICE, app)?;
        for d in ["a\\", "b"] {
            std::fs::create_dir_all(dir.join(d)).map_err(|e| e.to_string())?;
        }
        ecosystem(
            &dir,
            serde_json::json!([{ "name": app, "script": "reporter.py", "watch": ["a\\", "b"] }]),
        );
        give(ALICE, &dir)?;
        let _cleanup = Uninstall::new(&dir, &[app]);
        if let Some(Checked::Installed(install)) =
            check_then_install(&dir, app, &["watch"], &mut holes)
        {
            let expected = serde_json::json!([
                ["PathChanged", dir.join("a\\")],
                ["PathChanged", dir.join("b")],
            ]);
            let path_units = unit_files_of(app, ".path");
            let seen: Vec<_> = path_units
                .iter()
                .map(|u| property(u, "Path", "Paths").unwrap_or_default())
                .collect();
            if seen.len() != 1 || seen[0] != expected {
                holes.add(format!(
                    "`watch: [\"a\\\\\", \"b\"]`: the path units {path_units:?} watch {seen:?}, expected {expected} (install exit {})",
                    install.code
                ));
            }
        }
    }
    holes.result()
}

/// Unit files in the unit directory whose name starts with the app's and ends in `suffix`.
fn unit_files_of(app: &str, suffix: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(UNIT_DIR)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(app) && n.ends_with(suffix))
        .collect();
    names.sort();
    names
}

/// Property-style: seeded values full of what unit files treat specially, as the working
/// directory, log paths, an env value and an argument of one app each. Each must be refused at
/// check (naming file, app and key) or reach the manager and the process exactly, with the
/// directive after it intact.
fn nasty_values() -> TestResult {
    users()?;
    let mut rng = Rng(0x5eed_a77a_c4ed_0009);
    let mut holes = Holes::default();
    for i in 0..8 {
        let v = rng.nasty_component();
        eprintln!("nasty value {i}: {v:?}");
        let app = format!("atk-prop-{i}");
        let dir = user_project(ALICE, &app)?;
        let cwd = dir.join(format!("d{v}"));
        let (out_path, err_path) = (dir.join(format!("o{v}")), dir.join(format!("e{v}")));
        std::fs::create_dir_all(&cwd).map_err(|e| e.to_string())?;
        ecosystem(
            &dir,
            serde_json::json!([{ "name": app, "script": dir.join("reporter.py"), "cwd": cwd,
                "out_file": out_path, "error_file": err_path,
                "env": { "V": v, "W": "after" }, "args": [v, "after"] }]),
        );
        give(ALICE, &dir)?;
        let _cleanup = Uninstall::new(&dir, &[&app]);
        let Some(Checked::Installed(install)) = check_then_install(
            &dir,
            &app,
            &["cwd", "out_file", "error_file", "env", "args"],
            &mut holes,
        ) else {
            continue;
        };
        let unit = format!("{app}.service");
        let mut wrong = Vec::new();
        let user = service_str(&unit, "User");
        if user != ALICE {
            wrong.push(format!("User={user:?}"));
        }
        let wd = service_str(&unit, "WorkingDirectory");
        if wd != cwd.to_string_lossy() {
            wrong.push(format!("WorkingDirectory={wd:?}"));
        }
        let ident = service_str(&unit, "SyslogIdentifier");
        if ident != app {
            wrong.push(format!("SyslogIdentifier={ident:?}"));
        }
        // The values come from the app's environment file (systemd parses it at start, so the
        // process's own environment below is the read-back); the unit itself carries none.
        let env = property(&unit, "Service", "Environment").unwrap_or_default();
        if env.to_string().contains("after") {
            wrong.push(format!("Environment={env} carries the values in the unit"));
        }
        if wait_starts(&dir, 1).is_ok() {
            let pid = reported_pid(&dir);
            let argv = proc_list(pid, "cmdline");
            let tail: Vec<&[u8]> = argv
                .iter()
                .rev()
                .take(2)
                .rev()
                .map(|a| a.as_slice())
                .collect();
            if tail != [v.as_bytes(), b"after"] {
                wrong.push(format!(
                    "argv ended {:?}",
                    tail.iter()
                        .map(|a| String::from_utf8_lossy(a))
                        .collect::<Vec<_>>()
                ));
            }
            if proc_env(pid, "V").as_deref() != Some(v.as_bytes())
                || proc_env(pid, "W").as_deref() != Some(b"after".as_slice())
            {
                wrong.push("the process's V or W differs".into());
            }
            if !file_has(&out_path, &format!("ATTACK-OUT {pid}")) {
                wrong.push(format!("stdout did not reach {}", out_path.display()));
            }
            if !file_has(&err_path, &format!("ATTACK-ERR {pid}")) {
                wrong.push(format!("stderr did not reach {}", err_path.display()));
            }
        } else {
            wrong.push(format!(
                "the app never started (install exit {}): {}",
                install.code,
                excerpt(&journal(&unit))
            ));
        }
        if !wrong.is_empty() {
            holes.add(format!("value {v:?}: {}", wrong.join("; ")));
        }
    }
    holes.result()
}

// ---- 5. Identity ----

fn plain_root_identity() -> TestResult {
    users()?;
    let app = "atk-id-plain";
    let dir = user_project(ALICE, app)?;
    ecosystem(
        &dir,
        serde_json::json!([{ "name": app, "script": "reporter.py" }]),
    );
    give(ALICE, &dir)?;
    let _cleanup = Uninstall::new(&dir, &[app]);
    // Root without SUDO_USER (a root shell, a CI job, `env -u SUDO_USER`).
    let out = rgen_root(&["install", "--system"], &dir, &[]);
    let mut holes = Holes::default();
    match out.code {
        2 if said(&out).contains(ALICE) => {}
        0 => {
            wait_starts(&dir, 1)?;
            let unit = format!("{app}.service");
            let (user, ran_as) = (service_str(&unit, "User"), reported_uid(&dir));
            if user != ALICE || ran_as != Some(uid(ALICE)) {
                holes.add(format!(
                    "plain root installed alice's app (her directory, her file) with User={user:?}; it runs as uid {ran_as:?}, without a word:\n      {}",
                    excerpt(&said(&out))
                ));
            }
        }
        code => holes.add(format!(
            "plain root: install exited {code} without naming alice and the fix:\n      {}",
            excerpt(&said(&out))
        )),
    }
    holes.result()
}

fn explicit_root() -> TestResult {
    users()?;
    let app = "atk-id-root";
    let dir = root_project(app);
    ecosystem(
        &dir,
        serde_json::json!([{ "name": app, "script": "reporter.py", "uid": "root" }]),
    );
    let _cleanup = Uninstall::new(&dir, &[app]);
    rgen_root(&["install", "--system"], &dir, &[AS_ALICE]).ok()?;
    wait_starts(&dir, 1)?;
    let ran_as = reported_uid(&dir);
    if ran_as != Some(0) {
        return Err(format!(
            "`uid: root` (installed with SUDO_USER=alice) runs as uid {ran_as:?}"
        ));
    }
    Ok(())
}

fn reinstall_identity() -> TestResult {
    users()?;
    let app = "atk-id-re";
    let dir = user_project(ALICE, app)?;
    ecosystem(
        &dir,
        serde_json::json!([{ "name": app, "script": "reporter.py" }]),
    );
    give(ALICE, &dir)?;
    let _cleanup = Uninstall::new(&dir, &[app]);
    rgen_root(&["install", "--system"], &dir, &[AS_ALICE]).ok()?;
    let unit = format!("{app}.service");
    if service_str(&unit, "User") != ALICE {
        return Err("setup: the install with SUDO_USER=alice did not set User=alice".into());
    }
    let again = rgen_root(&["install", "--system"], &dir, &[]);
    if service_str(&unit, "User") == ALICE {
        return Ok(());
    }
    // A changed identity must be said in so many words, not only as a `-User=alice` diff line.
    let text = said(&again);
    let outside_diff: Vec<&str> = text.lines().filter(|l| !l.starts_with("    ")).collect();
    if outside_diff.iter().any(|l| l.contains(ALICE)) {
        return Ok(());
    }
    Err(format!(
        "HOLE: rerunning `rgen install` as plain root (exit {}) dropped User=alice (now {:?}); the app now runs as root and the output only shows it inside the diff:\n      {}",
        again.code,
        service_str(&unit, "User"),
        excerpt(&said(&again))
    ))
}

fn doas_user() -> TestResult {
    users()?;
    let app = "atk-doas";
    // Root's file in root's directory: only DOAS_USER can say the app is alice's.
    let dir = root_project(app);
    let reports = dir.join("reports");
    std::fs::create_dir_all(&reports).map_err(|e| e.to_string())?;
    std::fs::set_permissions(&reports, std::fs::Permissions::from_mode(0o1777))
        .map_err(|e| e.to_string())?;
    ecosystem(
        &dir,
        serde_json::json!([{ "name": app, "script": "reporter.py", "env": { "REPORT_DIR": reports } }]),
    );
    let _cleanup = Uninstall::new(&dir, &[app]);
    rgen_root(&["install", "--system"], &dir, &[("DOAS_USER", ALICE)]).ok()?;
    wait_starts(&reports, 1)?;
    let unit = format!("{app}.service");
    let (user, ran_as) = (service_str(&unit, "User"), reported_uid(&reports));
    if user != ALICE || ran_as != Some(uid(ALICE)) {
        return Err(format!(
            "HOLE: `doas rgen install` (DOAS_USER=alice) installed User={user:?}; the app runs as uid {ran_as:?}, not alice's {}",
            uid(ALICE)
        ));
    }
    Ok(())
}

// ---- 6. Secrets ----

fn secrets() -> TestResult {
    users()?;
    let app = "atk-secret";
    let dir = user_project(ALICE, app)?;
    let (url, token) = (
        "postgres://u:pw-atk-5ecret@h/db",
        "tok-atk-0f1e2d3c4b5a69788796a5b4",
    );
    let secret_parts = ["pw-atk-5ecret", token];
    ecosystem(
        &dir,
        serde_json::json!([{ "name": app, "script": "reporter.py",
                              "env": { "DATABASE_URL": url, "API_TOKEN": token, "PLAIN": "visible" } }]),
    );
    give(ALICE, &dir)?;
    let _cleanup = Uninstall::new(&dir, &[app]);
    rgen_root(&["install", "--system"], &dir, &[AS_ALICE]).ok()?;
    wait_starts(&dir, 1)?;
    let unit = format!("{app}.service");
    let leaks = |text: &str| secret_parts.iter().any(|s| text.contains(s));
    let mut holes = Holes::default();

    for entry in walk(Path::new(UNIT_DIR)) {
        let name = entry.to_string_lossy();
        if !name.contains(app) {
            continue;
        }
        // Root's own 0600 environment file may hold them; that is where they belong.
        let private =
            std::fs::metadata(&entry).is_ok_and(|m| m.uid() == 0 && m.mode() & 0o077 == 0);
        if let Ok(text) = std::fs::read_to_string(&entry)
            && leaks(&text)
            && !private
        {
            let mode = std::fs::metadata(&entry).map_or(0, |m| m.mode() & 0o7777);
            holes.add(format!(
                "{} holds the secret values (mode {mode:o}{})",
                entry.display(),
                if mode & 0o004 != 0 {
                    ", readable by every user"
                } else {
                    ""
                }
            ));
        }
    }
    let shown = output("systemctl", &["show", "-p", "Environment", &unit]).unwrap_or_default();
    if leaks(&shown) {
        holes.add(format!(
            "`systemctl show -p Environment {unit}` (any user can ask) shows them: {}",
            excerpt(&shown)
        ));
    }
    if let Some(files) = property(&unit, "Service", "EnvironmentFiles")
        && let Some(files) = files.as_array()
    {
        for f in files {
            let Some(path) = f[0].as_str() else { continue };
            let text = std::fs::read_to_string(path).unwrap_or_default();
            let meta = std::fs::metadata(path);
            if leaks(&text)
                && meta
                    .as_ref()
                    .is_ok_and(|m| m.uid() != 0 || m.mode() & 0o077 != 0)
            {
                let m = meta.map_err(|e| e.to_string())?;
                holes.add(format!(
                    "the environment file {path} holds them with owner uid {} and mode {:o} (expected root, 0600)",
                    m.uid(),
                    m.mode() & 0o7777
                ));
            }
        }
    }
    for args in [
        &["show", app, "--system"][..],
        &["status", app, "--json", "--system"][..],
        &["status", app, "--system"][..],
    ] {
        let out = rgen_root(args, &dir, &[]);
        if leaks(&said(&out)) {
            holes.add(format!("`rgen {}` prints them by default", args.join(" ")));
        }
    }
    let pid = reported_pid(&dir);
    for (name, value) in [("DATABASE_URL", url), ("API_TOKEN", token)] {
        if proc_env(pid, name).as_deref() != Some(value.as_bytes()) {
            holes.add(format!(
                "the app (pid {pid}) did not receive {name} exactly"
            ));
        }
    }
    holes.result()
}

/// Every file under `dir`, following no symlinks.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = e.path();
        match e.file_type() {
            Ok(t) if t.is_dir() => out.extend(walk(&path)),
            Ok(t) if t.is_file() => out.push(path),
            _ => {}
        }
    }
    out
}

// ---- 7. Interrupted installs ----

/// An app of root's with `K` in its environment, installed and running with K=1.
fn interrupted_app(app: &str) -> Result<PathBuf, String> {
    let dir = root_project(app);
    set_k(&dir, app, "1");
    rgen_root(&["install", "--system"], &dir, &[RUN_AS_ROOT]).ok()?;
    wait_env(&format!("{app}.service"), "K", "1")?;
    Ok(dir)
}

fn set_k(dir: &Path, app: &str, k: &str) {
    ecosystem(
        dir,
        serde_json::json!([{ "name": app, "script": "reporter.py", "env": { "K": k } }]),
    );
}

/// Puts in place the unit files an install of the current ecosystem file would write, the way
/// rgen writes them (a temporary file, then a rename), as if rgen was killed right after.
fn plant_rendered_units(dir: &Path) -> TestResult {
    let out_dir = dir.join("rendered");
    let _ = std::fs::remove_dir_all(&out_dir);
    rgen_root(
        &[
            "render",
            "--systemd",
            "--system",
            "--out",
            &out_dir.to_string_lossy(),
        ],
        dir,
        &[RUN_AS_ROOT],
    )
    .ok()?;
    for e in std::fs::read_dir(&out_dir)
        .map_err(|e| e.to_string())?
        .flatten()
    {
        let target = Path::new(UNIT_DIR).join(e.file_name());
        let tmp = Path::new(UNIT_DIR).join(format!(".atk-plant-{}", std::process::id()));
        std::fs::copy(e.path(), &tmp).map_err(|e| e.to_string())?;
        std::fs::rename(&tmp, &target).map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn killed_before_reload() -> TestResult {
    let app = "atk-int-reload";
    let dir = interrupted_app(app)?;
    let _cleanup = Uninstall::new(&dir, &[app]);
    let unit = format!("{app}.service");
    set_k(&dir, app, "2");
    // No other scenario's daemon-reload may finish the interrupted install for it.
    let (rerun, reload_needed) = {
        let _exclusive = MANAGER_RELOADS.write().unwrap_or_else(|e| e.into_inner());
        plant_rendered_units(&dir)?;
        if need_daemon_reload(&unit) != Some(true) {
            return Err("setup: the planted unit file did not make NeedDaemonReload=yes".into());
        }
        let rerun = install_holding_reloads(&dir);
        (rerun, need_daemon_reload(&unit))
    };
    let mut holes = Holes::default();
    if reload_needed != Some(false) {
        holes.add(format!(
            "after the rerun (exit {}) the manager still runs the old unit (NeedDaemonReload=yes); rgen said:\n      {}",
            rerun.code,
            excerpt(&rerun.stdout)
        ));
    }
    if let Err(e) = wait_env(&unit, "K", "2") {
        holes.add(format!(
            "the app never got K=2 ({e}): the rerun saw the files unchanged and neither reloaded nor restarted"
        ));
    }
    holes.result()
}

fn killed_before_restart() -> TestResult {
    let app = "atk-int-restart";
    let dir = interrupted_app(app)?;
    let _cleanup = Uninstall::new(&dir, &[app]);
    let unit = format!("{app}.service");
    set_k(&dir, app, "2");
    plant_rendered_units(&dir)?;
    {
        let _shared = MANAGER_RELOADS.read().unwrap_or_else(|e| e.into_inner());
        output("systemctl", &["daemon-reload"])?;
    }
    if need_daemon_reload(&unit) != Some(false) || wait_env(&unit, "K", "1").is_err() {
        return Err("setup: expected the new unit loaded and the old process running".into());
    }
    let rerun = rgen_root(&["install", "--system"], &dir, &[RUN_AS_ROOT]);
    if let Err(e) = wait_env(&unit, "K", "2") {
        return Err(format!(
            "HOLE: the unit was reloaded but the app not restarted (as if rgen was killed there); the rerun (exit {}) left the old process running ({e}); rgen said:\n      {}",
            rerun.code,
            excerpt(&rerun.stdout)
        ));
    }
    Ok(())
}

fn leftover_temporary_files() -> TestResult {
    let app = "atk-int-temp";
    let dir = interrupted_app(app)?;
    let _cleanup = Uninstall::new(&dir, &[app]);
    set_k(&dir, app, "2");
    // What a kill during a write leaves: `.rgen-XXXXXX` with half a unit (src/apply/files.rs),
    // an hour old so that no install could still be writing it.
    let an_hour_ago = SystemTime::now() - Duration::from_secs(3600);
    let planted: Vec<PathBuf> = ["Atk7c1", "Atk7c2", "Atk7c3"]
        .iter()
        .map(|s| Path::new(UNIT_DIR).join(format!(".rgen-{s}")))
        .collect();
    for p in &planted {
        write(
            p,
            &format!(
                "# Generated by rgen from {}/ecosystem.json.\n[Unit]\nDescri",
                dir.display()
            ),
        );
        std::fs::File::options()
            .write(true)
            .open(p)
            .and_then(|f| f.set_modified(an_hour_ago))
            .map_err(|e| e.to_string())?;
    }
    let rerun = rgen_root(&["install", "--system"], &dir, &[RUN_AS_ROOT]);
    let left: Vec<_> = planted.iter().filter(|p| p.exists()).cloned().collect();
    for p in &planted {
        let _ = std::fs::remove_file(p);
    }
    if !left.is_empty() {
        return Err(format!(
            "HOLE: the rerun (exit {}) left the interrupted install's temporary files in {UNIT_DIR}: {left:?}",
            rerun.code
        ));
    }
    Ok(())
}

fn killed_at_random() -> TestResult {
    let app = "atk-int-kill";
    let dir = interrupted_app(app)?;
    let _cleanup = Uninstall::new(&dir, &[app]);
    let unit = format!("{app}.service");
    let mut rng = Rng(0x7a11_5eed_0000_0007);
    let mut holes = Holes::default();
    for i in 2..8 {
        let k = i.to_string();
        set_k(&dir, app, &k);
        let delay = Duration::from_millis(rng.below(400));
        // Exclusive until the rerun is done, so that no other scenario's daemon-reload finishes
        // the killed install for it.
        let (rerun, reload) = {
            let _exclusive = MANAGER_RELOADS.write().unwrap_or_else(|e| e.into_inner());
            let mut child = Command::new(env!("CARGO_BIN_EXE_rgen"))
                .args(["install", "--system"])
                .current_dir(&dir)
                .env("PATH", PATH)
                .env("NO_COLOR", "1")
                .env("RGEN_SHIM", env!("CARGO_BIN_EXE_rgen-shim"))
                .env_remove("SUDO_USER")
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .map_err(|e| e.to_string())?;
            // A random moment, not a wait for a condition: the kill must land anywhere.
            std::thread::sleep(delay);
            let _ = child.kill();
            let _ = child.wait();
            let rerun = install_holding_reloads(&dir);
            (rerun, need_daemon_reload(&unit))
        };
        let stale: Vec<String> = std::fs::read_dir(UNIT_DIR)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(".rgen-"))
            .filter(|e| file_has(&e.path(), app))
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        let env = wait_env(&unit, "K", &k);
        if rerun.code != 0 || reload != Some(false) || env.is_err() || !stale.is_empty() {
            holes.add(format!(
                "install killed after {delay:?}, then rerun (exit {}): NeedDaemonReload={reload:?}, app has K={k}: {}, temporary files left: {stale:?}",
                rerun.code,
                env.is_ok()
            ));
        }
    }
    holes.result()
}

// ---- 8. Accepted, then broken at runtime ----

fn env_names_systemd_drops() -> TestResult {
    let app = "atk-envnames";
    let dir = root_project(app);
    let vars = [
        ("spring.datasource.password", "s3cr3t"),
        ("NODE-ENV", "production"),
    ];
    ecosystem(
        &dir,
        serde_json::json!([{ "name": app, "script": "reporter.py",
                              "env": { vars[0].0: vars[0].1, vars[1].0: vars[1].1, "OK_NAME": "1" } }]),
    );
    let _cleanup = Uninstall::new(&dir, &[app]);
    let check = rgen_root(&["check", "--system"], &dir, &[RUN_AS_ROOT]);
    if check.code == 2 && vars.iter().all(|(n, _)| said(&check).contains(n)) {
        return Ok(());
    }
    rgen_root(&["install", "--system"], &dir, &[RUN_AS_ROOT]).ok()?;
    wait_starts(&dir, 1)?;
    let pid = reported_pid(&dir);
    let missing: Vec<&str> = vars
        .iter()
        .filter(|(n, v)| proc_env(pid, n).as_deref() != Some(v.as_bytes()))
        .map(|(n, _)| *n)
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "HOLE: check accepted (exit {}) env names systemd drops; the app's environment lacks {missing:?}:\n      {}",
            check.code,
            excerpt(&journal(&format!("{app}.service")))
        ));
    }
    Ok(())
}

fn hidden_name() -> TestResult {
    let app = ".atk-hidden";
    let dir = root_project("atk-hidden");
    ecosystem(
        &dir,
        serde_json::json!([{ "name": app, "script": "reporter.py" }]),
    );
    let check = rgen_root(&["check", "--system"], &dir, &[RUN_AS_ROOT]);
    if refused_naming(&check, app, "name") {
        return Ok(());
    }
    let install = rgen_root(&["install", "--system"], &dir, &[RUN_AS_ROOT]);
    let mut holes = Holes::default();
    let status = rgen_root(&["status", "--json", "--system"], &dir, &[]);
    let listed = serde_json::from_str::<serde_json::Value>(&status.stdout)
        .ok()
        .and_then(|s| {
            s["apps"]
                .as_array()
                .map(|a| a.iter().any(|x| x["name"] == app))
        })
        .unwrap_or(false);
    if !listed {
        holes.add(format!(
            "`{app}` installed (exit {}) but `rgen status --json` does not list it",
            install.code
        ));
    }
    let uninstall = rgen_root(&["uninstall", app, "--system"], &dir, &[]);
    let left = unit_files_of(app, "");
    if uninstall.code != 0 || !left.is_empty() {
        holes.add(format!(
            "`rgen uninstall {app}` exited {} and left {left:?}:\n      {}",
            uninstall.code,
            excerpt(&said(&uninstall))
        ));
    }
    // Whatever rgen could not remove goes by hand, so that it does not run on.
    let _shared = MANAGER_RELOADS.read().unwrap_or_else(|e| e.into_inner());
    for f in &left {
        let _ = output("systemctl", &["disable", "--now", "--", f]);
        let _ = std::fs::remove_file(Path::new(UNIT_DIR).join(f));
    }
    holes.result()
}

fn dash_name() -> TestResult {
    let app = "-atk-dash";
    let dir = root_project("atk-dash");
    let watched = dir.join("w");
    std::fs::create_dir_all(&watched).map_err(|e| e.to_string())?;
    ecosystem(
        &dir,
        serde_json::json!([{ "name": app, "script": "reporter.py", "cron_restart": "0 3 * * *",
                              "watch": ["w"] }]),
    );
    let check = rgen_root(&["check", "--system"], &dir, &[RUN_AS_ROOT]);
    if refused_naming(&check, app, "name") {
        return Ok(());
    }
    let _cleanup = Uninstall::new(&dir, &[app]);
    rgen_root(&["install", "--system"], &dir, &[RUN_AS_ROOT]).ok()?;
    wait_starts(&dir, 1)?;
    let mut holes = Holes::default();
    // A file changes in the watched directory: the path unit's helper restarts the app.
    write(&watched.join("changed"), "x");
    if wait_starts(&dir, 2).is_err() {
        let helpers = unit_files_of(app, "-watch.service");
        holes.add(format!(
            "a change in the watched directory did not restart `{app}`; its helper {helpers:?} said:\n      {}",
            helpers
                .first()
                .map(|h| excerpt(&journal(h)))
                .unwrap_or_default()
        ));
    }
    // The cron timer's service, started by hand as the timer would.
    let before = starts(&dir);
    for timer in unit_files_of(app, ".timer") {
        let Some(service) =
            property(&timer, "Timer", "Unit").and_then(|v| v.as_str().map(String::from))
        else {
            continue;
        };
        let _ = output("systemctl", &["start", "--", &service]);
        if wait_starts(&dir, before + 1).is_err() {
            holes.add(format!(
                "the cron helper {service} did not restart `{app}`:\n      {}",
                excerpt(&journal(&service))
            ));
        }
    }
    holes.result()
}

// ---- 10. The binaries units run ----

fn user_writable_shim() -> TestResult {
    users()?;
    let bin = Path::new("/home/alice/atk-bin");
    let _ = std::fs::remove_dir_all(bin);
    std::fs::create_dir_all(bin).map_err(|e| e.to_string())?;
    for exe in [env!("CARGO_BIN_EXE_rgen"), env!("CARGO_BIN_EXE_rgen-shim")] {
        let name = Path::new(exe).file_name().unwrap_or_default();
        std::fs::copy(exe, bin.join(name)).map_err(|e| e.to_string())?;
    }
    give(ALICE, bin)?;
    let app = "atk-shimpath";
    let dir = root_project(app);
    // Backoff needs the shim on systemd 252.
    ecosystem(
        &dir,
        serde_json::json!([{ "name": app, "script": "reporter.py", "exp_backoff_restart_delay": 100 }]),
    );
    let _cleanup = Uninstall::new(&dir, &[app]);
    let install = rgen_from(
        &bin.join("rgen"),
        false,
        &["install", "--system"],
        &dir,
        &[],
    );
    if install.code == 2 {
        return Ok(());
    }
    let exec = output(
        "systemctl",
        &[
            "show",
            "-p",
            "ExecStart",
            "--value",
            &format!("{app}.service"),
        ],
    )?;
    if !exec.contains("rgen-shim") {
        return Err(format!(
            "setup: expected the shim in ExecStart (install exit {}): {exec}",
            install.code
        ));
    }
    if exec.contains(&*bin.to_string_lossy()) {
        return Err(format!(
            "HOLE: root ran alice's copy of rgen (RGEN_SHIM unset, exit {}); the system unit now runs, as root, a shim alice can rewrite: {}",
            install.code,
            exec.trim()
        ));
    }
    Ok(())
}

/// Refused (exit 2), or a warning line that names the path.
fn refused_or_warned(out: &Out, path: &Path) -> bool {
    let p = path.to_string_lossy();
    out.code == 2
        || said(out)
            .lines()
            .any(|l| l.starts_with("warning") && l.contains(&*p))
}

fn root_app_user_writable() -> TestResult {
    users()?;
    let mine = user_project(ALICE, "atk-rootapp")?;
    let interp = mine.join("interp");
    write(&interp, "#!/bin/sh\nexec /usr/bin/python3 \"$@\"\n");
    let sub = mine.join("sub");
    write(&sub.join("app.py"), REPORTER);
    give(ALICE, &mine)?;
    std::fs::set_permissions(&interp, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| e.to_string())?;
    // Root's file in alice's directory: she can rename another one over it.
    std::os::unix::fs::chown(sub.join("app.py"), Some(0), Some(0)).map_err(|e| e.to_string())?;
    let dir = root_project("atk-rootapp");
    let world = dir.join("world.py");
    write(&world, REPORTER);
    std::fs::set_permissions(&world, std::fs::Permissions::from_mode(0o666))
        .map_err(|e| e.to_string())?;
    let cases: [(&str, serde_json::Value, &Path); 4] = [
        (
            "a script alice owns",
            serde_json::json!({ "script": mine.join("reporter.py") }),
            &mine.join("reporter.py"),
        ),
        (
            "an interpreter alice owns",
            serde_json::json!({ "script": dir.join("reporter.py"), "exec_interpreter": interp }),
            &interp,
        ),
        (
            "a world-writable script",
            serde_json::json!({ "script": world }),
            &world,
        ),
        (
            "root's script in a directory alice owns",
            serde_json::json!({ "script": sub.join("app.py") }),
            &sub.join("app.py"),
        ),
    ];
    let mut holes = Holes::default();
    for (what, keys, path) in cases {
        let mut app = serde_json::json!({ "name": "atk-rootapp", "uid": "root" });
        for (k, v) in keys.as_object().into_iter().flatten() {
            app[k] = v.clone();
        }
        ecosystem(&dir, serde_json::json!([app]));
        let out = rgen_root(&["check", "--system"], &dir, &[]);
        if !refused_or_warned(&out, path) {
            holes.add(format!(
                "an app running as root with {what} ({}): check exited {} with no warning naming it",
                path.display(),
                out.code
            ));
        }
    }
    holes.result()
}

fn user_app_other_writable() -> TestResult {
    users()?;
    let bobs = user_project(BOB, "atk-bobscript")?;
    let script = bobs.join("reporter.py");
    let dir = user_project(ALICE, "atk-aliceapp")?;
    ecosystem(
        &dir,
        serde_json::json!([{ "name": "atk-aliceapp", "script": script }]),
    );
    give(ALICE, &dir)?;
    let out = rgen_root(&["check", "--system"], &dir, &[AS_ALICE]);
    if !refused_or_warned(&out, &script) {
        return Err(format!(
            "HOLE: alice's app runs {} which bob can rewrite; check (SUDO_USER=alice) exited {} with no warning naming it",
            script.display(),
            out.code
        ));
    }
    Ok(())
}

// ---- 12. Report only ----

/// Prints `systemd-analyze security` of the azak example's units as rgen renders them by
/// default for `sudo rgen install` (SUDO_USER=alice), and the overall score when plain root
/// renders them; passes whatever it says (a hardened profile comes later).
fn security_report() -> TestResult {
    users()?;
    let example = repo().join("examples/azak/ecosystem.config.js");
    for (who, env, full) in [
        ("sudo (SUDO_USER=alice)", &[AS_ALICE][..], true),
        (
            "plain root (--run-as root)",
            &[("RGEN_RUN_AS", "root")][..],
            false,
        ),
    ] {
        let out_dir = workdir(if full {
            "atk-security-sudo"
        } else {
            "atk-security-root"
        });
        rgen_root(
            &[
                "render",
                &example.to_string_lossy(),
                "--systemd",
                "--system",
                "--out",
                &out_dir.to_string_lossy(),
            ],
            &out_dir,
            env,
        )
        .ok()?;
        let mut services: Vec<PathBuf> = std::fs::read_dir(&out_dir)
            .map_err(|e| e.to_string())?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "service"))
            .collect();
        services.sort();
        for s in services {
            let out = Command::new("systemd-analyze")
                .args(["security", "--offline=yes", "--no-pager"])
                .arg(&s)
                .output()
                .map_err(|e| e.to_string())?;
            let text = String::from_utf8_lossy(&out.stdout);
            let name = s.file_name().unwrap_or_default().to_string_lossy();
            if full {
                println!(
                    "\n== systemd-analyze security {name}, rendered for {who} ==\n{}",
                    text.trim_end()
                );
            } else if let Some(overall) = text.lines().find(|l| l.contains("Overall exposure")) {
                println!("{overall} (rendered for {who})");
            }
            if !out.stderr.is_empty() {
                println!("{}", String::from_utf8_lossy(&out.stderr).trim_end());
            }
        }
    }
    Ok(())
}
