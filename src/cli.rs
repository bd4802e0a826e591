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

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Print (or write to --out) every file `install` would write
    Render(RenderArgs),
    /// Validate an ecosystem file and print every warning
    Check(CheckArgs),
    /// Convert a PM2 or Forever file to rgen.toml
    Import(ImportArgs),
    /// Install, enable at boot and start the apps (`pm2 start` + `pm2 startup` + `pm2 save`)
    Install(InstallArgs),
    /// Stop, disable and remove apps rgen installed (like `pm2 delete`)
    #[command(visible_alias = "delete")]
    Uninstall(UninstallArgs),
    /// Show the state of installed apps (like `pm2 ls`)
    #[command(visible_aliases = ["ls", "list"])]
    Status(StatusArgs),
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
}

/// Which ecosystem file and which of its apps.
#[derive(Args, Debug, Clone, Default)]
pub struct SourceArgs {
    /// The ecosystem file (default: rgen.toml, ecosystem.config.{js,cjs,mjs}, ecosystem.{json,yml,yaml} here)
    pub file: Option<PathBuf>,
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
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum FormatArg {
    Toml,
    Js,
    Json,
    Yaml,
    Forever,
}

/// Which service manager and scope the files are for.
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

/// The target, for the verbs that render files.
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
}

/// What only `--kubernetes` needs.
#[derive(Args, Debug, Clone, Default)]
pub struct KubernetesArgs {
    /// The image the apps' containers run (default: `<group>:latest`, as the Containerfile
    /// would be tagged)
    #[arg(long, value_name = "IMAGE", requires = "kubernetes")]
    pub image: Option<String>,
    /// The Kubernetes namespace of every object (default: kubectl's current one)
    #[arg(long, value_name = "NS", requires = "kubernetes")]
    pub namespace: Option<String>,
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
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub target: RenderTargetArgs,
    #[command(flatten)]
    pub kubernetes: KubernetesArgs,
}

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// The PM2 or Forever file to convert
    pub file: PathBuf,
    /// Where to write rgen.toml (default: print it)
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Read the file as this format instead of guessing from its name
    #[arg(long, value_enum)]
    pub format: Option<FormatArg>,
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
        "scale" => "change `instances` in the ecosystem file and run `rgen install` again",
        "monit" | "dash" | "dashboard" => {
            "`rgen status` shows memory, cpu and restarts; `watch rgen status` to keep it on screen"
        }
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
