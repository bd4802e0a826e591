//! `rgen import --from-pm2` over every recorded PM2 (tests/fixtures/pm2-dumps): the generated
//! file loads, and the units it renders give each app the argv, cwd, environment, instances and
//! memory limit it really had under PM2 (`truth/`, see tests/common/pm2_truth.rs for what
//! "its own environment" excludes); snapshots of the generated files; the malformed inputs.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::support::{rgen, run, settings};

#[path = "../common/pm2_truth.rs"]
mod pm2_truth;

use pm2_truth::{Laid, Observed, VERSIONS, compare, expected, lay_out, rgen_own, systemd_identity};

/// `rgen import --from-pm2 HOME --out FILE` for a system-scope install by root: deterministic
/// whoever runs the tests (the daemon's user is named, not guessed from file owners).
fn import(laid: &Laid, out: &Path) -> crate::support::Output {
    run(rgen()
        .args(["import", "--from-pm2", "--system", "--pm2-user", "root"])
        .arg(&laid.home)
        .arg("--out")
        .arg(out))
}

fn render(file: &Path, group: &str) -> crate::support::Output {
    run(rgen().arg("render").arg(file).args([
        "--systemd",
        "--system",
        "--systemd-version",
        "252",
        "--group",
        group,
    ]))
}

/// `==> path <==` sections of `rgen render`.
fn files_of(stdout: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut current: Option<(String, String)> = None;
    for line in stdout.lines() {
        if let Some(path) = line
            .strip_prefix("==> ")
            .and_then(|l| l.strip_suffix(" <=="))
        {
            if let Some((p, text)) = current.take() {
                out.insert(p, text);
            }
            current = Some((path.to_string(), String::new()));
        } else if let Some((_, text)) = current.as_mut() {
            text.push_str(line);
            text.push('\n');
        }
    }
    if let Some((p, text)) = current {
        out.insert(p, text);
    }
    out
}

fn unescape(word: &str) -> String {
    word.replace("%%", "%")
}

fn unit_of(files: &BTreeMap<String, String>, app: &str) -> Observed {
    let dir = "/etc/systemd/system";
    let text = files
        .get(&format!("{dir}/{app}.service"))
        .or_else(|| files.get(&format!("{dir}/{app}@.service")))
        .unwrap_or_else(|| panic!("no unit for {app} in {:?}", files.keys()));
    let value = |key: &str| {
        text.lines()
            .filter_map(|l| l.strip_prefix(key).and_then(|l| l.strip_prefix('=')))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let exec = shlex::split(&value("ExecStart")[0]).expect("ExecStart splits");
    let argv: Vec<String> = if exec[0].ends_with("rgen-shim") {
        let dash = exec.iter().position(|w| w == "--").expect("the shim's --");
        exec[dash + 1..].to_vec()
    } else {
        exec
    }
    .iter()
    .map(|w| unescape(w))
    .collect();
    let mut env = value("User")
        .first()
        .map(|u| systemd_identity(u))
        .unwrap_or_default();
    for assignment in value("Environment") {
        for word in shlex::split(&assignment).unwrap() {
            let (k, v) = word.split_once('=').unwrap();
            env.insert(k.to_string(), unescape(v));
        }
    }
    for path in value("EnvironmentFile") {
        let file = &files[&path];
        for line in file
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            let (k, v) = line.split_once('=').unwrap();
            let v = shlex::split(v).unwrap().join(" ");
            env.insert(k.to_string(), v);
        }
    }
    let memory = value("MemoryMax").first().map(|m| {
        let (n, unit) = m.split_at(m.trim_end_matches(['K', 'M', 'G', 'T']).len());
        let n: u64 = n.parse().unwrap();
        n << match unit {
            "K" => 10,
            "M" => 20,
            "G" => 30,
            "T" => 40,
            _ => 0,
        }
    });
    let instances = value("X-Rgen-Instances")
        .first()
        .map(|n| n.parse().unwrap())
        .unwrap_or(1);
    Observed {
        argv,
        cwd: value("WorkingDirectory")[0].clone(),
        env,
        memory,
        instances,
    }
}

/// Hides the temporary directory a recording was laid out in.
fn snapshot_settings(root: &Path) -> insta::Settings {
    let mut s = settings();
    s.add_filter(&regex_escape(&root.to_string_lossy()), "[PM2]");
    s
}

fn regex_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            if "\\.+*?()|[]{}^$#&-~".contains(c) {
                vec!['\\', c]
            } else {
                vec![c]
            }
        })
        .collect()
}

fn laid_out(version: &str) -> (tempfile::TempDir, Laid) {
    // In /tmp itself: the path's length decides where comments wrap, and snapshots hide it.
    let tmp = tempfile::Builder::new()
        .prefix("rgen-pm2-")
        .tempdir_in("/tmp")
        .unwrap();
    let laid = lay_out(version, &tmp.path().join(format!("pm2-{version}")));
    (tmp, laid)
}

#[test]
fn every_recorded_pm2_is_reproduced_by_the_units_rgen_renders() {
    let mut diffs = Vec::new();
    let mut compared = 0;
    for version in VERSIONS {
        let (_tmp, laid) = laid_out(version);
        let toml = laid.root.join("rgen.toml");
        let js = laid.root.join("ecosystem.config.js");
        for out in [&toml, &js] {
            let imported = import(&laid, out);
            assert_eq!(imported.code, 0, "{version}: {}", imported.stderr);
            let mode = std::fs::metadata(out).unwrap().permissions().mode() & 0o777;
            assert_eq!(
                mode,
                0o600,
                "{version}: {} carries env: 0600",
                out.display()
            );
        }
        let group = format!("pm2-{version}");
        let from_toml = render(&toml, &group);
        assert_eq!(
            from_toml.code, 0,
            "{version}: rgen.toml does not render:\n{}",
            from_toml.stderr
        );
        let from_js = render(&js, &group);
        assert_eq!(
            from_js.code, 0,
            "{version}: the .js does not render:\n{}",
            from_js.stderr
        );
        let strip = |t: &str| {
            t.lines()
                .filter(|l| {
                    !l.contains("Generated by rgen from") && !l.starts_with("X-Rgen-Source")
                })
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert_eq!(
            strip(&from_toml.stdout),
            strip(&from_js.stdout),
            "{version}: rgen.toml and the .js differ"
        );

        let files = files_of(&from_toml.stdout);
        for want in expected(&laid) {
            let unit = unit_of(&files, &want.name);
            diffs.extend(compare(version, &want, &unit, &rgen_own));
            compared += 1;
        }
        // Stopped in PM2: installed, not started (PM2 4 has no `autostart`: it ran eco-manual).
        let parsed: toml::Value = toml::from_str(&std::fs::read_to_string(&toml).unwrap()).unwrap();
        for app in parsed["apps"].as_array().unwrap() {
            let name = app["name"].as_str().unwrap();
            let stopped = name == "idle" || (name == "eco-manual" && *version != "4.5.6");
            assert_eq!(
                app.get("autostart").and_then(toml::Value::as_bool),
                stopped.then_some(false),
                "{version} {name}"
            );
        }

        let s = snapshot_settings(&laid.root);
        s.bind(|| {
            insta::assert_snapshot!(
                format!("import_pm2__{version}.toml"),
                std::fs::read_to_string(&toml).unwrap()
            );
            insta::assert_snapshot!(
                format!("import_pm2__{version}.js"),
                std::fs::read_to_string(&js).unwrap()
            );
        });
    }
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
    assert!(compared >= 24, "only {compared} apps compared");
}

#[test]
fn a_live_jlist_imports_like_the_dump() {
    let (_tmp, laid) = laid_out("7.0.4");
    let jlist = laid.root.join("jlist.json");
    std::fs::write(&jlist, laid.rewritten("jlist.json")).unwrap();
    let from_dump = import(&laid, &laid.root.join("dump.toml"));
    assert_eq!(from_dump.code, 0, "{}", from_dump.stderr);
    let from_jlist = run(rgen()
        .args(["import", "--from-pm2", "--system", "--pm2-user", "root"])
        .arg(&jlist)
        .arg("--out")
        .arg(laid.root.join("jlist.toml")));
    assert_eq!(from_jlist.code, 0, "{}", from_jlist.stderr);
    let a = render(&laid.root.join("dump.toml"), "pm2");
    let b = render(&laid.root.join("jlist.toml"), "pm2");
    let strip = |t: &str| {
        t.lines()
            .filter(|l| {
                !l.contains("dump.toml")
                    && !l.contains("jlist.toml")
                    && !l.starts_with("X-Rgen-SourceHash")
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(strip(&a.stdout), strip(&b.stdout));
}

#[test]
fn jlist_piped_with_pm2s_banner_is_read_from_stdin() {
    let banner = pm2_truth::fixtures_dir().join("mixed-versions/jlist-out-of-date-banner.txt");
    let mut child = rgen()
        .args([
            "import",
            "--from-pm2",
            "-",
            "--system",
            "--pm2-user",
            "root",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&std::fs::read(banner).unwrap())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("name = \"app\""), "{stdout}");
    assert!(stdout.contains("from standard input"), "{stdout}");
    assert!(toml::from_str::<toml::Value>(&stdout).is_ok());
}

#[test]
fn malformed_and_foreign_dumps_are_clear_errors() {
    let dir = pm2_truth::fixtures_dir().join("malformed");
    let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "pm2" || x == "json"))
        .collect();
    names.sort();
    assert_eq!(names.len(), 8);
    let mut transcript = String::new();
    for file in names {
        let out = run(rgen()
            .args(["import", "--from-pm2", "--system", "--pm2-user", "root"])
            .arg(&file));
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        if name == "only-stopped.pm2" {
            // Not an error: two apps, both to stay stopped.
            assert_eq!(out.code, 0, "{}", out.stderr);
            assert_eq!(
                out.stdout.matches("autostart = false").count(),
                2,
                "{}",
                out.stdout
            );
            continue;
        }
        assert_eq!(out.code, 2, "{name}: {}", out.stdout);
        assert!(
            out.stdout.is_empty(),
            "{name}: nothing is printed half: {}",
            out.stdout
        );
        transcript.push_str(&format!("== {name}\n{}\n", out.stderr));
    }
    settings().bind(|| insta::assert_snapshot!("import_pm2__malformed", transcript));
}

#[test]
fn an_existing_file_is_never_overwritten() {
    let (_tmp, laid) = laid_out("7.0.4");
    let out = laid.root.join("rgen.toml");
    std::fs::write(&out, "keep me\n").unwrap();
    let imported = import(&laid, &out);
    assert_ne!(imported.code, 0);
    assert!(
        imported.stderr.contains("does not overwrite"),
        "{}",
        imported.stderr
    );
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "keep me\n");
    let odd = import(&laid, &laid.root.join("apps.yaml"));
    assert_eq!(odd.code, 2, "{}", odd.stderr);
    assert!(odd.stderr.contains("rgen.toml"), "{}", odd.stderr);
}

#[test]
fn a_pm2_home_without_a_saved_list_says_what_to_run() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run(rgen().args(["import", "--from-pm2"]).arg(tmp.path()));
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("no dump.pm2"), "{}", out.stderr);
    assert!(out.stderr.contains("pm2 save"), "{}", out.stderr);
    let nobody = run(rgen().args(["import", "--from-pm2", "--pm2-user", "no-such-user-rgen"]));
    assert_eq!(nobody.code, 2);
    assert!(
        nobody.stderr.contains("no user `no-such-user-rgen`"),
        "{}",
        nobody.stderr
    );
}

#[test]
fn log_rotate_is_carried_as_the_table_or_named_in_a_comment() {
    let (_tmp, laid) = laid_out("7.0.4");
    let out = laid.root.join("rgen.toml");
    assert_eq!(import(&laid, &out).code, 0);
    let text = std::fs::read_to_string(&out).unwrap();
    // Either form is right: the table once rgen has `log_rotate`, a comment until then.
    let table = text.contains("\n[log_rotate]\nmax_size = \"10M\"\nretain = 30\ncompress = true\n");
    let comment = text.contains("#  max_size = \"10M\"\n#  retain = 30\n#  compress = true\n");
    assert!(table || comment, "{text}");
    assert!(text.contains("workerInterval = 60"), "{text}");
}

#[test]
fn install_dry_run_writes_nothing() {
    let (_tmp, laid) = laid_out("7.0.4");
    let out = laid.root.join("rgen.toml");
    let dry = run(rgen()
        .args([
            "import",
            "--from-pm2",
            "--system",
            "--pm2-user",
            "root",
            "--install",
            "--dry-run",
        ])
        .arg(&laid.home)
        .arg("--out")
        .arg(&out));
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert!(!out.exists(), "a dry run wrote {}", out.display());
    assert!(dry.stdout.contains("would write"), "{}", dry.stdout);
    // The units it would install, grouped as the real file would be.
    assert!(dry.stdout.contains("web@.service"), "{}", dry.stdout);
    assert!(
        dry.stdout.contains("rgen-pm2-7.0.4.target"),
        "{}",
        dry.stdout
    );
}

/// Variable names with control characters (an escape sequence, a bell) are carried in comments
/// as escapes: TOML refused the raw ones ("a bug in rgen"), and the JavaScript file held them raw
/// for whoever `cat`s it.
#[test]
fn control_characters_in_names_are_escaped_in_comments() {
    let tmp = tempfile::tempdir().unwrap();
    let dump = tmp.path().join("dump.pm2");
    std::fs::write(
        &dump,
        r#"[{"name":"a","pm_exec_path":"/bin/true","pm_cwd":"/","exec_interpreter":"none",
            "env":{"X\u0007\u001b]0;T\u0007Y":{"o":1},"K\u001bZ":"v"}}]"#,
    )
    .unwrap();
    let out = run(rgen().args(["import", "--from-pm2"]).arg(&dump));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        toml::from_str::<toml::Value>(&out.stdout).is_ok(),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(r"X\u{7}\u{1b}]0;T\u{7}Y"),
        "{}",
        out.stdout
    );
    let js = tmp.path().join("ecosystem.config.js");
    let out = run(rgen()
        .args(["import", "--from-pm2"])
        .arg(&dump)
        .arg("--out")
        .arg(&js));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let text = std::fs::read_to_string(&js).unwrap();
    assert!(
        !text.contains('\u{1b}') && !text.contains('\u{7}'),
        "{text}"
    );
}
