//! The command line resolved once into what the commands work with (uv's `Settings::resolve`):
//! the machine facts — uid, user names, homes, CPU count, the installed systemd, where the shim
//! is — are read here and nowhere else, and no clap type reaches a command.

use std::path::PathBuf;

use crate::apply::inventory::Stream;
use crate::backend::Verb;
use crate::cli;
use crate::load::Format;
use crate::target::{Backend, DEFAULT_SYSTEMD_VERSION, KubernetesOptions, Scope, Target};

/// Which ecosystem file and which of its apps.
#[derive(Clone, Debug, Default)]
pub struct SourceSettings {
    /// `None`: discover one in the current directory.
    pub file: Option<PathBuf>,
    pub env: Option<String>,
    pub only: Vec<String>,
    pub format: Option<Format>,
    pub group: Option<String>,
}

impl SourceSettings {
    fn resolve(args: &cli::SourceArgs) -> SourceSettings {
        let cli::SourceArgs {
            file,
            env,
            only,
            format,
            group,
        } = args;
        SourceSettings {
            file: file.clone(),
            env: env.clone(),
            only: only
                .iter()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
            format: format.map(format_of),
            group: group.clone(),
        }
    }
}

pub fn format_of(arg: cli::FormatArg) -> Format {
    match arg {
        cli::FormatArg::Toml => Format::RgenToml,
        cli::FormatArg::Js => Format::Pm2Js,
        cli::FormatArg::Json => Format::Pm2Json,
        cli::FormatArg::Yaml => Format::Pm2Yaml,
        cli::FormatArg::Forever => Format::Forever,
    }
}

pub struct RenderSettings {
    pub source: SourceSettings,
    pub target: Target,
    pub out: Option<PathBuf>,
}

pub struct CheckSettings {
    pub source: SourceSettings,
    pub target: Target,
}

pub struct ImportSettings {
    pub file: PathBuf,
    pub out: Option<PathBuf>,
    pub format: Option<Format>,
}

pub struct InstallSettings {
    pub source: SourceSettings,
    pub target: Target,
    /// `--systemd-version` was given: render for it rather than for the running manager.
    pub version_given: bool,
    pub dry_run: bool,
}

pub struct UninstallSettings {
    pub apps: Vec<String>,
    pub all: bool,
    pub target: Target,
}

pub struct StatusSettings {
    pub apps: Vec<String>,
    pub json: bool,
    pub target: Target,
}

pub struct ShowSettings {
    pub app: String,
    pub json: bool,
    pub show_secrets: bool,
    pub target: Target,
}

pub struct ControlSettings {
    pub apps: Vec<String>,
    pub verb: Verb,
    pub target: Target,
}

pub struct LogsSettings {
    pub apps: Vec<String>,
    pub lines: usize,
    pub follow: bool,
    /// Only this stream (`--out`, `--err`).
    pub only: Option<Stream>,
    pub target: Target,
}

pub struct FlushSettings {
    pub apps: Vec<String>,
    pub target: Target,
}

impl RenderSettings {
    pub fn resolve(args: &cli::RenderArgs) -> RenderSettings {
        let cli::RenderArgs {
            source,
            target,
            kubernetes,
            out,
        } = args;
        let source = SourceSettings::resolve(source);
        let mut target = render_target(target, &source);
        kubernetes_target(&mut target, kubernetes, out.as_deref());
        RenderSettings {
            target,
            source,
            out: out.clone(),
        }
    }
}

impl CheckSettings {
    pub fn resolve(args: &cli::CheckArgs) -> CheckSettings {
        let cli::CheckArgs {
            source,
            target,
            kubernetes,
        } = args;
        let source = SourceSettings::resolve(source);
        let mut target = render_target(target, &source);
        kubernetes_target(&mut target, kubernetes, None);
        CheckSettings { target, source }
    }
}

impl ImportSettings {
    pub fn resolve(args: &cli::ImportArgs) -> ImportSettings {
        let cli::ImportArgs { file, out, format } = args;
        ImportSettings {
            file: file.clone(),
            out: out.clone(),
            format: format.map(format_of),
        }
    }
}

impl InstallSettings {
    pub fn resolve(args: &cli::InstallArgs) -> InstallSettings {
        let cli::InstallArgs {
            source,
            target,
            dry_run,
        } = args;
        let source = SourceSettings::resolve(source);
        let mut resolved = machine_target(&target.target);
        resolved.cpus = cpus();
        resolved.invoking_user = run_as(target.run_as.as_deref(), &source);
        if let Some(v) = target.systemd_version {
            resolved.systemd_version = v;
        }
        InstallSettings {
            source,
            target: resolved,
            version_given: target.systemd_version.is_some(),
            dry_run: *dry_run,
        }
    }
}

impl UninstallSettings {
    pub fn resolve(args: &cli::UninstallArgs) -> UninstallSettings {
        let cli::UninstallArgs { apps, all, target } = args;
        UninstallSettings {
            apps: apps.clone(),
            all: *all,
            target: machine_target(target),
        }
    }
}

impl StatusSettings {
    pub fn resolve(args: &cli::StatusArgs) -> StatusSettings {
        let cli::StatusArgs { apps, json, target } = args;
        StatusSettings {
            apps: apps.clone(),
            json: *json,
            target: machine_target(target),
        }
    }
}

impl ShowSettings {
    pub fn resolve(args: &cli::ShowArgs) -> ShowSettings {
        let cli::ShowArgs {
            app,
            json,
            show_secrets,
            target,
        } = args;
        ShowSettings {
            app: app.clone(),
            json: *json,
            show_secrets: *show_secrets,
            target: machine_target(target),
        }
    }
}

impl ControlSettings {
    pub fn resolve(args: &cli::ControlArgs, verb: Verb) -> ControlSettings {
        let cli::ControlArgs { apps, target } = args;
        ControlSettings {
            apps: apps.clone(),
            verb,
            target: machine_target(target),
        }
    }
}

impl LogsSettings {
    pub fn resolve(args: &cli::LogsArgs) -> LogsSettings {
        let cli::LogsArgs {
            apps,
            lines,
            follow,
            err,
            out,
            target,
        } = args;
        LogsSettings {
            apps: apps.clone(),
            lines: *lines,
            follow: *follow,
            only: match (*out, *err) {
                (true, _) => Some(Stream::Out),
                (_, true) => Some(Stream::Err),
                _ => None,
            },
            target: machine_target(target),
        }
    }
}

impl FlushSettings {
    pub fn resolve(args: &cli::FlushArgs) -> FlushSettings {
        let cli::FlushArgs { apps, target } = args;
        FlushSettings {
            apps: apps.clone(),
            target: machine_target(target),
        }
    }
}

/// The target for rendering offline: the systemd version is the installed one unless given.
fn render_target(args: &cli::RenderTargetArgs, source: &SourceSettings) -> Target {
    let mut target = machine_target(&args.target);
    target.systemd_version = args
        .systemd_version
        .unwrap_or_else(installed_systemd_version);
    target.cpus = cpus();
    target.invoking_user = run_as(args.run_as.as_deref(), source);
    target
}

/// A cluster's nodes are not this machine: CPUs come from `--cpus-per-node` (the renderer
/// refuses `max` without it), apps without `uid` run as the image's user, and the shim is the
/// one the Containerfile puts in the image.
fn kubernetes_target(
    target: &mut Target,
    args: &cli::KubernetesArgs,
    out: Option<&std::path::Path>,
) {
    let cli::KubernetesArgs {
        image,
        namespace,
        cpus_per_node,
        containerfile,
    } = args;
    if target.backend != Backend::Kubernetes {
        return;
    }
    target.cpus = cpus_per_node.unwrap_or(1);
    target.invoking_user = Some("root".into());
    target.kubernetes = KubernetesOptions {
        image: image.clone(),
        namespace: namespace.clone(),
        cpus_per_node: *cpus_per_node,
        containerfile: *containerfile,
        out: out.map(std::path::Path::to_path_buf),
    };
}

/// Who system-scope apps without `uid` run as, decided the same way however root was obtained:
/// `--run-as`; else the user behind `sudo` or `doas`; else the owner of the ecosystem file; else
/// nobody is assumed (the plan refuses such an app and says how to choose). Run by a user
/// rather than root, it is that user, who would install with sudo.
fn run_as(flag: Option<&str>, source: &SourceSettings) -> Option<String> {
    if let Some(user) = flag.filter(|u| !u.is_empty()) {
        return Some(user.to_string());
    }
    let uid = current_uid();
    if uid != 0 {
        return Some(user_name(uid));
    }
    for var in ["SUDO_USER", "DOAS_USER"] {
        if let Some(user) = std::env::var(var)
            .ok()
            .filter(|u| !u.is_empty() && u != "root")
        {
            return Some(user);
        }
    }
    let file = match &source.file {
        Some(f) => f.clone(),
        None => crate::load::discover(&std::env::current_dir().ok()?).ok()?,
    };
    use std::os::unix::fs::MetadataExt as _;
    let owner = std::fs::metadata(&file).ok()?.uid();
    (owner != 0).then(|| user_name(owner))
}

/// The target as this machine and these flags describe it. The systemd version is the default
/// until a command that renders asks the installed or running manager.
pub fn machine_target(args: &cli::TargetArgs) -> Target {
    let cli::TargetArgs {
        systemd,
        launchd,
        kubernetes,
        user,
        system,
    } = args;
    let backend = if *kubernetes {
        Backend::Kubernetes
    } else if *launchd {
        Backend::Launchd
    } else if *systemd {
        Backend::Systemd
    } else if cfg!(target_os = "macos") {
        Backend::Launchd
    } else {
        Backend::Systemd
    };
    let uid = current_uid();
    // Containers have no user manager: like system services, they run as whoever `uid` says.
    let scope = if *system || *kubernetes {
        Scope::System
    } else if *user {
        Scope::User
    } else if uid == 0 {
        Scope::System
    } else {
        Scope::User
    };
    // Verbs that render refine this with `run_as`; the others only need the home.
    let invoking_user = if uid == 0 {
        ["SUDO_USER", "DOAS_USER"].iter().find_map(|var| {
            std::env::var(var)
                .ok()
                .filter(|u| !u.is_empty() && u != "root")
        })
    } else {
        None
    };
    let home = home_of(invoking_user.as_deref());
    let config_home = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .unwrap_or_else(|| own_home().join(".config"));
    let shim_source = shim_path();
    Target {
        backend,
        scope,
        systemd_version: DEFAULT_SYSTEMD_VERSION,
        cpus: 1,
        shim: trusted_shim(backend, scope, &shim_source),
        shim_source,
        uid,
        user_name: user_name(uid),
        invoking_user,
        home,
        config_home,
        kubernetes: KubernetesOptions::default(),
    }
}

pub fn current_uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}

/// CPUs available to this process (`instances: 'max'`).
pub fn cpus() -> u32 {
    std::thread::available_parallelism()
        .map(|n| n.get() as u32)
        .unwrap_or(1)
}

/// `rgen-shim` next to the running `rgen` (both are installed together), unless RGEN_SHIM says.
fn shim_path() -> PathBuf {
    if let Some(p) = std::env::var_os("RGEN_SHIM") {
        return PathBuf::from(p);
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join(crate::shim_protocol::BIN)))
        .unwrap_or_else(|| PathBuf::from("/usr/local/bin/rgen-shim"))
}

/// The shim system units run: the one next to rgen if only root can change it (checked along
/// its whole path), else the root-owned copy `rgen install` makes. A unit running as root
/// must never execute a file a user could replace.
fn trusted_shim(backend: Backend, scope: Scope, shim: &std::path::Path) -> PathBuf {
    if backend == Backend::Kubernetes {
        return std::path::Path::new(backend.trusted_shim_dir()).join(crate::shim_protocol::BIN);
    }
    if scope == Scope::User || crate::apply::trust::check_only_writable_by(shim, 0).is_ok() {
        return shim.to_path_buf();
    }
    std::path::Path::new(backend.trusted_shim_dir()).join(crate::shim_protocol::BIN)
}

/// The login name of a uid, from the user database (NSS: `/etc/passwd`, LDAP, homed, …).
fn user_name(uid: u32) -> String {
    nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
        .ok()
        .flatten()
        .map(|u| u.name)
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| uid.to_string())
}

fn own_home() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/"))
}

fn home_of(user: Option<&str>) -> PathBuf {
    if let Some(user) = user
        && let Some(home) = nix::unistd::User::from_name(user)
            .ok()
            .flatten()
            .map(|u| u.dir)
    {
        return home;
    }
    own_home()
}

/// The systemd version of this machine, from `systemctl --version` ("systemd 252 (252.38-1)"),
/// or 252 when there is none.
pub fn installed_systemd_version() -> u32 {
    std::process::Command::new("systemctl")
        .arg("--version")
        .stderr(std::process::Stdio::null())
        .output()
        .ok()
        .and_then(|o| {
            let text = String::from_utf8_lossy(&o.stdout).into_owned();
            text.split_whitespace().nth(1).and_then(|v| v.parse().ok())
        })
        .unwrap_or(DEFAULT_SYSTEMD_VERSION)
}
