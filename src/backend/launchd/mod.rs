//! launchd: property lists built as typed values, read back with the `plist` crate, and the
//! manager driven through `launchctl` (one runner, so tests replay recorded real outputs). No
//! `cfg(target_os)`: all of it compiles and is tested on Linux.

mod calendar;
mod control;
mod install;
pub mod launchctl;
pub mod names;
mod readback;
pub mod render;
mod sample;
mod status;

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

use crate::apply::RenderedFile;
use crate::apply::changes::{ChangeSet, Conflict};
use crate::apply::inventory::{Existing, InstalledApp, InstalledUnit, ReadBack};
use crate::backend::{Failure, Manager, RenderError, Rendered, Renderer, Verb};
use crate::observe::sample::Sampler;
use crate::observe::status::AppStatus;
use crate::plan::Plan;
use crate::target::{Backend, Scope, Target};

/// The pure half: rendering and reading back plists.
pub struct Launchd {
    target: Target,
}

impl Launchd {
    pub fn new(target: Target) -> Launchd {
        Launchd { target }
    }
}

/// `/Library/LaunchDaemons`, or `~/Library/LaunchAgents`.
pub fn job_dir(target: &Target) -> PathBuf {
    match target.scope {
        Scope::System => PathBuf::from("/Library/LaunchDaemons"),
        Scope::User => target.home.join("Library/LaunchAgents"),
    }
}

impl ReadBack for Launchd {
    fn read_back(&self, name: &str, path: &Path, bytes: &[u8]) -> Existing {
        readback::read_back(name, path, bytes)
    }

    /// Every job carries the ecosystem file's digest (launchd has no group file to hold it), so
    /// a change to another app's entry changes every plist's digest and nothing else.
    fn same_but_bookkeeping(&self, old: &str, new: &str) -> bool {
        readback::without_source_hash(old) == readback::without_source_hash(new)
    }
}

impl Renderer for Launchd {
    fn backend(&self) -> Backend {
        Backend::Launchd
    }

    fn describe(&self) -> String {
        "launchd".into()
    }

    fn manager_dir(&self) -> PathBuf {
        job_dir(&self.target)
    }

    fn render(&self, plan: &Plan) -> Result<Rendered, RenderError> {
        render::render(plan)
    }

    fn install_actions(&self, plan: &Plan, changes: &ChangeSet) -> Vec<String> {
        install::actions(plan, changes)
    }
}

/// The effectful half: `launchctl` for this target's domain.
pub struct LaunchdManager {
    target: Target,
    dir: PathBuf,
    launchctl: launchctl::Launchctl,
}

impl LaunchdManager {
    pub fn new(target: Target) -> LaunchdManager {
        LaunchdManager {
            dir: job_dir(&target),
            target,
            launchctl: launchctl::Launchctl::default(),
        }
    }

    /// The domain jobs of this scope are bootstrapped into.
    fn domain(&self) -> String {
        names::domain(self.target.scope, self.target.uid)
    }

    fn require_root_for_system(&self) -> Result<()> {
        if self.target.scope == Scope::System && self.target.uid != 0 {
            bail!(
                "system-scope launchd jobs live in /Library/LaunchDaemons and need root: run with sudo (or install with --user)"
            );
        }
        Ok(())
    }
}

impl Manager for LaunchdManager {
    fn version(&self) -> Option<u32> {
        None
    }

    fn foreign_definitions(&self, _files: &[RenderedFile]) -> Result<Vec<Conflict>> {
        // launchd loads only what is bootstrapped from these directories; another file with
        // the same label elsewhere is not shadowed by rgen's.
        Ok(Vec::new())
    }

    fn install(&self, plan: &Plan, changes: &ChangeSet, out: &mut dyn Write) -> Result<()> {
        install::install(self, plan, changes, out)
    }

    fn uninstall(&self, units: &[InstalledUnit], out: &mut dyn Write) -> Result<()> {
        install::uninstall(self, units, out)
    }

    fn control(
        &self,
        verb: Verb,
        apps: &[&InstalledApp],
        out: &mut dyn Write,
    ) -> Result<Vec<Failure>> {
        control::control(self, verb, apps, out)
    }

    fn status(&self, apps: &[&InstalledApp]) -> Result<Vec<AppStatus>> {
        status::collect(&self.launchctl, &self.domain(), apps)
    }

    fn sampler<'a>(&'a self, apps: &[&InstalledApp]) -> Result<Box<dyn Sampler + 'a>> {
        Ok(Box::new(sample::LaunchdSampler::new(
            &self.launchctl,
            self.domain(),
            apps,
        )))
    }

    fn explain_failure(&self, unit: &str, app: &InstalledApp, out: &mut dyn Write) -> Result<()> {
        if let Some(info) = self
            .launchctl
            .print(&names::service(&self.domain(), unit))?
        {
            writeln!(
                out,
                "  {unit}: state {}, last exit {:?}",
                info.state.unwrap_or_default(),
                info.last_exit
            )?;
        }
        for line in
            crate::observe::logs::last_lines(self.target.scope, &app.log_sources_of(unit), 10)
        {
            writeln!(out, "    {line}")?;
        }
        Ok(())
    }
}
