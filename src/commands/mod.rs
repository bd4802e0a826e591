//! One file per verb. A command gets resolved settings (never clap types), runs the pipeline
//! stages — load → model → plan → render, then a backend's effects — and prints what they
//! report. Commands never ask which backend they talk to.

pub mod check;
pub mod control;
mod host;
pub mod import;
pub mod install;
pub mod logs;
pub mod monit;
pub mod render;
pub mod show;
pub mod status;
pub mod tune;
pub mod uninstall;

use std::path::PathBuf;

use anyhow::Result;

use crate::apply::RenderedFile;
use crate::apply::inventory::{InstalledApp, Inventory};
use crate::backend::Renderer;
use crate::diag::{self, Warning};
use crate::load;
use crate::model::{self, Ecosystem, ModelOptions};
use crate::plan::{self, Plan};
use crate::settings::SourceSettings;
use crate::target::Target;

/// The pipeline's products for one ecosystem file and one target.
pub struct Compiled {
    pub ecosystem: Ecosystem,
    pub plan: Plan,
    pub files: Vec<RenderedFile>,
    pub warnings: Vec<Warning>,
}

pub fn ecosystem_path(file: Option<&std::path::Path>) -> Result<PathBuf> {
    match file {
        Some(f) => Ok(f.to_path_buf()),
        None => Ok(load::discover(&std::env::current_dir()?)?),
    }
}

/// load → model → plan → render, collecting the warnings of every stage.
pub fn compile(
    source: &SourceSettings,
    target: &Target,
    renderer: &dyn Renderer,
) -> Result<Compiled> {
    compile_for(source, target, renderer, false)
}

/// [`compile`], and with `this_host` the checks only the machine the apps run on can make
/// (`install`, `check`).
pub fn compile_for(
    source: &SourceSettings,
    target: &Target,
    renderer: &dyn Renderer,
    this_host: bool,
) -> Result<Compiled> {
    let (raw, mut warnings) = match &source.adhoc {
        Some(def) => (def.ecosystem()?, Vec::new()),
        None => {
            let path = ecosystem_path(source.file.as_deref())?;
            let (raw, load_report) = load::load(&path, source.format)?;
            (raw, load_report.warnings)
        }
    };
    let opts = ModelOptions {
        env_name: source.env.clone(),
        only: source.only.clone(),
        group: source.group.clone(),
        shell_cwd: source.shell_cwd.clone(),
        shell_env: source.shell_env.clone(),
        keep_env: source.keep_env.clone(),
        for_other_host: source.for_other_host,
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
    let rendered = renderer.render(&plan)?;
    warnings.extend(rendered.warnings);
    refuse_shared_files(&ecosystem, &rendered.files, &warnings)?;
    if this_host && !source.for_other_host {
        host::check(&plan, &warnings)?;
    }
    Ok(Compiled {
        ecosystem,
        plan,
        files: rendered.files,
        warnings,
    })
}

/// Two apps whose files would have the same name (`web`'s cron helper and an app called
/// `web-cron-restart`): the second would silently replace the first.
fn refuse_shared_files(
    ecosystem: &Ecosystem,
    files: &[RenderedFile],
    warnings: &[Warning],
) -> Result<(), diag::BadInput> {
    let mut owner: std::collections::BTreeMap<&str, Option<&str>> = Default::default();
    let mut problems = diag::Problems {
        warnings: warnings.to_vec(),
        ..Default::default()
    };
    for f in files {
        match owner.get(f.name.as_str()) {
            Some(first) if *first != f.app.as_deref() => {
                let app = f.app.as_deref().unwrap_or("the group");
                let origin = ecosystem
                    .apps
                    .iter()
                    .find(|a| Some(a.name.as_str()) == f.app.as_deref())
                    .map(|a| a.origin_of("name"))
                    .unwrap_or_else(|| diag::Origin::file(&ecosystem.file));
                problems
                    .error(
                        origin,
                        format!(
                            "`{app}` and `{}` both need the file {}",
                            first.unwrap_or("the group"),
                            f.name
                        ),
                    )
                    .hint("rename one of the apps");
            }
            _ => {
                owner.insert(&f.name, f.app.as_deref());
            }
        }
    }
    problems.finish(()).map(|_| ())
}

pub fn print_warnings(warnings: &[Warning]) {
    diag::print_warnings(warnings);
}

/// Holds off every other rgen changing the same directory until dropped, and removes the
/// temporary files an interrupted earlier run left there.
pub fn lock_manager_dir(
    target: &Target,
    renderer: &dyn Renderer,
) -> Result<crate::apply::lock::InstallLock> {
    let key = format!("{}-{}-{}", target.backend, target.scope, target.uid);
    let lock = crate::apply::lock::InstallLock::acquire_with(
        &key,
        crate::apply::lock::DEFAULT_WAIT,
        |holder| match holder {
            Some(pid) => eprintln!("waiting for another rgen (pid {pid}) to finish…"),
            None => eprintln!("waiting for another rgen to finish…"),
        },
    )?;
    let dir = renderer.manager_dir();
    if dir.is_dir() {
        for leftover in crate::apply::files::remove_leftover_temp_files(&dir)? {
            eprintln!(
                "note: removed {}, left by an interrupted earlier run",
                leftover.display()
            );
        }
    }
    Ok(lock)
}

/// The installed apps of the target's scope.
pub fn installed(renderer: &dyn Renderer) -> Result<(Inventory, Vec<InstalledApp>)> {
    let inventory = Inventory::scan(&renderer.installed_dir()?, renderer);
    let apps = inventory.apps();
    Ok((inventory, apps))
}

/// What to do when a non-root user was refused managing the system scope.
pub fn not_permitted_hint() -> Option<String> {
    let command: Vec<String> = std::env::args().skip(1).collect();
    if crate::settings::current_uid() == 0 || !command.iter().any(|a| a == "--system") {
        return None;
    }
    // Quoted for a POSIX shell, so the suggestion can be pasted as it is.
    let command = shlex::try_join(command.iter().map(String::as_str)).ok()?;
    Some(format!(
        "system-scope apps are managed as root: `sudo rgen {command}`; apps of your own can \
         live in the user scope (--user), which needs no privileges"
    ))
}
