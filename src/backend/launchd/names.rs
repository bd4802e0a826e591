//! launchd labels, sessions and domains, in one place: `rgen.<name>` (`rgen.<name>.<instance>`
//! for each instance of a multi-instance app), `rgen.<name>.<role>` for the helper jobs, the
//! session a job may load in, the domain that session is, and where rgen's own launchd files
//! live.
//!
//! Labels carry the app's name only, not its group: they are the same namespace as systemd's
//! unit names and as `rgen restart <app>`, so two ecosystems with an app `api` are refused as a
//! conflict on install (the message says how to resolve it) rather than told apart.

use std::path::{Path, PathBuf};

use crate::target::{Scope, Target};

/// Labels are `rgen.<name>` (`rgen.<name>.<instance>` for multi-instance apps).
pub const LABEL_PREFIX: &str = "rgen.";

pub fn label(unit: &str, instance: Option<u32>) -> String {
    match instance {
        Some(i) => format!("{LABEL_PREFIX}{unit}.{i}"),
        None => format!("{LABEL_PREFIX}{unit}"),
    }
}

/// Every label of an app's own jobs (one per instance).
pub fn app_labels(unit: &str, instances: Option<u32>) -> Vec<String> {
    match instances {
        Some(n) => (0..n).map(|i| label(unit, Some(i))).collect(),
        None => vec![label(unit, None)],
    }
}

/// A helper job's label: `rgen.<name>.cron-restart`, `rgen.<name>.watch`.
pub fn helper_label(unit: &str, role: &str) -> String {
    format!("{}.{role}", label(unit, None))
}

/// The plist file of a label.
pub fn plist_file(label: &str) -> String {
    format!("{label}.plist")
}

pub fn label_of(file: &str) -> &str {
    file.strip_suffix(".plist").unwrap_or(file)
}

/// The launchd session a job is loaded in, which decides its domain. An agent's plist names
/// exactly one (`LimitLoadToSessionType`), so launchd loads it in that session only: an agent
/// installed over ssh into the background session is not loaded a second time into the GUI
/// session at the next login, and the reverse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Session {
    /// A GUI login: `gui/<uid>`, loaded at every login.
    Aqua,
    /// A user's background session (ssh, no GUI login): `user/<uid>`.
    Background,
    /// A daemon: the `system` domain, loaded at boot.
    System,
}

impl Session {
    pub fn of(target: &Target) -> Session {
        match (target.scope, target.launchd_background) {
            (Scope::System, _) => Session::System,
            (Scope::User, false) => Session::Aqua,
            (Scope::User, true) => Session::Background,
        }
    }

    /// An installed job's session, from its plist's `LimitLoadToSessionType` (absent means
    /// Aqua for an agent, as launchd reads it).
    pub fn from_plist(scope: Scope, limit_load_to_session_type: Option<&str>) -> Session {
        match (scope, limit_load_to_session_type) {
            (Scope::System, _) => Session::System,
            (Scope::User, Some("Background")) => Session::Background,
            (Scope::User, _) => Session::Aqua,
        }
    }

    /// `LimitLoadToSessionType` for the plist; daemons need none.
    pub fn plist_value(self) -> Option<&'static str> {
        match self {
            Session::Aqua => Some("Aqua"),
            Session::Background => Some("Background"),
            Session::System => None,
        }
    }

    /// The domain target of this session for the user `uid`.
    pub fn domain(self, uid: u32) -> String {
        match self {
            Session::Aqua => format!("gui/{uid}"),
            Session::Background => format!("user/{uid}"),
            Session::System => "system".into(),
        }
    }
}

/// The domain jobs of this target are loaded into.
pub fn domain(target: &Target) -> String {
    Session::of(target).domain(target.uid)
}

/// Every domain an agent of `uid` could be loaded in (for cleaning up after a domain change).
pub fn agent_domains(uid: u32) -> [String; 2] {
    [Session::Aqua.domain(uid), Session::Background.domain(uid)]
}

/// `gui/501/rgen.api`.
pub fn service(domain: &str, label: &str) -> String {
    format!("{domain}/{label}")
}

/// Where the helper jobs (cron, watch) log what they did. System-scope helpers run as root, so
/// theirs is a directory only root can change; agents' go next to the apps' default logs.
pub fn helper_log_dir(target: &Target) -> PathBuf {
    match target.scope {
        Scope::System => target.launchd_root.join("Library/Logs/rgen"),
        Scope::User => target.home.join("Library/Logs/rgen"),
    }
}

/// `<dir>/<name>.<role>.log`.
pub fn helper_log(dir: &Path, unit: &str, role: &str) -> PathBuf {
    dir.join(format!("{unit}.{role}.log"))
}

/// What the watch helper remembers of the watched directories, in a directory only the user the
/// helper runs as can change (root's own for system scope, never an app user's).
pub fn watch_state(state_root: &Path, unit: &str) -> PathBuf {
    state_root.join(format!("{unit}.watch-state"))
}
