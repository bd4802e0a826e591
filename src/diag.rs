//! Diagnostics: every problem found in user input names the file, the app and the key, says what is
//! wrong and, where one exists, gives a hint. Errors stop the pipeline after the whole file has been
//! checked; warnings never do. Warnings have stable kebab-case ids so users can look them up.

use std::fmt::{self, Write as _};
use std::path::{Path, PathBuf};

use anstyle::{AnsiColor, Style};
use serde::Serialize;

/// Where in the user's input a problem sits.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Origin {
    pub file: PathBuf,
    /// The app's name when it is known (it may itself be the broken key).
    pub app: Option<String>,
    /// Key path in the document, e.g. `apps[1].max_memory_restart`.
    pub key: Option<String>,
}

impl Origin {
    pub fn file(file: impl Into<PathBuf>) -> Self {
        Origin {
            file: file.into(),
            app: None,
            key: None,
        }
    }

    pub fn with_key(&self, key: impl Into<String>) -> Self {
        Origin {
            key: Some(key.into()),
            ..self.clone()
        }
    }

    pub fn with_app(&self, app: impl Into<String>) -> Self {
        Origin {
            app: Some(app.into()),
            ..self.clone()
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", display_path(&self.file))?;
        if let Some(app) = &self.app {
            write!(f, ": app `{app}`")?;
        }
        if let Some(key) = &self.key {
            let sep = if self.app.is_some() { ", " } else { ": " };
            write!(f, "{sep}{key}")?;
        }
        Ok(())
    }
}

/// Paths are shown relative to the current directory when they are under it, as users typed them.
pub fn display_path(path: &Path) -> String {
    if let Ok(cwd) = std::env::current_dir()
        && let Ok(rel) = path.strip_prefix(&cwd)
        && !rel.as_os_str().is_empty()
    {
        return rel.display().to_string();
    }
    path.display().to_string()
}

macro_rules! warning_kinds {
    ($($variant:ident = $id:literal : $summary:literal,)*) => {
        /// Every warning rgen can print. The id is stable; the summary is its documentation.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum WarningKind { $($variant,)* }

        impl WarningKind {
            pub const ALL: &'static [WarningKind] = &[$(WarningKind::$variant,)*];

            pub fn id(self) -> &'static str {
                match self { $(WarningKind::$variant => $id,)* }
            }

            pub fn summary(self) -> &'static str {
                match self { $(WarningKind::$variant => $summary,)* }
            }
        }
    };
}

warning_kinds! {
    UnknownKey = "unknown-key":
        "a key PM2 does not know either; PM2 ignores it silently, rgen ignores it and says so",
    DuplicateKey = "duplicate-key":
        "a key and one of its aliases are both set; the canonical key wins, as in PM2",
    Unsupported = "unsupported":
        "a PM2 feature with no meaning outside the PM2 daemon (PM2.io, vizion, …); it is ignored",
    MemoryLimitIsHardKill = "memory-limit-is-hard-kill":
        "`max_memory_restart` becomes a kernel limit: the app is killed at the limit (not after a 30 s poll) and restarted; the limit covers all its processes",
    StartLimit = "start-limit":
        "`min_uptime`/`max_restarts` become a start rate limit of `max_restarts` starts per `min_uptime` × `max_restarts`; PM2 counts only exits before `min_uptime` in its first window",
    BackoffApproximated = "backoff-approximated":
        "the OS grows restart delays geometrically up to 15 s; PM2 multiplies by 1.5 and resets after 30 s of uptime",
    LogsCombined = "logs-combined":
        "a combined log file next to separate out/err files needs the shim to copy lines",
    WatchIsStatic = "watch-is-static":
        "file watching uses the directories that exist at install time, not recursive inotify; re-run `rgen install` after adding directories",
    IgnoredWithCommandLine = "args-ignored":
        "`script` is a shell command line, so PM2 runs it with `bash -c` and ignores `args`; rgen does the same",
    InterpreterFromShebang = "interpreter-from-shebang":
        "PM2 would run an extension-less text script with node; rgen honours the script's `#!` line instead",
    VersionedNodePath = "versioned-node-path":
        "a resolved path sits under a versioned nvm/fnm/volta directory; after upgrading node run `rgen install` again",
    NameEscaped = "name-escaped":
        "the app name has characters unit files and labels cannot hold; rgen replaces them with `-`",
    WaitReadyThroughWrapper = "wait-ready-through-wrapper":
        "`wait_ready` with npm/yarn/npx in front of node: the IPC channel reaches the wrapper, not the app; rgen's preload forwards `process.send('ready')` from the app",
    PackageScript = "package-script":
        "an npm/yarn/pnpm script is run directly so the app can hold its socket and IPC channel; npm's lifecycle hooks and most npm_* variables are not involved",
    ClusterNeedsFd = "cluster-needs-fd":
        "cluster mode for a non-Node app: instances share the port only if the app takes its socket from fd 3 (uvicorn `--fd 3`, gunicorn)",
    ClusterWithoutPort = "cluster-without-port":
        "cluster mode without a known port: instances run side by side but cannot share a port (set `port` or `env.PORT`)",
    LaunchdCluster = "launchd-cluster":
        "launchd cannot share one port between jobs: cluster mode with a port is refused, without one the instances run side by side",
    LaunchdProtectedFolder = "launchd-protected-folder":
        "the app's files are in a folder macOS's privacy protection guards (Desktop, Documents, Downloads, iCloud Drive, removable volumes): a launchd job may be refused access there; move the project (e.g. to ~/code) or give the program Full Disk Access",
    LaunchdNoHome = "launchd-no-home":
        "launchd gives jobs of another user than the installer's no known HOME; set `env.HOME` if the app reads files from its home (ngrok's authtoken, npm's cache)",
    LaunchdCronLimits = "launchd-cron-limits":
        "launchd calendars have minute granularity and no \"last day of the month\"; the closest schedule is used",
    ContainerLogs = "container-logs":
        "Kubernetes collects the app's stdout and stderr (`kubectl logs`): log files and their date prefixes are not written inside the container",
    ContainerRestarts = "container-restarts":
        "in a Deployment a container that exits is started again by the kubelet (CrashLoopBackOff: 10 s doubling to 5 min), so an app PM2 would leave down (errored after `max_restarts`, a `stop_exit_codes` exit) comes back after that backoff",
    ContainerPaths = "container-paths":
        "the image holds the ecosystem file's directory at `/app`; a program outside it is looked up by name on the image's PATH, and other paths outside it are kept as written",
    ReplicasUnnumbered = "replicas-unnumbered":
        "a Deployment's replicas have no instance number: `instance_var` is 0 in each, `increment_var` its base value (each pod has its own IP, so all can use one port)",
    KubernetesCron = "kubernetes-cron":
        "a Kubernetes CronJob has minute granularity and runs in the controller's time zone (UTC unless it is configured otherwise)",
    OverlayPort = "overlay-port":
        "an `env_<name>` environment changes `PORT`: its Kubernetes overlay changes the variable but not the Service's port; render with `--env <name>` for a Service on that port",
    EnvNotDefined = "env-not-defined":
        "`--env NAME` was given but no app defines `env_NAME`",
    RelativeToFile = "relative-to-file":
        "relative paths resolve against the ecosystem file's directory (PM2 would use the shell's working directory)",
    ForOtherHost = "for-other-host":
        "`--for-other-host`: a script, cwd or interpreter the file names is not on this machine; it is kept as written (a program named without a path is taken to be in /usr/bin)",
    EnvNotInherited = "env-not-inherited":
        "a variable set in rgen's shell that the app reads (or commonly reads: `NODE_ENV`, `PORT`, …) is not in its env: PM2 passes its whole environment on, a service inherits none of it; `--keep-env NAME` copies it",
    ForeverApproximated = "forever-approximated":
        "a Forever setting mapped to the closest systemd/launchd behaviour",
    HardeningLimited = "hardening-limited":
        "the strict hardening profile is only partly applied: a systemd user manager applies `NoNewPrivileges=` and the system-call filters only, launchd none of it",
    DeployEnvWins = "deploy-env-wins":
        "`env` and `deploy.<env>.env` set a variable differently; as in PM2, the deploy value wins (`env_<env>` > `deploy.<env>.env` > `env`)",
    DuplicateName = "duplicate-name":
        "two apps have the same name: both run, as in PM2; the second is installed as `<name>-2` (the third `-3`, …) and the name addresses all of them",
    WatchStringIsPath = "watch-string-is-path":
        "`watch: \"true\"` is a string, and PM2 watches a path of that name; write `watch: true`",
    FalsyIsUnset = "falsy-is-unset":
        "PM2 treats `0`/`false` of a multi-word key as unset (`max_restarts: 0` is its default of 16 restarts, `kill_timeout: 0` 1600 ms); rgen does the same",
}

/// The README's list of warnings.
pub fn markdown_table() -> String {
    let mut out = String::from("| warning | meaning |\n|---|---|\n");
    for kind in WarningKind::ALL {
        out.push_str(&format!("| `{}` | {} |\n", kind.id(), kind.summary()));
    }
    out
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    pub kind: WarningKind,
    pub origin: Origin,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputError {
    pub origin: Origin,
    pub message: String,
    pub hint: Option<String>,
}

/// Collects every problem of a stage so users see them all at once.
#[derive(Debug, Default)]
pub struct Problems {
    pub errors: Vec<InputError>,
    pub warnings: Vec<Warning>,
}

impl Problems {
    pub fn error(&mut self, origin: Origin, message: impl Into<String>) -> &mut InputError {
        self.errors.push(InputError {
            origin,
            message: message.into(),
            hint: None,
        });
        self.errors.last_mut().expect("just pushed")
    }

    pub fn warn(&mut self, kind: WarningKind, origin: Origin, message: impl Into<String>) {
        let warning = Warning {
            kind,
            origin,
            message: message.into(),
        };
        if !self.warnings.contains(&warning) {
            self.warnings.push(warning);
        }
    }

    pub fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }

    /// Ends a stage: errors become `BadInput`, warnings are handed back to the caller.
    pub fn finish<T>(self, value: T) -> Result<(T, Vec<Warning>), BadInput> {
        if self.errors.is_empty() {
            Ok((value, self.warnings))
        } else {
            Err(BadInput {
                errors: self.errors,
                warnings: self.warnings,
            })
        }
    }

    pub fn merge(&mut self, other: Problems) {
        self.errors.extend(other.errors);
        for w in other.warnings {
            if !self.warnings.contains(&w) {
                self.warnings.push(w);
            }
        }
    }
}

impl InputError {
    pub fn hint(&mut self, hint: impl Into<String>) -> &mut Self {
        self.hint = Some(hint.into());
        self
    }
}

/// Bad user input: exit status 2. Carries the warnings found before the errors so they are not lost.
#[derive(Debug)]
pub struct BadInput {
    pub errors: Vec<InputError>,
    pub warnings: Vec<Warning>,
}

impl BadInput {
    pub fn single(origin: Origin, message: impl Into<String>, hint: Option<String>) -> Self {
        BadInput {
            errors: vec![InputError {
                origin,
                message: message.into(),
                hint,
            }],
            warnings: Vec::new(),
        }
    }
}

impl fmt::Display for BadInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.errors.len();
        write!(
            f,
            "{n} problem{} in the input",
            if n == 1 { "" } else { "s" }
        )
    }
}

impl std::error::Error for BadInput {}

const ERROR: Style = AnsiColor::Red.on_default().bold();
const WARNING: Style = AnsiColor::Yellow.on_default().bold();
const ARROW: Style = AnsiColor::Blue.on_default().bold();
const HINT: Style = AnsiColor::Cyan.on_default().bold();
const BOLD: Style = Style::new().bold();

/// Text from the user's files as it may reach a terminal: control characters (an escape
/// sequence that clears the screen or retitles the window, a bell) are shown as `\u{1b}`
/// escapes instead of being acted on.
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(|c| c.is_control() && c != '\n') {
        return text.into();
    }
    text.chars()
        .map(|c| {
            if c.is_control() && c != '\n' {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect::<String>()
        .into()
}

pub fn render_error(e: &InputError) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{ERROR}error{ERROR:#}{BOLD}: {}{BOLD:#}",
        printable(&e.message)
    );
    let _ = writeln!(
        out,
        "  {ARROW}-->{ARROW:#} {}",
        printable(&e.origin.to_string())
    );
    if let Some(hint) = &e.hint {
        let _ = writeln!(out, "  {HINT}hint{HINT:#}: {}", printable(hint));
    }
    out
}

pub fn render_warning(w: &Warning) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{WARNING}warning[{}]{WARNING:#}{BOLD}: {}{BOLD:#}",
        w.kind.id(),
        printable(&w.message)
    );
    let _ = writeln!(
        out,
        "  {ARROW}-->{ARROW:#} {}",
        printable(&w.origin.to_string())
    );
    out
}

/// Prints warnings to stderr (colour only on a terminal, never with NO_COLOR).
pub fn print_warnings(warnings: &[Warning]) {
    use std::io::Write as _;
    let mut err = anstream::stderr().lock();
    for w in warnings {
        let _ = write!(err, "{}", render_warning(w));
    }
}

pub fn print_bad_input(bad: &BadInput) {
    use std::io::Write as _;
    print_warnings(&bad.warnings);
    let mut err = anstream::stderr().lock();
    for e in &bad.errors {
        let _ = write!(err, "{}", render_error(e));
    }
    if bad.errors.len() > 1 {
        let _ = writeln!(
            err,
            "{ERROR}error{ERROR:#}: {} problems; nothing was written",
            bad.errors.len()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warning_ids_are_unique_kebab_case() {
        let mut seen = std::collections::BTreeSet::new();
        for kind in WarningKind::ALL {
            let id = kind.id();
            assert!(seen.insert(id), "duplicate warning id {id}");
            assert!(
                id.chars().all(|c| c.is_ascii_lowercase() || c == '-'),
                "{id} is not kebab-case"
            );
        }
    }

    #[test]
    fn origin_names_file_app_and_key() {
        let o = Origin::file("/nonexistent/eco.json")
            .with_app("api")
            .with_key("apps[1].max_memory_restart");
        assert_eq!(
            o.to_string(),
            "/nonexistent/eco.json: app `api`, apps[1].max_memory_restart"
        );
    }
}
