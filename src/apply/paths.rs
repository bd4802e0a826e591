//! Where each manager reads its files from.

use std::path::PathBuf;

use crate::plan::{Backend, Scope, Target};

/// The directory rgen installs into for a target.
pub fn manager_dir(target: &Target) -> PathBuf {
    match (target.backend, target.scope) {
        (Backend::Systemd, Scope::System) => PathBuf::from("/etc/systemd/system"),
        (Backend::Systemd, Scope::User) => config_home().join("systemd/user"),
        (Backend::Launchd, Scope::System) => PathBuf::from("/Library/LaunchDaemons"),
        (Backend::Launchd, Scope::User) => home().join("Library/LaunchAgents"),
    }
}

pub fn home() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/"))
}

fn config_home() -> PathBuf {
    std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .unwrap_or_else(|| home().join(".config"))
}
