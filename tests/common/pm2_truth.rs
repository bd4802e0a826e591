//! What each app really got under PM2 — the recorded `tests/fixtures/pm2-dumps/pm2-*/truth/` —
//! reduced to what `rgen import --from-pm2` must reproduce, and the recorded dumps laid out as a
//! PM2 home somewhere else (their paths rewritten), with stand-ins for the apps.
//!
//! "The app's own environment" is the truth's environment minus:
//! - PM2's settings, which PM2 passes as variables: every top-level key of the app's dump entry
//!   that is not also in its `env` (`name`, `status`, `pm_exec_path`, …), and `pm_id`,
//!   `instances`, `NODE_APP_INSTANCE` (rgen provides its own instance variable);
//! - PM2's own variables: `PM2_HOME`, `PM2_USAGE`, `PM2_JSON_PROCESSING`, `unique_id`, the
//!   variable named like the app (its `pm2 set` echo), digit-only names (`--env NAME` without
//!   an ecosystem file);
//! - what Node's IPC and cluster machinery add (`NODE_CHANNEL_FD`,
//!   `NODE_CHANNEL_SERIALIZATION_MODE`, `NODE_UNIQUE_ID`, `SILENT`), and the PM2 daemon's own
//!   environment, which only cluster workers inherit (`truth/proc/daemon.json`);
//! - the login session's variables the env rule drops (`PWD`, `SHLVL`, `_`, `TERM`, `EDITOR`).
//!
//! Everything else must reach the app under rgen with the same value.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

pub const VERSIONS: &[&str] = &["7.0.4", "5.4.3", "4.5.6"];

const SESSION: &[&str] = &["PWD", "SHLVL", "_", "TERM", "EDITOR", "OLDPWD"];
const PM2_OWN: &[&str] = &[
    "PM2_HOME",
    "PM2_USAGE",
    "PM2_JSON_PROCESSING",
    "PM2_PROGRAMMATIC",
    "unique_id",
];
const NODE_INTERNAL: &[&str] = &[
    "NODE_CHANNEL_FD",
    "NODE_CHANNEL_SERIALIZATION_MODE",
    "NODE_UNIQUE_ID",
    "SILENT",
];
const SPAWN_KEYS: &[&str] = &["pm_id", "instances", "NODE_APP_INSTANCE"];

pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pm2-dumps")
}

/// The recording's scratch directory, which every path in a fixture starts with.
pub fn recorded_root(version: &str) -> String {
    format!("/var/tmp/rgen-pm2-record/pm2-{version}")
}

/// A recording laid out under `root` (the recorded scratch directory's stand-in).
pub struct Laid {
    pub root: PathBuf,
    /// The PM2 home, with `dump.pm2` and `module_conf.json`.
    pub home: PathBuf,
    pub version: String,
}

impl Laid {
    /// A fixture file with the recorded scratch directory replaced by `root`.
    pub fn rewritten(&self, rel: &str) -> String {
        let text = std::fs::read_to_string(
            fixtures_dir()
                .join(format!("pm2-{}", self.version))
                .join(rel),
        )
        .unwrap_or_else(|e| panic!("{rel}: {e}"));
        text.replace(&recorded_root(&self.version), &self.root.to_string_lossy())
    }

    pub fn json(&self, rel: &str) -> Value {
        serde_json::from_str(&self.rewritten(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }

    pub fn dump(&self) -> Vec<Map<String, Value>> {
        match self.json("dump.pm2") {
            Value::Array(items) => items
                .into_iter()
                .filter_map(|v| match v {
                    Value::Object(m) => Some(m),
                    _ => None,
                })
                .collect(),
            _ => panic!("dump.pm2 is a list"),
        }
    }
}

/// Lays out the recording of `version` under `root`: the PM2 home and the apps' directories,
/// with stand-ins that run (a Node HTTP server on `PORT` that reports ready, a Python loop).
pub fn lay_out(version: &str, root: &Path) -> Laid {
    let laid = Laid {
        root: root.to_path_buf(),
        home: root.join("home"),
        version: version.to_string(),
    };
    for dir in [
        "home",
        "logs",
        "user-home",
        "apps/web",
        "apps/worker",
        "apps/api",
        "apps/idle",
        "apps/eco",
        "apps/asuser",
    ] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    for f in ["dump.pm2", "module_conf.json"] {
        std::fs::write(laid.home.join(f), laid.rewritten(f)).unwrap();
    }
    for f in [
        "apps/web/server.js",
        "apps/api/api.js",
        "apps/idle/idle.js",
        "apps/eco/app.js",
        "apps/asuser/app.js",
    ] {
        std::fs::write(root.join(f), NODE_STAND_IN).unwrap();
    }
    std::fs::write(root.join("apps/worker/worker.py"), PYTHON_STAND_IN).unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    for dir in [root.to_path_buf(), root.join("apps")] {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    laid
}

pub const NODE_STAND_IN: &str = r#"const http = require("http");
const port = Number(process.env.PORT || 0);
const server = http.createServer((req, res) => res.end(JSON.stringify({ pid: process.pid }) + "\n"));
const ready = () => process.send && process.send("ready");
if (port) server.listen(port, "127.0.0.1", ready);
else { setInterval(() => {}, 60000); ready(); }
process.on("SIGINT", () => { server.close(); process.exit(0); });
"#;

pub const PYTHON_STAND_IN: &str = "import signal, sys, time\nsignal.signal(signal.SIGINT, lambda *_: sys.exit(0))\nwhile True:\n    time.sleep(1)\n";

/// The command line an app ran with under PM2.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Exact(Vec<String>),
    /// What `bash -c` ended up exec'ing (the truth of a command-string app is its inner
    /// command): matched by `[shell, "-c", s]` where `s` splits into these words.
    ShellExec(Vec<String>),
}

impl Command {
    pub fn matches(&self, argv: &[String]) -> bool {
        match self {
            Command::Exact(want) => want == argv,
            // The process itself, once the shell exec'd, or the unit's command.
            Command::ShellExec(want) => {
                argv == want.as_slice()
                    || argv.len() == 3
                        && argv[1] == "-c"
                        && shlex::split(&argv[2]).is_some_and(|words| words == *want)
            }
        }
    }
}

/// What one app got under PM2.
#[derive(Clone, Debug)]
pub struct Expected {
    pub name: String,
    pub command: Command,
    pub cwd: String,
    pub env: BTreeMap<String, String>,
    /// `max_memory_restart` in bytes.
    pub memory: Option<u64>,
    /// Processes PM2 ran for it.
    pub instances: usize,
}

/// Every app of the recording that ran (an app that never started has no truth).
pub fn expected(laid: &Laid) -> Vec<Expected> {
    let dump = laid.dump();
    let daemon = laid.json("truth/proc/daemon.json");
    let daemon_env: BTreeMap<String, String> = daemon["environ"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default();
    let truth_dir = fixtures_dir().join(format!("pm2-{}/truth", laid.version));
    let mut names: Vec<String> = Vec::new();
    for e in &dump {
        let n = e["name"].as_str().unwrap().to_string();
        if !names.contains(&n) {
            names.push(n);
        }
    }
    let mut out = Vec::new();
    for name in names {
        let entry = dump.iter().find(|e| e["name"] == name.as_str()).unwrap();
        let own = truth_files(&truth_dir, &name);
        let proc = truth_files(&truth_dir.join("proc"), &name);
        let instances = own.len().max(proc.len());
        let (command, cwd, env) = if let Some(f) = own.first() {
            let t = laid.json(&format!("truth/{f}"));
            let cwd = t["cwd"].as_str().unwrap().to_string();
            let env = strings(&t["env"]);
            let command = if t.get("execArgv").is_some() {
                // Node: PM2's wrapper is argv[1]; the script is what it loaded.
                let mut argv = vec![t["execPath"].as_str().unwrap().to_string()];
                argv.extend(strings_list(&t["execArgv"]));
                argv.push(env["pm_exec_path"].clone());
                argv.extend(strings_list(&t["argv"]).into_iter().skip(2));
                argv
            } else {
                let mut argv = vec![t["executable"].as_str().unwrap().to_string()];
                argv.extend(strings_list(&t["argv"]));
                argv
            };
            (Command::Exact(command), cwd, env)
        } else if let Some(f) = proc.first() {
            let t = laid.json(&format!("truth/proc/{f}"));
            let cmdline = strings_list(&t["cmdline"]);
            let command = if entry["exec_interpreter"] == "none"
                && entry["args"].get(0).is_some_and(|a| a == "-c")
            {
                Command::ShellExec(cmdline)
            } else {
                Command::Exact(cmdline)
            };
            (
                command,
                t["cwd"].as_str().unwrap().to_string(),
                strings(&t["environ"]),
            )
        } else {
            continue;
        };
        out.push(Expected {
            name: name.clone(),
            command,
            cwd,
            env: app_env(&env, entry, &daemon_env),
            memory: entry.get("max_memory_restart").and_then(Value::as_u64),
            instances,
        });
    }
    out
}

/// `<name>-<pm_id>.json` files of one app.
fn truth_files(dir: &Path, name: &str) -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|f| {
            f.strip_prefix(name)
                .and_then(|rest| rest.strip_prefix('-'))
                .and_then(|rest| rest.strip_suffix(".json"))
                .is_some_and(|id| !id.is_empty() && id.chars().all(|c| c.is_ascii_digit()))
        })
        .collect();
    files.sort();
    files
}

fn strings(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

fn strings_list(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The app's own environment (see the module's documentation).
pub fn app_env(
    truth: &BTreeMap<String, String>,
    entry: &Map<String, Value>,
    daemon: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let env = entry["env"].as_object().cloned().unwrap_or_default();
    let name = entry["name"].as_str().unwrap_or_default();
    truth
        .iter()
        .filter(|(k, _)| {
            let k = k.as_str();
            let in_env = env.contains_key(k);
            let pm2_setting = !in_env && (entry.contains_key(k) || SPAWN_KEYS.contains(&k));
            let pm2_own = PM2_OWN.contains(&k) || k == name;
            let digits = !k.is_empty() && k.chars().all(|c| c.is_ascii_digit());
            let machinery = !in_env && (NODE_INTERNAL.contains(&k) || daemon.contains_key(k));
            !(pm2_setting || pm2_own || digits || machinery || SESSION.contains(&k))
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Variables rgen itself may add to an app's environment.
pub fn rgen_own(name: &str) -> bool {
    name.starts_with("RGEN_")
        || [
            "NODE_APP_INSTANCE",
            "NODE_OPTIONS",
            "PYTHONUNBUFFERED",
            "NOTIFY_SOCKET",
            "LISTEN_FDS",
            "LISTEN_PID",
            "LISTEN_FDNAMES",
            "INVOCATION_ID",
            "JOURNAL_STREAM",
            "SYSTEMD_EXEC_PID",
            "MEMORY_PRESSURE_WATCH",
            "MEMORY_PRESSURE_WRITE",
        ]
        .contains(&name)
}

/// A PM2 variable that must never reach an app under rgen.
pub fn pm2_variable(name: &str) -> bool {
    name.starts_with("PM2_")
        || [
            "pm_id",
            "unique_id",
            "pm_exec_path",
            "pm_cwd",
            "pm_out_log_path",
            "pm_err_log_path",
            "pm_pid_path",
            "exec_interpreter",
            "exec_mode",
            "status",
            "km_link",
            "axm_options",
            "instance_var",
            "vizion_running",
        ]
        .contains(&name)
}

/// `/etc/passwd`'s home and shell of a user, which systemd gives a unit with `User=`.
pub fn passwd(user: &str) -> Option<(String, String, String)> {
    let text = std::fs::read_to_string("/etc/passwd").ok()?;
    text.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 7 && (f[0] == user || f[2] == user))
            .then(|| (f[0].to_string(), f[5].to_string(), f[6].to_string()))
    })
}

/// What systemd sets for a unit with `User=`: USER, LOGNAME, SHELL, and HOME unless the user is
/// `nobody` or its home is `/` (systemd fills those in without the user database).
pub fn systemd_identity(user: &str) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    let Some((name, home, shell)) = passwd(user) else {
        return env;
    };
    if name != "nobody" && home != "/" {
        env.insert("HOME".to_string(), home);
    }
    env.insert("USER".to_string(), name.clone());
    env.insert("LOGNAME".to_string(), name);
    env.insert("SHELL".to_string(), shell);
    env
}

/// What an app gets under rgen (from its unit, or from the running process).
#[derive(Debug)]
pub struct Observed {
    pub argv: Vec<String>,
    pub cwd: String,
    pub env: BTreeMap<String, String>,
    pub memory: Option<u64>,
    pub instances: usize,
}

/// What differs between what the app got under PM2 and what it gets under rgen. `extra_ok`
/// says which variables the app may have beyond its own (rgen's, the service manager's).
pub fn compare(
    label: &str,
    expected: &Expected,
    got: &Observed,
    extra_ok: &dyn Fn(&str) -> bool,
) -> Vec<String> {
    let mut diffs = Vec::new();
    let app = &expected.name;
    if !expected.command.matches(&got.argv) {
        diffs.push(format!(
            "{label} {app}: argv {:?}, PM2 ran {:?}",
            got.argv, expected.command
        ));
    }
    if got.cwd != expected.cwd {
        diffs.push(format!(
            "{label} {app}: cwd {} vs {}",
            got.cwd, expected.cwd
        ));
    }
    for (k, v) in &expected.env {
        if got.env.get(k) != Some(v) {
            diffs.push(format!(
                "{label} {app}: ${k} is {:?}, PM2 gave {v:?}",
                got.env.get(k)
            ));
        }
    }
    for k in got.env.keys() {
        if !expected.env.contains_key(k) && !extra_ok(k) {
            diffs.push(format!("{label} {app}: ${k} is not the app's"));
        }
        if pm2_variable(k) {
            diffs.push(format!("{label} {app}: PM2's ${k} reaches the app"));
        }
    }
    if got.memory != expected.memory {
        diffs.push(format!(
            "{label} {app}: memory {:?} vs {:?}",
            got.memory, expected.memory
        ));
    }
    if got.instances != expected.instances {
        diffs.push(format!(
            "{label} {app}: {} instances, PM2 ran {}",
            got.instances, expected.instances
        ));
    }
    diffs
}
