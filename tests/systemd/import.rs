//! Issue #12: moving a PM2 over in one command, on the real systemd.
//!
//! - `recorded`: a recorded dump (tests/fixtures/pm2-dumps/pm2-7.0.4) laid out as a PM2 home
//!   in the container, imported and installed: every app runs with the argv, cwd, environment,
//!   instances and memory limit it had under PM2 (`truth/`), and no PM2 variable reaches it.
//! - `live`: a real PM2 (from `$RGEN_PM2_DIR`, default /var/tmp/rgen-pm2, which tests/run-all
//!   fills from the npm registry; registered ignored when it is not there) runs apps started
//!   with CLI flags only; `rgen import --from-pm2 --install` is refused while PM2 holds their
//!   ports, then after `pm2 save` + `pm2 kill` moves them: each app reports the same argv, cwd
//!   and own environment it reported under PM2.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use libtest_mimic::Trial;

use crate::Suite;
use crate::support::*;

#[path = "../common/pm2_truth.rs"]
mod pm2_truth;

use pm2_truth::{Expected, Observed, compare, rgen_own};

pub fn trials(suite: Suite) -> Vec<Trial> {
    if suite != Suite::Host {
        return Vec::new();
    }
    let live_ignored =
        pm2_bin().is_none() && std::env::var_os("RGEN_REQUIRE_PM2").is_none_or(|v| v != "1");
    vec![
        Trial::test("import_a_recorded_pm2_dump_installs_what_pm2_ran", || {
            recorded().map_err(Into::into)
        })
        .with_kind("import"),
        Trial::test("import_a_live_pm2_in_one_command", || {
            live().map_err(Into::into)
        })
        .with_kind("import")
        .with_ignored_flag(live_ignored),
    ]
}

fn pm2_dir() -> PathBuf {
    std::env::var_os("RGEN_PM2_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/rgen-pm2"))
}

fn pm2_bin() -> Option<PathBuf> {
    let bin = pm2_dir().join("node_modules/.bin/pm2");
    bin.exists().then_some(bin)
}

/// Besides its own variables, an app under rgen may see rgen's, and what systemd gives every
/// service (and the shim's IPC channel for `wait_ready`).
fn extra_ok(name: &str) -> bool {
    rgen_own(name)
        || name.starts_with("NODE_CHANNEL_")
        || name.starts_with("WATCHDOG_")
        || ["MANAGERPID", "CREDENTIALS_DIRECTORY", "container"].contains(&name)
        // bash sets these for itself, under PM2 as under rgen.
        || ["PWD", "SHLVL", "_", "OLDPWD"].contains(&name)
}

/// What a process was given: argv, cwd, environment.
type View = (Vec<String>, String, BTreeMap<String, String>);

/// `/proc/PID` of a running app.
fn proc_view(pid: u64) -> Option<View> {
    let split = |b: Vec<u8>| -> Vec<String> {
        b.split(|c| *c == 0)
            .filter(|s| !s.is_empty())
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect()
    };
    let argv = split(std::fs::read(format!("/proc/{pid}/cmdline")).ok()?);
    let cwd = std::fs::read_link(format!("/proc/{pid}/cwd"))
        .ok()?
        .to_string_lossy()
        .into_owned();
    let env = split(std::fs::read(format!("/proc/{pid}/environ")).ok()?)
        .into_iter()
        .filter_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            Some((k.to_string(), v.to_string()))
        })
        .collect();
    Some((argv, cwd, env))
}

/// The app processes of an installed app, from `rgen status --json`, once all are online.
fn app_pids(dir: &Path, app: &str, instances: usize) -> Result<Vec<u64>, String> {
    poll(
        &format!("{app}: {instances} instance(s) online"),
        Duration::from_secs(60),
        || {
            let st = status_json(dir, "--system", &[]).ok()?;
            let a = app_json(&st, app).ok()?;
            let pids: Vec<u64> = a["units"]
                .as_array()?
                .iter()
                .filter(|u| u["status"] == "online")
                .filter_map(|u| u["pid"].as_u64())
                .collect();
            (pids.len() == instances).then_some(pids)
        },
    )
}

fn memory_of(
    sd: &rgen::backend::systemd::dbus::Client,
    app: &str,
    instances: usize,
) -> Option<u64> {
    let unit = if instances > 1 {
        format!("{app}@0.service")
    } else {
        format!("{app}.service")
    };
    u64_prop(sd, &unit, "MemoryMax").filter(|m| *m != u64::MAX)
}

fn recorded() -> TestResult {
    let dir = workdir("import-recorded");
    let laid = pm2_truth::lay_out("7.0.4", &dir.join("pm2-7.0.4"));
    let out = laid.root.join("rgen.toml");
    let home = laid.home.to_string_lossy().into_owned();
    let out_s = out.to_string_lossy().into_owned();
    let imported = rgen(
        &[
            "import",
            "--from-pm2",
            &home,
            "--install",
            "--system",
            "--out",
            &out_s,
        ],
        &laid.root,
    );
    imported.ok()?;
    check(
        imported
            .stdout
            .contains("pm2 delete web worker loop idle api eco eco-cluster eco-manual asuser"),
        || format!("no retirement commands:\n{}", imported.stdout),
    )?;
    let sd = system();
    let mut diffs = Vec::new();
    for want in pm2_truth::expected(&laid) {
        if want.name == "idle" {
            continue; // stopped in PM2: checked below
        }
        let pids = app_pids(&laid.root, &want.name, want.instances)?;
        let (argv, cwd, env) = proc_view(pids[0]).ok_or("the app vanished")?;
        let got = Observed {
            argv,
            cwd,
            env,
            memory: memory_of(&sd, &want.name, want.instances),
            instances: pids.len(),
        };
        diffs.extend(compare("recorded 7.0.4", &want, &got, &extra_ok));
    }
    for stopped in ["idle", "eco-manual"] {
        let state = active_state(&sd, &format!("{stopped}.service"));
        check(state != "active" && state != "activating", || {
            format!("{stopped} was stopped in PM2 but is {state}")
        })?;
    }
    rgen(&["uninstall", "pm2-7.0.4", "--system"], &laid.root).ok()?;
    check(diffs.is_empty(), || diffs.join("\n"))
}

/// A PM2 running in `dir`, killed however the test ends.
struct Pm2 {
    bin: PathBuf,
    home: PathBuf,
    user_home: PathBuf,
}

impl Pm2 {
    /// `pm2 ARGS` as a user types it in `cwd`: a login shell's environment plus `vars`.
    fn run(&self, cwd: &Path, vars: &[(&str, &str)], args: &[&str]) -> Result<String, String> {
        let bin_dir = self.bin.parent().unwrap().to_string_lossy().into_owned();
        let mut cmd = Command::new(&self.bin);
        cmd.args(args)
            .current_dir(cwd)
            .env_clear()
            .env("HOME", &self.user_home)
            .env("USER", "root")
            .env("LOGNAME", "root")
            .env("SHELL", "/bin/bash")
            .env("PATH", format!("{bin_dir}:{PATH}"))
            .env("LANG", "C.UTF-8")
            .env("TERM", "xterm-256color")
            .env("SHLVL", "1")
            .env("PM2_HOME", &self.home);
        for (k, v) in vars {
            cmd.env(k, v);
        }
        let out = cmd.output().map_err(|e| format!("pm2 {args:?}: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "pm2 {args:?} exited {}:\n{}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn jlist(&self, cwd: &Path) -> Vec<serde_json::Value> {
        self.run(cwd, &[], &["jlist"])
            .ok()
            .and_then(|t| {
                let start = t.find("\n[").map(|i| i + 1).or_else(|| t.find('['))?;
                serde_json::from_str(&t[start..]).ok()
            })
            .unwrap_or_default()
    }
}

impl Drop for Pm2 {
    fn drop(&mut self) {
        let _ = self.run(Path::new("/"), &[], &["kill"]);
    }
}

/// The Node stand-in, reporting what it was given to `truth/<phase>/<dir>-<pid>.json`.
const REPORTING_NODE: &str = r#"const fs = require("fs"), path = require("path");
const phase = process.env.pm_id !== undefined ? "pm2" : "rgen";
const dir = path.join(__dirname, "..", "..", "truth", phase);
const file = path.join(dir, path.basename(__dirname) + "-" + process.pid + ".json");
fs.writeFileSync(file + ".tmp", JSON.stringify({ argv: process.argv, execArgv: process.execArgv,
  execPath: process.execPath, cwd: process.cwd(), env: process.env }));
fs.renameSync(file + ".tmp", file);
"#;

const REPORTING_PYTHON: &str = r#"import json, os, signal, sys, time
phase = "pm2" if "pm_id" in os.environ else "rgen"
d = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "truth", phase)
f = os.path.join(d, "%s-%d.json" % (os.path.basename(os.path.dirname(os.path.abspath(__file__))), os.getpid()))
json.dump({"argv": sys.argv, "executable": sys.executable, "cwd": os.getcwd(), "env": dict(os.environ)}, open(f + ".tmp", "w"))
os.replace(f + ".tmp", f)
signal.signal(signal.SIGINT, lambda *_: sys.exit(0))
while True:
    time.sleep(1)
"#;

/// Reports of one phase, by app directory: (argv as run, cwd, env).
fn reports(root: &Path, phase: &str) -> BTreeMap<String, Vec<View>> {
    let mut out: BTreeMap<String, Vec<_>> = BTreeMap::new();
    for e in std::fs::read_dir(root.join("truth").join(phase))
        .into_iter()
        .flatten()
        .flatten()
    {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(stem) = name.strip_suffix(".json") else {
            continue;
        };
        let Some((app, _pid)) = stem.rsplit_once('-') else {
            continue;
        };
        let Ok(v) = std::fs::read_to_string(e.path())
            .map_err(|_| ())
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).map_err(|_| ()))
        else {
            continue;
        };
        let strs = |v: &serde_json::Value| -> Vec<String> {
            v.as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default()
        };
        let env: BTreeMap<String, String> = v["env"]
            .as_object()
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                    .collect()
            })
            .unwrap_or_default();
        let argv = if v.get("execArgv").is_some() {
            // Under PM2 argv[1] is its wrapper; the script is what the wrapper loaded.
            let script = env
                .get("pm_exec_path")
                .cloned()
                .unwrap_or_else(|| strs(&v["argv"]).get(1).cloned().unwrap_or_default());
            let mut a = vec![v["execPath"].as_str().unwrap_or_default().to_string()];
            a.extend(strs(&v["execArgv"]));
            a.push(script);
            a.extend(strs(&v["argv"]).into_iter().skip(2));
            a
        } else {
            let mut a = vec![v["executable"].as_str().unwrap_or_default().to_string()];
            a.extend(strs(&v["argv"]));
            a
        };
        out.entry(app.to_string()).or_default().push((
            argv,
            v["cwd"].as_str().unwrap_or_default().to_string(),
            env,
        ));
    }
    out
}

fn live() -> TestResult {
    let bin = pm2_bin().ok_or_else(|| {
        format!(
            "no PM2 at {} (tests/run-all installs it; RGEN_REQUIRE_PM2=1 makes this a failure)",
            pm2_dir().display()
        )
    })?;
    let root = workdir("import-live");
    let apps = root.join("apps");
    for d in ["web", "api", "worker", "asuser", "idle", "loop"] {
        std::fs::create_dir_all(apps.join(d)).map_err(|e| e.to_string())?;
    }
    for phase in ["pm2", "rgen"] {
        let t = root.join("truth").join(phase);
        std::fs::create_dir_all(&t).map_err(|e| e.to_string())?;
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&t, std::fs::Permissions::from_mode(0o1777))
            .map_err(|e| e.to_string())?;
    }
    let stand_in = format!("{REPORTING_NODE}{}", pm2_truth::NODE_STAND_IN);
    for f in [
        "web/server.js",
        "api/api.js",
        "asuser/app.js",
        "idle/idle.js",
    ] {
        write(&apps.join(f), &stand_in);
    }
    write(&apps.join("worker/worker.py"), REPORTING_PYTHON);
    let pm2 = Pm2 {
        bin,
        home: root.join("pm2-home"),
        user_home: root.join("user-home"),
    };
    std::fs::create_dir_all(&pm2.user_home).map_err(|e| e.to_string())?;

    // Started as PM2 users start apps: CLI flags, variables on the command line.
    pm2.run(&apps, &[("FIRST_SHELL_ONLY", "daemon")], &["ping"])?;
    pm2.run(
        &apps.join("web"),
        &[("PORT", "41851"), ("API_KEY", "k-1")],
        &[
            "start",
            "server.js",
            "--name",
            "web",
            "-i",
            "2",
            "--max-memory-restart",
            "150M",
            "--",
            "--flag",
            "arg with spaces",
        ],
    )?;
    pm2.run(
        &apps.join("api"),
        &[("PORT", "41852"), ("API_ONLY", "a")],
        &[
            "start",
            "api.js",
            "--name",
            "api",
            "--node-args",
            "--no-warnings",
            "--kill-timeout",
            "3000",
            "--",
            "serve",
        ],
    )?;
    pm2.run(
        &apps.join("worker"),
        &[("WORKER_QUEUE", "jobs")],
        &[
            "start",
            "worker.py",
            "--name",
            "worker",
            "--interpreter",
            "python3",
        ],
    )?;
    pm2.run(
        &apps,
        &[],
        &[
            "start",
            "bash -c 'while true; do sleep 1; done'",
            "--name",
            "loop",
        ],
    )?;
    pm2.run(
        &apps.join("asuser"),
        &[],
        &[
            "start", "app.js", "--name", "asuser", "--uid", "nobody", "--gid", "nogroup",
        ],
    )?;
    pm2.run(
        &apps.join("idle"),
        &[("IDLE_VAR", "x")],
        &["start", "idle.js", "--name", "idle"],
    )?;
    poll(
        "PM2's apps online and reporting",
        Duration::from_secs(90),
        || {
            let list = pm2.jlist(&apps);
            let online = list
                .iter()
                .filter(|p| p["pm2_env"]["status"] == "online")
                .count();
            let reported: usize = reports(&root, "pm2").values().map(Vec::len).sum();
            (online == 7 && reported == 6).then_some(())
        },
    )?;
    pm2.run(&apps, &[], &["stop", "idle"])?;
    let daemon_env: BTreeMap<String, String> = std::fs::read_to_string(pm2.home.join("pm2.pid"))
        .ok()
        .and_then(|p| p.trim().parse::<u64>().ok())
        .and_then(proc_view)
        .map(|(_, _, env)| env)
        .unwrap_or_default();
    // The loop's truth is its process (bash cannot report itself).
    let jlist = pm2.jlist(&apps);
    let loop_pid = jlist
        .iter()
        .find(|p| p["name"] == "loop")
        .and_then(|p| p["pid"].as_u64())
        .ok_or("no loop in jlist")?;
    let loop_pm2 = proc_view(loop_pid).ok_or("loop vanished")?;
    pm2.run(&apps, &[], &["save"])?;

    // While PM2 holds the ports, nothing is installed and the user is told what to do.
    let out_file = root.join("rgen.toml");
    let home = pm2.home.to_string_lossy().into_owned();
    let out_s = out_file.to_string_lossy().into_owned();
    let args = [
        "import",
        "--from-pm2",
        home.as_str(),
        "--install",
        "--system",
        "--out",
        out_s.as_str(),
    ];
    let refused = rgen(&args, &root);
    check(refused.code != 0, || {
        format!("installed while PM2 held the ports:\n{}", refused.stdout)
    })?;
    check(
        refused.stderr.contains("held by PM2")
            && refused.stderr.contains("pm2 stop web")
            && refused.stderr.contains("pm2 kill"),
        || format!("the refusal does not say what to do:\n{}", refused.stderr),
    )?;
    check(!out_file.exists(), || {
        "a refused install left its file".into()
    })?;
    check(active_state(&system(), "web@0.service") != "active", || {
        "web@0 runs after a refusal".into()
    })?;

    pm2.run(&apps, &[], &["kill"])?;
    let moved = rgen(&args, &root);
    moved.ok()?;
    for line in [
        "pm2 delete web api worker loop asuser idle",
        "pm2 kill",
        "pm2 unstartup",
    ] {
        check(moved.stdout.contains(line), || {
            format!("`{line}` not printed:\n{}", moved.stdout)
        })?;
    }

    // Every app reports the same as under PM2.
    let dump: Vec<serde_json::Map<String, serde_json::Value>> =
        serde_json::from_str::<Vec<serde_json::Value>>(
            &std::fs::read_to_string(pm2.home.join("dump.pm2")).map_err(|e| e.to_string())?,
        )
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter_map(|v| v.as_object().cloned())
        .collect();
    let entry = |name: &str| {
        dump.iter()
            .find(|e| e["name"] == name)
            .cloned()
            .ok_or(format!("{name} not in dump"))
    };
    poll(
        "the apps report under rgen",
        Duration::from_secs(90),
        || {
            let n: usize = reports(&root, "rgen").values().map(Vec::len).sum();
            (n >= 5).then_some(())
        },
    )?;
    let pm2_seen = reports(&root, "pm2");
    let rgen_seen = reports(&root, "rgen");
    let sd = system();
    let mut diffs = Vec::new();
    for (dir, name, instances) in [
        ("web", "web", 2),
        ("api", "api", 1),
        ("worker", "worker", 1),
        ("asuser", "asuser", 1),
    ] {
        let (argv, cwd, env) = pm2_seen
            .get(dir)
            .and_then(|v| v.first())
            .cloned()
            .ok_or(format!("{name} never reported under PM2"))?;
        let e = entry(name)?;
        let want = Expected {
            name: name.to_string(),
            command: pm2_truth::Command::Exact(argv),
            cwd,
            env: pm2_truth::app_env(&env, &e, &daemon_env),
            memory: e.get("max_memory_restart").and_then(|v| v.as_u64()),
            instances: pm2_seen[dir].len(),
        };
        app_pids(&root, name, instances)?;
        let seen = rgen_seen
            .get(dir)
            .ok_or(format!("{name} never reported under rgen"))?;
        let (argv, cwd, env) = seen[0].clone();
        let got = Observed {
            argv,
            cwd,
            env,
            memory: memory_of(&sd, name, instances),
            instances: seen.len(),
        };
        diffs.extend(compare("live", &want, &got, &extra_ok));
    }
    // The loop, from its process.
    let e = entry("loop")?;
    let want = Expected {
        name: "loop".into(),
        command: pm2_truth::Command::Exact(loop_pm2.0.clone()),
        cwd: loop_pm2.1.clone(),
        env: pm2_truth::app_env(&loop_pm2.2, &e, &daemon_env),
        memory: None,
        instances: 1,
    };
    let pid = app_pids(&root, "loop", 1)?[0];
    let (argv, cwd, env) = proc_view(pid).ok_or("loop vanished")?;
    diffs.extend(compare(
        "live",
        &want,
        &Observed {
            argv,
            cwd,
            env,
            memory: None,
            instances: 1,
        },
        &extra_ok,
    ));
    let idle = active_state(&sd, "idle.service");
    check(idle != "active" && idle != "activating", || {
        format!("idle was stopped in PM2 but is {idle}")
    })?;

    rgen(&["uninstall", "import-live", "--system"], &root).ok()?;
    drop(pm2);
    check(diffs.is_empty(), || diffs.join("\n"))
}
