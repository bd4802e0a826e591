//! systemd: unit files rendered through askama templates, read back through one unit-file
//! reader, and the manager driven over D-Bus (never by scraping `systemctl`).

mod calendar;
mod cgroup;
mod control;
pub mod dbus;
mod envfile;
pub mod escape;
mod install;
pub mod names;
mod private_socket;
mod readback;
mod render;
mod sampler;
mod status;
pub mod unitfile;

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::apply::RenderedFile;
use crate::apply::changes::{ChangeSet, Conflict};
use crate::apply::inventory::{Existing, InstalledApp, InstalledUnit, Inventory, ReadBack};
use crate::backend::{Failure, Manager, RenderError, Rendered, Renderer, Verb};
use crate::observe::sample::Sampler;
use crate::observe::status::AppStatus;
use crate::plan::Plan;
use crate::target::{Backend, Scope, Target};

/// The pure half: rendering and reading back unit files.
pub struct Systemd {
    target: Target,
}

impl Systemd {
    pub fn new(target: Target) -> Systemd {
        Systemd { target }
    }
}

/// `/etc/systemd/system`, or `$XDG_CONFIG_HOME/systemd/user`.
pub fn unit_dir(target: &Target) -> PathBuf {
    match target.scope {
        Scope::System => PathBuf::from("/etc/systemd/system"),
        Scope::User => target.config_home.join("systemd/user"),
    }
}

impl ReadBack for Systemd {
    fn read_back(&self, name: &str, path: &Path, bytes: &[u8]) -> Existing {
        readback::read_back(name, path, bytes)
    }

    fn same_but_bookkeeping(&self, old: &str, new: &str) -> bool {
        readback::without_bookkeeping(old) == readback::without_bookkeeping(new)
    }
}

impl Renderer for Systemd {
    fn backend(&self) -> Backend {
        Backend::Systemd
    }

    fn describe(&self) -> String {
        format!("systemd {}", self.target.systemd_version)
    }

    fn manager_dir(&self) -> PathBuf {
        unit_dir(&self.target)
    }

    fn render(&self, plan: &Plan) -> Result<Rendered, RenderError> {
        Ok(Rendered {
            files: render::render(plan)?,
            warnings: Vec::new(),
        })
    }

    fn install_actions(&self, plan: &Plan, changes: &ChangeSet) -> Vec<String> {
        install::actions(plan, changes)
    }
}

/// The effectful half: a connection to the running manager.
pub struct SystemdManager {
    target: Target,
    dir: PathBuf,
    bus: dbus::Client,
}

impl SystemdManager {
    pub fn connect(target: Target) -> Result<SystemdManager> {
        let dir = unit_dir(&target);
        let bus = dbus::Client::connect(target.scope, dbus::Traffic::expected(&dir))?;
        Ok(SystemdManager { dir, target, bus })
    }

    /// [`Self::connect`] while `work` is done: on this thread during the handshake's waits
    /// when there are few units (the work is as short), on a thread of its own otherwise.
    pub fn connect_while<R: Send>(
        target: Target,
        work: impl FnOnce() -> R + Send,
    ) -> (Result<SystemdManager>, R) {
        let dir = unit_dir(&target);
        let traffic = dbus::Traffic::expected(&dir);
        let (bus, done) = match traffic {
            dbus::Traffic::Few => dbus::Client::connect_while(target.scope, traffic, work),
            dbus::Traffic::Many => std::thread::scope(|scope| {
                let working = scope.spawn(work);
                let bus = dbus::Client::connect(target.scope, traffic);
                let done = working
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
                (bus, done)
            }),
        };
        (bus.map(|bus| SystemdManager { dir, target, bus }), done)
    }

    fn installed_apps(&self) -> Vec<InstalledApp> {
        Inventory::scan(&self.dir, &Systemd::new(self.target.clone())).apps()
    }

    /// A failed unit's result and exit status over D-Bus, then its last log lines.
    fn explain(&self, unit: &str, app: &InstalledApp, out: &mut dyn Write) -> Result<()> {
        self.explain_unit(unit, out)?;
        for line in
            crate::observe::logs::last_lines(self.target.scope, &app.log_sources_of(unit), 10)
        {
            writeln!(out, "    {line}")?;
        }
        Ok(())
    }

    fn explain_unit(&self, unit: &str, out: &mut dyn Write) -> Result<()> {
        use dbus::{prop_i32, prop_str};
        if let Ok(units) = self.bus.units_by_name(&[unit.to_string()])
            && let Some(u) = units.first()
            && let Ok(props) = self.bus.properties(
                std::slice::from_ref(&u.path),
                &["org.freedesktop.systemd1.Service"],
            )
            && let Some(p) = props.first()
        {
            writeln!(
                out,
                "  {unit}: state {}/{}, result {}, exit status {}",
                u.active_state,
                u.sub_state,
                prop_str(p, "Result").unwrap_or_default(),
                prop_i32(p, "ExecMainStatus").unwrap_or_default()
            )?;
        }
        Ok(())
    }
}

impl Manager for SystemdManager {
    fn version(&self) -> Option<u32> {
        self.bus.version().ok()
    }

    /// A unit of the same name defined outside the install directory (a package's
    /// `/lib/systemd/system/nginx.service`) would be shadowed by rgen's file: refused like any
    /// other file rgen did not write.
    fn foreign_definitions(&self, files: &[RenderedFile]) -> Result<Vec<Conflict>> {
        let loadable: Vec<String> = files.iter().map(|f| names::loadable(&f.name)).collect();
        let listed = self.bus.units_by_name(&loadable)?;
        let loaded: Vec<_> = listed.iter().filter(|u| u.load_state == "loaded").collect();
        let paths: Vec<_> = loaded.iter().map(|u| u.path.clone()).collect();
        let props = self
            .bus
            .properties(&paths, &["org.freedesktop.systemd1.Unit"])?;
        let mut conflicts = Vec::new();
        for (unit, p) in loaded.iter().zip(&props) {
            let fragment = dbus::prop_str(p, "FragmentPath").unwrap_or_default();
            if fragment.is_empty() {
                continue;
            }
            let ours = self.dir.join(names::file_of(&unit.name));
            if Path::new(&fragment) != ours {
                conflicts.push(Conflict::Foreign(fragment.into()));
            }
        }
        Ok(conflicts)
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
        control::control(&self.bus, verb, apps, out)
    }

    fn status(&self, apps: &[&InstalledApp]) -> Result<Vec<AppStatus>> {
        status::collect(&self.bus, apps)
    }

    fn sampler<'a>(&'a self, apps: &[&InstalledApp]) -> Result<Box<dyn Sampler + 'a>> {
        Ok(Box::new(sampler::SystemdSampler::new(
            &self.bus, apps, true,
        )?))
    }

    fn explain_failure(&self, unit: &str, app: &InstalledApp, out: &mut dyn Write) -> Result<()> {
        self.explain(unit, app, out)
    }

    fn scale(&self, app: &InstalledApp, count: u32, out: &mut dyn Write) -> Result<Vec<Failure>> {
        control::scale(self, app, count, out)
    }

    fn signal(
        &self,
        apps: &[&InstalledApp],
        signal: i32,
        _out: &mut dyn Write,
    ) -> Result<Vec<Failure>> {
        control::signal(&self.bus, apps, signal)
    }

    fn reset(&self, apps: &[&InstalledApp], _out: &mut dyn Write) -> Result<Vec<Failure>> {
        control::reset(&self.bus, apps)
    }
}
