//! Model: `RawEcosystem` → `Ecosystem`, a validated list of apps with PM2's semantics applied
//! exactly (defaults, aliases, value grammars, env layering, script and interpreter resolution).
//! Every problem of the file is collected before failing.

pub mod cron;
pub mod keys;
pub mod resolve;
pub mod values;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::diag::{BadInput, Origin, Report, Warning, WarningKind};
use crate::load::{Canonical, Format, RawApp, RawEcosystem, RawEntry, kind};
use cron::CronSchedule;
use keys::Support;
use resolve::{FileNature, Interpreter, InterpreterKind, SearchPath};

/// PM2's defaults (`lib/API/schema.json`, `constants.js`).
pub const DEFAULT_KILL_TIMEOUT_MS: u64 = 1600;
pub const DEFAULT_LISTEN_TIMEOUT_MS: u64 = 3000;
pub const DEFAULT_MIN_UPTIME_MS: u64 = 1000;
pub const DEFAULT_MAX_RESTARTS: u32 = 16;
pub const DEFAULT_INSTANCE_VAR: &str = "NODE_APP_INSTANCE";

#[derive(Clone, Debug)]
pub struct Ecosystem {
    pub file: PathBuf,
    pub format: Format,
    /// Name of the group the apps are installed under (`rgen-<group>.target`).
    pub group: String,
    pub env_name: Option<String>,
    pub source_hash: String,
    pub apps: Vec<App>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ExecMode {
    Fork,
    Cluster,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum InstanceCount {
    Fixed(u32),
    /// `max` or 0: one per CPU.
    Max,
    /// A negative number: CPUs minus n (at least one).
    CpusMinus(u32),
}

impl InstanceCount {
    pub fn resolve(&self, cpus: u32) -> u32 {
        match *self {
            InstanceCount::Fixed(n) => n,
            InstanceCount::Max => cpus.max(1),
            InstanceCount::CpusMinus(n) => cpus.saturating_sub(n).max(1),
        }
    }

    pub fn as_written(&self) -> String {
        match self {
            InstanceCount::Fixed(n) => n.to_string(),
            InstanceCount::Max => "max".into(),
            InstanceCount::CpusMinus(n) => format!("-{n}"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogTarget {
    /// Not configured: the journal (systemd) or rgen's default file (launchd).
    Default,
    /// `/dev/null`, `NULL` or `disable_logs`.
    Null,
    File(PathBuf),
}

#[derive(Clone, Debug)]
pub struct Logs {
    pub out: LogTarget,
    pub err: LogTarget,
    /// `log_file`: out and err together.
    pub combined: Option<PathBuf>,
    /// One file per instance (PM2 appends `-<id>`), unless `merge_logs`.
    pub per_instance: bool,
    pub date_format: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Restart {
    pub autorestart: bool,
    pub stop_exit_codes: Vec<i32>,
    pub delay_ms: Option<u64>,
    pub exp_backoff_ms: Option<u64>,
    /// `None`: restart without limit (Forever's default).
    pub limit: Option<StartLimit>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StartLimit {
    pub min_uptime_ms: u64,
    pub max_restarts: u32,
}

#[derive(Clone, Debug)]
pub struct Stop {
    pub signal: String,
    pub timeout_ms: u64,
    pub treekill: bool,
    pub with_message: bool,
}

#[derive(Clone, Debug)]
pub struct Watch {
    pub paths: Vec<PathBuf>,
    pub ignore: Vec<String>,
    pub delay_ms: Option<u64>,
}

#[derive(Clone, Debug)]
pub struct App {
    pub index: usize,
    /// The name users see and type (`pm2 ls` shows it).
    pub name: String,
    /// `name` restricted to characters unit file names and launchd labels can hold.
    pub unit: String,
    pub namespace: String,
    pub origin: Origin,
    pub cwd: PathBuf,
    /// The resolved script or binary.
    pub script: PathBuf,
    pub interpreter: Interpreter,
    /// `npm`/`yarn`/`npx`/`pnpm` when the script is such a launcher.
    pub launcher: Option<&'static str>,
    /// The full command: absolute program followed by its arguments.
    pub argv: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub user: Option<String>,
    pub group: Option<String>,
    pub autostart: bool,
    pub restart: Restart,
    pub max_memory_bytes: Option<u64>,
    pub logs: Logs,
    pub stop: Stop,
    pub wait_ready: bool,
    pub listen_timeout_ms: u64,
    pub mode: ExecMode,
    pub instances: InstanceCount,
    pub instance_var: String,
    pub increment_var: Option<String>,
    pub port: Option<u16>,
    pub cron_restart: Option<CronSchedule>,
    pub watch: Option<Watch>,
    /// Directories to put first on PATH (a package's `node_modules/.bin`, as npm does).
    pub path_prepend: Vec<PathBuf>,
    /// Keys whose backend mapping is not native, for warnings at render time.
    pub keys_used: Vec<(&'static keys::KeySpec, Origin)>,
}

impl App {
    pub fn is_templated(&self) -> bool {
        self.mode == ExecMode::Cluster || self.instances != InstanceCount::Fixed(1)
    }
}

pub struct ModelOptions {
    pub env_name: Option<String>,
    pub only: Vec<String>,
    pub group: Option<String>,
    pub search: SearchPath,
}

impl Default for ModelOptions {
    fn default() -> Self {
        ModelOptions {
            env_name: None,
            only: Vec::new(),
            group: None,
            search: SearchPath::from_env(),
        }
    }
}

pub fn validate(
    raw: &RawEcosystem,
    opts: &ModelOptions,
) -> Result<(Ecosystem, Vec<Warning>), BadInput> {
    let mut report = Report::default();
    let origin = Origin::file(&raw.file);

    let mut selected: Vec<&RawApp> = Vec::new();
    let mut all_names = Vec::new();
    for app in &raw.apps {
        let name = raw_name(app);
        all_names.push(name.clone());
        if opts.only.is_empty()
            || name
                .as_ref()
                .is_some_and(|n| opts.only.iter().any(|o| o == n))
        {
            selected.push(app);
        }
    }
    for wanted in &opts.only {
        if !all_names.iter().flatten().any(|n| n == wanted) {
            let known: Vec<String> = all_names
                .iter()
                .flatten()
                .map(|n| format!("`{n}`"))
                .collect();
            report
                .error(
                    origin.clone(),
                    format!("`--only {wanted}`: no app has that name"),
                )
                .hint(format!("the file defines {}", known.join(", ")));
        }
    }
    if let Some(env) = &opts.env_name
        && !raw.apps.iter().any(|a| {
            a.entries
                .iter()
                .any(|e| matches!(&e.canonical, Canonical::EnvOverlay(n) if n == env))
        })
    {
        report.warn(
            WarningKind::EnvNotDefined,
            origin.clone(),
            format!("`--env {env}` was given but no app defines `env_{env}`; apps get `env` only"),
        );
    }

    let mut apps = Vec::new();
    for app in &selected {
        if let Some(app) = validate_app(raw, app, opts, &mut report) {
            apps.push(app);
        }
    }

    // Names are compared as units, so `my app` and `my-app` collide too. Checked on the raw
    // names so the error shows even when one of the apps has other problems.
    let mut seen: BTreeMap<String, (usize, String)> = BTreeMap::new();
    for app in &selected {
        let Some(name) = raw_name(app) else { continue };
        let name = match (app.get("append_env_to_name"), &opts.env_name) {
            (Some(e), Some(env)) if e.value == Value::Bool(true) => format!("{name}-{env}"),
            _ => name,
        };
        let unit = sanitize_name(&name);
        if let Some((_, first)) = seen.get(&unit) {
            let written = app
                .get("name")
                .map(|e| e.written.as_str())
                .unwrap_or("name");
            report
                .error(
                    origin.with_app(&name).with_key(app.key_path(written)),
                    if *first == name {
                        format!("two apps are named `{name}`")
                    } else {
                        format!("`{first}` and `{name}` both become the unit name `{unit}`")
                    },
                )
                .hint("each app needs its own unit file: give it a distinct `name`");
        } else {
            seen.insert(unit, (app.index, name));
        }
    }

    let group = match &opts.group {
        Some(g) => sanitize_name(g),
        None => default_group(&raw.file),
    };
    let (apps, warnings) = report.finish(apps)?;
    Ok((
        Ecosystem {
            file: raw.file.clone(),
            format: raw.format,
            group,
            env_name: opts.env_name.clone(),
            source_hash: raw.source_hash.clone(),
            apps,
        },
        warnings,
    ))
}

/// The group is named after the directory holding the ecosystem file (`~/azak/ecosystem.config.js`
/// → `azak`), as users name projects.
pub fn default_group(file: &Path) -> String {
    let dir = file
        .parent()
        .and_then(|d| d.file_name())
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "apps".into());
    let g = sanitize_name(&dir);
    if g.is_empty() { "apps".into() } else { g }
}

/// Unit names and launchd labels: ASCII letters, digits, `_`, `.`, `-`. Everything else is `-`.
pub fn sanitize_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect()
}

fn raw_name(app: &RawApp) -> Option<String> {
    if let Some(name) = app.get("name").and_then(|e| e.value.as_str()) {
        return Some(name.to_string());
    }
    let script = app.get("script")?.value.as_str()?;
    Some(default_name(script))
}

/// PM2's `renderApplicationName`: the script's file name without its extension; a command line
/// (a script with a space) is its own name.
fn default_name(script: &str) -> String {
    if script.contains(' ') {
        return script.to_string();
    }
    let base = Path::new(script)
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| script.to_string());
    match base.rfind('.') {
        Some(dot) if dot > 0 => base[..dot].to_string(),
        _ => base,
    }
}

/// Typed access to one app's entries; every bad value becomes an error naming the key.
struct Fields<'a> {
    raw: &'a RawApp,
    origin: Origin,
    report: &'a mut Report,
}

impl Fields<'_> {
    fn entry(&self, key: &str) -> Option<&RawEntry> {
        self.raw.get(key)
    }

    /// The key as the user spelled it (an alias, camelCase, a Forever name).
    fn written(&self, key: &str) -> String {
        self.entry(key)
            .map(|e| e.written.clone())
            .unwrap_or_else(|| key.to_string())
    }

    fn origin_of(&self, key: &str) -> Origin {
        let written = self.entry(key).map(|e| e.written.as_str()).unwrap_or(key);
        self.origin.with_key(self.raw.key_path(written))
    }

    fn fail(&mut self, key: &str, message: String, hint: Option<String>) {
        let origin = self.origin_of(key);
        let e = self.report.error(origin, message);
        if let Some(h) = hint {
            e.hint(h);
        }
    }

    fn present(&self, key: &str) -> bool {
        self.entry(key).is_some_and(|e| !e.value.is_null())
    }

    fn string(&mut self, key: &str) -> Option<String> {
        let value = self.entry(key)?.value.clone();
        match value {
            Value::Null => None,
            Value::String(s) => Some(s),
            other => {
                let written = self.written(key);
                self.fail(
                    key,
                    format!("`{written}` must be a string, not {}", kind(&other)),
                    None,
                );
                None
            }
        }
    }

    fn boolean(&mut self, key: &str) -> Option<bool> {
        let value = self.entry(key)?.value.clone();
        match value {
            Value::Null => None,
            Value::Bool(b) => Some(b),
            other => {
                let written = self.written(key);
                let hint = match other.as_str() {
                    Some("true") | Some("false") => Some(format!(
                        "write {} without quotes",
                        other.as_str().unwrap_or_default()
                    )),
                    _ => None,
                };
                self.fail(
                    key,
                    format!("`{written}` must be true or false, not {}", kind(&other)),
                    hint,
                );
                None
            }
        }
    }

    /// A number, or a string that is one (PM2 parses numeric strings for number keys).
    fn number(&mut self, key: &str) -> Option<f64> {
        let value = self.entry(key)?.value.clone();
        let written = self.written(key);
        match &value {
            Value::Null => None,
            Value::Number(n) => n.as_f64(),
            Value::String(s) if s.trim().parse::<f64>().is_ok() => s.trim().parse().ok(),
            other => {
                self.fail(
                    key,
                    format!("`{written}` must be a number, not {}", describe(other)),
                    None,
                );
                None
            }
        }
    }

    fn millis(&mut self, key: &str) -> Option<u64> {
        let n = self.number(key)?;
        if n < 0.0 || n.fract() != 0.0 {
            let written = self.written(key);
            self.fail(
                key,
                format!(
                    "`{written}` must be a whole, non-negative number of milliseconds, not {n}"
                ),
                None,
            );
            return None;
        }
        Some(n as u64)
    }

    /// PM2 splits a string shell-like when the key also takes a list.
    fn words(&mut self, key: &str) -> Option<Vec<String>> {
        let value = self.entry(key)?.value.clone();
        match value {
            Value::Null => None,
            Value::String(s) => Some(values::split_args(&s)),
            Value::Array(items) => Some(items.iter().map(scalar_to_string).collect()),
            Value::Number(_) | Value::Bool(_) => Some(vec![scalar_to_string(&value)]),
            other => {
                let written = self.written(key);
                self.fail(
                    key,
                    format!(
                        "`{written}` must be a string or a list, not {}",
                        kind(&other)
                    ),
                    None,
                );
                None
            }
        }
    }
}

fn describe(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        other => kind(other).to_string(),
    }
}

/// How PM2 (Node) turns an env value into a string.
fn scalar_to_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    }
}

fn env_object(
    fields: &mut Fields<'_>,
    value: &Value,
    key_origin: Origin,
    into: &mut BTreeMap<String, String>,
) {
    match value {
        Value::Null => {}
        Value::Object(map) => {
            for (k, v) in map {
                if k.is_empty() || k.contains('=') || k.chars().any(|c| c.is_control()) {
                    fields
                        .report
                        .error(
                            key_origin.clone(),
                            format!("`{k}` cannot be an environment variable name"),
                        )
                        .hint("names must not be empty or contain `=` or control characters");
                    continue;
                }
                // PM2 JSON-stringifies nested objects.
                into.insert(k.clone(), scalar_to_string(v));
            }
        }
        other => {
            fields.report.error(
                key_origin,
                format!(
                    "an env block must be an object of NAME: value, not {}",
                    kind(other)
                ),
            );
        }
    }
}

fn validate_app(
    raw: &RawEcosystem,
    app: &RawApp,
    opts: &ModelOptions,
    report: &mut Report,
) -> Option<App> {
    let file_origin = Origin::file(&raw.file);
    let name_guess = raw_name(app);
    let origin = match &name_guess {
        Some(n) => file_origin.with_app(n),
        None => file_origin.clone(),
    };
    let errors_before = report.errors.len();
    let mut f = Fields {
        raw: app,
        origin: origin.clone(),
        report,
    };

    // script (cmd/command are aliases; PM2 requires it)
    let script_text = f.string("script");
    let Some(script_text) = script_text.filter(|s| !s.trim().is_empty()) else {
        if !f.present("script") {
            f.report
                .error(origin.with_key(app.key_path("script")), "`script` is required")
                .hint("name the file or command to run, e.g. `script: 'server.js'` or `script: 'npm', args: 'start'`");
        } else if f
            .entry("script")
            .is_some_and(|e| e.value.as_str().is_some())
        {
            f.fail("script", "`script` is empty".into(), None);
        }
        return None;
    };

    // name
    let mut name = f
        .string("name")
        .unwrap_or_else(|| default_name(&script_text));
    if f.boolean("append_env_to_name") == Some(true)
        && let Some(env) = &opts.env_name
    {
        name = format!("{name}-{env}");
    }
    let unit = sanitize_name(&name);
    if name.trim().is_empty() || unit.chars().all(|c| c == '-' || c == '.') {
        f.fail(
            "name",
            format!("{name:?} cannot name a service"),
            Some("use letters, digits, `-`, `_` or `.`".into()),
        );
        return None;
    }
    if unit.len() > 200 {
        f.fail(
            "name",
            "the name is longer than 200 characters".into(),
            Some("unit file names are limited to 255 bytes".into()),
        );
    }
    if unit != name {
        let o = f.origin_of("name");
        f.report.warn(
            WarningKind::NameEscaped,
            o.with_app(&name),
            format!("`{name}` is installed as `{unit}`"),
        );
    }
    let origin = file_origin.with_app(&name);
    f.origin = origin.clone();

    let namespace = f.string("namespace").unwrap_or_else(|| "default".into());

    // cwd: absolute, or relative to the ecosystem file's directory (see WarningKind::RelativeToFile)
    let cwd = match f.string("cwd") {
        Some(c) => resolve::normalize(&raw.dir().join(resolve::expand_home(&c))),
        None => raw.dir().to_path_buf(),
    };
    if !cwd.is_dir() {
        f.fail(
            "cwd",
            format!("the working directory {} does not exist", cwd.display()),
            Some(
                "create it, or fix `cwd` (relative paths start at the ecosystem file's directory)"
                    .into(),
            ),
        );
    }

    // env layering: deploy.<env>.env < env < env_<env>; then `port`, then PM2's python tweak
    let mut env = BTreeMap::new();
    if let Some(env_name) = &opts.env_name
        && let Some(Value::Object(d)) = raw.deploy.get(env_name)
        && let Some(deploy_env) = d.get("env")
    {
        let o = file_origin.with_key(format!("deploy.{env_name}.env"));
        env_object(&mut f, &deploy_env.clone(), o, &mut env);
    }
    if let Some(e) = f.entry("env").map(|e| e.value.clone()) {
        let o = f.origin_of("env");
        env_object(&mut f, &e, o, &mut env);
    }
    if let Some(env_name) = &opts.env_name
        && let Some(overlay) = app
            .entries
            .iter()
            .find(|e| matches!(&e.canonical, Canonical::EnvOverlay(n) if n == env_name))
    {
        let o = origin.with_key(app.key_path(&overlay.written));
        env_object(&mut f, &overlay.value.clone(), o, &mut env);
    }
    let port = match f.number("port") {
        Some(p) if (1.0..=65535.0).contains(&p) && p.fract() == 0.0 => Some(p as u16),
        Some(p) => {
            f.fail(
                "port",
                format!("`port` must be a TCP port (1-65535), not {p}"),
                None,
            );
            None
        }
        None => None,
    };
    if let Some(p) = port {
        env.insert("PORT".into(), p.to_string());
    }
    let port = port.or_else(|| env.get("PORT").and_then(|p| p.parse().ok()));

    // script, interpreter, argv
    let search = &opts.search;
    let mut args = f.words("args").unwrap_or_default();
    let node_args = f.words("node_args").unwrap_or_default();
    let interpreter_name = f.string("exec_interpreter");
    // On failure keep validating the other keys, so every problem is reported at once.
    let (mut script, mut interpreter, mut argv, mut launcher) = resolve_command(
        &mut f,
        &script_text,
        &cwd,
        &mut args,
        &node_args,
        interpreter_name.as_deref(),
        search,
    )
    .unwrap_or_else(|| {
        let none = Interpreter {
            kind: InterpreterKind::None,
            path: None,
        };
        (PathBuf::new(), none, Vec::new(), None)
    });
    if interpreter.kind == InterpreterKind::Python {
        env.entry("PYTHONUNBUFFERED".into())
            .or_insert_with(|| "1".into());
    }
    for path in std::iter::once(&script).chain(interpreter.path.iter()) {
        if resolve::is_versioned_node_path(path) {
            let o = f.origin_of("script");
            f.report.warn(
                WarningKind::VersionedNodePath,
                o,
                format!("{} is inside a versioned node install; run `rgen install` again after upgrading node", path.display()),
            );
        }
    }

    // instances and exec mode
    let instances = match f.entry("instances").map(|e| e.value.clone()) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s == "max" => Some(InstanceCount::Max),
        Some(_) => match f.number("instances") {
            Some(n) if n.fract() != 0.0 => {
                f.fail(
                    "instances",
                    format!("`instances` must be a whole number or 'max', not {n}"),
                    None,
                );
                None
            }
            Some(0.0) => Some(InstanceCount::Max),
            Some(n) if n < 0.0 => Some(InstanceCount::CpusMinus((-n) as u32)),
            Some(n) => Some(InstanceCount::Fixed(n as u32)),
            None => None,
        },
    };
    let mode = match f.string("exec_mode").as_deref() {
        Some("cluster") | Some("cluster_mode") => ExecMode::Cluster,
        Some("fork") | Some("fork_mode") => ExecMode::Fork,
        Some(other) => {
            f.fail(
                "exec_mode",
                format!("`exec_mode` must be \"cluster\" or \"fork\" (optionally with `_mode`), not {other:?}"),
                None,
            );
            ExecMode::Fork
        }
        // PM2 `determineExecMode`: instances + a node/bun interpreter mean cluster.
        None if instances.is_some()
            && matches!(
                interpreter.kind,
                InterpreterKind::Node | InterpreterKind::Bun
            ) =>
        {
            ExecMode::Cluster
        }
        None => ExecMode::Fork,
    };
    let mode = if f.boolean("execute_command") == Some(true) {
        ExecMode::Fork
    } else {
        mode
    };
    let instances = instances.unwrap_or(InstanceCount::Fixed(1));
    if mode == ExecMode::Cluster {
        if port.is_none() {
            let o = f.origin_of("exec_mode");
            f.report.warn(
                WarningKind::ClusterWithoutPort,
                o,
                "cluster mode without `port` or `env.PORT`: the instances cannot share a listening socket",
            );
        } else if !matches!(
            interpreter.kind,
            InterpreterKind::Node | InterpreterKind::Bun
        ) && launcher.is_none()
        {
            let o = f.origin_of("exec_mode");
            f.report.warn(
                WarningKind::ClusterNeedsFd,
                o,
                "cluster mode for a non-Node app: it must take its socket from fd 3 (uvicorn `--fd 3`, gunicorn)",
            );
        }
    }
    let instance_var = f
        .string("instance_var")
        .unwrap_or_else(|| DEFAULT_INSTANCE_VAR.into());
    let increment_var = f.string("increment_var");

    // restart policy
    let autorestart = f.boolean("autorestart").unwrap_or(true);
    let stop_exit_codes = match f.entry("stop_exit_codes").map(|e| e.value.clone()) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| match v {
                Value::Number(n) if n.as_i64().is_some_and(|c| (0..=255).contains(&c)) => {
                    n.as_i64().map(|c| c as i32)
                }
                Value::String(s) if s.parse::<u8>().is_ok() => s.parse::<i32>().ok(),
                other => {
                    f.fail(
                        "stop_exit_codes",
                        format!("exit codes are 0-255, not {}", describe(other)),
                        None,
                    );
                    None
                }
            })
            .collect(),
        Some(_) => match f.number("stop_exit_codes") {
            Some(n) if (0.0..=255.0).contains(&n) && n.fract() == 0.0 => vec![n as i32],
            Some(n) => {
                f.fail(
                    "stop_exit_codes",
                    format!("exit codes are 0-255, not {n}"),
                    None,
                );
                Vec::new()
            }
            None => Vec::new(),
        },
    };
    let delay_ms = f.millis("restart_delay");
    let exp_backoff_ms = f.millis("exp_backoff_restart_delay").filter(|&ms| ms > 0);
    let min_uptime_ms = match f.entry("min_uptime").map(|e| e.value.clone()) {
        Some(Value::String(s)) if s.parse::<f64>().is_err() => {
            match values::parse_duration_ms(&s) {
                Ok(ms) => Some(ms),
                Err(why) => {
                    f.fail(
                        "min_uptime",
                        format!("`min_uptime` is {s:?}, which PM2 rejects"),
                        Some(why),
                    );
                    None
                }
            }
        }
        Some(_) => match f.number("min_uptime") {
            Some(n) if n < 100.0 => {
                f.fail(
                    "min_uptime",
                    format!("`min_uptime` must be at least 100 (ms), as in PM2, not {n}"),
                    None,
                );
                None
            }
            Some(n) => Some(n as u64),
            None => None,
        },
        None => None,
    };
    let max_restarts = match f.number("max_restarts") {
        Some(n) if n < 0.0 || n.fract() != 0.0 => {
            f.fail(
                "max_restarts",
                format!("`max_restarts` must be a whole number ≥ 0, not {n}"),
                None,
            );
            None
        }
        Some(n) => Some(n as u32),
        None => None,
    };
    // Forever restarts without limit unless told otherwise; PM2 defaults to 16 in 16 s.
    let limit = if raw.format == Format::Forever {
        // Forever only stops restarting when told to (`max`, or `minUptime` without `spinSleepTime`).
        max_restarts.map(|max| StartLimit {
            min_uptime_ms: min_uptime_ms.unwrap_or(DEFAULT_MIN_UPTIME_MS),
            max_restarts: max,
        })
    } else {
        Some(StartLimit {
            min_uptime_ms: min_uptime_ms.unwrap_or(DEFAULT_MIN_UPTIME_MS),
            max_restarts: max_restarts.unwrap_or(DEFAULT_MAX_RESTARTS),
        })
    };

    // memory
    let max_memory_bytes = match f.entry("max_memory_restart").map(|e| e.value.clone()) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().parse::<f64>().is_err() => {
            match values::parse_size(&s) {
                Ok(0) => {
                    f.fail(
                        "max_memory_restart",
                        "`max_memory_restart` is 0".into(),
                        Some("remove the key to run without a limit".into()),
                    );
                    None
                }
                Ok(bytes) => Some(bytes),
                Err(why) => {
                    f.fail(
                        "max_memory_restart",
                        format!("`max_memory_restart` is {s:?}, which PM2 rejects"),
                        Some(why),
                    );
                    None
                }
            }
        }
        Some(_) => match f.number("max_memory_restart") {
            Some(n) if n >= 1.0 => Some(n as u64),
            Some(n) => {
                f.fail(
                    "max_memory_restart",
                    format!("`max_memory_restart` must be a positive number of bytes, not {n}"),
                    Some("remove the key to run without a limit".into()),
                );
                None
            }
            None => None,
        },
    };

    // logs
    let disable_logs = f.boolean("disable_logs").unwrap_or(false);
    let log_path = |f: &mut Fields<'_>, key: &str| -> LogTarget {
        match f.entry(key).map(|e| e.value.clone()) {
            None | Some(Value::Null) | Some(Value::Bool(false)) => LogTarget::Default,
            Some(Value::Bool(true)) => LogTarget::Default,
            Some(Value::String(s)) if s == "/dev/null" || s == "NULL" => LogTarget::Null,
            Some(Value::String(s)) if s.is_empty() => LogTarget::Default,
            Some(Value::String(s)) => {
                LogTarget::File(resolve::normalize(&cwd.join(resolve::expand_home(&s))))
            }
            Some(other) => {
                let written = f.written(key);
                f.fail(
                    key,
                    format!("`{written}` must be a file path, not {}", kind(&other)),
                    None,
                );
                LogTarget::Default
            }
        }
    };
    let out = log_path(&mut f, "out_file");
    let err = log_path(&mut f, "error_file");
    let combined = match log_path(&mut f, "log_file") {
        LogTarget::File(p) => Some(p),
        _ => None,
    };
    let date_format = match (f.string("log_date_format"), f.boolean("time")) {
        (Some(fmt), _) => Some(fmt),
        (None, Some(true)) => Some("YYYY-MM-DDTHH:mm:ss".to_string()),
        _ => None,
    };
    let merge_logs = f.boolean("merge_logs");
    let logs = Logs {
        out: if disable_logs { LogTarget::Null } else { out },
        err: if disable_logs { LogTarget::Null } else { err },
        combined: if disable_logs { None } else { combined },
        per_instance: !merge_logs
            .unwrap_or(instances == InstanceCount::Fixed(1) && mode == ExecMode::Fork),
        date_format,
    };

    // stop
    let signal = match f.string("kill_signal") {
        Some(s) => match values::normalize_signal(&s) {
            Some(sig) => sig,
            None => {
                f.fail(
                    "kill_signal",
                    format!("unknown signal {s:?}"),
                    Some("use a name such as SIGINT or SIGTERM".into()),
                );
                "SIGINT".into()
            }
        },
        None => "SIGINT".into(),
    };
    let stop = Stop {
        signal,
        timeout_ms: f.millis("kill_timeout").unwrap_or(DEFAULT_KILL_TIMEOUT_MS),
        treekill: f.boolean("treekill").unwrap_or(true),
        with_message: f.boolean("shutdown_with_message").unwrap_or(false),
    };
    let wait_ready = f.boolean("wait_ready").unwrap_or(false);
    let listen_timeout_ms = f
        .millis("listen_timeout")
        .unwrap_or(DEFAULT_LISTEN_TIMEOUT_MS);
    // A package manager in front of node closes the socket systemd holds for the app and takes
    // the IPC channel: run the package's script directly when that is exactly equivalent.
    let mut path_prepend = Vec::new();
    if let Some(l) = launcher
        && (wait_ready || port.is_some())
    {
        match resolve::resolve_package_script(l, &args, &cwd, search) {
            Ok(pkg) => {
                let o = f.origin_of("script");
                f.report.warn(
                    WarningKind::PackageScript,
                    o,
                    format!(
                        "`{l} {}` runs package.json's `{}` directly (`{}`), so the app itself holds its socket and IPC channel",
                        args.join(" "),
                        pkg.name,
                        pkg.command
                    ),
                );
                env.entry("npm_lifecycle_event".into())
                    .or_insert_with(|| pkg.name.clone());
                if let Some(n) = &pkg.package_name {
                    env.entry("npm_package_name".into())
                        .or_insert_with(|| n.clone());
                }
                path_prepend.push(pkg.bin_dir.clone());
                script = PathBuf::from(pkg.argv.get(1).unwrap_or(&pkg.argv[0]));
                interpreter = if pkg.argv.len() > 1
                    && resolve::kind_of(Path::new(&pkg.argv[0])) == InterpreterKind::Node
                {
                    Interpreter {
                        kind: InterpreterKind::Node,
                        path: Some(PathBuf::from(&pkg.argv[0])),
                    }
                } else {
                    Interpreter {
                        kind: InterpreterKind::None,
                        path: None,
                    }
                };
                argv = pkg.argv;
                launcher = None;
            }
            Err(why) if port.is_some() => {
                let o = f.origin_of("script");
                f.report.warn(
                    WarningKind::PackageScript,
                    o,
                    format!("`{l}` stays in front of node ({why}): the app binds its port itself, so a restart briefly refuses connections"),
                );
            }
            Err(_) => {}
        }
    }
    if wait_ready && launcher.is_some() {
        let o = f.origin_of("wait_ready");
        f.report.warn(
            WarningKind::WaitReadyThroughWrapper,
            o,
            format!(
                "`{}` stands between rgen and node: the preload relays `process.send('ready')` from the app",
                launcher.unwrap_or_default()
            ),
        );
    }

    // cron
    let cron_restart = match f.entry("cron_restart").map(|e| e.value.clone()) {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) if n.as_f64() == Some(0.0) => None,
        Some(Value::String(s)) if s.trim() == "0" || s.trim().is_empty() => None,
        Some(Value::String(s)) => match cron::parse(&s) {
            Ok(c) => Some(c),
            Err(why) => {
                f.fail(
                    "cron_restart",
                    format!("`cron_restart` {s:?} is not a cron pattern rgen can express: {why}"),
                    Some("use five fields `minute hour day month weekday` (or six with seconds first), e.g. \"0 3 * * *\"".into()),
                );
                None
            }
        },
        Some(other) => {
            f.fail(
                "cron_restart",
                format!(
                    "`cron_restart` must be a cron pattern string, not {}",
                    kind(&other)
                ),
                None,
            );
            None
        }
    };

    // watch
    let watch = match f.entry("watch").map(|e| e.value.clone()) {
        None | Some(Value::Null) | Some(Value::Bool(false)) => None,
        Some(Value::Bool(true)) => Some(vec![cwd.clone()]),
        Some(_) => f.words("watch").map(|ws| {
            ws.iter()
                .map(|w| resolve::normalize(&cwd.join(w)))
                .collect()
        }),
    }
    .map(|paths| Watch {
        paths,
        ignore: f.words("ignore_watch").unwrap_or_default(),
        delay_ms: f.millis("watch_delay"),
    });

    // user / group
    let user = match f.entry("uid").map(|e| e.value.clone()) {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(Value::String(s)) if !s.is_empty() => Some(s),
        Some(other) => {
            f.fail(
                "uid",
                format!("`uid` must be a user name or number, not {}", kind(&other)),
                None,
            );
            None
        }
    };
    let group = match f.entry("gid").map(|e| e.value.clone()) {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(Value::String(s)) if !s.is_empty() => Some(s),
        Some(other) => {
            f.fail(
                "gid",
                format!("`gid` must be a group name or number, not {}", kind(&other)),
                None,
            );
            None
        }
    };

    let autostart = f.boolean("autostart").unwrap_or(true);

    let mut keys_used = Vec::new();
    for entry in &app.entries {
        if let Canonical::Key(spec) = entry.canonical {
            // `watch: false`, `instances: null`: a key set to "off" maps to nothing to warn about.
            if entry.value.is_null() || entry.value == Value::Bool(false) {
                continue;
            }
            let o = origin.with_key(app.key_path(&entry.written));
            if spec.systemd.support == Support::Unsupported
                && spec.launchd.support == Support::Unsupported
            {
                f.report.warn(
                    WarningKind::Unsupported,
                    o.clone(),
                    format!("`{}` is ignored: {}", entry.written, spec.systemd.text),
                );
            }
            keys_used.push((spec, o));
        }
    }

    if f.report.errors.len() > errors_before {
        return None;
    }
    Some(App {
        index: app.index,
        name,
        unit,
        namespace,
        origin,
        cwd,
        script,
        interpreter,
        launcher,
        argv,
        env,
        user,
        group,
        autostart,
        restart: Restart {
            autorestart,
            stop_exit_codes,
            delay_ms,
            exp_backoff_ms,
            limit,
        },
        max_memory_bytes,
        logs,
        stop,
        wait_ready,
        listen_timeout_ms,
        mode,
        instances,
        instance_var,
        increment_var,
        port,
        cron_restart,
        watch,
        path_prepend,
        keys_used,
    })
}

type ResolvedCommand = (PathBuf, Interpreter, Vec<String>, Option<&'static str>);

/// `script` + `interpreter` + `node_args` + `args` → an absolute argv. `None` after reporting why.
fn resolve_command(
    f: &mut Fields<'_>,
    script_text: &str,
    cwd: &Path,
    args: &mut Vec<String>,
    node_args: &[String],
    interpreter_name: Option<&str>,
    search: &SearchPath,
) -> Option<ResolvedCommand> {
    let script_text = script_text.to_string();
    if script_text.contains(' ') && !Path::new(&script_text).exists() {
        // PM2: a command line runs as `bash -c "<script>"` and replaces `args`.
        if !args.is_empty() {
            let o = f.origin_of("args");
            f.report.warn(
                WarningKind::IgnoredWithCommandLine,
                o,
                "`args` is ignored because `script` is a command line run with `bash -c` (as in PM2)",
            );
        }
        let shell = search.find("bash").or_else(|| search.find("sh"));
        let Some(shell) = shell else {
            f.fail(
                "script",
                "`script` is a command line, but neither bash nor sh is on PATH".into(),
                None,
            );
            return None;
        };
        *args = vec!["-c".into(), script_text.clone()];
        let argv = std::iter::once(shell.to_string_lossy().into_owned())
            .chain(args.iter().cloned())
            .collect();
        Some((
            shell.clone(),
            Interpreter {
                kind: InterpreterKind::None,
                path: None,
            },
            argv,
            None,
        ))
    } else {
        let explicit = match interpreter_name {
            None | Some("") => None,
            Some("none") => Some(None),
            Some(name) => {
                match resolve::resolve_interpreter(name, cwd, search) {
                    Ok(p) => Some(Some(p)),
                    Err(e) => {
                        f.fail(
                        "exec_interpreter",
                        format!("interpreter not found: {e}"),
                        Some("give an absolute path, a path relative to `cwd`, or a command on PATH".into()),
                    );
                        return None;
                    }
                }
            }
        };
        let interp_dir = explicit
            .as_ref()
            .and_then(|p| p.as_ref())
            .and_then(|p| p.parent().map(Path::to_path_buf));
        let script = match resolve::resolve_script(&script_text, cwd, interp_dir.as_deref(), search)
        {
            Ok(s) => s,
            Err(e) => {
                f.fail(
                    "script",
                    e,
                    Some("rgen looks in `cwd`, then next to the interpreter, then on PATH".into()),
                );
                return None;
            }
        };
        let interpreter_path = match explicit {
            Some(p) => p,
            None => {
                let ext = script
                    .extension()
                    .map(|e| e.to_string_lossy().to_ascii_lowercase());
                match ext.as_deref().and_then(resolve::interpreter_for_extension) {
                    Some(name) => {
                        let found = if name == "python" {
                            search.find("python").or_else(|| search.find("python3"))
                        } else {
                            search.find(name)
                        };
                        match found {
                            Some(p) => Some(p),
                            None => {
                                f.fail(
                                    "script",
                                    format!(
                                        "`{}` needs `{name}`, which is not on PATH",
                                        script.display()
                                    ),
                                    Some(
                                        "install it, or set `interpreter` to its absolute path"
                                            .into(),
                                    ),
                                );
                                return None;
                            }
                        }
                    }
                    None => match resolve::file_nature(&script) {
                        FileNature::Binary => None,
                        FileNature::OtherShebang(line) => {
                            let o = f.origin_of("script");
                            f.report.warn(
                                WarningKind::InterpreterFromShebang,
                                o,
                                format!("`{}` starts with `#!{line}`: it runs as that says (PM2 would run it with node)", script.display()),
                            );
                            None
                        }
                        FileNature::NodeShebang | FileNature::Text => match search.find("node") {
                            Some(node) => Some(node),
                            None => {
                                f.fail(
                                    "script",
                                    format!(
                                        "`{}` is a Node.js script, but `node` is not on PATH",
                                        script.display()
                                    ),
                                    Some("install node, or set `interpreter`".into()),
                                );
                                return None;
                            }
                        },
                    },
                }
            }
        };
        if interpreter_path.is_none() && !resolve::is_executable(&script) {
            f.fail(
                "script",
                format!(
                    "{} is not executable and no interpreter is set",
                    script.display()
                ),
                Some(format!(
                    "`chmod +x {}`, or set `interpreter`",
                    script.display()
                )),
            );
            return None;
        }
        let kind = interpreter_path
            .as_deref()
            .map(resolve::kind_of)
            .unwrap_or(InterpreterKind::None);
        let mut argv = Vec::new();
        if let Some(interp) = &interpreter_path {
            argv.push(interp.to_string_lossy().into_owned());
            argv.extend(node_args.iter().cloned());
            argv.push(script.to_string_lossy().into_owned());
        } else {
            argv.push(script.to_string_lossy().into_owned());
        }
        argv.extend(args.iter().cloned());
        let launcher = resolve::launcher_name(&script);
        Some((
            script,
            Interpreter {
                kind,
                path: interpreter_path,
            },
            argv,
            launcher,
        ))
    }
}
