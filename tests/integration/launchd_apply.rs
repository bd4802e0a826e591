//! `rgen install|status|uninstall --launchd` end to end on Linux, against a fake `launchctl` that
//! records its calls and answers with real outputs recorded from macOS (tests/fixtures/launchctl).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::follower::Follower;
use crate::support::{KillOnDrop, TEST_PATH, repo, run, shim};

pub(crate) struct Mac {
    pub home: tempfile::TempDir,
    pub state: PathBuf,
    /// Jobs really run (the fake is a tiny launchd, see its docstring).
    pub running: bool,
}

impl Drop for Mac {
    fn drop(&mut self) {
        if self.running {
            let _ = Command::new(repo().join("tests/integration/fake-launchctl"))
                .arg("__shutdown")
                .env("RGEN_FAKE_LAUNCHCTL_STATE", &self.state)
                .status();
        }
    }
}

impl Mac {
    pub fn new() -> Mac {
        let home = tempfile::tempdir().unwrap();
        let state = home.path().join("launchctl-state");
        std::fs::create_dir_all(state.join("print")).unwrap();
        Mac {
            home,
            state,
            running: false,
        }
    }

    /// A Mac whose launchd runs the jobs, with a shim that behaves as on macOS (no
    /// `PR_SET_PDEATHSIG`: an app outlives a SIGKILLed shim).
    pub fn running() -> Mac {
        let mut mac = Mac::new();
        mac.running = true;
        mac
    }

    pub fn rgen(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rgen"));
        cmd.current_dir(repo())
            .env_clear()
            .env("PATH", TEST_PATH)
            .env("HOME", self.home.path())
            .env("RGEN_SHIM", shim())
            .env(
                "RGEN_LAUNCHCTL",
                repo().join("tests/integration/fake-launchctl"),
            )
            .env("RGEN_FAKE_LAUNCHCTL_STATE", &self.state)
            .env("NO_COLOR", "1");
        if self.running {
            cmd.env("RGEN_FAKE_LAUNCHD", "run")
                .env("RGEN_SHIM_NO_PDEATHSIG", "1");
        }
        cmd
    }

    /// `launchctl` itself, as launchd would run it when a calendar or a watched path fires.
    pub fn launchctl(&self, args: &[&str]) -> crate::support::Output {
        let mut cmd = Command::new(repo().join("tests/integration/fake-launchctl"));
        cmd.args(args)
            .env("RGEN_FAKE_LAUNCHCTL_STATE", &self.state)
            .env("HOME", self.home.path())
            .env("PATH", TEST_PATH);
        if self.running {
            cmd.env("RGEN_FAKE_LAUNCHD", "run")
                .env("RGEN_SHIM_NO_PDEATHSIG", "1");
        }
        run(&mut cmd)
    }

    /// `rgen install FILE --launchd --user`.
    pub fn install(&self, file: &Path) -> crate::support::Output {
        run(self
            .rgen()
            .arg("install")
            .arg(file)
            .args(["--launchd", "--user"]))
    }

    pub fn agents(&self) -> PathBuf {
        self.home.path().join("Library/LaunchAgents")
    }

    pub fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.state.join("calls.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn plists(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.agents())
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }
}

pub(crate) fn uid() -> u32 {
    // SAFETY: getuid has no preconditions.
    unsafe { libc::getuid() }
}

const AZAK: &str = "examples/azak/ecosystem.config.js";
const LABELS: [&str; 3] = ["rgen.azak-backend", "rgen.azak-frontend", "rgen.azak-ngrok"];

#[test]
fn azak_installs_as_three_agents_idempotently_and_uninstalls() {
    let mac = Mac::new();
    let out = run(mac.rgen().args(["install", AZAK, "--launchd", "--user"]));
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let expected: Vec<String> = LABELS.iter().map(|l| format!("{l}.plist")).collect();
    assert_eq!(mac.plists(), expected);
    let domain = format!("gui/{}", uid());
    for label in LABELS {
        let plist = mac.agents().join(format!("{label}.plist"));
        let job = rgen::backend::launchd::render::parse(&std::fs::read(&plist).unwrap()).unwrap();
        assert!(job.run_at_load, "{label}: RunAtLoad");
        assert!(job.keep_alive.is_some(), "{label}: KeepAlive");
        // launchd refuses agents that are group- or world-writable; one that carries
        // environment values is its owner's alone.
        use std::os::unix::fs::PermissionsExt as _;
        let expected = if job.environment_variables.is_empty() {
            0o644
        } else {
            0o600
        };
        assert_eq!(
            std::fs::metadata(&plist).unwrap().permissions().mode() & 0o777,
            expected
        );
        let calls = mac.calls();
        assert!(
            calls.contains(&format!("enable {domain}/{label}")),
            "{calls:?}"
        );
        assert!(
            calls.contains(&format!("bootstrap {domain} {}", plist.display())),
            "{calls:?}"
        );
    }
    // Log directories exist before the first start.
    assert!(repo().join("examples/azak/logs").is_dir() || out.stdout.contains("logs"));

    let bootstraps = |m: &Mac| {
        m.calls()
            .iter()
            .filter(|c| c.starts_with("bootstrap"))
            .count()
    };
    assert_eq!(bootstraps(&mac), 3);
    let mtime = |m: &Mac| {
        std::fs::metadata(m.agents().join("rgen.azak-backend.plist"))
            .unwrap()
            .modified()
            .unwrap()
    };
    let before = mtime(&mac);
    let again = run(mac.rgen().args(["install", AZAK, "--launchd", "--user"]));
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(
        bootstraps(&mac),
        3,
        "an unchanged reinstall loaded something again"
    );
    assert_eq!(
        mtime(&mac),
        before,
        "an unchanged reinstall rewrote a plist"
    );
    assert!(again.stdout.contains("nothing changed"), "{}", again.stdout);

    let out = run(mac
        .rgen()
        .args(["uninstall", "--all", "--launchd", "--user"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(mac.plists().is_empty(), "left behind: {:?}", mac.plists());
    for label in LABELS {
        assert!(
            mac.calls().contains(&format!("bootout {domain}/{label}")),
            "{:?}",
            mac.calls()
        );
    }
}

#[test]
fn status_reads_recorded_print_outputs() {
    let mac = Mac::new();
    assert_eq!(
        run(mac.rgen().args(["install", AZAK, "--launchd", "--user"])).code,
        0
    );
    let answers = [
        (
            "rgen.azak-backend",
            "dumpstate_block_system_running_never_exited_macos26",
        ),
        (
            "rgen.azak-frontend",
            "dumpstate_block_system_not_running_exit1_macos26",
        ),
        (
            "rgen.azak-ngrok",
            "dumpstate_block_system_not_running_signal9_macos26",
        ),
    ];
    for (label, fixture) in answers {
        std::fs::write(mac.state.join("print").join(label), fixture).unwrap();
    }
    let out = run(mac.rgen().args(["status", "--json", "--launchd", "--user"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let app = |name: &str| {
        report["apps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == name)
            .unwrap()
            .clone()
    };
    let backend = app("azak-backend");
    assert_eq!(backend["status"], "online");
    assert_eq!(backend["pid"], 550);
    assert_eq!(backend["restarts"], 0);
    let frontend = app("azak-frontend");
    assert_eq!(frontend["status"], "errored");
    assert_eq!(frontend["units"][0]["result"], "exit 1");
    assert_eq!(frontend["units"][0]["exit_status"], 1);
    let ngrok = app("azak-ngrok");
    assert_eq!(ngrok["status"], "errored");
    assert_eq!(ngrok["units"][0]["result"], "signal Killed: 9");
    // The table too.
    let table = run(mac.rgen().args(["status", "--launchd", "--user"]));
    assert!(
        table.stdout.contains("azak-backend") && table.stdout.contains("online"),
        "{}",
        table.stdout
    );
}

#[test]
fn without_a_gui_session_the_jobs_go_to_the_user_domain_and_stay_there() {
    // Over ssh with nobody at the screen, `gui/<uid>` does not exist: bootstrap says 125.
    let mac = Mac::new();
    let out = run(mac
        .rgen()
        .args(["install", AZAK, "--launchd", "--user"])
        .env("RGEN_FAKE_NO_GUI", "1"));
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("failed (125)") && out.stderr.contains("RGEN_LAUNCHD_DOMAIN=user"),
        "{}",
        out.stderr
    );
    // Told (as rgen decides by itself on a Mac whose console is someone else's), rgen uses the
    // background session: every plist says so, so a later GUI login cannot load them again.
    let user_domain = format!("user/{}", uid());
    let rgen = |args: &[&str]| {
        run(mac
            .rgen()
            .args(args)
            .args(["--launchd", "--user"])
            .env("RGEN_FAKE_NO_GUI", "1")
            .env("RGEN_LAUNCHD_DOMAIN", "user"))
    };
    let out = rgen(&["install", AZAK]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains(&user_domain) && out.stdout.contains("--system"),
        "{}",
        out.stdout
    );
    for label in LABELS {
        let plist = mac.agents().join(format!("{label}.plist"));
        let job = rgen::backend::launchd::render::parse(&std::fs::read(&plist).unwrap()).unwrap();
        assert_eq!(
            job.limit_load_to_session_type.as_deref(),
            Some("Background"),
            "{label}"
        );
        assert!(
            mac.calls()
                .contains(&format!("bootstrap {user_domain} {}", plist.display())),
            "{:?}",
            mac.calls()
        );
    }
    // Every later verb finds them there, with or without the variable.
    let before = mac.calls().len();
    for args in [
        &["status", "--json"][..],
        &["restart", "azak-ngrok"],
        &["stop", "azak-ngrok"],
        &["start", "azak-ngrok"],
    ] {
        let out = run(mac.rgen().args(args).args(["--launchd", "--user"]));
        assert_eq!(out.code, 0, "{args:?}: {}\n{}", out.stdout, out.stderr);
    }
    let later = &mac.calls()[before..];
    assert!(
        later.iter().all(|c| !c.contains("gui/")),
        "a verb talked to gui/: {later:?}"
    );
    assert!(
        later.contains(&format!("bootout {user_domain}/rgen.azak-ngrok")),
        "{later:?}"
    );
}

#[test]
fn install_starts_the_apps_but_never_their_cron_and_watch_jobs() {
    // Starting a helper runs its restart command at once: only loading is right.
    let mac = Mac::new();
    // Neither bootstrap started `nightly` nor the helpers; `watched` runs (the default answer).
    for label in [
        "rgen.nightly",
        "rgen.nightly.cron-restart",
        "rgen.watched.watch",
    ] {
        mac.not_started(label);
    }
    let file = repo().join("tests/fixtures/ecosystems/cron-watch/ecosystem.config.js");
    let out = mac.install(&file);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let domain = format!("gui/{}", uid());
    let calls = mac.calls();
    for helper in ["rgen.nightly.cron-restart", "rgen.watched.watch"] {
        let plist = mac.agents().join(format!("{helper}.plist"));
        assert!(
            calls.contains(&format!("bootstrap {domain} {}", plist.display())),
            "{calls:?}"
        );
        assert!(
            !calls
                .iter()
                .any(|c| c.starts_with("kickstart") && c.ends_with(helper)),
            "a helper was started: {calls:?}"
        );
    }
    assert!(
        calls.contains(&format!("kickstart {domain}/rgen.nightly")),
        "{calls:?}"
    );
    // One bootstrap started is not started again: it may be a crash loop the shim gave up on.
    assert!(
        !calls.contains(&format!("kickstart {domain}/rgen.watched")),
        "{calls:?}"
    );
    // The helpers restart gracefully, wait `watch_delay`, and say what they did in a log.
    let watch = rgen::backend::launchd::render::parse(
        &std::fs::read(mac.agents().join("rgen.watched.watch.plist")).unwrap(),
    )
    .unwrap();
    let script = &watch.program_arguments[2];
    assert!(script.contains("launchctl kill SIGURG"), "{script}");
    assert!(!script.contains("kickstart -k"), "{script}");
    assert!(script.contains("sleep 1.500"), "{script}");
    assert!(
        watch
            .standard_out_path
            .as_deref()
            .is_some_and(|p| p.ends_with("Library/Logs/rgen/watched.watch.log")),
        "{watch:?}"
    );
}

#[test]
fn a_bootout_in_progress_is_waited_out() {
    // `Boot-out failed: 36: Operation now in progress` while the job is still exiting.
    let mac = Mac::new();
    assert_eq!(mac.install(&repo().join(AZAK)).code, 0);
    mac.queue_answers(
        "bootout",
        &[
            "bootout_in_progress_36_catalina_beta",
            "bootout_in_progress_36_catalina_beta",
        ],
    );
    let out = run(mac
        .rgen()
        .args(["stop", "azak-ngrok", "--launchd", "--user"]));
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let service = format!("gui/{}/rgen.azak-ngrok", uid());
    let bootouts = mac
        .calls()
        .iter()
        .filter(|c| **c == format!("bootout {service}"))
        .count();
    assert_eq!(bootouts, 3, "{:?}", mac.calls());
}

#[test]
fn stop_survives_a_login_and_autostart_false_is_never_started() {
    let mac = Mac::new();
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("app.js"), "setInterval(() => {}, 1000);\n").unwrap();
    let file = tmp.path().join("ecosystem.json");
    std::fs::write(
        &file,
        serde_json::json!({"apps": [
            {"name": "on", "script": "app.js"},
            {"name": "later", "script": "app.js", "autostart": false},
        ]})
        .to_string(),
    )
    .unwrap();
    assert_eq!(mac.install(&file).code, 0);
    let domain = format!("gui/{}", uid());
    let calls = mac.calls();
    // Disabled: launchd does not load it at the next login either.
    assert!(
        calls.contains(&format!("disable {domain}/rgen.later")),
        "{calls:?}"
    );
    assert!(
        !calls
            .iter()
            .any(|c| c.starts_with("bootstrap") && c.contains("rgen.later")),
        "{calls:?}"
    );
    let before = mac.calls().len();
    let out = run(mac.rgen().args(["stop", "on", "--launchd", "--user"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("across logins and reboots"),
        "{}",
        out.stdout
    );
    let later = &mac.calls()[before..];
    assert!(
        later.contains(&format!("bootout {domain}/rgen.on"))
            && later.contains(&format!("disable {domain}/rgen.on")),
        "{later:?}"
    );
    let before = mac.calls().len();
    let out = run(mac.rgen().args(["start", "later", "--launchd", "--user"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let later = &mac.calls()[before..];
    let enable = later
        .iter()
        .position(|c| *c == format!("enable {domain}/rgen.later"));
    let bootstrap = later
        .iter()
        .position(|c| c.starts_with(&format!("bootstrap {domain} ")));
    assert!(
        enable.is_some() && enable < bootstrap,
        "enabled before it is loaded: {later:?}"
    );
}

#[test]
fn a_second_project_with_the_same_app_name_is_told_how_to_resolve_it() {
    let mac = Mac::new();
    let project = |name: &str| {
        let dir = mac.home.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("app.js"), "").unwrap();
        let file = dir.join("ecosystem.json");
        std::fs::write(
            &file,
            serde_json::json!({"apps": [{"name": "api", "script": "app.js"}]}).to_string(),
        )
        .unwrap();
        file
    };
    assert_eq!(mac.install(&project("shop")).code, 0);
    let out = mac.install(&project("blog"));
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    let text = format!("{}{}", out.stdout, out.stderr);
    for needle in [
        "group `shop`",
        "Rename the app",
        "append_env_to_name",
        "rgen uninstall api",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
}

#[test]
fn a_changed_app_is_reloaded_alone_and_foreign_plists_are_refused() {
    let mac = Mac::new();
    let tmp = tempfile::tempdir().unwrap();
    let eco = |port: u16| {
        std::fs::write(tmp.path().join("app.js"), "setInterval(() => {}, 1000);\n").unwrap();
        std::fs::write(
            tmp.path().join("ecosystem.json"),
            serde_json::json!({"apps": [
                {"name": "a", "script": "app.js", "env": {"X": "1"}},
                {"name": "b", "script": "app.js", "env": {"PORTISH": port.to_string()}},
            ]})
            .to_string(),
        )
        .unwrap();
        tmp.path().join("ecosystem.json")
    };
    let file = eco(1);
    assert_eq!(mac.install(&file).code, 0);
    let file = eco(2);
    let calls_before = mac.calls().len();
    let out = mac.install(&file);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let new_calls = &mac.calls()[calls_before..];
    let domain = format!("gui/{}", uid());
    assert!(
        new_calls.contains(&format!("bootout {domain}/rgen.b")),
        "{new_calls:?}"
    );
    // Looking (`print`) is fine; nothing may unload, load or restart the unchanged app.
    assert!(
        !new_calls
            .iter()
            .any(|c| c.contains("rgen.a") && !c.starts_with("print ")),
        "the unchanged app was touched: {new_calls:?}"
    );

    // A plist rgen did not write is never overwritten.
    let foreign = mac.agents().join("rgen.c.plist");
    std::fs::write(
        &foreign,
        "<plist><dict><key>Label</key><string>mine</string></dict></plist>",
    )
    .unwrap();
    std::fs::write(
        tmp.path().join("ecosystem.json"),
        serde_json::json!({"apps": [{"name": "c", "script": "app.js"}]}).to_string(),
    )
    .unwrap();
    let out = mac.install(&file);
    assert_eq!(out.code, 1);
    assert!(out.stdout.contains("not written by rgen"), "{}", out.stdout);
    assert!(std::fs::read_to_string(&foreign).unwrap().contains("mine"));
    let _ = Path::new(&foreign);
}

impl Mac {
    /// The next calls of `verb` answer with these recorded outputs, in order.
    /// `print` of `label` answers with a recorded job that is loaded and not running, with no
    /// run counted: what a RunAtLoad job looks like when `bootstrap` did not start it.
    pub fn not_started(&self, label: &str) {
        std::fs::write(
            self.state.join("print").join(label),
            "print_gui_fragment_ex_config",
        )
        .unwrap();
    }

    pub fn queue_answers(&self, verb: &str, fixtures: &[&str]) {
        let dir = self.state.join("answers");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(verb), fixtures.join("\n") + "\n").unwrap();
    }
}

#[test]
fn transient_bootstrap_refusals_are_retried_and_the_job_kickstarted() {
    // Field reports: `bootstrap` answers 5 or 37 for a moment after a `bootout` (and now and then
    // on a fresh load); a later try succeeds.
    let mac = Mac::new();
    mac.queue_answers(
        "bootstrap",
        &[
            "bootstrap_eio_root_hint_ventura",
            "bootstrap_in_progress_37",
        ],
    );
    for label in LABELS {
        mac.not_started(label);
    }
    let out = run(mac.rgen().args(["install", AZAK, "--launchd", "--user"]));
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let domain = format!("gui/{}", uid());
    let first = mac.agents().join(format!("{}.plist", LABELS[0]));
    let calls = mac.calls();
    let tries = calls
        .iter()
        .filter(|c| **c == format!("bootstrap {domain} {}", first.display()))
        .count();
    assert_eq!(tries, 3, "{calls:?}");
    // Every job is loaded once it succeeds, and started even if RunAtLoad did not fire.
    for label in LABELS {
        assert!(
            calls.contains(&format!("kickstart {domain}/{label}")),
            "{calls:?}"
        );
    }
}

#[test]
fn a_persistent_bootstrap_refusal_names_the_plist_and_says_what_to_try() {
    let mac = Mac::new();
    mac.queue_answers("bootstrap", &["bootstrap_eio_root_hint_ventura"; 4]);
    let out = run(mac.rgen().args(["install", AZAK, "--launchd", "--user"]));
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    let first = mac.agents().join(format!("{}.plist", LABELS[0]));
    for needle in [
        format!("launchctl bootstrap gui/{} {}", uid(), first.display()),
        "failed (5)".to_string(),
        "Input/output error".to_string(),
        "hint:".to_string(),
        "sudo launchctl bootstrap".to_string(),
    ] {
        assert!(
            out.stderr.contains(&needle),
            "missing {needle:?} in:\n{}",
            out.stderr
        );
    }
    // The plists written so far are complete (written atomically): they parse back.
    for name in mac.plists() {
        rgen::backend::launchd::render::parse(&std::fs::read(mac.agents().join(name)).unwrap())
            .unwrap();
    }
}

#[test]
fn logs_show_follow_across_rotation_and_flush() {
    use std::io::Write as _;
    use std::time::Duration;

    let mac = Mac::new();
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("app.js"), "setInterval(() => {}, 1000);\n").unwrap();
    let file = tmp.path().join("ecosystem.json");
    std::fs::write(
        &file,
        serde_json::json!({"apps": [{"name": "w", "script": "app.js",
            "out_file": "w-out.log", "error_file": "w-err.log"}]})
        .to_string(),
    )
    .unwrap();
    let out = mac.install(&file);
    assert_eq!(out.code, 0, "{}", out.stderr);
    // launchd does not run here: write what the app would have written.
    let out_log = tmp.path().join("w-out.log");
    let err_log = tmp.path().join("w-err.log");
    std::fs::write(&out_log, "one\ntwo\n").unwrap();
    std::fs::write(&err_log, "oops\n").unwrap();
    let append = |path: &Path, text: &str| {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
            .unwrap();
        f.write_all(text.as_bytes()).unwrap();
    };

    let logs = |extra: &[&str]| {
        run(mac
            .rgen()
            .args(["logs", "w", "--launchd", "--user"])
            .args(extra))
    };
    let all = logs(&[]);
    assert_eq!(all.code, 0, "{}", all.stderr);
    for line in ["w | one", "w | two", "w | oops"] {
        assert!(all.stdout.contains(line), "{line} missing:\n{}", all.stdout);
    }
    let err_only = logs(&["--err"]);
    assert!(err_only.stdout.contains("w | oops") && !err_only.stdout.contains("w | one"));
    let last = logs(&["--out", "--lines", "1"]);
    assert!(last.stdout.contains("w | two") && !last.stdout.contains("w | one"));

    let mut follower =
        Follower::spawn(
            mac.rgen()
                .args(["logs", "w", "--launchd", "--user", "--follow", "--out"]),
        )
        .unwrap();
    let mut wait_for = |wanted: &str| {
        follower
            .wait_for(wanted, Duration::from_secs(20))
            .unwrap_or_else(|e| panic!("{e}"))
            .to_vec()
    };
    // History first, then what is appended.
    wait_for("w | two");
    append(&out_log, "three\n");
    wait_for("w | three");
    // A rotation by rename: the old file's last line, then the new file from its start.
    append(&out_log, "four\n");
    std::fs::rename(&out_log, tmp.path().join("w-out.log.1")).unwrap();
    append(&out_log, "five\n");
    let seen_now = wait_for("w | five");
    let pos = |w: &str| seen_now.iter().position(|l| l.contains(w));
    assert!(
        pos("w | four").is_some() && pos("w | four") < pos("w | five"),
        "{seen_now:?}"
    );
    // Emptied in place (`rgen flush`): followed from the top again.
    let flushed = run(mac.rgen().args(["flush", "w", "--launchd", "--user"]));
    assert_eq!(flushed.code, 0, "{}", flushed.stderr);
    assert!(flushed.stdout.contains("emptied"), "{}", flushed.stdout);
    assert_eq!(std::fs::metadata(&out_log).unwrap().len(), 0);
    assert_eq!(std::fs::metadata(&err_log).unwrap().len(), 0);
    // Shorter than what was read, so the follower sees it shrank even if it looks late.
    append(&out_log, "six\n");
    wait_for("w | six");
}

#[test]
fn status_finds_the_app_behind_the_shim_with_its_memory_cpu_and_uptime() {
    let mac = Mac::new();
    assert_eq!(
        run(mac.rgen().args(["install", AZAK, "--launchd", "--user"])).code,
        0
    );
    // A live stand-in for what launchd would run: rgen-shim in front of a program.
    let shim_process = KillOnDrop(
        Command::new(shim())
            .args(["--name", "azak-backend", "--", "/bin/sleep", "60"])
            .spawn()
            .unwrap(),
    );
    let shim_pid = shim_process.0.id();
    let pid_dir = mac.state.join("pid");
    std::fs::create_dir_all(&pid_dir).unwrap();
    std::fs::write(pid_dir.join("rgen.azak-backend"), shim_pid.to_string()).unwrap();
    let children = || {
        std::fs::read_to_string(format!("/proc/{shim_pid}/task/{shim_pid}/children"))
            .unwrap_or_default()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while children().trim().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the shim never started sleep"
        );
        std::thread::sleep(std::time::Duration::from_millis(10)); // poll interval
    }
    let app_pid: u64 = children()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();

    let out = run(mac.rgen().args(["status", "--json", "--launchd", "--user"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let backend = report["apps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "azak-backend")
        .unwrap();
    let unit = &backend["units"][0];
    assert_eq!(backend["pid"], app_pid, "{backend}");
    assert_eq!(unit["main_pid"], shim_pid, "{backend}");
    assert!(backend["memory_bytes"].as_u64().unwrap() > 0, "{backend}");
    assert!(unit["cpu_ns"].is_u64(), "{backend}");
    assert!(backend["uptime_ms"].is_u64(), "{backend}");
}

#[test]
fn system_daemons_get_directories_of_their_own_user_and_no_foreign_symlink_is_followed() {
    use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
    let mac = Mac::new();
    let root = mac.home.path().join("root");
    let project = mac.home.path().join("project");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(project.join("app.js"), "").unwrap();
    let file = project.join("ecosystem.json");
    std::fs::write(
        &file,
        serde_json::json!({"apps": [{"name": "d", "script": "app.js", "out_file": "logs/out.log"}]})
            .to_string(),
    )
    .unwrap();
    let install = |file: &Path| {
        run(mac
            .rgen()
            .arg("install")
            .arg(file)
            .args(["--launchd", "--system"])
            .env("RGEN_LAUNCHD_ROOT", &root)
            .env("RGEN_RUN_AS", "nobody"))
    };
    let out = install(&file);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let (nobody, _) = rgen::apply::users::lookup_user("nobody").unwrap();
    // launchd starts the shim as `nobody`, who opens the log files: the directory is theirs.
    let logs = std::fs::metadata(project.join("logs")).unwrap();
    assert_eq!(
        (logs.uid(), logs.permissions().mode() & 0o777),
        (nobody, 0o750)
    );
    let run_dir = root.join("Library/Application Support/rgen/run");
    assert_eq!(std::fs::metadata(&run_dir).unwrap().uid(), 0);
    assert_eq!(
        std::fs::metadata(run_dir.join("nobody")).unwrap().uid(),
        nobody
    );
    let plist = root.join("Library/LaunchDaemons/rgen.d.plist");
    let job = rgen::backend::launchd::render::parse(&std::fs::read(&plist).unwrap()).unwrap();
    assert_eq!(job.user_name.as_deref(), Some("nobody"));
    assert_eq!(job.environment_variables["USER"], "nobody");
    assert_eq!(job.environment_variables["LOGNAME"], "nobody");
    assert!(job.environment_variables.contains_key("HOME"), "{job:?}");
    // launchd may open these as root: nothing in a directory the app's user can change.
    assert_eq!(job.standard_out_path.as_deref(), Some("/dev/null"));
    assert_eq!(job.limit_load_to_session_type, None);
    assert!(
        mac.calls()
            .contains(&format!("bootstrap system {}", plist.display())),
        "{:?}",
        mac.calls()
    );
    assert!(out.stdout.contains("FileVault"), "{}", out.stdout);

    // A log directory behind a symlink another user can replace (in a directory of theirs) is
    // refused, not followed.
    let elsewhere = mac.home.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    let trap = mac.home.path().join("trap");
    std::fs::create_dir_all(trap.join("theirs")).unwrap();
    std::fs::write(trap.join("app.js"), "").unwrap();
    std::os::unix::fs::symlink(&elsewhere, trap.join("theirs/logs")).unwrap();
    let (other, _) = rgen::apply::users::lookup_user("daemon").unwrap();
    std::os::unix::fs::chown(trap.join("theirs"), Some(other), None).unwrap();
    let file = trap.join("ecosystem.json");
    std::fs::write(
        &file,
        serde_json::json!({"apps": [{"name": "t", "script": "app.js", "out_file": "theirs/logs/out.log"}]})
            .to_string(),
    )
    .unwrap();
    let out = install(&file);
    assert_ne!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("daemon"), "{}", out.stderr);
    assert_eq!(std::fs::metadata(&elsewhere).unwrap().uid(), 0);
    assert!(!root.join("Library/LaunchDaemons/rgen.t.plist").exists());
}
