//! launchd: property lists built as typed values, read back with the `plist` crate, and the
//! manager driven through `launchctl` (one runner, so tests replay recorded real outputs). No
//! `cfg(target_os)`: all of it compiles and is tested on Linux.

mod calendar;
mod control;
mod helper;
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
        Scope::System => target.launchd_root.join("Library/LaunchDaemons"),
        Scope::User => target.home.join("Library/LaunchAgents"),
    }
}

impl ReadBack for Launchd {
    fn read_back(&self, name: &str, path: &Path, bytes: &[u8]) -> Existing {
        readback::read_back(name, path, bytes)
    }

    /// Every job carries the ecosystem file's digest (launchd has no group file to hold it), so
    /// a change to another app's entry changes every plist's digest and nothing else; an app
    /// moved from the command line to a file changes only its recorded source.
    fn same_but_bookkeeping(&self, old: &str, new: &str) -> bool {
        readback::without_bookkeeping(old) == readback::without_bookkeeping(new)
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

    /// The domain this install loads jobs into.
    fn domain(&self) -> String {
        names::domain(&self.target)
    }

    /// The domain an installed job belongs in, as its plist says (`LimitLoadToSessionType`).
    fn domain_of(&self, unit: &InstalledUnit) -> String {
        match render::parse(unit.contents.as_bytes()) {
            Ok(job) => job.session(self.target.scope).domain(self.target.uid),
            Err(_) => self.domain(),
        }
    }

    /// Where to look for an installed job that may have been loaded by an earlier rgen into the
    /// other session: its own domain first.
    fn domains_of(&self, unit: &InstalledUnit) -> Vec<String> {
        let mut domains = vec![self.domain_of(unit)];
        if self.target.scope == Scope::User {
            for d in names::agent_domains(self.target.uid) {
                if !domains.contains(&d) {
                    domains.push(d);
                }
            }
        }
        domains
    }

    /// The domains a label is loaded in now.
    fn loaded_domains(&self, label: &str) -> Result<Vec<String>> {
        let candidates = match self.target.scope {
            Scope::System => vec!["system".to_string()],
            Scope::User => names::agent_domains(self.target.uid).to_vec(),
        };
        let mut loaded = Vec::new();
        for d in candidates {
            if self.launchctl.print(&names::service(&d, label))?.is_some() {
                loaded.push(d);
            }
        }
        Ok(loaded)
    }

    /// Whom directories rgen makes for itself belong to: the user installing, unless root.
    fn own_owner(&self) -> Option<(u32, u32)> {
        (self.target.uid != 0).then(|| {
            let gid = crate::apply::users::lookup_user(&self.target.uid.to_string())
                .map_or(self.target.uid, |(_, g)| g);
            (self.target.uid, gid)
        })
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
        status::collect(self, apps)
    }

    fn scale(&self, app: &InstalledApp, _count: u32, _out: &mut dyn Write) -> Result<Vec<Failure>> {
        bail!(
            "launchd has no templates to scale: change `instances` of {} in its ecosystem file and run `rgen install`",
            app.name
        )
    }

    /// Every process of the apps: the app behind the shim leads its own process group.
    fn signal(
        &self,
        apps: &[&InstalledApp],
        signal: i32,
        _out: &mut dyn Write,
    ) -> Result<Vec<Failure>> {
        let rows = status::collect(self, apps)?;
        let mut failures = Vec::new();
        for unit in rows.iter().flat_map(|r| r.units.iter()) {
            let result = match unit.pid {
                // -1 is every process and 0 rgen's own group: never what a job's pid means.
                Some(pid) if pid <= 1 || i32::try_from(pid).is_err() => {
                    Err(format!("refusing to signal pid {pid}"))
                }
                // SAFETY: kill has no memory preconditions; a negative pid names a group.
                Some(pid) => (unsafe { libc::kill(-(pid as i32), signal) } == 0)
                    .then_some(())
                    .ok_or_else(|| std::io::Error::last_os_error().to_string()),
                None => Err("not running".to_string()),
            };
            if let Err(why) = result {
                failures.push(Failure {
                    unit: unit.unit.clone(),
                    why,
                    not_permitted: false,
                });
            }
        }
        Ok(failures)
    }

    fn reset(&self, apps: &[&InstalledApp], out: &mut dyn Write) -> Result<Vec<Failure>> {
        // launchd keeps its own run count and offers no way to clear it short of reloading.
        writeln!(
            out,
            "note: launchd counts a job's runs itself; they start again from 0 only when it is loaded anew (`rgen stop` then `rgen start`)"
        )?;
        let _ = apps;
        Ok(Vec::new())
    }

    fn sampler<'a>(&'a self, apps: &[&InstalledApp]) -> Result<Box<dyn Sampler + 'a>> {
        Ok(Box::new(sample::LaunchdSampler::new(self, apps)))
    }

    fn explain_failure(&self, unit: &str, app: &InstalledApp, out: &mut dyn Write) -> Result<()> {
        let domain = app
            .units
            .iter()
            .find(|u| u.runtime.iter().any(|r| r == unit))
            .map_or_else(|| self.domain(), |u| self.domain_of(u));
        if let Some(info) = self.launchctl.print(&names::service(&domain, unit))? {
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
