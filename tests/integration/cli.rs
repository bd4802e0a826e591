//! The command line as users meet it: help on every verb, and errors that name the file, the app
//! and the key, say what is wrong, give a hint, and exit 2 — never a panic.

use std::path::Path;

use crate::support::{repo, rgen, run, settings};

fn eco(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    std::fs::write(dir.join("app.js"), "setInterval(() => {}, 1000);\n").unwrap();
    p
}

fn transcript_in(dir: &Path, args: &[&str]) -> String {
    let out = run(rgen().args(args).current_dir(dir));
    out.transcript().replace(&*dir.to_string_lossy(), "[TMP]")
}

#[test]
fn help_for_every_command() {
    let verbs = [
        "",
        "render",
        "check",
        "import",
        "install",
        "uninstall",
        "status",
        "monit",
        "show",
        "start",
        "stop",
        "restart",
        "reload",
        "logs",
        "flush",
    ];
    for verb in verbs {
        let mut cmd = rgen();
        if !verb.is_empty() {
            cmd.arg(verb);
        }
        let out = run(cmd.arg("--help"));
        assert_eq!(out.code, 0, "{verb} --help");
        let name = if verb.is_empty() {
            "rgen".to_string()
        } else {
            verb.to_string()
        };
        settings().bind(|| insta::assert_snapshot!(format!("help__{name}"), out.stdout));
    }
}

#[test]
fn usage_errors_exit_2() {
    let out = run(rgen().args(["render", "--bogus"]));
    assert_eq!(out.code, 2);
    let out = run(rgen().args(["render", "--systemd", "--launchd"]));
    assert_eq!(out.code, 2);
}

#[test]
fn missing_file() {
    let tmp = tempfile::tempdir().unwrap();
    let t = transcript_in(tmp.path(), &["render", "nope.config.js"]);
    settings().bind(|| insta::assert_snapshot!("cli__missing_file", t));
    let t = transcript_in(tmp.path(), &["render"]);
    settings().bind(|| insta::assert_snapshot!("cli__nothing_to_discover", t));
}

#[test]
fn every_problem_of_a_file_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    eco(
        tmp.path(),
        "ecosystem.json",
        r#"{"apps": [
            {"name": "api", "script": "app.js", "max_memory_restart": "1.5G", "min_uptime": "10S", "kill_timeout": "soon"},
            {"name": "worker", "script": "missing.js", "exec_mode": "swarm", "cron_restart": "every day"},
            {"script": "app.js", "autorestart": "false", "instances": 2.5},
            {"name": "api", "script": "app.js"}
        ]}"#,
    );
    let t = transcript_in(
        tmp.path(),
        &["check", "ecosystem.json", "--systemd", "--user"],
    );
    assert!(t.starts_with("exit: 2"), "{t}");
    settings().bind(|| insta::assert_snapshot!("cli__many_problems", t));
}

#[test]
fn unknown_keys_warn_in_pm2_files_and_fail_in_rgen_toml() {
    let tmp = tempfile::tempdir().unwrap();
    eco(
        tmp.path(),
        "ecosystem.json",
        r#"{"apps":[{"name":"a","script":"app.js","max_memory_restrat":"1G"}]}"#,
    );
    let t = transcript_in(
        tmp.path(),
        &["check", "ecosystem.json", "--systemd", "--user"],
    );
    settings().bind(|| insta::assert_snapshot!("cli__unknown_key_pm2", t));
    eco(
        tmp.path(),
        "rgen.toml",
        "[[apps]]\nname = \"a\"\nscript = \"app.js\"\nintances = 2\noutput = \"x.log\"\n",
    );
    let t = transcript_in(tmp.path(), &["check", "rgen.toml", "--systemd", "--user"]);
    settings().bind(|| insta::assert_snapshot!("cli__unknown_key_toml", t));
}

#[test]
fn javascript_that_throws_or_no_node() {
    let tmp = tempfile::tempdir().unwrap();
    eco(
        tmp.path(),
        "ecosystem.config.js",
        "const x = require('./nope');\nmodule.exports = { apps: [] };\n",
    );
    let t = transcript_in(tmp.path(), &["check", "--systemd", "--user"]);
    assert!(t.starts_with("exit: 2"), "{t}");
    assert!(t.contains("Cannot find module './nope'"), "{t}");
    let out = run(rgen()
        .args(["check", "--systemd", "--user"])
        .current_dir(tmp.path())
        .env("RGEN_NODE", "/nonexistent/node"));
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("cannot run `/nonexistent/node`"),
        "{}",
        out.stderr
    );
    let out = run(rgen()
        .args(["check", "--systemd", "--user"])
        .current_dir(tmp.path())
        .env("PATH", "/nonexistent"));
    assert_eq!(out.code, 2);
    settings().bind(|| {
        insta::assert_snapshot!(
            "cli__no_node",
            out.stderr.replace(&*tmp.path().to_string_lossy(), "[TMP]")
        )
    });
}

#[test]
fn only_and_env_selection() {
    let tmp = tempfile::tempdir().unwrap();
    eco(
        tmp.path(),
        "ecosystem.json",
        r#"{"apps":[{"name":"a","script":"app.js","env":{"X":"1"},"env_prod":{"X":"2"}},{"name":"b","script":"app.js"}]}"#,
    );
    let out = run(rgen()
        .args(["render", "--systemd", "--user", "--only", "b"])
        .current_dir(tmp.path()));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("b.service") && !out.stdout.contains("a.service"));
    let out = run(rgen()
        .args([
            "render",
            "--systemd",
            "--user",
            "--env",
            "prod",
            "--only",
            "a",
        ])
        .current_dir(tmp.path()));
    // Values live in the app's environment file, not in its unit.
    assert!(out.stdout.contains("X=\"2\""), "{}", out.stdout);
    let t = transcript_in(
        tmp.path(),
        &["render", "--systemd", "--user", "--only", "c"],
    );
    settings().bind(|| insta::assert_snapshot!("cli__only_unknown", t));
    let t = transcript_in(
        tmp.path(),
        &["check", "--systemd", "--user", "--env", "staging"],
    );
    settings().bind(|| insta::assert_snapshot!("cli__env_not_defined", t));
}

#[test]
fn uid_needs_system_scope() {
    let tmp = tempfile::tempdir().unwrap();
    eco(
        tmp.path(),
        "ecosystem.json",
        r#"{"apps":[{"name":"a","script":"app.js","uid":"www-data"}]}"#,
    );
    let t = transcript_in(tmp.path(), &["render", "--systemd", "--user"]);
    settings().bind(|| insta::assert_snapshot!("cli__uid_user_scope", t));
    let out = run(rgen()
        .args(["render", "--systemd", "--system"])
        .current_dir(tmp.path()));
    assert!(out.stdout.contains("User=www-data"), "{}", out.stdout);
}

#[test]
fn render_out_writes_files_atomically_and_lists_them() {
    let tmp = tempfile::tempdir().unwrap();
    let out_dir = tmp.path().join("units");
    let out = run(rgen()
        .args([
            "render",
            "examples/azak/ecosystem.config.js",
            "--systemd",
            "--system",
            "--out",
        ])
        .arg(&out_dir)
        .current_dir(repo()));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let mut names: Vec<String> = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "azak-backend.env",
            "azak-backend.service",
            "azak-frontend.env",
            "azak-frontend.service",
            "azak-frontend.socket",
            "azak-ngrok.env",
            "azak-ngrok.service",
            "rgen-azak.target",
        ]
    );
    assert_eq!(out.stdout.lines().count(), 8);
}

/// Random values in every key never crash rgen: it exits 0 (accepted) or 2 (rejected).
#[test]
fn no_panic_on_any_value() {
    use proptest::prelude::*;
    let keys: Vec<&str> = rgen::keys::KEYS.iter().map(|k| k.name).collect();
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("app.js"), "").unwrap();
    let value = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(serde_json::Value::from),
        ".{0,12}".prop_map(serde_json::Value::from),
        prop::collection::vec(".{0,6}", 0..3).prop_map(serde_json::Value::from),
    ];
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 48,
        ..ProptestConfig::default()
    });
    runner
        .run(&(prop::sample::select(keys), value), |(key, value)| {
            let mut app = serde_json::json!({"name": "fuzz", "script": "app.js"});
            app[key] = value;
            let file = tmp.path().join("ecosystem.json");
            std::fs::write(&file, serde_json::json!({"apps": [app]}).to_string()).unwrap();
            let out = run(rgen()
                .args(["render", "--systemd", "--system"])
                .arg(&file)
                .current_dir(tmp.path()));
            prop_assert!(
                out.code == 0 || out.code == 2,
                "exit {} for {key}: {}",
                out.code,
                out.stderr
            );
            prop_assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
            Ok(())
        })
        .unwrap();
}

#[test]
fn pm2_verbs_rgen_does_without_say_what_to_use_instead() {
    for (verb, points_to) in [
        ("startup", "rgen install"),
        ("save", "rgen install"),
        ("unstartup", "rgen uninstall"),
        ("jlist", "rgen status --json"),
    ] {
        let out = run(rgen().arg(verb));
        assert_eq!(out.code, 2, "{verb}");
        assert!(
            out.stderr
                .contains(&format!("rgen has no `{verb}` command"))
                && out.stderr.contains(points_to),
            "{verb}: {}",
            out.stderr
        );
    }
    // Anything else is clap's own error.
    let out = run(rgen().arg("frobnicate"));
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("unrecognized subcommand"),
        "{}",
        out.stderr
    );
    // Aliases PM2 users type work.
    assert_eq!(run(rgen().args(["delete", "--help"])).code, 0);
    assert_eq!(run(rgen().args(["describe", "--help"])).code, 0);
}
