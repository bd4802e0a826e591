//! Every plist parses back — with the `plist` crate and with Python's independent `plistlib` — to
//! the values rgen meant, and the azak example carries what the MacBook setup needs.

use std::collections::BTreeMap;
use std::process::Command;

use rgen::backend::launchd::render::{self as launchd, Job, KeepAlive};

use crate::support::{fixtures, repo, rgen, run};

fn rendered(file: &std::path::Path, extra: &[&str]) -> Vec<(String, Vec<u8>)> {
    let dir = tempfile::tempdir().unwrap();
    let out = run(rgen()
        .arg("render")
        .arg(file)
        .args(["--launchd", "--user"])
        .args(extra)
        .arg("--out")
        .arg(dir.path()));
    assert_eq!(out.code, 0, "render failed: {}", out.stderr);
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

#[test]
fn every_plist_round_trips_through_two_parsers() {
    for (name, file) in fixtures() {
        let dir = tempfile::tempdir().unwrap();
        let out = run(rgen()
            .arg("render")
            .arg(&file)
            .args(["--launchd", "--user", "--out"])
            .arg(dir.path()));
        if out.code != 0 {
            continue;
        }
        for entry in std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
        {
            let bytes = std::fs::read(entry.path()).unwrap();
            let job: Job = launchd::parse(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
            // Serialising the parsed job again gives the same bytes: nothing was lost or invented.
            let mut again = Vec::new();
            plist::to_writer_xml(&mut again, &job).unwrap();
            again.push(b'\n');
            assert_eq!(
                String::from_utf8_lossy(&again),
                String::from_utf8_lossy(&bytes),
                "{name}"
            );
            assert_eq!(
                entry.file_name().to_string_lossy(),
                format!("{}.plist", job.label)
            );
            // Python's plistlib, an independent reader, sees the same values.
            let py = Command::new("python3")
                .args(["-c", "import json,plistlib,sys; print(json.dumps(plistlib.load(open(sys.argv[1],'rb')), sort_keys=True))"])
                .arg(entry.path())
                .output()
                .expect("python3 runs");
            assert!(
                py.status.success(),
                "{name}: plistlib failed: {}",
                String::from_utf8_lossy(&py.stderr)
            );
            let from_python: serde_json::Value = serde_json::from_slice(&py.stdout).unwrap();
            let from_rust = serde_json::to_value(&job).unwrap();
            assert_eq!(from_python, from_rust, "{name}: {}", entry.path().display());
        }
    }
}

#[test]
fn azak_plists_carry_the_macbook_setup() {
    let files = rendered(&repo().join("examples/azak/ecosystem.config.js"), &[]);
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "rgen.azak-backend.plist",
            "rgen.azak-frontend.plist",
            "rgen.azak-ngrok.plist"
        ]
    );
    let jobs: BTreeMap<String, Job> = files
        .iter()
        .map(|(_, bytes)| {
            let job = launchd::parse(bytes).unwrap();
            (job.marker.app.clone(), job)
        })
        .collect();
    let root = repo().join("examples/azak");
    let backend = &jobs["azak-backend"];
    let python = root.join(".venv/bin/python").to_string_lossy().into_owned();
    let dashdash = backend
        .program_arguments
        .iter()
        .position(|a| a == "--")
        .unwrap();
    assert_eq!(
        backend.program_arguments[dashdash + 1],
        python,
        "the venv python runs the backend"
    );
    assert!(
        backend
            .program_arguments
            .windows(2)
            .any(|w| w == ["--max-memory", "2147483648"]),
        "2 GiB through the shim"
    );
    assert_eq!(
        backend.environment_variables["PYTHONPATH"],
        root.to_string_lossy()
    );
    // The shim writes (and rotates) the log files the ecosystem names; launchd holds only the
    // shim's own messages.
    let out_log = root
        .join("logs/backend-out.log")
        .to_string_lossy()
        .into_owned();
    let err_log = root
        .join("logs/backend-error.log")
        .to_string_lossy()
        .into_owned();
    let args = &backend.program_arguments;
    assert!(
        args.windows(2)
            .any(|w| w[0] == "--stdout" && w[1] == out_log),
        "{args:?}"
    );
    assert!(
        args.windows(2)
            .any(|w| w[0] == "--stderr" && w[1] == err_log),
        "{args:?}"
    );
    assert!(
        args.windows(2).any(|w| w == ["--log-max-size", "10M"]),
        "{args:?}"
    );
    assert!(
        backend
            .standard_out_path
            .as_deref()
            .is_some_and(|p| p.ends_with("Library/Logs/rgen/azak-backend.rgen-shim.log"))
    );
    // The shim restarts the app with PM2's rules; launchd restarts only a shim that died (it
    // exits 0 when it leaves the app down).
    assert_eq!(
        backend.keep_alive,
        Some(KeepAlive::Conditions {
            successful_exit: false
        })
    );
    for pair in [["--stay-down-exit-code", "0"], ["--log-max-size", "10M"]] {
        assert!(args.windows(2).any(|w| w == pair), "{pair:?} in {args:?}");
    }
    assert!(args.iter().any(|a| a == "--autorestart"), "{args:?}");
    assert!(
        args.windows(2).any(|w| w[0] == "--shim-log"
            && w[1].ends_with("Library/Logs/rgen/azak-backend.rgen-shim.log")),
        "{args:?}"
    );
    for option in ["--pid-file", "--status-file"] {
        assert!(
            args.windows(2).any(|w| w[0] == option
                && w[1].contains("Library/Application Support/rgen/run/azak-backend.")),
            "{option} in {args:?}"
        );
    }
    assert!(backend.run_at_load);
    assert_eq!(backend.process_type.as_deref(), Some("Interactive"));
    assert_eq!(backend.limit_load_to_session_type.as_deref(), Some("Aqua"));
    assert_eq!(backend.throttle_interval, None);

    let frontend = &jobs["azak-frontend"];
    assert_eq!(frontend.environment_variables["PORT"], "3030");
    assert!(
        frontend
            .program_arguments
            .windows(2)
            .any(|w| w == ["--max-memory", "1073741824"]),
        "1 GiB through the shim"
    );
    assert_eq!(
        frontend.working_directory.as_deref(),
        Some(&*root.join("frontend").to_string_lossy())
    );

    let ngrok = &jobs["azak-ngrok"];
    assert!(
        !ngrok.program_arguments.iter().any(|a| a == "--max-memory"),
        "ngrok has no memory limit"
    );
    for job in jobs.values() {
        assert!(
            job.environment_variables["PATH"].contains("/usr/bin"),
            "PATH is captured"
        );
        assert!(
            job.program_arguments.iter().all(|a| !a.contains('~')),
            "no unexpanded ~"
        );
    }
}

/// The shim options a job's `ProgramArguments` carry, as `--name value` pairs (flags alone).
fn shim_options(job: &Job) -> Vec<String> {
    let args = &job.program_arguments;
    let end = args.iter().position(|a| a == "--").unwrap_or(args.len());
    args[1..end].to_vec()
}

#[test]
fn pm2_restart_settings_reach_the_shim() {
    // launchd has no restart limit, no wait after an exit and only exit code 0 to stay down:
    // every restart key goes to the shim, which restarts the app itself.
    let file = repo().join("tests/fixtures/ecosystems/restart/ecosystem.config.js");
    let files = rendered(&file, &["--only", "no-restarts,clean-exit-stops,backoff"]);
    let job = |label: &str| {
        let (_, bytes) = files
            .iter()
            .find(|(n, _)| n == &format!("{label}.plist"))
            .unwrap_or_else(|| panic!("{label} rendered"));
        launchd::parse(bytes).unwrap()
    };
    let has =
        |job: &Job, words: &[&str]| shim_options(job).windows(words.len()).any(|w| w == words);
    let no_restarts = job("rgen.no-restarts");
    assert!(has(&no_restarts, &["--autorestart", "--max-restarts", "0"]));
    let clean = job("rgen.clean-exit-stops");
    assert!(has(&clean, &["--restart-delay", "500"]), "{clean:?}");
    assert!(has(&clean, &["--stop-exit-codes", "0"]), "{clean:?}");
    let backoff = job("rgen.backoff");
    assert!(has(&backoff, &["--backoff-initial", "100"]), "{backoff:?}");
    assert!(has(&backoff, &["--max-restarts", "10"]), "{backoff:?}");
    assert!(has(&backoff, &["--min-uptime", "2000"]), "{backoff:?}");
    assert!(!has(&backoff, &["--restart-delay"]), "{backoff:?}");
    for j in [&no_restarts, &clean, &backoff] {
        assert!(has(j, &["--stay-down-exit-code", "0"]), "{j:?}");
        assert_eq!(
            j.keep_alive,
            Some(KeepAlive::Conditions {
                successful_exit: false
            })
        );
        assert_eq!(j.throttle_interval, None, "launchd's own 10 s throttle");
    }
}

#[test]
fn projects_in_folders_macos_protects_are_warned_about() {
    let home = tempfile::tempdir().unwrap();
    let project = home.path().join("Documents/azak");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(project.join("app.js"), "").unwrap();
    let file = project.join("ecosystem.json");
    std::fs::write(
        &file,
        serde_json::json!({"apps": [{"name": "docs", "script": "app.js"}]}).to_string(),
    )
    .unwrap();
    let out = run(rgen()
        .args(["render", "--launchd", "--user"])
        .arg(&file)
        .env("HOME", home.path()));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("warning[launchd-protected-folder]")
            && out.stderr.contains("Full Disk Access"),
        "{}",
        out.stderr
    );
    // Not for systemd, where no such protection exists.
    let out = run(rgen()
        .args(["render", "--systemd", "--user"])
        .arg(&file)
        .env("HOME", home.path()));
    assert!(!out.stderr.contains("protected"), "{}", out.stderr);
}
