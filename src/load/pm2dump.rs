//! PM2's own record of what it runs — `dump.pm2` (`pm2 save`) or `pm2 jlist` — turned into
//! ecosystem settings that reproduce every app: the command as PM2 resolved it, instances, limits,
//! restart policy, logs, user, state, and the environment the app was given (not the shell PM2
//! happened to be started from).
//!
//! A dump is a JSON array with one flat object per *process*: a cluster app with two instances
//! is two entries with the same name. `pm2 jlist` is the same objects wrapped in
//! `{pid, name, pm2_env, …}`, plus PM2's modules (pm2-logrotate), and may have a banner before
//! the JSON. `pm2 resurrect` starts each dump entry unchanged, so the entry is the complete
//! definition of what PM2 would run after a reboot (notes in the issue: `pm2-dump.md`).
//!
//! The environment rule ([`classify_env`]): an entry's `env` is the whole environment of the
//! shell that ran `pm2 start`, overlaid with the app's own variables and PM2's additions, and
//! nothing in the dump says which is which. So PM2's own variables and the login session's are
//! dropped, `PATH`/`LANG` only when the service manager gives the same, `USER`/`HOME`/… only
//! when the manager sets them to the same from the app's user; everything else is kept, with a
//! comment where it is probably the shell's. Every dropped name is listed in the output.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::limits::{self, Parsed};
use crate::diag::{BadInput, Origin, Problems};

/// PM2's own variables in `env`: never the app's.
const PM2_OWN: &[&str] = &[
    "PM2_HOME",
    "PM2_USAGE",
    "PM2_JSON_PROCESSING",
    "PM2_PROGRAMMATIC",
    "PM2_INTERACTOR_PROCESSING",
    "PM2_DISCRETE_MODE",
    "unique_id",
];

/// What a login session sets for the person at the terminal, never for a service.
const SESSION: &[&str] = &[
    "PWD",
    "OLDPWD",
    "SHLVL",
    "_",
    "TERM",
    "COLORTERM",
    "TERM_PROGRAM",
    "TERM_PROGRAM_VERSION",
    "MAIL",
    "HOSTNAME",
    "LS_COLORS",
    "LESSOPEN",
    "LESSCLOSE",
    "SSH_CLIENT",
    "SSH_CONNECTION",
    "SSH_TTY",
    "SSH_AUTH_SOCK",
    "XDG_RUNTIME_DIR",
    "DBUS_SESSION_BUS_ADDRESS",
    "DISPLAY",
    "WAYLAND_DISPLAY",
    "TMUX",
    "TMUX_PANE",
    "STY",
    "WINDOW",
    "SUDO_USER",
    "SUDO_UID",
    "SUDO_GID",
    "SUDO_COMMAND",
    "MOTD_SHOWN",
    "EDITOR",
    "VISUAL",
    "PAGER",
    "NVM_CD_FLAGS",
    "NVM_INC",
];

/// pm2-logrotate's settings and its defaults (its package.json `config`), in the order written.
const LOGROTATE_KEYS: &[&str] = &[
    "max_size",
    "retain",
    "compress",
    "dateFormat",
    "rotateInterval",
    "workerInterval",
];

/// The log date format `--time` stores.
const TIME_FORMAT: &str = "YYYY-MM-DDTHH:mm:ss";

/// Which of PM2's two layouts the input had.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// `dump.pm2`: the `pm2_env` objects themselves.
    Dump,
    /// `pm2 jlist`: `{pid, name, pm2_env, pm_id, monit}` per process, modules included.
    Jlist,
}

/// A parsed dump: the processes' `pm2_env` objects, modules left out.
#[derive(Clone, Debug)]
pub struct Dump {
    /// Where it was read (for messages; `-` for standard input).
    pub file: PathBuf,
    pub layout: Layout,
    pub entries: Vec<Map<String, Value>>,
    /// PM2 modules the input listed (jlist only; `pm2 save` never writes them).
    pub modules: Vec<String>,
}

/// A user account, as the service manager will see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    pub uid: u32,
    pub home: PathBuf,
    pub shell: String,
}

/// What the conversion needs to know about this machine.
pub trait Host {
    fn user_by_uid(&self, uid: u32) -> Option<Account>;
    fn user_by_name(&self, name: &str) -> Option<Account>;
    fn group_name(&self, gid: u32) -> Option<String>;
    /// `which NAME` with this `PATH`.
    fn find_program(&self, name: &str, path: &str) -> Option<PathBuf>;
    fn is_file(&self, path: &Path) -> bool;
}

/// What the conversion knows besides the dump.
pub struct Context<'a> {
    /// `module_conf.json` of the PM2 home (`pm2 set` values, pm2-logrotate's settings).
    pub module_conf: Option<Map<String, Value>>,
    /// The running PM2 daemon's environment, when readable.
    pub daemon_env: Option<BTreeMap<String, String>>,
    /// rgen's own environment: variables the app shares with it are probably the shell's.
    pub shell_env: &'a BTreeMap<String, String>,
    /// The PATH the service manager gives every service.
    pub manager_path: &'a str,
    /// The service manager's own environment (`LANG`…), when known.
    pub manager_env: &'a BTreeMap<String, String>,
    /// Who PM2's daemon ran as: the user of apps without `uid`.
    pub daemon_user: Option<Account>,
    /// Name that user on every app (a system-scope import, where rgen must be told).
    pub name_daemon_user: bool,
    /// The service manager sets USER/LOGNAME/HOME/SHELL for every app (a user manager), not
    /// only for apps with a non-root `User=`.
    pub manager_sets_identity: bool,
    pub host: &'a dyn Host,
}

/// One generated setting.
#[derive(Clone, Debug, PartialEq)]
pub struct Setting {
    pub key: &'static str,
    pub value: Value,
    /// Why it is there or what it approximates, as a comment above it.
    pub comment: Option<String>,
    /// Written commented out: a suggestion, not a setting.
    pub disabled: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvVar {
    pub name: String,
    pub value: String,
    pub comment: Option<String>,
}

/// Why a variable of the dump's `env` is not in the generated file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Dropped {
    Pm2Own,
    /// PM2 echoes the app's `module_conf.json` entry as a variable named like the app.
    ModuleConfEcho,
    /// An object or list: PM2 never passed it to a fork-mode app.
    NotAScalar,
    /// `pm2 start app.js --env NAME` without an ecosystem file spreads NAME's letters.
    DigitName,
    Session,
    /// The service manager sets the same value from the app's user.
    SetFromUser,
    /// The same as the service manager's default.
    ManagerDefault,
    /// rgen sets it itself (`PYTHONUNBUFFERED` for Python).
    SetByRgen,
}

impl Dropped {
    pub fn describe(self) -> &'static str {
        match self {
            Dropped::Pm2Own => "PM2's own",
            Dropped::ModuleConfEcho => "PM2's echo of `pm2 set` values, named like the app",
            Dropped::NotAScalar => "objects PM2 never passed to the app",
            Dropped::DigitName => {
                "PM2's spread of `--env NAME` given without an ecosystem file (not variable names)"
            }
            Dropped::Session => "your login session's, not the app's",
            Dropped::SetFromUser => "the service manager sets the same from the app's user",
            Dropped::ManagerDefault => "the same as the service manager's default",
            Dropped::SetByRgen => "rgen sets it for this kind of app too",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ImportedApp {
    pub name: String,
    /// The name PM2 knows it by (`pm2 delete NAME`); differs from `name` only after a clash.
    pub pm2_name: String,
    pub namespace: String,
    pub instances: usize,
    /// Comment lines above the app.
    pub comments: Vec<String>,
    pub settings: Vec<Setting>,
    pub env: Vec<EnvVar>,
    pub dropped: Vec<(String, Dropped)>,
    /// The app was stopped in PM2 (it stays stopped: `autostart: false`).
    pub stopped: bool,
}

/// pm2-logrotate's settings, typed as rgen's `log_rotate` table takes them.
#[derive(Clone, Debug, PartialEq)]
pub struct LogRotate {
    /// Its `pm2-logrotate` object of module_conf.json, as PM2 stored it.
    pub module_conf: Map<String, Value>,
    /// Filled from `module_conf` by the model's reading of pm2-logrotate's values.
    pub settings: Vec<(String, Value)>,
    /// Keys the module has that rgen does not carry (`rotateModule`, `TZ`).
    pub not_carried: Vec<String>,
}

/// A problem with one app that does not stop the import.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportWarning {
    pub origin: Origin,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Imported {
    pub file: PathBuf,
    pub pm2_home: Option<PathBuf>,
    pub pm2_version: Option<String>,
    pub apps: Vec<ImportedApp>,
    pub log_rotate: Option<LogRotate>,
    /// The file's opening comment, when it is not PM2's record but what rgen installed
    /// (`rgen import --from-installed`).
    pub intro: Option<Vec<String>>,
    /// Said once for the whole file.
    pub notes: Vec<String>,
    pub warnings: Vec<ImportWarning>,
}

// ---- reading ----------------------------------------------------------------------------------

/// Parses `dump.pm2` or `pm2 jlist` output. Errors name the file and, per entry, the app.
pub fn parse(file: &Path, bytes: &[u8]) -> Result<Dump, BadInput> {
    let origin = Origin::file(file);
    let not_a_dump = |message: String| {
        BadInput::single(
            origin.clone(),
            message,
            Some("give PM2's home (`~/.pm2`), its `dump.pm2` (written by `pm2 save`), or the output of `pm2 jlist` (`pm2 jlist | rgen import --from-pm2 -`)".into()),
        )
    };
    let text = std::str::from_utf8(bytes).map_err(|e| {
        not_a_dump(format!(
            "not PM2's dump: not UTF-8 text (invalid byte at offset {})",
            e.valid_up_to()
        ))
    })?;
    if text.trim().is_empty() {
        return Err(BadInput::single(
            origin,
            "the PM2 dump is empty",
            Some("an interrupted `pm2 save` leaves an empty file (dump.pm2.bak may hold the previous one); run `pm2 save` again while PM2 runs the apps, or pipe `pm2 jlist`".into()),
        ));
    }
    let json = skip_banner(text).ok_or_else(|| {
        not_a_dump("not PM2's dump: no JSON list in it (PM2 writes a list of processes)".into())
    })?;
    let root = match limits::parse_ambient(|| serde_json::from_str::<limits::Ambient>(json)) {
        Parsed::Ok(v) => v,
        Parsed::TooLarge(what, _) => {
            return Err(BadInput::single(
                origin,
                what.message(),
                Some(what.hint().into()),
            ));
        }
        Parsed::Invalid(e) if e.is_eof() => {
            return Err(BadInput::single(
                origin,
                format!("the PM2 dump is cut off (at line {})", e.line()),
                Some("an interrupted `pm2 save` leaves a truncated file: run `pm2 save` again while PM2 runs, or pipe `pm2 jlist`; dump.pm2.bak may hold the previous save".into()),
            ));
        }
        Parsed::Invalid(e) => {
            return Err(not_a_dump(format!("not PM2's dump: invalid JSON ({e})")));
        }
    };
    let Value::Array(items) = root else {
        return Err(not_a_dump(format!(
            "not PM2's dump: {} where PM2 writes a list of processes",
            super::kind(&root)
        )));
    };
    let mut layout = Layout::Dump;
    let mut entries = Vec::new();
    let mut modules = Vec::new();
    let mut problems = Problems::default();
    let total = items.len();
    for (index, item) in items.into_iter().enumerate() {
        let Value::Object(mut map) = item else {
            problems.error(
                origin.with_key(format!("[{index}]")),
                format!(
                    "not PM2's dump: entry {index} is {}, not a process",
                    super::kind(&item)
                ),
            );
            continue;
        };
        let env = match map.shift_remove("pm2_env") {
            Some(Value::Object(env)) => {
                layout = Layout::Jlist;
                env
            }
            _ => map,
        };
        if !looks_like_pm2(&env) {
            problems.error(
                origin.with_key(format!("[{index}]")),
                format!(
                    "not PM2's dump: entry {index} has none of PM2's process keys (`name`, `pm_exec_path`, `exec_mode`, `pm_cwd`)"
                ),
            );
            continue;
        }
        if env.get("pmx_module").is_some_and(super::truthy) {
            modules.push(str_of(&env, "name").unwrap_or_default());
            continue;
        }
        entries.push(env);
    }
    if problems.errors.len() == total && total > 0 {
        // Nothing was PM2's: one message for the file, not one per entry.
        return Err(not_a_dump(
            "not PM2's dump: no entry has PM2's process keys (`name`, `pm_exec_path`, `exec_mode`, `pm_cwd`)".into(),
        ));
    }
    problems.finish(()).map_err(|mut bad| {
        if let Some(first) = bad.errors.first_mut() {
            first.hint.get_or_insert_with(|| "the file mixes PM2's processes with other data; use the dump.pm2 `pm2 save` wrote".into());
        }
        bad
    })?;
    Ok(Dump {
        file: file.to_path_buf(),
        layout,
        entries,
        modules,
    })
}

/// `pm2 jlist` may print PM2's out-of-date banner (with colours) or "Spawning PM2 daemon" lines
/// on stdout before the JSON: the JSON starts at the first line that starts with `[`.
fn skip_banner(text: &str) -> Option<&str> {
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    if trimmed.starts_with('[') || trimmed.starts_with('{') {
        return Some(trimmed);
    }
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        if line.trim_start().starts_with('[') {
            return Some(&text[offset..]);
        }
        offset += line.len();
    }
    None
}

fn looks_like_pm2(env: &Map<String, Value>) -> bool {
    ["pm_exec_path", "exec_mode", "pm_cwd", "pm_out_log_path"]
        .iter()
        .any(|k| env.contains_key(*k))
        || (env.contains_key("name") && env.get("env").is_some_and(Value::is_object))
}

fn str_of(env: &Map<String, Value>, key: &str) -> Option<String> {
    env.get(key).and_then(Value::as_str).map(str::to_string)
}

/// The PM2 home an entry was started under (`env.PM2_HOME`).
pub fn pm2_home_of(dump: &Dump) -> Option<PathBuf> {
    dump.entries.iter().find_map(|e| {
        e.get("env")
            .and_then(|env| env.get("PM2_HOME"))
            .and_then(Value::as_str)
            .map(PathBuf::from)
    })
}

/// Reads `module_conf.json` (4-space JSON written by `pm2 set`); a missing file is `None`. With
/// `owner`, only a file that user owns (see [`super::source::read_bytes_owned`]).
pub fn read_module_conf(
    pm2_home: &Path,
    owner: Option<u32>,
) -> Result<Option<Map<String, Value>>, BadInput> {
    let path = pm2_home.join("module_conf.json");
    if !path.exists() {
        return Ok(None);
    }
    let bytes = super::source::read_bytes_owned(&path, owner)?;
    let text = String::from_utf8_lossy(&bytes);
    match limits::parse_ambient(|| serde_json::from_str::<limits::Ambient>(&text)) {
        Parsed::Ok(Value::Object(map)) => Ok(Some(map)),
        Parsed::Ok(_) | Parsed::Invalid(_) | Parsed::TooLarge(..) => Err(BadInput::single(
            Origin::file(&path),
            "PM2's module_conf.json is not a JSON object",
            Some("it holds `pm2 set` values; fix or move it away to import without them".into()),
        )),
    }
}

// ---- converting -------------------------------------------------------------------------------

/// Every app of the dump, as ecosystem settings. Entries that cannot be imported are errors
/// (all of them at once): nothing is imported half.
pub fn convert(dump: &Dump, ctx: &Context<'_>) -> Result<Imported, BadInput> {
    let origin = Origin::file(&dump.file);
    let mut problems = Problems::default();
    let mut warnings = Vec::new();
    let pm2_version = dump.entries.iter().find_map(version_of);
    let pm2_home = pm2_home_of(dump);

    if dump.entries.is_empty() {
        let (message, hint) = if dump.modules.is_empty() {
            (
                "the PM2 dump lists no process".to_string(),
                "`pm2 cleardump` and a `pm2 save --force` with nothing running write `[]`; start the apps in PM2 and `pm2 save`, or pipe `pm2 jlist` from the PM2 that runs them",
            )
        } else {
            (
                format!(
                    "the PM2 list holds only PM2 modules ({}), no app",
                    dump.modules.join(", ")
                ),
                "modules are part of PM2, not apps to move; pm2-logrotate's settings are read from module_conf.json when there are apps",
            )
        };
        return Err(BadInput::single(origin, message, Some(hint.into())));
    }

    // Group processes into apps by (namespace, name), in the order PM2 listed them.
    type Processes<'d> = Vec<&'d Map<String, Value>>;
    let mut groups: Vec<((String, String), Processes<'_>)> = Vec::new();
    for (index, entry) in dump.entries.iter().enumerate() {
        let Some(name) = str_of(entry, "name").filter(|n| !n.is_empty()) else {
            problems
                .error(
                    origin.with_key(format!("[{index}].name")),
                    format!("entry {index} has no `name`"),
                )
                .hint("PM2 always stores a name; the dump was edited or is damaged: run `pm2 save` again");
            continue;
        };
        let namespace = str_of(entry, "namespace").unwrap_or_else(|| "default".into());
        let key = (namespace, name);
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, list)) => list.push(entry),
            None => groups.push((key, vec![entry])),
        }
    }

    let mut apps = Vec::new();
    for ((namespace, name), entries) in &groups {
        let app_origin = origin.with_app(name);
        let first = entries[0];
        if str_of(first, "pm_exec_path")
            .filter(|p| !p.is_empty())
            .is_none()
        {
            let index = dump
                .entries
                .iter()
                .position(|e| std::ptr::eq(e, first))
                .unwrap_or(0);
            problems
                .error(
                    app_origin.with_key(format!("[{index}].pm_exec_path")),
                    format!("`{name}` has no `pm_exec_path`: PM2's record does not say what it runs"),
                )
                .hint("PM2 stores the resolved script in every entry; this dump was edited or written by something else. Run `pm2 save` again from the PM2 that runs the app, or pipe `pm2 jlist`");
            continue;
        }
        let app = convert_app(name, namespace, entries, ctx, &app_origin, &mut warnings);
        apps.push(app);
    }
    rename_clashes(&mut apps, &origin, &mut warnings);
    annotate_shared_env(&mut apps, ctx);

    let (apps, _) = problems.finish(apps)?;
    let mut notes = Vec::new();
    if ctx.name_daemon_user && ctx.daemon_user.as_ref().is_some_and(|a| a.uid == 0) {
        notes.push("PM2's daemon ran as root, and so did every app without a user of its own: they say `uid = \"root\"` so rgen does the same. Give an app a user of its own where it does not need root.".to_string());
    }
    notes.extend([
        "Cluster-mode apps also saw the PM2 daemon's own environment, and every app saw PM2's settings (`name`, `pm_id`, `status`, …) as variables: neither is carried over.".to_string(),
    ]);
    if dump.layout == Layout::Jlist {
        notes.push("Read from `pm2 jlist`: what PM2 ran at that moment, which `pm2 resurrect` would not necessarily bring back (that is dump.pm2).".into());
    }
    let log_rotate = ctx
        .module_conf
        .as_ref()
        .and_then(|conf| log_rotate(conf, &dump.modules));
    Ok(Imported {
        file: dump.file.clone(),
        pm2_home,
        pm2_version,
        apps,
        log_rotate,
        intro: None,
        notes,
        warnings,
    })
}

fn version_of(entry: &Map<String, Value>) -> Option<String> {
    str_of(entry, "_pm2_version").or_else(|| {
        entry
            .get("axm_options")
            .and_then(|o| o.get("module_version"))
            .and_then(Value::as_str)
            .map(str::to_string)
    })
}

/// Two apps that share a name across namespaces would share a unit: the later ones get the
/// namespace in front.
fn rename_clashes(apps: &mut [ImportedApp], origin: &Origin, warnings: &mut Vec<ImportWarning>) {
    let mut seen = BTreeSet::new();
    for app in apps.iter_mut() {
        if seen.insert(app.name.clone()) {
            continue;
        }
        let renamed = format!("{}-{}", app.namespace, app.name);
        warnings.push(ImportWarning {
            origin: origin.with_app(&app.name),
            message: format!(
                "`{}` exists in two namespaces; the one in `{}` is imported as `{renamed}`",
                app.name, app.namespace
            ),
        });
        app.comments.push(format!(
            "Named `{}` in PM2's namespace `{}`; renamed because app names must be unique.",
            app.name, app.namespace
        ));
        app.name = renamed.clone();
        if let Some(s) = app.settings.iter_mut().find(|s| s.key == "name") {
            s.value = Value::String(renamed.clone());
        }
        seen.insert(renamed);
    }
}

fn convert_app(
    name: &str,
    namespace: &str,
    entries: &[&Map<String, Value>],
    ctx: &Context<'_>,
    origin: &Origin,
    warnings: &mut Vec<ImportWarning>,
) -> ImportedApp {
    let e = entries[0];
    let count = entries.len();
    let mut settings = Vec::new();
    let mut comments = Vec::new();
    let mut warn = |message: String| {
        warnings.push(ImportWarning {
            origin: origin.clone(),
            message,
        })
    };

    set(&mut settings, "name", Value::String(name.into()));
    if namespace != "default" {
        set(&mut settings, "namespace", Value::String(namespace.into()));
    }

    let python = command_settings(e, ctx, &mut settings, &mut warn);

    // Instances.
    let cluster = str_of(e, "exec_mode").is_some_and(|m| m.starts_with("cluster"));
    if cluster {
        set(&mut settings, "exec_mode", Value::String("cluster".into()));
    } else if count > 1 {
        set(&mut settings, "exec_mode", Value::String("fork".into()));
    }
    if cluster || count > 1 {
        set(&mut settings, "instances", Value::from(count as u64));
    }
    if let Some(var) = str_of(e, "instance_var").filter(|v| v != "NODE_APP_INSTANCE") {
        set(&mut settings, "instance_var", Value::String(var));
    }
    if let Some(var) = str_of(e, "increment_var") {
        set(&mut settings, "increment_var", Value::String(var));
    }
    let differing = differing_keys(entries);
    if !differing.is_empty() {
        warn(format!(
            "its {count} processes differ in {}; every instance gets the first one's",
            differing.join(", ")
        ));
    }

    // Who it runs as.
    let run_as = user_setting(e, ctx, &mut settings, &mut comments, &mut warn);

    // State.
    let stopped = entries
        .iter()
        .all(|p| str_of(p, "status").as_deref() == Some("stopped"));
    let autostart_false = e.get("autostart") == Some(&Value::Bool(false));
    if autostart_false || stopped {
        settings.push(Setting {
            key: "autostart",
            value: Value::Bool(false),
            comment: Some(if autostart_false {
                "`autostart: false` in PM2: installed, not started (`rgen start` starts it)".into()
            } else {
                "stopped in PM2 when imported (`pm2 stop`): installed, not started; `rgen start` starts it".into()
            }),
            disabled: false,
        });
    } else if entries
        .iter()
        .any(|p| str_of(p, "status").as_deref() == Some("stopped"))
    {
        warn("some of its processes were stopped in PM2; all instances will run".into());
    }

    policy_settings(e, &mut settings, &mut comments);

    // Logs.
    logs(e, name, cluster || count > 1, &mut settings);

    // Environment.
    let (env, dropped) = classify_env(e, name, python, run_as.as_ref(), ctx);

    ImportedApp {
        name: name.to_string(),
        pm2_name: name.to_string(),
        namespace: namespace.to_string(),
        instances: count,
        comments,
        settings,
        env,
        dropped,
        stopped: autostart_false || stopped,
    }
}

fn set(settings: &mut Vec<Setting>, key: &'static str, value: Value) {
    settings.push(Setting {
        key,
        value,
        comment: None,
        disabled: false,
    })
}

/// The command, as PM2 ran it: script, interpreter (resolved on the PATH PM2 spawned it with),
/// its arguments and working directory. Returns whether the interpreter is Python.
fn command_settings(
    e: &Map<String, Value>,
    ctx: &Context<'_>,
    settings: &mut Vec<Setting>,
    warn: &mut dyn FnMut(String),
) -> bool {
    let entry_path = e
        .get("env")
        .and_then(|env| env.get("PATH"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let script = str_of(e, "pm_exec_path").unwrap_or_default();
    if !ctx.host.is_file(Path::new(&script)) {
        warn(format!(
            "{script} does not exist on this machine: the app will not start until it does"
        ));
    }
    set(settings, "script", Value::String(script.clone()));
    let interpreter = str_of(e, "exec_interpreter").unwrap_or_else(|| "node".into());
    let python = interpreter.contains("python");
    if interpreter == "none" {
        set(settings, "exec_interpreter", Value::String("none".into()));
    } else if interpreter.contains('/') {
        if !ctx.host.is_file(Path::new(&interpreter)) {
            warn(format!(
                "the interpreter {interpreter} does not exist on this machine"
            ));
        }
        set(settings, "exec_interpreter", Value::String(interpreter));
    } else if let Some(found) = ctx.host.find_program(&interpreter, entry_path) {
        settings.push(Setting {
            key: "exec_interpreter",
            value: Value::String(found.to_string_lossy().into_owned()),
            comment: Some(format!(
                "PM2 ran `{interpreter}`, found on the PATH of the shell that started the app"
            )),
            disabled: false,
        });
    } else {
        warn(format!(
            "`{interpreter}` is not on the PATH PM2 ran the app with; rgen will look for it on its own PATH at install"
        ));
        set(settings, "exec_interpreter", Value::String(interpreter));
    }
    if let Some(Value::Array(a)) = e.get("node_args")
        && !a.is_empty()
    {
        set(settings, "node_args", Value::Array(a.clone()));
    }
    match e.get("args") {
        Some(Value::Array(a)) if !a.is_empty() => set(settings, "args", Value::Array(a.clone())),
        Some(Value::String(s)) if !s.is_empty() => set(settings, "args", Value::String(s.clone())),
        _ => {}
    }
    if let Some(cwd) = str_of(e, "pm_cwd").or_else(|| str_of(e, "cwd")) {
        set(settings, "cwd", Value::String(cwd));
    }

    python
}

/// Restarts, limits, schedule, watching, stop and readiness.
fn policy_settings(
    e: &Map<String, Value>,
    settings: &mut Vec<Setting>,
    comments: &mut Vec<String>,
) {
    // Restarts.
    if e.get("autorestart") == Some(&Value::Bool(false)) {
        set(settings, "autorestart", Value::Bool(false));
    }
    for key in [
        "max_restarts",
        "min_uptime",
        "restart_delay",
        "exp_backoff_restart_delay",
    ] {
        if let Some(v) = e.get(key).filter(|v| v.is_number()) {
            set(settings, key, v.clone());
        }
    }
    if let Some(v) = e
        .get("stop_exit_codes")
        .filter(|v| v.is_number() || v.is_array())
    {
        set(settings, "stop_exit_codes", v.clone());
    }
    if let Some(bytes) = e.get("max_memory_restart").and_then(Value::as_u64) {
        settings.push(Setting {
            key: "max_memory_restart",
            value: memory_text(bytes),
            comment: None,
            disabled: false,
        });
    }
    if let Some(cron) = str_of(e, "cron_restart").filter(|c| !c.is_empty()) {
        set(settings, "cron_restart", Value::String(cron));
    }
    match e.get("watch") {
        Some(Value::Bool(true)) => set(settings, "watch", Value::Bool(true)),
        Some(Value::Array(a)) if !a.is_empty() => set(settings, "watch", Value::Array(a.clone())),
        Some(Value::String(s)) if !s.is_empty() => set(settings, "watch", Value::String(s.clone())),
        _ => {}
    }
    if settings.iter().any(|s| s.key == "watch") {
        if let Some(Value::Array(a)) = e.get("ignore_watch")
            && !a.is_empty()
        {
            set(settings, "ignore_watch", Value::Array(a.clone()));
        }
        if let Some(v) = e.get("watch_delay").filter(|v| v.is_number()) {
            set(settings, "watch_delay", v.clone());
        }
        if e.get("watch_options").is_some_and(Value::is_object) {
            comments.push("PM2 had `watch_options` (chokidar settings); systemd's path units have no equivalent.".into());
        }
    }

    // Stop and readiness.
    for key in ["kill_timeout", "listen_timeout"] {
        if let Some(v) = e.get(key).filter(|v| v.is_number()) {
            set(settings, key, v.clone());
        }
    }
    if let Some(v) = e.get("kill_retry_time").and_then(Value::as_u64)
        && v != 100
    {
        set(settings, "kill_retry_time", Value::from(v));
    }
    if e.get("treekill") == Some(&Value::Bool(false)) {
        set(settings, "treekill", Value::Bool(false));
    }
    for key in ["wait_ready", "shutdown_with_message"] {
        if e.get(key) == Some(&Value::Bool(true)) {
            set(settings, key, Value::Bool(true));
        }
    }
    if let Some(port) = e.get("port").filter(|v| v.is_number() || v.is_string()) {
        set(settings, "port", port.clone());
    }
    if e.get("source_map_support") == Some(&Value::Bool(true)) {
        comments.push("PM2 loaded source-map-support into its wrapper; add `--enable-source-maps` to `node_args` for Node's own.".into());
    }
}

/// Keys in which the processes of one app disagree (other than what differs per process).
fn differing_keys(entries: &[&Map<String, Value>]) -> Vec<String> {
    const PER_PROCESS: &[&str] = &[
        "pm_id",
        "pm_pid_path",
        "pm_out_log_path",
        "pm_err_log_path",
        "pm_log_path",
        "NODE_APP_INSTANCE",
        "status",
        "pm_uptime",
        "created_at",
        "restart_time",
        "unstable_restarts",
        "exit_code",
        "_tree_pids",
        "axm_monitor",
        "axm_actions",
        "axm_dynamic",
        "axm_options",
        "unique_id",
        "vizion_running",
        "versioning",
        "version",
        "node_version",
        "_pm2_version",
        "prev_restart_delay",
        "instances",
        "env",
    ];
    let first = entries[0];
    let mut out = BTreeSet::new();
    for other in &entries[1..] {
        for (k, v) in first.iter().chain(other.iter()) {
            if PER_PROCESS.contains(&k.as_str()) || k.chars().all(|c| !c.is_ascii_lowercase()) {
                continue;
            }
            if first.get(k) != other.get(k) || other.get(k) != Some(v) {
                out.insert(format!("`{k}`"));
            }
        }
        let env = |m: &Map<String, Value>| {
            m.get("env").and_then(Value::as_object).map(|env| {
                env.iter()
                    .filter(|(k, _)| k.as_str() != "unique_id")
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect::<BTreeMap<_, _>>()
            })
        };
        if env(first) != env(other) {
            out.insert("`env`".into());
        }
    }
    out.into_iter().collect()
}

/// `uid`/`gid` as names where this machine knows them; the daemon's user for apps without.
fn user_setting(
    e: &Map<String, Value>,
    ctx: &Context<'_>,
    settings: &mut Vec<Setting>,
    comments: &mut Vec<String>,
    warn: &mut dyn FnMut(String),
) -> Option<Account> {
    let number = |key: &str| match e.get(key) {
        Some(Value::Number(n)) => n.as_u64().map(|n| n as u32),
        Some(Value::String(s)) => s.parse().ok(),
        _ => None,
    };
    let account = match number("uid") {
        Some(uid) => {
            let account = ctx.host.user_by_uid(uid);
            let value = match &account {
                Some(a) => Value::String(a.name.clone()),
                None => {
                    warn(format!(
                        "PM2 ran it as uid {uid}, which has no user on this machine"
                    ));
                    Value::from(uid)
                }
            };
            settings.push(Setting {
                key: "uid",
                value,
                comment: None,
                disabled: false,
            });
            account
        }
        None => {
            let account = ctx.daemon_user.clone();
            if ctx.name_daemon_user
                && let Some(a) = &account
            {
                settings.push(Setting {
                    key: "uid",
                    value: Value::String(a.name.clone()),
                    comment: Some("the user PM2's daemon ran as, and so the app".into()),
                    disabled: false,
                });
            } else if ctx.name_daemon_user {
                comments.push("Who PM2's daemon ran as is unknown here: set `uid` (rgen never runs an app as root unless told).".into());
            }
            account
        }
    };
    if let Some(gid) = number("gid") {
        let value = ctx
            .host
            .group_name(gid)
            .map(Value::String)
            .unwrap_or_else(|| Value::from(gid));
        settings.push(Setting {
            key: "gid",
            value,
            comment: None,
            disabled: false,
        });
    }
    account
}

/// `200M` for 209715200 bytes: PM2's own notation when it is exact, else the number.
fn memory_text(bytes: u64) -> Value {
    for (unit, size) in [("G", 1u64 << 30), ("M", 1 << 20), ("K", 1 << 10)] {
        if bytes >= size && bytes.is_multiple_of(size) {
            return Value::String(format!("{}{unit}", bytes / size));
        }
    }
    Value::from(bytes)
}

/// Log files the user chose are kept; PM2's default files under `$PM2_HOME/logs` become the
/// journal (suggested, commented out, for those who want the files).
fn logs(e: &Map<String, Value>, name: &str, several: bool, settings: &mut Vec<Setting>) {
    let home = e
        .get("env")
        .and_then(|env| env.get("PM2_HOME"))
        .and_then(Value::as_str)
        .map(PathBuf::from);
    let pm_id = str_of(e, "pm_pid_path").and_then(|p| {
        let stem = Path::new(&p).file_stem()?.to_string_lossy().into_owned();
        let id = stem.rsplit_once('-')?.1.to_string();
        id.parse::<u32>().ok().map(|_| id)
    });
    let merge = e
        .get("merge_logs")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let mut defaults = Vec::new();
    let mut any_file = false;
    let mut unmerged = false;
    for (dump_key, key) in [
        ("pm_out_log_path", "out_file"),
        ("pm_err_log_path", "error_file"),
        ("pm_log_path", "log_file"),
    ] {
        let Some(mut path) = str_of(e, dump_key).filter(|p| !p.is_empty()) else {
            continue;
        };
        // Without merge_logs PM2 put `-<pm_id>` before `.log`; rgen numbers instances itself.
        if !merge && let Some(id) = &pm_id {
            let suffix = format!("-{id}.log");
            if let Some(stem) = path.strip_suffix(&suffix) {
                path = format!("{stem}.log");
                unmerged = true;
            }
        }
        if path == "/dev/null" || path == "NULL" {
            settings.push(Setting {
                key,
                value: Value::String("/dev/null".into()),
                comment: None,
                disabled: false,
            });
            continue;
        }
        if home
            .as_ref()
            .is_some_and(|h| is_default_log(Path::new(&path), h, name))
        {
            defaults.push((key, path));
            continue;
        }
        any_file = true;
        settings.push(Setting {
            key,
            value: Value::String(path),
            comment: None,
            disabled: false,
        });
    }
    if !defaults.is_empty() {
        let files: Vec<&str> = defaults.iter().map(|(_, p)| p.as_str()).collect();
        let comment = format!(
            "PM2 wrote the output to its default files ({}); rgen logs to the journal instead (`rgen logs {name}`). To keep the files, uncomment:",
            files.join(", ")
        );
        for (i, (key, path)) in defaults.into_iter().enumerate() {
            settings.push(Setting {
                key,
                value: Value::String(path),
                comment: (i == 0).then(|| comment.clone()),
                disabled: true,
            });
        }
    }
    if any_file && several {
        settings.push(Setting {
            key: "merge_logs",
            value: Value::Bool(merge || !unmerged),
            comment: None,
            disabled: false,
        });
    }
    if e.get("time") == Some(&Value::Bool(true)) {
        settings.push(Setting {
            key: "time",
            value: Value::Bool(true),
            comment: None,
            disabled: false,
        });
    }
    if let Some(fmt) = str_of(e, "log_date_format").filter(|f| !f.is_empty())
        && !(fmt == TIME_FORMAT && e.get("time") == Some(&Value::Bool(true)))
    {
        settings.push(Setting {
            key: "log_date_format",
            value: Value::String(fmt),
            comment: None,
            disabled: false,
        });
    }
    if let Some(t) = str_of(e, "log_type").filter(|t| !t.is_empty() && t != "raw") {
        settings.push(Setting {
            key: "log_type",
            value: Value::String(t),
            comment: None,
            disabled: false,
        });
    }
    if e.get("disable_logs") == Some(&Value::Bool(true)) {
        settings.push(Setting {
            key: "disable_logs",
            value: Value::Bool(true),
            comment: None,
            disabled: false,
        });
    }
}

/// `$PM2_HOME/logs/<name>-out.log`, `…-error.log`, `…/<name>.log` (PM2 replaces characters
/// other than letters, digits, `.` and `-` in the name with `-`).
fn is_default_log(path: &Path, home: &Path, name: &str) -> bool {
    if path.parent() != Some(&home.join("logs")) {
        return false;
    }
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    [
        format!("{safe}-out.log"),
        format!("{safe}-error.log"),
        format!("{safe}.log"),
    ]
    .contains(&file)
}

/// The env rule. Returns what is kept (with comments) and what is dropped, by name.
pub fn classify_env(
    e: &Map<String, Value>,
    name: &str,
    python: bool,
    run_as: Option<&Account>,
    ctx: &Context<'_>,
) -> (Vec<EnvVar>, Vec<(String, Dropped)>) {
    let mut kept = Vec::new();
    let mut dropped = Vec::new();
    let Some(env) = e.get("env").and_then(Value::as_object) else {
        return (kept, dropped);
    };
    let overlays: Vec<(String, &Map<String, Value>)> = e
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("env_")?.to_string(), v.as_object()?)))
        .collect();
    let pm2_set: BTreeSet<String> = ctx
        .module_conf
        .as_ref()
        .and_then(|c| c.get(name))
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    // The manager gives USER/LOGNAME/HOME/SHELL from the unit's user: with a non-root `User=`,
    // or always in a user manager.
    let identity_from_manager = run_as.filter(|a| a.uid != 0 || ctx.manager_sets_identity);

    let mut names: Vec<&String> = env.keys().collect();
    names.sort();
    for key in names {
        let value = &env[key];
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => {
                let why = if key == name {
                    Dropped::ModuleConfEcho
                } else {
                    Dropped::NotAScalar
                };
                dropped.push((key.clone(), why));
                continue;
            }
        };
        let drop = if PM2_OWN.contains(&key.as_str()) {
            Some(Dropped::Pm2Own)
        } else if key == name {
            Some(Dropped::ModuleConfEcho)
        } else if !key.is_empty() && key.chars().all(|c| c.is_ascii_digit()) {
            Some(Dropped::DigitName)
        } else if SESSION.contains(&key.as_str())
            || key.starts_with("HIST")
            || key.starts_with("XDG_SESSION_")
        {
            Some(Dropped::Session)
        } else if key == "PATH" {
            let manager: Vec<&str> = ctx.manager_path.split(':').collect();
            text.split(':')
                .filter(|d| !d.is_empty())
                .all(|d| manager.contains(&d))
                .then_some(Dropped::ManagerDefault)
        } else if key == "LANG" || key == "LANGUAGE" || key.starts_with("LC_") {
            (ctx.manager_env.get(key) == Some(&text)).then_some(Dropped::ManagerDefault)
        } else if python && key == "PYTHONUNBUFFERED" && text == "1" {
            Some(Dropped::SetByRgen)
        } else if let Some(a) = identity_from_manager {
            let same = match key.as_str() {
                "USER" | "LOGNAME" => text == a.name,
                // systemd leaves HOME unset for `nobody` and for homes of `/` (it does not
                // look them up), so such a HOME is kept.
                "HOME" => {
                    Path::new(&text) == a.home
                        && a.uid != NOBODY
                        && !["/", "/nonexistent"].contains(&text.as_str())
                }
                "SHELL" => text == a.shell,
                _ => false,
            };
            same.then_some(Dropped::SetFromUser)
        } else {
            None
        };
        if let Some(why) = drop {
            dropped.push((key.clone(), why));
            continue;
        }
        let comment = env_comment(key, &text, &overlays, &pm2_set, name, ctx);
        kept.push(EnvVar {
            name: key.clone(),
            value: text,
            comment,
        });
    }
    // One comment for the login identity variables, above the first of them.
    let identity: Vec<String> = kept
        .iter()
        .filter(|v| IDENTITY.contains(&v.name.as_str()))
        .map(|v| v.name.clone())
        .collect();
    let mut first = true;
    for var in kept
        .iter_mut()
        .filter(|v| IDENTITY.contains(&v.name.as_str()))
    {
        var.comment = first.then(|| {
            let names = identity.join(", ");
            match run_as {
                Some(a) if a.uid == 0 && !ctx.manager_sets_identity => format!(
                    "{names}: as PM2 gave them (from the shell); systemd sets these only for apps with a non-root `uid`"
                ),
                Some(a) => format!(
                    "{names}: as PM2 gave them (from the shell), not {}'s from the user database",
                    a.name
                ),
                None => format!("{names}: as PM2 gave them (from the shell)"),
            }
        });
        first = false;
    }
    (kept, dropped)
}

/// systemd's `nobody`, whose identity it fills in without the user database.
const NOBODY: u32 = 65534;

/// The login identity a service manager derives from the unit's user.
const IDENTITY: &[&str] = &["HOME", "LOGNAME", "SHELL", "USER"];

fn env_comment(
    key: &str,
    value: &str,
    overlays: &[(String, &Map<String, Value>)],
    pm2_set: &BTreeSet<String>,
    app: &str,
    ctx: &Context<'_>,
) -> Option<String> {
    if let Some((overlay, _)) = overlays.iter().find(|(_, m)| m.contains_key(key)) {
        return Some(format!("from the ecosystem file's env_{overlay}"));
    }
    if pm2_set.contains(key) {
        return Some(format!("set with `pm2 set {app}:{key}`"));
    }
    match key {
        "PATH" => {
            let manager: Vec<&str> = ctx.manager_path.split(':').collect();
            let extra: Vec<&str> = value
                .split(':')
                .filter(|d| !d.is_empty() && !manager.contains(d))
                .collect();
            return Some(format!(
                "the PATH of the shell that ran `pm2 start`; it has directories the service manager's lacks: {}",
                extra.join(", ")
            ));
        }
        "LANG" | "LANGUAGE" => {
            return Some(
                "the locale of the shell that ran `pm2 start`; services otherwise get the system locale"
                    .into(),
            );
        }
        // Commented together by `classify_env`.
        "USER" | "LOGNAME" | "HOME" | "SHELL" => return None,
        _ => {}
    }
    let in_shell = ctx.shell_env.get(key).is_some_and(|v| v == value);
    let in_daemon = ctx
        .daemon_env
        .as_ref()
        .is_some_and(|d| d.get(key).is_some_and(|v| v == value));
    if in_shell || in_daemon {
        let place = if in_shell {
            "your current shell"
        } else {
            "the PM2 daemon's environment"
        };
        return Some(format!(
            "probably from your shell (the same in {place}); kept, delete it if the app does not need it"
        ));
    }
    None
}

/// A variable with the same value in every app (of at least two) is probably the shell's.
fn annotate_shared_env(apps: &mut [ImportedApp], _ctx: &Context<'_>) {
    if apps.len() < 2 {
        return;
    }
    let mut shared: BTreeMap<String, String> = apps[0]
        .env
        .iter()
        .map(|v| (v.name.clone(), v.value.clone()))
        .collect();
    for app in &apps[1..] {
        shared.retain(|k, v| app.env.iter().any(|e| &e.name == k && &e.value == v));
    }
    for app in apps.iter_mut() {
        for var in &mut app.env {
            if var.comment.is_none()
                && shared.contains_key(&var.name)
                && !IDENTITY.contains(&var.name.as_str())
            {
                var.comment = Some("probably from your shell (the same in every app); kept, delete it if the app does not need it".into());
            }
        }
    }
}

/// Whether pm2-logrotate ran, and the keys of its settings rgen does not carry; its values are
/// read by the model's `log_rotate` grammar (`model::from_pm2_logrotate`), as the module reads
/// them, by whoever writes the import.
fn log_rotate(conf: &Map<String, Value>, modules: &[String]) -> Option<LogRotate> {
    let installed = conf
        .get("module-db-v2")
        .and_then(Value::as_object)
        .is_some_and(|db| db.contains_key("pm2-logrotate"))
        || modules.iter().any(|m| m == "pm2-logrotate");
    let own = conf.get("pm2-logrotate").and_then(Value::as_object);
    if !installed && own.is_none() {
        return None;
    }
    let not_carried = own
        .map(|o| {
            o.keys()
                .filter(|k| !LOGROTATE_KEYS.contains(&k.as_str()))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    Some(LogRotate {
        module_conf: own.cloned().unwrap_or_default(),
        settings: Vec::new(),
        not_carried,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    struct FakeHost;

    impl Host for FakeHost {
        fn user_by_uid(&self, uid: u32) -> Option<Account> {
            match uid {
                0 => self.user_by_name("root"),
                65534 => self.user_by_name("nobody"),
                _ => None,
            }
        }
        fn user_by_name(&self, name: &str) -> Option<Account> {
            match name {
                "root" => Some(Account {
                    name: "root".into(),
                    uid: 0,
                    home: "/root".into(),
                    shell: "/bin/bash".into(),
                }),
                "nobody" => Some(Account {
                    name: "nobody".into(),
                    uid: 65534,
                    home: "/nonexistent".into(),
                    shell: "/usr/sbin/nologin".into(),
                }),
                _ => None,
            }
        }
        fn group_name(&self, gid: u32) -> Option<String> {
            (gid == 65534).then(|| "nogroup".into())
        }
        fn find_program(&self, name: &str, _path: &str) -> Option<PathBuf> {
            Some(PathBuf::from("/usr/bin").join(name))
        }
        fn is_file(&self, _path: &Path) -> bool {
            true
        }
    }

    fn fixture(rel: &str) -> Vec<u8> {
        std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/pm2-dumps")
                .join(rel),
        )
        .unwrap()
    }

    fn import(rel: &str) -> Imported {
        let dump = parse(Path::new(rel), &fixture(rel)).unwrap();
        let conf: Map<String, Value> =
            serde_json::from_slice(&fixture("pm2-7.0.4/module_conf.json")).unwrap();
        let empty = BTreeMap::new();
        let ctx = Context {
            module_conf: Some(conf),
            daemon_env: None,
            shell_env: &empty,
            manager_path: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            manager_env: &empty,
            daemon_user: FakeHost.user_by_name("root"),
            name_daemon_user: true,
            manager_sets_identity: false,
            host: &FakeHost,
        };
        convert(&dump, &ctx).unwrap()
    }

    fn app<'a>(imported: &'a Imported, name: &str) -> &'a ImportedApp {
        imported.apps.iter().find(|a| a.name == name).unwrap()
    }

    fn setting<'a>(app: &'a ImportedApp, key: &str) -> Option<&'a Value> {
        app.settings
            .iter()
            .find(|s| s.key == key && !s.disabled)
            .map(|s| &s.value)
    }

    fn kept(app: &ImportedApp) -> Vec<&str> {
        app.env.iter().map(|v| v.name.as_str()).collect()
    }

    #[test]
    fn cluster_entries_collapse_into_instances() {
        let imported = import("pm2-7.0.4/dump.pm2");
        let names: Vec<&str> = imported.apps.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "web",
                "worker",
                "loop",
                "idle",
                "api",
                "eco",
                "eco-cluster",
                "eco-manual",
                "asuser"
            ]
        );
        let web = app(&imported, "web");
        assert_eq!(web.instances, 2);
        assert_eq!(setting(web, "instances"), Some(&Value::from(2)));
        assert_eq!(setting(web, "exec_mode"), Some(&Value::from("cluster")));
        assert_eq!(
            setting(web, "max_memory_restart"),
            Some(&Value::from("200M"))
        );
        assert_eq!(setting(web, "merge_logs"), Some(&Value::Bool(true)));
        assert_eq!(app(&imported, "eco-cluster").instances, 2);
    }

    #[test]
    fn the_env_rule_keeps_what_the_app_was_given() {
        let imported = import("pm2-7.0.4/dump.pm2");
        let web = app(&imported, "web");
        // HOME is the scratch home of the recording, not root's: kept.
        assert_eq!(
            kept(web),
            [
                "API_KEY", "HOME", "LANG", "LOGNAME", "PATH", "PORT", "SHELL", "USER"
            ]
        );
        let api = app(&imported, "api");
        assert!(kept(api).contains(&"API_ONLY"));
        assert!(
            !kept(api)
                .iter()
                .any(|k| k.chars().all(|c| c.is_ascii_digit()))
        );
        assert!(api.dropped.contains(&("0".into(), Dropped::DigitName)));
        let worker = app(&imported, "worker");
        assert!(kept(worker).contains(&"QUEUE_FROM_PM2_SET"));
        assert_eq!(
            worker
                .env
                .iter()
                .find(|v| v.name == "QUEUE_FROM_PM2_SET")
                .unwrap()
                .comment
                .as_deref(),
            Some("set with `pm2 set worker:QUEUE_FROM_PM2_SET`")
        );
        assert!(
            worker
                .dropped
                .contains(&("PYTHONUNBUFFERED".into(), Dropped::SetByRgen))
        );
        let eco = app(&imported, "eco");
        for k in [
            "NODE_ENV",
            "ECO_VAR",
            "ONLY_IN_ENV",
            "ONLY_IN_PRODUCTION",
            "PORT",
            "ECO_SHELL",
        ] {
            assert!(kept(eco).contains(&k), "{k}");
        }
        assert!(
            eco.dropped
                .contains(&("PM2_JSON_PROCESSING".into(), Dropped::Pm2Own))
        );
        assert!(
            eco.dropped
                .contains(&("eco".into(), Dropped::ModuleConfEcho))
        );
        // Run as nobody: systemd gives it no HOME, so PM2's is kept; USER is the shell's root.
        let asuser = app(&imported, "asuser");
        assert!(kept(asuser).contains(&"HOME"));
        assert!(kept(asuser).contains(&"USER"));
        assert_eq!(setting(asuser, "uid"), Some(&Value::from("nobody")));
        assert_eq!(setting(asuser, "gid"), Some(&Value::from("nogroup")));
        for app in &imported.apps {
            for (k, _) in &app.dropped {
                assert!(!kept(app).contains(&k.as_str()));
            }
            for pm2 in [
                "PM2_HOME",
                "PM2_USAGE",
                "unique_id",
                "PWD",
                "SHLVL",
                "_",
                "TERM",
            ] {
                assert!(!kept(app).contains(&pm2), "{} keeps {pm2}", app.name);
            }
        }
    }

    #[test]
    fn stopped_apps_stay_stopped() {
        let imported = import("pm2-7.0.4/dump.pm2");
        assert!(app(&imported, "idle").stopped);
        assert!(app(&imported, "eco-manual").stopped);
        assert_eq!(
            setting(app(&imported, "idle"), "autostart"),
            Some(&Value::Bool(false))
        );
        assert!(!app(&imported, "web").stopped);
        // PM2 4 has no autostart: eco-manual ran.
        let old = import("pm2-4.5.6/dump.pm2");
        assert!(!app(&old, "eco-manual").stopped);
    }

    #[test]
    fn default_log_files_become_suggestions() {
        let imported = import("pm2-7.0.4/dump.pm2");
        let web = app(&imported, "web");
        assert!(
            setting(web, "out_file")
                .unwrap()
                .as_str()
                .unwrap()
                .ends_with("/logs/web-out.log")
        );
        let worker = app(&imported, "worker");
        assert_eq!(setting(worker, "out_file"), None);
        assert!(
            worker
                .settings
                .iter()
                .any(|s| s.key == "out_file" && s.disabled)
        );
        let eco_cluster = app(&imported, "eco-cluster");
        let suggested = eco_cluster
            .settings
            .iter()
            .find(|s| s.key == "out_file")
            .unwrap();
        assert!(suggested.disabled);
        assert!(
            suggested
                .value
                .as_str()
                .unwrap()
                .ends_with("eco-cluster-out.log")
        );
    }

    #[test]
    fn jlist_with_a_banner_reads_like_a_dump() {
        let dump = parse(
            Path::new("jlist"),
            &fixture("mixed-versions/jlist-out-of-date-banner.txt"),
        )
        .unwrap();
        assert_eq!(dump.layout, Layout::Jlist);
        assert_eq!(dump.entries.len(), 1);
        let jlist = parse(Path::new("jlist"), &fixture("pm2-7.0.4/jlist.json")).unwrap();
        assert_eq!(jlist.modules, ["pm2-logrotate"]);
        assert_eq!(jlist.entries.len(), 11);
    }

    #[test]
    fn malformed_dumps_are_clear_errors() {
        for (file, needle) in [
            ("malformed/truncated.pm2", "cut off"),
            ("malformed/empty-file.pm2", "empty"),
            ("malformed/not-pm2.json", "not PM2's dump"),
            ("malformed/not-pm2-array.json", "not PM2's dump"),
        ] {
            let err = parse(Path::new(file), &fixture(file)).unwrap_err();
            assert!(err.errors[0].message.contains(needle), "{file}: {err:?}");
        }
        let dump = parse(Path::new("x"), &fixture("malformed/no-exec-path.pm2")).unwrap();
        let empty = BTreeMap::new();
        let ctx = Context {
            module_conf: None,
            daemon_env: None,
            shell_env: &empty,
            manager_path: "/usr/bin:/bin",
            manager_env: &empty,
            daemon_user: None,
            name_daemon_user: false,
            manager_sets_identity: false,
            host: &FakeHost,
        };
        let err = convert(&dump, &ctx).unwrap_err();
        assert_eq!(err.errors.len(), 1);
        assert_eq!(err.errors[0].origin.app.as_deref(), Some("worker"));
        for file in [
            "malformed/empty-array.pm2",
            "malformed/jlist-only-module.json",
        ] {
            let dump = parse(Path::new(file), &fixture(file)).unwrap();
            assert!(convert(&dump, &ctx).is_err(), "{file}");
        }
    }

    fn convert_json(json: &str) -> Imported {
        let dump = parse(Path::new("dump.pm2"), json.as_bytes()).unwrap();
        let empty = BTreeMap::new();
        let ctx = Context {
            module_conf: None,
            daemon_env: None,
            shell_env: &empty,
            manager_path: "/usr/bin:/bin",
            manager_env: &empty,
            daemon_user: None,
            name_daemon_user: false,
            manager_sets_identity: false,
            host: &FakeHost,
        };
        convert(&dump, &ctx).unwrap()
    }

    #[test]
    fn a_name_in_two_namespaces_is_renamed_and_differing_processes_are_named() {
        let imported = convert_json(
            r#"[{"name":"api","namespace":"a","pm_exec_path":"/srv/a.js","env":{}},
                {"name":"api","namespace":"b","pm_exec_path":"/srv/b.js","env":{}},
                {"name":"w","pm_exec_path":"/srv/w.js","args":["1"],"env":{}},
                {"name":"w","pm_exec_path":"/srv/w.js","args":["2"],"env":{}}]"#,
        );
        let names: Vec<&str> = imported.apps.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["api", "b-api", "w"]);
        assert_eq!(imported.apps[1].pm2_name, "api");
        assert_eq!(
            setting(&imported.apps[1], "name"),
            Some(&Value::from("b-api"))
        );
        assert_eq!(
            setting(&imported.apps[2], "instances"),
            Some(&Value::from(2))
        );
        assert_eq!(
            setting(&imported.apps[2], "exec_mode"),
            Some(&Value::from("fork"))
        );
        let messages: Vec<&str> = imported
            .warnings
            .iter()
            .map(|w| w.message.as_str())
            .collect();
        assert!(
            messages.iter().any(|m| m.contains("two namespaces")),
            "{messages:?}"
        );
        assert!(
            messages.iter().any(|m| m.contains("differ in `args`")),
            "{messages:?}"
        );
    }

    #[test]
    fn memory_is_written_in_pm2_units() {
        assert_eq!(memory_text(209715200), Value::from("200M"));
        assert_eq!(memory_text(1 << 30), Value::from("1G"));
        assert_eq!(memory_text(1536 << 10), Value::from("1536K"));
        assert_eq!(memory_text(1000), Value::from(1000));
    }
}
