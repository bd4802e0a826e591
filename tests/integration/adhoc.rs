//! PM2's command line: `rgen install SCRIPT [flags] [-- ARGS]` (rendered here), file or script
//! decided by name as PM2 decides, completions and the man page.

use crate::support::{rgen, run};

fn render(dir: &std::path::Path, args: &[&str]) -> crate::support::Output {
    run(rgen()
        .args([
            "render",
            "--systemd",
            "--system",
            "--systemd-version",
            "252",
        ])
        .args(args)
        .current_dir(dir))
}

#[test]
fn a_script_with_pm2_flags_renders_as_one_app() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("app.js"), "setInterval(() => {}, 1000);\n").unwrap();
    let out = render(
        tmp.path(),
        &[
            "app.js",
            "--name",
            "api",
            "-i",
            "4",
            "--max-memory-restart",
            "200M",
            "--cron-restart",
            "0 3 * * *",
            "--kill-timeout",
            "5000",
            "--",
            "--flag",
            "a b",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    for want in [
        "api@.service",
        "X-Rgen-Instances=4",
        "MemoryMax=200M",
        "api-cron-restart.timer",
        "\"--flag\" \"a b\"",
        "X-Rgen-Definition={",
    ] {
        assert!(out.stdout.contains(want), "{want} missing:\n{}", out.stdout);
    }
}

#[test]
fn pm2_flags_keep_pm2s_grammar_and_messages() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("app.js"), "\n").unwrap();
    let out = render(tmp.path(), &["app.js", "--max-memory-restart", "1.5G"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("--max-memory-restart") && out.stderr.contains("1536M"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_script_is_never_run_to_tell_it_from_a_config_file() {
    let tmp = tempfile::tempdir().unwrap();
    // PM2 runs `ecosystem.js` as an app, it is no config file; evaluating it would leave a mark.
    std::fs::write(
        tmp.path().join("ecosystem.js"),
        "require('fs').writeFileSync(__dirname + '/evaluated', '');\n",
    )
    .unwrap();
    let out = render(tmp.path(), &["ecosystem.js"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("ecosystem.service"), "{}", out.stdout);
    assert!(!tmp.path().join("evaluated").exists(), "the script was run");
}

#[test]
fn flags_for_a_script_are_refused_with_a_file() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("app.js"), "\n").unwrap();
    std::fs::write(
        tmp.path().join("ecosystem.json"),
        r#"{"apps":[{"name":"a","script":"app.js"}]}"#,
    )
    .unwrap();
    let out = render(tmp.path(), &["ecosystem.json", "-i", "4"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("`--instances`"), "{}", out.stderr);
}

#[test]
fn a_command_string_runs_through_bash_as_pm2_does() {
    let tmp = tempfile::tempdir().unwrap();
    let out = render(tmp.path(), &["python3 worker.py", "--name", "worker"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("\"-c\" \"python3 worker.py\""),
        "{}",
        out.stdout
    );
}

#[test]
fn completions_and_the_man_page_come_from_the_definitions() {
    for shell in ["bash", "zsh", "fish"] {
        let out = run(rgen().args(["completions", shell]));
        assert_eq!(out.code, 0, "{shell}: {}", out.stderr);
        assert!(
            out.stdout.contains("install") && out.stdout.contains("max-memory-restart"),
            "{shell}"
        );
    }
    let man = run(rgen().arg("man"));
    assert_eq!(man.code, 0);
    assert!(man.stdout.starts_with(".ie") && man.stdout.contains(".TH rgen 1"));
    assert!(man.stdout.contains("scale"), "{}", man.stdout);
}

/// Every `pm2 start` flag rgen takes sets the key PM2 sets, with PM2's value.
#[test]
fn every_start_flag_sets_its_key() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("app.js"), "\n").unwrap();
    std::fs::create_dir_all(tmp.path().join("logs")).unwrap();
    let cases: &[(&[&str], &str, serde_json::Value)] = &[
        (&["--name", "x"], "name", "x".into()),
        (&["-n", "x"], "name", "x".into()),
        (&["-i", "max"], "instances", "max".into()),
        (&["--instances", "-1"], "instances", (-1).into()),
        (&["--exec-mode", "fork"], "exec_mode", "fork".into()),
        (&["-x"], "execute_command", true.into()),
        (
            &["--interpreter", "node"],
            "exec_interpreter",
            "node".into(),
        ),
        (
            &["--node-args", "--inspect --x"],
            "node_args",
            "--inspect --x".into(),
        ),
        (
            &["--interpreter-args", "--inspect"],
            "node_args",
            "--inspect".into(),
        ),
        (
            &["--max-memory-restart", "200M"],
            "max_memory_restart",
            "200M".into(),
        ),
        (&["--cron", "0 3 * * *"], "cron_restart", "0 3 * * *".into()),
        (&["-c", "0 3 * * *"], "cron_restart", "0 3 * * *".into()),
        (&["--watch"], "watch", true.into()),
        (&["--watch", "logs"], "watch", serde_json::json!(["logs"])),
        (&["-w"], "watch", true.into()),
        (
            &["--ignore-watch", "node_modules logs"],
            "ignore_watch",
            "node_modules logs".into(),
        ),
        (&["--watch-delay", "500"], "watch_delay", 500.into()),
        (&["-o", "logs/o.log"], "out_file", "logs/o.log".into()),
        (&["--output", "logs/o.log"], "out_file", "logs/o.log".into()),
        (&["-e", "logs/e.log"], "error_file", "logs/e.log".into()),
        (&["-l", "logs/c.log"], "log_file", "logs/c.log".into()),
        (&["--merge-logs"], "merge_logs", true.into()),
        (
            &["--log-date-format", "HH:mm"],
            "log_date_format",
            "HH:mm".into(),
        ),
        (&["--time"], "time", true.into()),
        (&["--restart-delay", "3000"], "restart_delay", 3000.into()),
        (&["--spinSleepTime", "3000"], "restart_delay", 3000.into()),
        (
            &["--exp-backoff-restart-delay", "100"],
            "exp_backoff_restart_delay",
            100.into(),
        ),
        (&["--max-restarts", "5"], "max_restarts", 5.into()),
        (&["-m", "5"], "max_restarts", 5.into()),
        (&["--min-uptime", "2000"], "min_uptime", 2000.into()),
        (&["--minUptime", "2000"], "min_uptime", 2000.into()),
        (&["-k", "5000"], "kill_timeout", 5000.into()),
        (&["--wait-ready"], "wait_ready", true.into()),
        (&["--listen-timeout", "8000"], "listen_timeout", 8000.into()),
        (&["--no-autorestart"], "autorestart", false.into()),
        (&["--no-autostart"], "autostart", false.into()),
        (
            &["--stop-exit-codes", "0,3"],
            "stop_exit_codes",
            serde_json::json!([0, 3]),
        ),
        (&["--no-treekill"], "treekill", false.into()),
        (
            &["--shutdown-with-message"],
            "shutdown_with_message",
            true.into(),
        ),
        (&["--namespace", "api"], "namespace", "api".into()),
        (&["--uid", "root"], "uid", "root".into()),
        (&["--gid", "root"], "gid", "root".into()),
        (&["--port", "3000"], "port", 3000.into()),
    ];
    for (flags, key, value) in cases {
        let mut args = vec!["app.js"];
        args.extend_from_slice(flags);
        let out = render(tmp.path(), &args);
        assert_eq!(out.code, 0, "{flags:?}: {}", out.stderr);
        let def = out
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix("X-Rgen-Definition="))
            .unwrap_or_else(|| panic!("{flags:?}: no definition"));
        let json: serde_json::Value = serde_json::from_str(&def.replace("%%", "%")).unwrap();
        assert_eq!(&json[key], value, "{flags:?} → {key}: {json}");
    }
}
