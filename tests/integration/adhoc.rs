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
