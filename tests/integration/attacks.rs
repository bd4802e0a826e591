//! Issue #9, at the command line: input that would break, or turn against the machine, once a
//! real manager runs it. Each test states a guarantee; each failed on the code before the fix
//! (commit ace1f47) and holds now. (The attacks that need a booted systemd and other users live
//! in `tests/systemd/attacks.rs`.)
//!
//! Every check goes through rgen's CLI: exit status, what it prints, what it writes.

use std::path::{Path, PathBuf};

use crate::support::{rgen, run};

/// The target rgen compiles for as root on a server; the version is fixed so that no test
/// depends on the machine's systemd.
const SYSTEM: [&str; 4] = ["--systemd", "--system", "--systemd-version", "252"];

fn system_args(verb: &str, file: &Path) -> Vec<String> {
    let mut args = vec![verb.to_string(), file.to_string_lossy().into_owned()];
    args.extend(SYSTEM.iter().map(|s| s.to_string()));
    args
}

/// A scratch project: a Python script (resolved without node) and the ecosystem file.
fn project(file_name: &str, text: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("app.py"),
        "import time\nwhile True:\n    time.sleep(3600)\n",
    )
    .unwrap();
    let file = tmp.path().join(file_name);
    std::fs::write(&file, text).unwrap();
    (tmp, file)
}

fn json_project(apps: serde_json::Value) -> (tempfile::TempDir, PathBuf) {
    project(
        "ecosystem.json",
        &serde_json::json!({ "apps": apps }).to_string(),
    )
}

struct Verdict {
    code: i32,
    text: String,
}

fn check(file: &Path) -> Verdict {
    let out = run(rgen()
        .args(system_args("check", file))
        .current_dir(file.parent().unwrap()));
    Verdict {
        code: out.code,
        text: format!("{}{}", out.stdout, out.stderr),
    }
}

/// Refused as bad input (exit 2), with the app and the key named.
fn refused_naming(v: &Verdict, app: &str, key: &str) -> bool {
    v.code == 2 && v.text.contains(app) && v.text.contains(key)
}

/// Collects every case of a test that does not hold, and fails once with all of them.
#[derive(Default)]
struct Holes(Vec<String>);

impl Holes {
    fn add(&mut self, hole: String) {
        self.0.push(hole);
    }

    fn assert_none(self) {
        assert!(
            self.0.is_empty(),
            "HOLE (issue #9):\n  - {}",
            self.0.join("\n  - ")
        );
    }
}

fn excerpt(text: &str) -> String {
    let t: String = text.chars().take(400).collect();
    t.replace('\n', "\n      ")
}

// ---- class 2c: log paths in system directories ----

#[test]
fn a_log_path_under_a_system_directory_is_refused_at_check() {
    let mut holes = Holes::default();
    for (app, key, path) in [
        ("atk-cron", "out_file", "/etc/cron.d/atk.log"),
        (
            "atk-dropin",
            "out_file",
            "/etc/systemd/system/victim.service.d/x.log",
        ),
        ("atk-usr", "error_file", "/usr/lib/atk/err.log"),
        ("atk-boot", "log_file", "/boot/atk.log"),
        ("atk-proc", "out_file", "/proc/atk.log"),
        ("atk-sys", "error_file", "/sys/atk.log"),
        ("atk-dev", "out_file", "/dev/atk.log"),
    ] {
        let (_tmp, file) = project(
            "ecosystem.yml",
            &format!("apps:\n  - name: {app}\n    script: app.py\n    {key}: {path}\n"),
        );
        let v = check(&file);
        if !refused_naming(&v, app, key) {
            holes.add(format!(
                "`{key}: {path}` was not refused at check (exit {}, expected 2 naming `{app}` and `{key}`):\n      {}",
                v.code,
                excerpt(&v.text)
            ));
        }
    }
    holes.assert_none();
}

// ---- class 3: a .json file that is JavaScript ----

#[test]
fn a_json_file_json5_cannot_parse_is_never_handed_to_node() {
    if which_node().is_none() {
        eprintln!("no node on PATH: nothing could evaluate the file");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("app.py"), "print(1)\n").unwrap();
    let marker = tmp.path().join("pwned");
    // Valid JavaScript (a comma expression), not JSON: PM2 would `vm.runInThisContext` it.
    let text = format!(
        "(process.getBuiltinModule || require)('fs').writeFileSync({marker:?}, String(process.getuid())), {{\"apps\": [{{\"name\": \"atk-json\", \"script\": \"app.py\"}}]}}\n",
        marker = marker.to_string_lossy()
    );
    let file = tmp.path().join("x.json");
    std::fs::write(&file, text).unwrap();
    let mut holes = Holes::default();
    for verb in ["check", "render"] {
        let out = run(rgen()
            .args(system_args(verb, &file))
            .current_dir(tmp.path()));
        if marker.exists() {
            holes.add(format!(
                "`rgen {verb} x.json` ran the file's code through node (marker written; exit {})",
                out.code
            ));
            let _ = std::fs::remove_file(&marker);
        }
        if out.code != 2 {
            holes.add(format!(
                "`rgen {verb} x.json` (not JSON) exited {}, expected 2:\n      {}",
                out.code,
                excerpt(&out.stderr)
            ));
        }
    }
    holes.assert_none();
}

fn which_node() -> Option<PathBuf> {
    crate::support::TEST_PATH
        .split(':')
        .map(|d| Path::new(d).join("node"))
        .find(|p| p.exists())
}

// ---- class 4: values a unit file line cannot hold ----

/// Rendered unit files, as `(file name, text)`, or the refusal.
fn render(file: &Path) -> Result<Vec<(String, String)>, Verdict> {
    let out = run(rgen()
        .args(system_args("render", file))
        .current_dir(file.parent().unwrap()));
    if out.code != 0 {
        return Err(Verdict {
            code: out.code,
            text: format!("{}{}", out.stdout, out.stderr),
        });
    }
    let mut files = Vec::new();
    for chunk in out.stdout.split("==> ").skip(1) {
        let (head, body) = chunk.split_once(" <==\n").unwrap_or((chunk, ""));
        files.push((head.to_string(), body.to_string()));
    }
    Ok(files)
}

#[test]
fn line_valued_settings_never_end_in_a_backslash() {
    let mut holes = Holes::default();
    let cases: Vec<(&str, &str, serde_json::Value)> = vec![
        ("atk-bs-cwd", "cwd", serde_json::json!("w\\")),
        ("atk-bs-out", "out_file", serde_json::json!("o\\")),
        ("atk-bs-err", "error_file", serde_json::json!("e\\")),
        ("atk-bs-log", "log_file", serde_json::json!("l\\")),
        ("atk-bs-watch", "watch", serde_json::json!(["a\\", "b"])),
        ("atk-bs-ns", "namespace", serde_json::json!("ns\\")),
        ("atk-bs-uid", "uid", serde_json::json!("root\\")),
        ("atk-bs-name\\", "name", serde_json::json!("atk-bs-name\\")),
    ];
    for (app, key, value) in cases {
        let tmp = tempfile::tempdir().unwrap();
        for d in ["w\\", "a\\", "b"] {
            std::fs::create_dir_all(tmp.path().join(d)).unwrap();
        }
        let script = tmp.path().join("app.py");
        std::fs::write(&script, "print(1)\n").unwrap();
        let mut obj = serde_json::json!({ "name": app, "script": script });
        obj[key] = value.clone();
        let file = tmp.path().join("ecosystem.json");
        std::fs::write(&file, serde_json::json!({ "apps": [obj] }).to_string()).unwrap();
        match render(&file) {
            Err(v) if refused_naming(&v, app.trim_end_matches('\\'), key) => {}
            Err(v) => holes.add(format!(
                "`{key}: {value}` refused without naming the app and `{key}` (exit {}):\n      {}",
                v.code,
                excerpt(&v.text)
            )),
            Ok(files) => {
                for (name, text) in files {
                    for line in text.lines().filter(|l| l.ends_with('\\')) {
                        holes.add(format!(
                            "`{key}: {value}` left `{line}` in {name}: systemd joins the next line onto it"
                        ));
                    }
                }
            }
        }
    }
    holes.assert_none();
}

#[test]
fn awkward_path_values_are_refused_with_file_app_and_key() {
    let mut holes = Holes::default();
    let long = "x".repeat(130 * 1024);
    for (key, raw) in [
        ("cwd", "\"w\\r\""),
        ("out_file", "\"o\\r.log\""),
        ("error_file", "\"e\\u0000.log\""),
        ("cwd", "\"w\\u0000\""),
        ("out_file", "\"o\\ud800.log\""),
        ("error_file", &*format!("\"{long}\"")),
    ] {
        let app = "atk-awkward";
        let (tmp, file) = project("ecosystem.json", "");
        // The directory exists and the script path is absolute, so that only the character itself
        // can be the reason to refuse.
        std::fs::create_dir_all(tmp.path().join("w\r")).unwrap();
        let script = serde_json::json!(tmp.path().join("app.py"));
        std::fs::write(
            &file,
            format!(
                "{{\"apps\": [{{\"name\": \"{app}\", \"script\": {script}, \"{key}\": {raw}}}]}}"
            ),
        )
        .unwrap();
        let shown: String = raw.chars().take(24).collect();
        match render(&file) {
            Err(v) if refused_naming(&v, app, key) && v.text.contains("ecosystem.json") => {}
            // A lone surrogate cannot reach the model; a parse error naming the file is the most
            // that can be said.
            Err(v)
                if raw.contains("\\ud800") && v.code == 2 && v.text.contains("ecosystem.json") => {}
            Err(v) => holes.add(format!(
                "`{key}: {shown}…` refused without naming file, app and key (exit {}):\n      {}",
                v.code,
                excerpt(&v.text)
            )),
            Ok(files) => {
                let joined: String = files.iter().map(|(_, t)| t.as_str()).collect();
                if joined.contains('\r') || joined.contains('\0') || joined.contains('\u{fffd}') {
                    holes.add(format!(
                        "`{key}: {shown}…` was rendered with a CR, NUL or replacement character in a unit file"
                    ));
                } else if raw.len() > 128 * 1024 {
                    holes.add(format!(
                        "`{key}` of {} bytes was accepted (systemd refuses paths over PATH_MAX)",
                        raw.len()
                    ));
                } else {
                    holes.add(format!(
                        "`{key}: {shown}…` was accepted and changed on the way into the unit file"
                    ));
                }
            }
        }
    }
    holes.assert_none();
}

// ---- class 8: accepted at check, broken at runtime ----

#[test]
fn nul_bytes_in_args_and_env_are_refused_at_check() {
    let mut holes = Holes::default();
    for (app, key, obj) in [
        (
            "atk-nul-args",
            "args",
            serde_json::json!({ "args": ["a\u{0}b"] }),
        ),
        (
            "atk-nul-env",
            "env",
            serde_json::json!({ "env": { "X": "a\u{0}b" } }),
        ),
        (
            "atk-nul-name",
            "env",
            serde_json::json!({ "env": { "X\u{0}Y": "1" } }),
        ),
    ] {
        let mut app_obj = serde_json::json!({ "name": app, "script": "app.py" });
        for (k, v) in obj.as_object().unwrap() {
            app_obj[k] = v.clone();
        }
        let (_tmp, file) = json_project(serde_json::json!([app_obj]));
        let v = check(&file);
        if !refused_naming(&v, app, key) {
            holes.add(format!(
                "a NUL byte in `{key}` was not refused (exit {}); execve cannot pass it and systemd rejects `\\x00`:\n      {}",
                v.code,
                excerpt(&v.text)
            ));
        }
    }
    holes.assert_none();
}

#[test]
fn env_values_over_128_kib_are_refused_at_check() {
    let (_tmp, file) = json_project(serde_json::json!([{
        "name": "atk-e2big", "script": "app.py", "env": { "BIG": "x".repeat(128 * 1024 + 100) }
    }]));
    let v = check(&file);
    assert!(
        refused_naming(&v, "atk-e2big", "BIG"),
        "HOLE: an env value over 128 KiB (MAX_ARG_STRLEN; execve fails with E2BIG) was not refused naming the app and the variable (exit {}):\n{}",
        v.code,
        excerpt(&v.text)
    );
}

#[test]
fn unit_lines_over_1_mib_are_refused_at_check() {
    // Each argument is under 128 KiB, so only the line length is at fault.
    let args: Vec<String> = (0..10)
        .map(|i| format!("{i}{}", "y".repeat(110 * 1024)))
        .collect();
    let (_tmp, file) = json_project(serde_json::json!([{
        "name": "atk-longline", "script": "app.py", "args": args
    }]));
    let v = check(&file);
    assert!(
        refused_naming(&v, "atk-longline", "args"),
        "HOLE: an ExecStart= line over 1 MiB (systemd refuses to load the unit) was not refused naming `args` (exit {}):\n{}",
        v.code,
        excerpt(&v.text)
    );
}

#[test]
fn invalid_users_are_refused_at_check() {
    let mut holes = Holes::default();
    // 65535 is (uid_t)-1 as 16 bits and never a user; `-1` and `a/b` are not user names.
    for user in ["65535", "-1", "a/b"] {
        let (_tmp, file) = json_project(serde_json::json!([{
            "name": "atk-baduser", "script": "app.py", "uid": user
        }]));
        let v = check(&file);
        if !refused_naming(&v, "atk-baduser", "uid") {
            holes.add(format!(
                "`uid: {user}` was not refused naming `uid` (exit {}):\n      {}",
                v.code,
                excerpt(&v.text)
            ));
        }
    }
    holes.assert_none();
}

#[test]
fn helper_units_that_collide_with_an_app_are_refused_at_check() {
    let (_tmp, file) = json_project(serde_json::json!([
        { "name": "atk-web", "script": "app.py", "cron_restart": "0 3 * * *" },
        { "name": "atk-web-cron-restart", "script": "app.py" },
    ]));
    let v = check(&file);
    assert!(
        v.code == 2 && v.text.contains("atk-web-cron-restart"),
        "HOLE: `atk-web`'s cron helper and the app `atk-web-cron-restart` both need atk-web-cron-restart.service; check exited {}:\n{}",
        v.code,
        excerpt(&v.text)
    );
}

#[test]
fn escape_sequences_from_the_config_are_never_echoed_raw() {
    // Sequences rgen never prints itself: clear screen, an OSC title change, a bell.
    const FOREIGN: [&str; 3] = ["\u{1b}[2J", "\u{1b}]0;pwned", "\u{7}"];
    let nasty = "\u{1b}[2J\u{1b}]0;pwned\u{7}";
    let mut holes = Holes::default();
    let files = [
        // In a warning (unknown key), in errors (a bad value, a missing script, a bad name).
        serde_json::json!([{ "name": "atk-esc", "script": "app.py", format!("k{nasty}"): 1 }]),
        serde_json::json!([{ "name": "atk-esc", "script": "app.py", "exec_mode": format!("swarm{nasty}") }]),
        serde_json::json!([{ "name": "atk-esc", "script": format!("missing{nasty}.py") }]),
        serde_json::json!([{ "name": format!("atk-esc{nasty}"), "script": "app.py" }]),
        serde_json::json!([{ "name": "atk-esc", "script": "app.py", "env": { format!("A{nasty}"): "1" } }]),
    ];
    for apps in files {
        let (_tmp, file) = json_project(apps.clone());
        for verb in ["check", "render"] {
            // As on a colour terminal: escape sequences are passed through, not stripped.
            let out = run(rgen()
                .args(system_args(verb, &file))
                .current_dir(file.parent().unwrap())
                .env_remove("NO_COLOR")
                .env("CLICOLOR_FORCE", "1"));
            for (stream, text) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
                if FOREIGN.iter().any(|f| text.contains(f)) {
                    let shown = text.replace('\u{1b}', "<ESC>").replace('\u{7}', "<BEL>");
                    holes.add(format!(
                        "`rgen {verb}` echoed a raw escape sequence from the config on {stream}:\n      {}",
                        excerpt(&shown)
                    ));
                }
            }
        }
    }
    holes.assert_none();
}
