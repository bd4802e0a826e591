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
    assert_eq!(backend.keep_alive, Some(KeepAlive::Always(true)));
    assert!(backend.run_at_load);

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
