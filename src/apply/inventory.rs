//! What rgen has installed, read back from the manager's directory. This is rgen's only record —
//! there is no state file to drift from the truth — so status, logs, uninstall and drift checks
//! work without the ecosystem file at hand.
//!
//! The types here are the one answer to "what does this installed file mean": each backend's
//! `read_back` turns its own file format into an [`InstalledUnit`] (marker, role, the command,
//! where its output goes), and everything above works on those.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// rgen's bookkeeping in a generated file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Marker {
    /// `None` for the group's own files (systemd's group target).
    pub app: Option<String>,
    pub group: String,
    pub source: PathBuf,
    pub env: Option<String>,
    pub namespace: Option<String>,
    /// How many instances the app was installed with (template units, one job per instance).
    pub instances: Option<u32>,
    /// launchd jobs of multi-instance apps: which instance this file is.
    pub instance: Option<u32>,
    /// Digest of the ecosystem file at install time, for a cheap drift check.
    pub source_hash: Option<String>,
    /// An app installed from the command line: its keys as JSON (its only record).
    pub definition: Option<String>,
    /// Installed with `--hardening strict`.
    pub strict_hardening: bool,
}

/// What an installed file is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Runs the app (a service, a template, a launchd job).
    App,
    /// Holds the app's listening socket.
    Socket,
    /// Fires on a schedule or a file change (timer, path unit, launchd helper job).
    Trigger(Trigger),
    /// What a trigger starts: the oneshot that restarts the app (systemd).
    TriggerAction(Trigger),
    /// The group's own file (systemd's `rgen-<group>.target`).
    Group,
    /// The app's environment, apart from its definition so only its owner reads it.
    Environment,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    CronRestart,
    Watch,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::CronRestart => "cron-restart",
            Trigger::Watch => "watch",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Out,
    Err,
    Both,
}

impl Stream {
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Out => "out",
            Stream::Err => "err",
            Stream::Both => "out+err",
        }
    }
}

/// How the shim rotates a log file, read back from its installed command line (pm2-logrotate's
/// settings, as `shim_protocol` spells them).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct LogRotation {
    /// Rotated before it grows past this; `None`: not by size.
    pub max_size_bytes: Option<u64>,
    /// Rotated files kept; `None`: all.
    pub retain: Option<u32>,
    pub compress: bool,
    pub date_format: String,
    /// Cron expression of time-based rotations.
    pub interval: Option<String>,
    pub worker_interval_ms: u64,
}

/// Where one stream of one running unit goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogSource {
    File {
        path: PathBuf,
        stream: Stream,
        /// The runtime unit (instance) writing it.
        unit: String,
        /// Who opens the file: the shim (as the app's user) or the manager.
        by_shim: bool,
        /// How the shim rotates it; `None`: never.
        rotation: Option<LogRotation>,
    },
    /// The manager's own log (the journal) for this runtime unit.
    Journal { unit: String },
}

/// One file rgen wrote, understood.
#[derive(Clone, Debug)]
pub struct InstalledUnit {
    pub name: String,
    pub path: PathBuf,
    pub contents: String,
    pub marker: Marker,
    pub role: Role,
    /// What the manager runs for this file: instance units of a template, the job's label.
    pub runtime: Vec<String>,
    /// The command as installed (the shim's, when it runs in front of the app).
    pub argv: Vec<String>,
    /// The app's own command (after the shim's options).
    pub app_argv: Vec<String>,
    /// Where each runtime unit's output goes.
    pub logs: Vec<LogSource>,
    pub shimmed: bool,
    /// Who the manager runs it as (`User=`, `UserName`); `None` is the manager's own user.
    pub run_as: Option<String>,
    /// The environment the file gives the app, as written (instance specifiers unexpanded).
    pub env: Vec<(String, String)>,
    /// The manager's settings that say how the app runs (`User=`, `Restart=`, `KeepAlive`, …),
    /// as the file has them, for `rgen show`.
    pub settings: Vec<(String, String)>,
    /// `max_memory_restart` as installed: the manager's hard limit (systemd's `MemoryMax=`) or
    /// the shim's `--max-memory`, in bytes. `rgen monit` shows memory as a share of it.
    pub memory_limit: Option<u64>,
}

/// A file in the manager's directory, as a backend reads it.
#[derive(Clone, Debug)]
pub enum Existing {
    Ours(Box<InstalledUnit>),
    /// Not generated by rgen: never overwritten, stopped or deleted.
    Foreign(PathBuf),
    /// Not a file this backend reads (another manager's, an editor's backup).
    Ignored,
}

/// How a backend reads its installed files back. Pure: the bytes are given.
/// `Sync`: a big inventory is read on several threads at once.
pub trait ReadBack: Sync {
    fn read_back(&self, name: &str, path: &Path, bytes: &[u8]) -> Existing;

    /// Whether two versions of a file differ only in rgen's bookkeeping (markers the manager
    /// ignores), so rewriting it needs no reload.
    fn same_but_bookkeeping(&self, _old: &str, _new: &str) -> bool {
        false
    }
}

/// An installed app: every file of it, by role.
#[derive(Clone, Debug)]
pub struct InstalledApp {
    pub name: String,
    pub group: String,
    pub units: Vec<InstalledUnit>,
}

impl InstalledApp {
    pub fn marker(&self) -> Option<&Marker> {
        self.units.first().map(|u| &u.marker)
    }

    pub fn namespace(&self) -> &str {
        self.units
            .iter()
            .find_map(|u| u.marker.namespace.as_deref())
            .unwrap_or("default")
    }

    pub fn instances(&self) -> Option<u32> {
        self.units.iter().find_map(|u| u.marker.instances)
    }

    fn runtime_of(&self, pick: impl Fn(Role) -> bool) -> Vec<String> {
        self.units
            .iter()
            .filter(|u| pick(u.role))
            .flat_map(|u| u.runtime.iter().cloned())
            .collect()
    }

    /// The running units of the app itself (one per instance), in instance order.
    pub fn services(&self) -> Vec<String> {
        self.runtime_of(|r| r == Role::App)
    }

    pub fn sockets(&self) -> Vec<String> {
        self.runtime_of(|r| r == Role::Socket)
    }

    pub fn triggers(&self) -> Vec<String> {
        self.runtime_of(|r| matches!(r, Role::Trigger(_)))
    }

    /// Everything that runs: what is enabled, stopped and disabled.
    pub fn runtime_units(&self) -> Vec<String> {
        let mut all = self.services();
        all.extend(self.sockets());
        all.extend(self.triggers());
        all
    }

    pub fn file_names(&self) -> Vec<String> {
        self.units.iter().map(|u| u.name.clone()).collect()
    }

    /// Several instances behind one shared socket.
    pub fn is_cluster(&self) -> bool {
        self.instances().is_some() && !self.sockets().is_empty()
    }

    pub fn shimmed(&self) -> bool {
        self.units.iter().any(|u| u.role == Role::App && u.shimmed)
    }

    /// Where the app's output goes, per running unit.
    pub fn log_sources(&self) -> Vec<LogSource> {
        let mut out: Vec<LogSource> = self
            .units
            .iter()
            .filter(|u| u.role == Role::App)
            .flat_map(|u| u.logs.iter().cloned())
            .collect();
        out.dedup();
        out
    }

    /// The log sources of one running unit (an instance), for failure reports.
    pub fn log_sources_of(&self, unit: &str) -> Vec<LogSource> {
        self.log_sources()
            .into_iter()
            .filter(|s| match s {
                LogSource::File { unit: u, .. } | LogSource::Journal { unit: u } => u == unit,
            })
            .collect()
    }

    /// The memory limit of each of the app's running units (every instance has the same).
    pub fn memory_limit(&self) -> Option<u64> {
        self.units
            .iter()
            .find(|u| u.role == Role::App)
            .and_then(|u| u.memory_limit)
    }

    /// The app's own command as installed.
    pub fn app_argv(&self) -> &[String] {
        self.units
            .iter()
            .find(|u| u.role == Role::App)
            .map(|u| u.app_argv.as_slice())
            .unwrap_or(&[])
    }
}

#[derive(Clone, Debug, Default)]
pub struct Inventory {
    pub units: Vec<InstalledUnit>,
    /// Files in the way: not rgen's.
    pub foreign: Vec<PathBuf>,
}

/// Below this many files per CPU, one thread reads them all.
const FILES_PER_THREAD: usize = 48;

impl Inventory {
    /// Reads every file in `dir` (a missing directory is an empty inventory).
    pub fn scan(dir: &Path, backend: &dyn ReadBack) -> Inventory {
        let mut inventory = Inventory::default();
        let Ok(entries) = std::fs::read_dir(dir) else {
            return inventory;
        };
        let mut names: Vec<(String, PathBuf)> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
            // Dot files are editors' and rgen's own temporary files.
            .filter(|(name, _)| !name.starts_with('.'))
            .collect();
        names.sort();
        // Opened below the directory, without asking each file's size first: two system calls
        // fewer per file than `fs::read`.
        let dir_fd = nix::fcntl::open(
            dir,
            nix::fcntl::OFlag::O_RDONLY
                | nix::fcntl::OFlag::O_DIRECTORY
                | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .ok();
        let read_all = |names: &[(String, PathBuf)]| -> Vec<Existing> {
            names
                .iter()
                .map(
                    |(name, path)| match dir_fd.as_ref().map(|fd| read_at(fd, name)) {
                        Some(Ok(bytes)) => backend.read_back(name, path, &bytes),
                        // Made a link since the listing: not followed, as the listing skips them.
                        Some(Err(nix::errno::Errno::ELOOP)) => Existing::Ignored,
                        _ => read(path, name, backend),
                    },
                )
                .collect()
        };
        // Hundreds of files (`status` of hundreds of apps) are read and parsed on every CPU,
        // while the manager has nothing to do yet; a few are not worth a thread.
        let read = crate::parallel::map_chunks(&names, FILES_PER_THREAD, read_all);
        for existing in read {
            match existing {
                Existing::Ours(unit) => inventory.units.push(*unit),
                Existing::Foreign(p) => inventory.foreign.push(p),
                Existing::Ignored => {}
            }
        }
        inventory
    }

    pub fn get(&self, name: &str) -> Option<&InstalledUnit> {
        self.units.iter().find(|u| u.name == name)
    }

    /// Installed apps in (group, name) order, each with its files.
    pub fn apps(&self) -> Vec<InstalledApp> {
        let mut by_app: BTreeMap<(String, String), Vec<InstalledUnit>> = BTreeMap::new();
        for u in &self.units {
            if let Some(app) = &u.marker.app {
                by_app
                    .entry((u.marker.group.clone(), app.clone()))
                    .or_default()
                    .push(u.clone());
            }
        }
        by_app
            .into_iter()
            .map(|((group, name), units)| InstalledApp { name, group, units })
            .collect()
    }

    pub fn group_units(&self, group: &str) -> Vec<&InstalledUnit> {
        self.units
            .iter()
            .filter(|u| u.marker.group == group)
            .collect()
    }

    /// The files to remove with these apps: theirs, and each group's own files once no app of
    /// the group remains.
    pub fn removal(&self, apps: &[&InstalledApp]) -> Vec<InstalledUnit> {
        let mut chosen: Vec<InstalledUnit> = apps.iter().flat_map(|a| a.units.clone()).collect();
        let groups: std::collections::BTreeSet<&str> =
            apps.iter().map(|a| a.group.as_str()).collect();
        for group in groups {
            let remaining = self
                .group_units(group)
                .into_iter()
                .any(|u| u.marker.app.is_some() && !chosen.iter().any(|c| c.name == u.name));
            if !remaining {
                chosen.extend(
                    self.group_units(group)
                        .into_iter()
                        .filter(|u| u.marker.app.is_none())
                        .cloned(),
                );
            }
        }
        chosen.sort_by(|a, b| a.name.cmp(&b.name));
        chosen.dedup_by(|a, b| a.name == b.name);
        chosen
    }
}

/// A file of the directory open at `dir`, not followed if it is a link.
fn read_at(dir: &std::os::fd::OwnedFd, name: &str) -> nix::Result<Vec<u8>> {
    use std::io::Read as _;
    let fd = nix::fcntl::openat(
        dir,
        name,
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC | nix::fcntl::OFlag::O_NOFOLLOW,
        nix::sys::stat::Mode::empty(),
    )?;
    let mut bytes = Vec::with_capacity(4096);
    // (Through `take`: `File::read_to_end` would ask for the size first.)
    std::fs::File::from(fd)
        .take(u64::MAX)
        .read_to_end(&mut bytes)
        .map_err(|e| nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?;
    Ok(bytes)
}

/// Reads one file and lets the backend say whose it is.
pub fn read(path: &Path, name: &str, backend: &dyn ReadBack) -> Existing {
    match std::fs::read(path) {
        Ok(bytes) => backend.read_back(name, path, &bytes),
        Err(_) => Existing::Ignored,
    }
}

/// Like [`read`], but a file that exists and cannot be read is an error (one of root's
/// `0600` environment files, read by another user), not a file to overwrite.
pub fn read_existing(path: &Path, name: &str, backend: &dyn ReadBack) -> std::io::Result<Existing> {
    let bytes = std::fs::read(path).map_err(|e| {
        std::io::Error::new(e.kind(), format!("cannot read {}: {e}", path.display()))
    })?;
    Ok(backend.read_back(name, path, &bytes))
}
