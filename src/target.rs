//! What the generated files are for: the service manager, its scope, the machine facts rendering
//! depends on, and what the manager does natively. `plan` asks [`Capabilities`] what the OS can
//! do and puts the shim in front of an app for the rest; it never asks which manager it is.
//!
//! Everything here is plain data resolved once by `settings` (uid, user names, homes, the
//! manager's version), so `plan` and `render` stay pure and render the same bytes for every
//! user who runs them.

use std::path::PathBuf;

/// systemd gained `RestartSteps=`/`RestartMaxDelaySec=` in 254.
pub const SYSTEMD_BACKOFF_VERSION: u32 = 254;
/// Assumed when the installed systemd cannot be asked (Debian 12, RHEL 9.2+, AL2023).
pub const DEFAULT_SYSTEMD_VERSION: u32 = 252;

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Systemd,
    Launchd,
    /// Manifests for a cluster, with `rgen-shim` as each container's PID 1; rgen writes them
    /// and `kubectl apply` does the rest.
    Kubernetes,
}

impl Backend {
    /// Where system-scope services find their `rgen-shim` when the one next to `rgen` is not
    /// root's alone (Homebrew on Intel Macs owns `/usr/local/lib` by the user).
    pub fn trusted_shim_dir(self) -> &'static str {
        match self {
            Backend::Systemd => "/usr/local/lib/rgen",
            Backend::Launchd => "/Library/Application Support/rgen",
            Backend::Kubernetes => KUBERNETES_SHIM_DIR,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Systemd => "systemd",
            Backend::Launchd => "launchd",
            Backend::Kubernetes => "kubernetes",
        }
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    User,
    System,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::User => "user",
            Scope::System => "system",
        }
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything about the machine the files are for.
#[derive(Clone, Debug)]
pub struct Target {
    pub backend: Backend,
    pub scope: Scope,
    pub systemd_version: u32,
    pub cpus: u32,
    /// Absolute path of `rgen-shim` as the services will see it.
    pub shim: PathBuf,
    /// Where that shim comes from: the same path, or (system scope, when the shim next to
    /// `rgen` is one a user could replace) the copy `rgen install` puts in a root-owned place.
    pub shim_source: PathBuf,
    /// The uid rgen runs as (launchd's `gui/<uid>` domain, lingering).
    pub uid: u32,
    /// The login name of `uid` once asked for ([`Self::user_name`]): looked up on first use,
    /// because the user database can be slow to ask (NSS modules, LDAP) and most commands
    /// never need it.
    pub(crate) user_name: std::sync::OnceLock<String>,
    /// launchd user scope: this user has no GUI login session on the Mac right now (an ssh
    /// session while nobody, or someone else, is logged in at the screen), so agents are
    /// loaded into the background session `user/<uid>` instead of `gui/<uid>`.
    pub launchd_background: bool,
    /// Where launchd's system-wide directories (`/Library/…`) are: `/`, or a temporary
    /// directory in tests (`RGEN_LAUNCHD_ROOT`).
    pub launchd_root: PathBuf,
    /// Who system-scope apps run as when the ecosystem does not say (`uid`/`user`): `--run-as`,
    /// the user behind sudo/doas, else the owner of the ecosystem file. `Some("root")` runs them
    /// as root; `None` means nobody was named, and such apps are refused.
    pub invoking_user: Option<String>,
    /// Home of the user the apps run as (launchd's default log directory lives there).
    pub home: PathBuf,
    /// `$XDG_CONFIG_HOME` of the user running rgen (the systemd user unit directory is below).
    pub config_home: PathBuf,
    /// `--hardening strict`: apps whose entry does not set `hardening` get the strict profile.
    pub strict_hardening: bool,
    /// What only manifests for a cluster need (image, namespace, …); the default elsewhere.
    pub kubernetes: KubernetesOptions,
}

/// How much of a sandbox the manager can put around a service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sandboxing {
    /// None that rgen can ask for (launchd).
    None,
    /// Only what needs no privileges: `NoNewPrivileges=` and seccomp filters. A user manager
    /// builds mount namespaces only through an unprivileged user namespace, which many kernels
    /// forbid (Ubuntu's AppArmor restriction, `kernel.unprivileged_userns_clone=0`); the unit
    /// would then fail to start.
    Unprivileged,
    /// Mount, device and kernel protection, capabilities and seccomp (a system manager).
    Full,
}

/// Where the image puts `rgen-shim` (the Containerfile copies it there).
pub const KUBERNETES_SHIM_DIR: &str = "/usr/local/bin";
/// The image's working directory: it mirrors the ecosystem file's directory.
pub const KUBERNETES_APP_DIR: &str = "/app";
/// An `emptyDir` in every pod, for the shim's ready file.
pub const KUBERNETES_RUN_DIR: &str = "/run/rgen";

/// The `--kubernetes` settings of `rgen render` and `rgen check`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KubernetesOptions {
    /// The image every app's container runs (`--image`); `None`: a placeholder named after the
    /// group, as the generated Containerfile would be tagged.
    pub image: Option<String>,
    /// `metadata.namespace` of every object (`--namespace`); `None`: kubectl's current one.
    pub namespace: Option<String>,
    /// What `instances: 'max'` and negative counts resolve against (`--cpus-per-node`); `None`
    /// refuses them, since a cluster's nodes are not this machine.
    pub cpus_per_node: Option<u32>,
    /// Also write a Containerfile that builds the image (`--containerfile`).
    pub containerfile: bool,
    /// `--out`: where the files go, shown as the manager's directory.
    pub out: Option<PathBuf>,
}

/// Where an app's output goes when the ecosystem names no log file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DefaultLogs {
    /// The manager collects it (the journal).
    Collected,
    /// Files in this directory, `<unit>-out.log` / `<unit>-error.log` (launchd would drop it).
    Files(PathBuf),
}

/// What a manager does by itself. Every `false` is a job for the shim or a warning.
#[derive(Clone, Debug)]
pub struct Capabilities {
    /// PM2's exponential backoff (systemd ≥ 254: `RestartSteps=`).
    pub native_backoff: bool,
    /// The kernel stops the app at its memory limit (`MemoryMax=`).
    pub memory_limit: bool,
    /// The manager holds a listening socket across restarts and hands it to instances.
    pub socket_activation: bool,
    /// Stops with a chosen signal and escalates to SIGKILL after a timeout (`KillSignal=`).
    pub stop_signal: bool,
    /// Waits for the app to say it is ready (`Type=notify`).
    pub notify_readiness: bool,
    /// Stops restarting an app that keeps crashing (`StartLimitBurst=`).
    pub start_limit: bool,
    /// Waits `restart_delay` after an exit before the next start (`RestartSec=`).
    pub restart_delay: bool,
    /// Any exit code can keep the app down (`RestartPreventExitStatus=`); launchd knows only 0.
    pub any_exit_code_stops_restarts: bool,
    /// Passes environment variables of any name; systemd only passes names of letters, digits
    /// and `_` (`spring.datasource.password` is dropped with a log line).
    pub any_env_name: bool,
    /// The manager keeps log files open for the job's lifetime, so only a writer of rgen's
    /// (the shim) can rotate them, its own messages included (`--shim-log`).
    pub keeps_log_files_open: bool,
    /// Where the shim keeps an app's pid file and status file, because the manager neither
    /// takes the app down with the shim (no cgroup; on macOS no `PR_SET_PDEATHSIG`, and the app
    /// has its own process group) nor tells crash-loop counts (`rgen status` reads the status
    /// file). System scope keeps one subdirectory per user the apps run as.
    pub app_state_dir: Option<PathBuf>,
    /// The manager opens log files itself with root's privileges, following symlinks
    /// (`StandardOutput=append:` in the system scope): a service user could point her log at
    /// any root-owned file. The shim, running as the app's user, opens them instead.
    pub opens_log_files_as_root: bool,
    pub default_logs: DefaultLogs,
    /// The manager's PATH, which the app's own directories go in front of.
    pub base_path: &'static str,
    /// The manager's own PATH is too short to run anything a user installed (launchd's is
    /// `/usr/bin:/bin:/usr/sbin:/sbin`), so every job gets one.
    pub always_set_path: bool,
    /// What the strict hardening profile can use.
    pub sandboxing: Sandboxing,
    /// The manager restarts a job unless it exits 0 (launchd `KeepAlive {SuccessfulExit:
    /// false}`), so a shim that leaves a crash-looping app down must exit 0 to stay down.
    pub restarts_unless_exit_0: bool,
    /// Connections are spread over instances that each listen on the port themselves (a
    /// Kubernetes Service over pods), so cluster mode needs no socket shared between them.
    pub balances_instances: bool,
    /// The app's log files are written where the ecosystem says. `false`: the output is
    /// collected from stdout/stderr (`kubectl logs`) and the files are not written.
    pub log_files: bool,
    /// The manager learns readiness by probing for this file, which the shim creates when the
    /// app is ready (`--ready-file`), instead of a notification.
    pub ready_file: Option<&'static str>,
    /// The apps run on this machine, so `install` and `check` look at its users and files.
    pub runs_here: bool,
}

impl Capabilities {
    /// The manager can apply PM2's restart rules itself: a crash-loop limit, a wait after an
    /// exit, and exit codes that keep the app down. Where it cannot (launchd; a kubelet's
    /// CrashLoopBackOff of 10 s doubling to 5 min), the shim restarts the app (`--autorestart`)
    /// and the manager only restarts a shim that died.
    pub fn restarts_like_pm2(&self) -> bool {
        self.start_limit && self.restart_delay && self.any_exit_code_stops_restarts
    }
}

const SYSTEMD_DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// The shim's `--ready-file` in a pod; the readiness probe tests for it.
pub const KUBERNETES_READY_FILE: &str = "/run/rgen/ready";
const LAUNCHD_BASE_PATH: &str = "/opt/homebrew/bin:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin";

impl Target {
    /// The one place that knows what each manager can do.
    pub fn capabilities(&self) -> Capabilities {
        match self.backend {
            Backend::Systemd => Capabilities {
                native_backoff: self.systemd_version >= SYSTEMD_BACKOFF_VERSION,
                memory_limit: true,
                socket_activation: true,
                stop_signal: true,
                notify_readiness: true,
                start_limit: true,
                restart_delay: true,
                any_exit_code_stops_restarts: true,
                any_env_name: false,
                keeps_log_files_open: false,
                app_state_dir: None,
                opens_log_files_as_root: self.scope == Scope::System,
                default_logs: DefaultLogs::Collected,
                base_path: SYSTEMD_DEFAULT_PATH,
                always_set_path: false,
                sandboxing: match self.scope {
                    Scope::System => Sandboxing::Full,
                    Scope::User => Sandboxing::Unprivileged,
                },
                restarts_unless_exit_0: false,
                balances_instances: false,
                log_files: true,
                ready_file: None,
                runs_here: true,
            },
            Backend::Launchd => Capabilities {
                native_backoff: false,
                memory_limit: false,
                socket_activation: false,
                stop_signal: false,
                notify_readiness: false,
                start_limit: false,
                // `ThrottleInterval` is a minimum gap between spawns, not a wait after an exit.
                restart_delay: false,
                any_exit_code_stops_restarts: false,
                any_env_name: true,
                keeps_log_files_open: true,
                app_state_dir: Some(match self.scope {
                    Scope::User => self.home.join("Library/Application Support/rgen/run"),
                    Scope::System => self
                        .launchd_root
                        .join("Library/Application Support/rgen/run"),
                }),
                // launchd-842 (the last open-source one) opened `StandardOutPath` after dropping
                // to `UserName`; nothing says today's does, so the safe assumption is root.
                opens_log_files_as_root: self.scope == Scope::System,
                default_logs: DefaultLogs::Files(self.home.join("Library/Logs/rgen")),
                base_path: LAUNCHD_BASE_PATH,
                always_set_path: true,
                sandboxing: Sandboxing::None,
                restarts_unless_exit_0: true,
                balances_instances: false,
                log_files: true,
                ready_file: None,
                runs_here: true,
            },
            // rgen-shim is every container's PID 1 (the `pm2-runtime` role): it stops the app
            // PM2's way, restarts it by PM2's rules and creates the file the readiness probe
            // looks for; the kernel enforces `resources.limits.memory`.
            Backend::Kubernetes => Capabilities {
                native_backoff: false,
                memory_limit: true,
                socket_activation: false,
                stop_signal: false,
                notify_readiness: false,
                start_limit: false,
                restart_delay: false,
                any_exit_code_stops_restarts: true,
                any_env_name: true,
                keeps_log_files_open: false,
                app_state_dir: None,
                opens_log_files_as_root: false,
                default_logs: DefaultLogs::Collected,
                base_path: SYSTEMD_DEFAULT_PATH,
                always_set_path: false,
                sandboxing: Sandboxing::None,
                restarts_unless_exit_0: false,
                balances_instances: true,
                log_files: false,
                ready_file: Some(KUBERNETES_READY_FILE),
                runs_here: false,
            },
        }
    }

    pub fn native_backoff(&self) -> bool {
        self.capabilities().native_backoff
    }

    /// Whether `name` (a login name or a uid) is the user rgen runs as.
    pub fn is_current_user(&self, name: &str) -> bool {
        name == self.uid.to_string() || name == self.user_name()
    }

    /// The login name of `uid`, from the user database (NSS: `/etc/passwd`, LDAP, homed, …).
    pub fn user_name(&self) -> &str {
        self.user_name.get_or_init(|| login_name(self.uid))
    }
}

/// The login name of a uid, from the user database; `$USER` or the number where it has none.
pub fn login_name(uid: u32) -> String {
    nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
        .ok()
        .flatten()
        .map(|u| u.name)
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| uid.to_string())
}
