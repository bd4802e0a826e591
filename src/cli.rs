//! The command line. One variant per verb; the flags that pick the input and the target are shared.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "rgen",
    version,
    about = "Run PM2/Forever ecosystems as native systemd or launchd services",
    long_about = "rgen compiles an ecosystem file (ecosystem.config.js, JSON, YAML, forever.json or rgen.toml) \
                  into systemd units or launchd property lists and hands supervision to the operating system: \
                  no resident process manager.",
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

// Deferred: only the verb being run is built (the others' ~200 flags cost `rgen status` more
// than half a millisecond to build on every run).
#[derive(Subcommand, Debug)]
#[command(defer = true)]
pub enum Command {
    /// Print (or write to --out) every file `install` would write
    Render(RenderArgs),
    /// Validate an ecosystem file and print every warning
    Check(CheckArgs),
    /// Convert a PM2/Forever file, what PM2 runs (--from-pm2) or rgen installed (--from-installed)
    Import(ImportArgs),
    /// Install, enable at boot and start the apps (`pm2 start` + `pm2 startup` + `pm2 save`)
    Install(InstallArgs),
    /// Stop, disable and remove apps rgen installed (like `pm2 delete`)
    #[command(visible_alias = "delete")]
    Uninstall(UninstallArgs),
    /// Show the state of installed apps (like `pm2 ls`)
    #[command(visible_aliases = ["ls", "list"])]
    Status(StatusArgs),
    /// Watch the apps live: cpu, memory against its limit, history, events, logs (like `pm2 monit`)
    #[command(visible_aliases = ["dash", "dashboard"])]
    Monit(MonitArgs),
    /// Everything about one app (like `pm2 show`)
    #[command(visible_alias = "describe")]
    Show(ShowArgs),
    /// Start apps (`all`, app names or namespaces)
    Start(ControlArgs),
    /// Stop apps (`all`, app names or namespaces)
    Stop(ControlArgs),
    /// Restart apps (`all`, app names or namespaces)
    Restart(ControlArgs),
    /// Restart apps one instance at a time, each after the previous is ready again
    Reload(ControlArgs),
    /// Print an app's logs (log files when configured, the journal otherwise)
    Logs(LogsArgs),
    /// Empty apps' log files (like `pm2 flush`)
    Flush(FlushArgs),
    /// Run N instances of an app, or +N / -N more or fewer (like `pm2 scale`)
    Scale(ScaleArgs),
    /// Send a signal to every process of the apps (like `pm2 sendSignal`)
    #[command(visible_alias = "sendSignal")]
    Signal(SignalArgs),
    /// Forget apps' restart counts and failures (like `pm2 reset`)
    Reset(ControlArgs),
    /// Print a shell completion script (`rgen completions bash > /etc/bash_completion.d/rgen`)
    Completions(CompletionsArgs),
    /// Print the man page (`rgen man > rgen.1`)
    Man,
}

#[derive(Args, Debug)]
pub struct ScaleArgs {
    /// The app (name or namespace)
    pub app: String,
    /// N instances in all, or +N / -N more or fewer
    #[arg(allow_hyphen_values = true, value_name = "N|+N|-N")]
    pub count: String,
    #[command(flatten)]
    pub target: TargetArgs,
}

#[derive(Args, Debug)]
pub struct SignalArgs {
    /// A signal name (SIGUSR2, USR2) or number
    #[arg(value_name = "SIGNAL")]
    pub signal: String,
    /// `all`, app names, namespaces or groups
    #[arg(required = true)]
    pub apps: Vec<String>,
    #[command(flatten)]
    pub target: TargetArgs,
}

#[derive(Args, Debug)]
pub struct CompletionsArgs {
    /// The shell
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

// Which ecosystem file and which of its apps — or, like `pm2 start app.js`, one app from the
// command line.
#[derive(Args, Debug, Clone, Default)]
pub struct SourceArgs {
    /// An ecosystem file (a name holding .json, .yml, .yaml, .config.js/.cjs/.mjs, or .toml, as
    /// PM2 decides), or a script or command to run as one app (`app.js`, `npm`, "python3 w.py");
    /// default: rgen.toml, ecosystem.config.{js,cjs,mjs}, ecosystem.{json,yml,yaml} here
    #[arg(value_name = "FILE|SCRIPT")]
    pub file: Option<PathBuf>,
    /// The script's arguments (after `--`, as with `pm2 start app.js -- ARGS`)
    #[arg(last = true, value_name = "ARGS")]
    pub args: Vec<String>,
    #[command(flatten)]
    pub start: StartArgs,
    /// Apply `env_<NAME>` over `env` (like `pm2 start --env NAME`)
    #[arg(long, value_name = "NAME")]
    pub env: Option<String>,
    /// Only these apps (comma-separated names, like `pm2 start --only`)
    #[arg(long, value_name = "A,B", value_delimiter = ',')]
    pub only: Vec<String>,
    /// Read the file as this format instead of guessing from its name
    #[arg(long, value_enum)]
    pub format: Option<FormatArg>,
    /// Group name for the apps (default: the ecosystem file's directory name)
    #[arg(long, value_name = "NAME")]
    pub group: Option<String>,
    /// Give the apps this variable of rgen's own environment, below the file's env (repeatable;
    /// PM2 passes its whole environment on, a service inherits none of it)
    #[arg(long, value_name = "NAME")]
    pub keep_env: Vec<String>,
}

// `pm2 start` flags (and Forever's, where they do not clash), for a script given on the command
// line. Each sets the ecosystem key of the same meaning and goes through the same checks.
#[derive(Args, Debug, Clone, Default)]
#[command(next_help_heading = "PM2 start flags (for a SCRIPT)")]
pub struct StartArgs {
    /// App name (`name`; default: the script's name)
    #[arg(long, short = 'n', value_name = "NAME")]
    pub name: Option<String>,
    /// Instances: N, `max` (one per CPU) or -N (CPUs minus N) (`instances`)
    #[arg(long, short = 'i', value_name = "N", allow_hyphen_values = true)]
    pub instances: Option<String>,
    /// `fork` or `cluster` (`exec_mode`)
    #[arg(long, value_name = "MODE")]
    pub exec_mode: Option<String>,
    /// Run in fork mode whatever the interpreter (`execute_command`)
    #[arg(long, short = 'x')]
    pub execute_command: bool,
    /// Interpreter: a command or path, `none` to run the script itself (`exec_interpreter`)
    #[arg(long, value_name = "CMD")]
    pub interpreter: Option<String>,
    /// Interpreter options, split like a shell (`node_args`)
    #[arg(
        long,
        value_name = "ARGS",
        allow_hyphen_values = true,
        alias = "interpreter-args"
    )]
    pub node_args: Option<String>,
    /// Working directory (`cwd`; default: here)
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<PathBuf>,
    /// Memory limit such as 200M or 1G (`max_memory_restart`)
    #[arg(long, value_name = "SIZE")]
    pub max_memory_restart: Option<String>,
    /// Restart on a cron schedule (`cron_restart`)
    #[arg(long, short = 'c', alias = "cron", value_name = "CRON")]
    pub cron_restart: Option<String>,
    /// Restart when files change: the script's directory, or these paths (`watch`); Forever's
    /// `-w` too
    #[arg(long, short = 'w', value_name = "PATH", num_args = 0..=1, default_missing_value = "", action = clap::ArgAction::Append)]
    pub watch: Vec<String>,
    /// Forever's `--watchDirectory DIR`: what `-w` watches
    #[arg(long = "watchDirectory", value_name = "DIR", hide = true)]
    pub watch_directory: Option<String>,
    /// Paths not to watch, split like a shell (`ignore_watch`)
    #[arg(long, value_name = "PATHS")]
    pub ignore_watch: Option<String>,
    /// Wait this long (ms) after a change before restarting (`watch_delay`)
    #[arg(long, value_name = "MS")]
    pub watch_delay: Option<u64>,
    /// stdout log file (`out_file`)
    #[arg(long, short = 'o', alias = "output", value_name = "FILE")]
    pub out_file: Option<PathBuf>,
    /// stderr log file (`error_file`)
    #[arg(long, short = 'e', alias = "error", value_name = "FILE")]
    pub error_file: Option<PathBuf>,
    /// One log file for both (`log_file`)
    #[arg(long, short = 'l', alias = "log", value_name = "FILE")]
    pub log_file: Option<PathBuf>,
    /// One log file for all instances (`merge_logs`)
    #[arg(long)]
    pub merge_logs: bool,
    /// Prefix every log line with this date format (`log_date_format`)
    #[arg(long, value_name = "FORMAT")]
    pub log_date_format: Option<String>,
    /// Prefix every log line with the time (`time`)
    #[arg(long)]
    pub time: bool,
    /// Wait this long (ms) after an exit before restarting (`restart_delay`); Forever's
    /// `--spinSleepTime` too
    #[arg(long, alias = "spinSleepTime", value_name = "MS")]
    pub restart_delay: Option<u64>,
    /// PM2's exponential backoff from this many ms (`exp_backoff_restart_delay`)
    #[arg(long, value_name = "MS")]
    pub exp_backoff_restart_delay: Option<u64>,
    /// Give up after this many unstable restarts (`max_restarts`); Forever's `-m/--max` too
    #[arg(long, short = 'm', alias = "max", value_name = "N")]
    pub max_restarts: Option<u32>,
    /// A run shorter than this (ms) is unstable (`min_uptime`); Forever's `--minUptime` too
    #[arg(long, alias = "minUptime", value_name = "MS")]
    pub min_uptime: Option<u64>,
    /// Time (ms) between SIGINT and SIGKILL when stopping (`kill_timeout`)
    #[arg(long, short = 'k', value_name = "MS")]
    pub kill_timeout: Option<u64>,
    /// The app says `process.send('ready')` when it is ready (`wait_ready`)
    #[arg(long)]
    pub wait_ready: bool,
    /// Ready anyway after this long (ms) (`listen_timeout`)
    #[arg(long, value_name = "MS")]
    pub listen_timeout: Option<u64>,
    /// Never restart the app (`autorestart: false`)
    #[arg(long)]
    pub no_autorestart: bool,
    /// Install without starting it (`autostart: false`)
    #[arg(long)]
    pub no_autostart: bool,
    /// Exit codes after which the app stays down, comma-separated (`stop_exit_codes`)
    #[arg(long, value_name = "CODES", value_delimiter = ',')]
    pub stop_exit_codes: Vec<i32>,
    /// Stop the main process only, not its children (`treekill: false`)
    #[arg(long)]
    pub no_treekill: bool,
    /// Stop with `process.send('shutdown')` instead of a signal (`shutdown_with_message`)
    #[arg(long)]
    pub shutdown_with_message: bool,
    /// Namespace (`namespace`); with --kubernetes, for a file too: the Kubernetes namespace of
    /// every object (default: kubectl's current one)
    #[arg(long, value_name = "NS")]
    pub namespace: Option<String>,
    /// Run as this user (`uid`; system scope). Forever's `--uid` names the app: use `--name`
    #[arg(long, value_name = "USER")]
    pub uid: Option<String>,
    /// Run with this group (`gid`; system scope)
    #[arg(long, value_name = "GROUP")]
    pub gid: Option<String>,
    /// The port the app listens on (`port`, sets PORT)
    #[arg(long, value_name = "PORT")]
    pub port: Option<u16>,
    /// Forever's `-a/--append`: accepted; rgen always appends to log files
    #[arg(short = 'a', long = "append", hide = true)]
    pub append: bool,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum FormatArg {
    Toml,
    Js,
    Json,
    Yaml,
    Forever,
}

// Which service manager and scope the files are for.
#[derive(Args, Debug, Clone, Default)]
pub struct TargetArgs {
    /// systemd units (default on Linux)
    #[arg(long, conflicts_with_all = ["launchd", "kubernetes"])]
    pub systemd: bool,
    /// launchd property lists (default on macOS)
    #[arg(long, conflicts_with = "kubernetes")]
    pub launchd: bool,
    /// Kubernetes manifests (Deployments, Services, ConfigMaps, …) with rgen-shim as each
    /// container's PID 1; apply them with `kubectl apply -k DIR`
    #[arg(long)]
    pub kubernetes: bool,
    /// Per-user services (default unless running as root)
    #[arg(long, conflicts_with = "system")]
    pub user: bool,
    /// System services started at boot (default when running as root)
    #[arg(long)]
    pub system: bool,
}

// The target, for the verbs that render files.
#[derive(Args, Debug, Clone, Default)]
pub struct RenderTargetArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Render for this systemd version (default: the installed one, else 252)
    #[arg(long, value_name = "N")]
    pub systemd_version: Option<u32>,
    /// System scope: run apps without `uid` as this user (default: the user behind sudo/doas,
    /// else the ecosystem file's owner); `root` runs them as root
    #[arg(long, value_name = "USER", env = "RGEN_RUN_AS")]
    pub run_as: Option<String>,
    /// Sandbox apps whose entry does not set `hardening` (strict: read-only system and home,
    /// no capabilities, system-call filters; systemd only)
    #[arg(long, value_enum, value_name = "PROFILE")]
    pub hardening: Option<HardeningArg>,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum HardeningArg {
    Default,
    Strict,
}

// What only `--kubernetes` needs.
#[derive(Args, Debug, Clone, Default)]
pub struct KubernetesArgs {
    /// The image the apps' containers run (default: `<group>:latest`, as the Containerfile
    /// would be tagged)
    #[arg(long, value_name = "IMAGE", requires = "kubernetes")]
    pub image: Option<String>,
    /// CPUs of a node, for `instances: 'max'` and negative counts (refused without it)
    #[arg(long, value_name = "N", requires = "kubernetes")]
    pub cpus_per_node: Option<u32>,
    /// Also write a Containerfile that builds the image, with a static rgen-shim as PID 1
    #[arg(long, requires = "kubernetes")]
    pub containerfile: bool,
}

#[derive(Args, Debug)]
pub struct RenderArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub target: RenderTargetArgs,
    #[command(flatten)]
    pub kubernetes: KubernetesArgs,
    /// Write the files into this directory instead of printing them
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub other_host: OtherHostArgs,
}

// For `render` and `check` only: `install` always checks the machine it changes.
#[derive(Args, Debug, Clone, Default)]
pub struct OtherHostArgs {
    /// Render for another machine: a missing script, cwd or interpreter is a warning, paths are
    /// kept as written, and programs named without a path are taken to be in /usr/bin
    #[arg(long)]
    pub for_other_host: bool,
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub target: RenderTargetArgs,
    #[command(flatten)]
    pub other_host: OtherHostArgs,
    #[command(flatten)]
    pub kubernetes: KubernetesArgs,
}

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// The PM2 or Forever file to convert. With --from-pm2: PM2's home (default: $PM2_HOME, else
    /// ~/.pm2), its dump.pm2, a file holding `pm2 jlist` output, or `-` for standard input
    #[arg(
        required_unless_present_any = ["from_pm2", "from_installed"],
        conflicts_with = "from_installed"
    )]
    pub file: Option<PathBuf>,
    /// Where to write: a .toml file (rgen.toml) or a .js/.cjs file (an ecosystem file PM2 loads
    /// too). Default: print rgen.toml; with --install, /etc/rgen/pm2/rgen.toml (system) or
    /// ~/.config/rgen/pm2/rgen.toml (user). Existing files are never overwritten
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Read the file as this format instead of guessing from its name
    #[arg(long, value_enum, conflicts_with = "from_pm2")]
    pub format: Option<FormatArg>,
    /// Import what PM2 runs, from its dump.pm2 (`pm2 save`) or `pm2 jlist`; rgen never runs pm2
    #[arg(long)]
    pub from_pm2: bool,
    /// Write the file that reproduces installed apps (`all`, app names, namespaces or groups;
    /// default: every app in the scope), ad hoc (`rgen install app.js …`) or from a file
    #[arg(
        long,
        value_name = "APP",
        num_args = 0..,
        conflicts_with_all = ["from_pm2", "format"]
    )]
    pub from_installed: Option<Vec<String>>,
    /// As root: import the PM2 of this user (~NAME/.pm2)
    #[arg(long, value_name = "NAME", requires = "from_pm2")]
    pub pm2_user: Option<String>,
    /// Also install the imported apps (as `rgen install FILE` would), then print the commands
    /// that retire PM2
    #[arg(long, requires = "from_pm2")]
    pub install: bool,
    /// With --install: show what would change and change nothing (the file is not written)
    #[arg(long, requires = "install")]
    pub dry_run: bool,
    #[command(flatten)]
    pub target: RenderTargetArgs,
}

#[derive(Args, Debug)]
pub struct InstallArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub target: RenderTargetArgs,
    /// Show what would change (a diff of every file and the actions) and change nothing
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Args, Debug)]
pub struct UninstallArgs {
    /// Apps to remove (default with --all: every app rgen installed in this scope)
    pub apps: Vec<String>,
    /// Remove every app rgen installed in this scope
    #[arg(long, conflicts_with = "apps")]
    pub all: bool,
    #[command(flatten)]
    pub target: TargetArgs,
}

#[derive(Args, Debug)]
pub struct StatusArgs {
    /// Only these apps
    pub apps: Vec<String>,
    /// Machine-readable output (documented in README)
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub target: TargetArgs,
}

#[derive(Args, Debug)]
pub struct MonitArgs {
    /// Only these apps (default: all)
    pub apps: Vec<String>,
    /// Print one table (CPU measured over one interval) and exit, instead of the live screen
    #[arg(long, conflicts_with = "json_lines")]
    pub once: bool,
    /// Print one JSON object per app per reading, one per line (for scripts), instead of the screen
    #[arg(long)]
    pub json_lines: bool,
    /// With --json-lines: stop after N readings (default: never)
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// Time between readings, in milliseconds
    #[arg(long, value_name = "MS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(100..=3_600_000))]
    pub interval: u64,
    #[command(flatten)]
    pub target: TargetArgs,
}

#[derive(Args, Debug)]
pub struct ShowArgs {
    /// The app to describe
    pub app: String,
    /// Machine-readable output (the app's entry of `rgen status --json`)
    #[arg(long)]
    pub json: bool,
    /// Print environment values that look like secrets (`*PASSWORD*`, `*TOKEN*`, URLs with
    /// credentials, …) instead of hiding them
    #[arg(long)]
    pub show_secrets: bool,
    #[command(flatten)]
    pub target: TargetArgs,
}

#[derive(Args, Debug)]
pub struct ControlArgs {
    /// `all`, app names, or namespaces
    #[arg(required = true)]
    pub apps: Vec<String>,
    #[command(flatten)]
    pub target: TargetArgs,
}

#[derive(Args, Debug)]
pub struct FlushArgs {
    /// Apps whose log files to empty (default: all)
    pub apps: Vec<String>,
    #[command(flatten)]
    pub target: TargetArgs,
}

#[derive(Args, Debug)]
pub struct LogsArgs {
    /// Apps to show (default: all)
    pub apps: Vec<String>,
    /// Lines of history to show per app
    #[arg(long, short = 'n', default_value_t = 15)]
    pub lines: usize,
    /// Keep printing new lines
    #[arg(long, short = 'f')]
    pub follow: bool,
    /// Only stderr
    #[arg(long, conflicts_with = "out")]
    pub err: bool,
    /// Only stdout
    #[arg(long)]
    pub out: bool,
    #[command(flatten)]
    pub target: TargetArgs,
}

/// What a PM2 verb rgen does not have becomes: PM2 users type these from habit.
pub fn pm2_verb_hint(verb: &str) -> Option<&'static str> {
    Some(match verb {
        "startup" | "save" => {
            "`rgen install` already registers the apps at boot (that is `pm2 startup` + `pm2 save`), \
             and for --user turns on lingering; there is no separate list to save"
        }
        "unstartup" => "`rgen uninstall APP…|--all` removes apps from boot along with their files",
        "resurrect" => {
            "the service manager starts installed apps at boot by itself; `rgen start all` starts them now"
        }
        "kill" => "nothing of rgen stays resident to kill; `rgen stop all` stops the apps",
        "env" => "`rgen show APP` prints an app's environment",
        "update" | "updatePM2" => "there is no daemon to update; install the new rgen binary",
        "reloadLogs" | "reload-logs" => {
            "log files stay open for appending: rotate them with logrotate's `copytruncate`, \
             or empty them with `rgen flush`"
        }
        "prettylist" | "jlist" => "`rgen status --json`",
        _ => return None,
    })
}
