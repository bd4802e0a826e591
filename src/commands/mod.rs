//! One file per verb. Commands wire the pipeline stages together and own no logic of their own.

pub mod check;
pub mod control;
pub mod import;
pub mod install;
pub mod logs;
pub mod render;
pub mod show;
pub mod status;
pub mod uninstall;

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::cli::{FormatArg, SourceArgs, TargetArgs};
use crate::diag::{self, Warning};
use crate::load::{self, Format, RawEcosystem};
use crate::model::{self, Ecosystem, ModelOptions};
use crate::plan::{self, Backend, Plan, Scope, Target};
use crate::render::RenderedFile;

/// The pipeline's products for one ecosystem file and one target.
pub struct Compiled {
    pub raw: RawEcosystem,
    pub ecosystem: Ecosystem,
    pub plan: Plan,
    pub files: Vec<RenderedFile>,
    pub warnings: Vec<Warning>,
}

pub fn format_of(arg: Option<FormatArg>) -> Option<Format> {
    arg.map(|f| match f {
        FormatArg::Toml => Format::RgenToml,
        FormatArg::Js => Format::Pm2Js,
        FormatArg::Json => Format::Pm2Json,
        FormatArg::Yaml => Format::Pm2Yaml,
        FormatArg::Forever => Format::Forever,
    })
}

pub fn ecosystem_path(file: Option<&Path>) -> Result<PathBuf> {
    match file {
        Some(f) => Ok(f.to_path_buf()),
        None => Ok(load::discover(&std::env::current_dir()?)?),
    }
}

/// load → model → plan → render, collecting the warnings of every stage.
pub fn compile(source: &SourceArgs, target: &Target) -> Result<Compiled> {
    let path = ecosystem_path(source.file.as_deref())?;
    let (raw, load_report) = load::load(&path, format_of(source.format))?;
    let mut warnings = load_report.warnings;
    let opts = ModelOptions {
        env_name: source.env.clone(),
        only: source
            .only
            .iter()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
        group: source.group.clone(),
        ..ModelOptions::default()
    };
    let (ecosystem, w) = model::validate(&raw, &opts).map_err(|mut bad| {
        bad.warnings.splice(0..0, warnings.clone());
        bad
    })?;
    warnings.extend(w);
    let (plan, w) = plan::plan(&ecosystem, target).map_err(|mut bad| {
        bad.warnings.splice(0..0, warnings.clone());
        bad
    })?;
    warnings.extend(w);
    let files = crate::render::render(&plan)?;
    Ok(Compiled {
        raw,
        ecosystem,
        plan,
        files,
        warnings,
    })
}

pub fn print_warnings(warnings: &[Warning]) {
    diag::print_warnings(warnings);
}

impl TargetArgs {
    pub fn backend(&self) -> Backend {
        if self.launchd {
            Backend::Launchd
        } else if self.systemd {
            Backend::Systemd
        } else if cfg!(target_os = "macos") {
            Backend::Launchd
        } else {
            Backend::Systemd
        }
    }

    pub fn scope(&self) -> Scope {
        if self.system {
            Scope::System
        } else if self.user {
            Scope::User
        } else if plan::current_uid() == 0 {
            Scope::System
        } else {
            Scope::User
        }
    }

    /// `target()` for rendering offline: the systemd version is the installed one unless given.
    pub fn render_target(&self) -> Target {
        let mut target = self.target();
        if self.systemd_version.is_none() {
            target.systemd_version = installed_systemd_version();
        }
        target.cpus = cpus();
        target
    }

    /// The target as this machine and these flags describe it.
    pub fn target(&self) -> Target {
        let backend = self.backend();
        let scope = self.scope();
        let invoking_user = if plan::current_uid() == 0 {
            std::env::var("SUDO_USER")
                .ok()
                .filter(|u| !u.is_empty() && u != "root")
        } else {
            None
        };
        Target {
            backend,
            scope,
            // Asking the system costs a process; commands that render ask through
            // `render_target`, the others do not need the version.
            systemd_version: self
                .systemd_version
                .unwrap_or(plan::DEFAULT_SYSTEMD_VERSION),
            cpus: 1,
            shim: shim_path(),
            home: home_of(invoking_user.as_deref()),
            invoking_user,
        }
    }
}

/// CPUs available to this process (`instances: 'max'`). Reading it costs cgroup file reads, so
/// only commands that plan ask.
pub fn cpus() -> u32 {
    std::thread::available_parallelism()
        .map(|n| n.get() as u32)
        .unwrap_or(1)
}

/// `rgen-shim` next to the running `rgen` (both are installed together), unless RGEN_SHIM says.
pub fn shim_path() -> PathBuf {
    if let Some(p) = std::env::var_os("RGEN_SHIM") {
        return PathBuf::from(p);
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join(crate::shim_protocol::BIN)))
        .unwrap_or_else(|| PathBuf::from("/usr/local/bin/rgen-shim"))
}

/// The login name of a uid, from the user database (NSS: `/etc/passwd`, LDAP, homed, …).
pub fn user_name(uid: u32) -> String {
    nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
        .ok()
        .flatten()
        .map(|u| u.name)
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| uid.to_string())
}

fn home_of(user: Option<&str>) -> PathBuf {
    if let Some(user) = user
        && let Some(home) = passwd_home(user)
    {
        return home;
    }
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/"))
}

fn passwd_home(user: &str) -> Option<PathBuf> {
    nix::unistd::User::from_name(user)
        .ok()
        .flatten()
        .map(|u| u.dir)
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
        .unwrap_or(plan::DEFAULT_SYSTEMD_VERSION)
}
