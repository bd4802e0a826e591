//! `rgen install`: render for the running manager, write what changed, enable at boot, start.

use std::io::Write as _;

use anyhow::Result;

use super::print_warnings;
use crate::apply::changes::ChangeSet;
use crate::apply::inventory::Inventory;
use crate::apply::report;
use crate::backend;
use crate::settings::{InstallSettings, installed_systemd_version};

pub fn run(s: &InstallSettings) -> Result<i32> {
    install(s, &|_| Ok(()))
}

/// Installs the file `s` names. `before_changes` sees the compiled apps before anything is
/// changed and may refuse (`rgen import --from-pm2 --install` checks that PM2 no longer holds
/// their ports); an error from it leaves the machine as it was.
pub fn install(
    s: &InstallSettings,
    before_changes: &dyn Fn(&super::Compiled) -> Result<()>,
) -> Result<i32> {
    let mut target = s.target.clone();
    let manager = match backend::connect(&target) {
        Ok(m) => Some(m),
        Err(e) if s.dry_run => {
            eprintln!("note: {e:#}\nnote: showing the file changes only");
            None
        }
        Err(e) => return Err(e),
    };
    if !s.version_given {
        target.systemd_version = manager
            .as_ref()
            .and_then(|m| m.version())
            .unwrap_or_else(installed_systemd_version);
    }
    let renderer = backend::renderer(&target);
    // Taken before anything is read, so two installs never interleave their changes.
    let lock = if s.dry_run {
        None
    } else {
        Some(super::lock_manager_dir(&target, renderer.as_ref())?)
    };
    let compiled = super::compile_for(&s.source, &target, renderer.as_ref(), true)?;
    print_warnings(&compiled.warnings);
    before_changes(&compiled)?;
    let dir = renderer.manager_dir();
    let inventory = Inventory::scan(&dir, renderer.as_ref());
    let mut set = ChangeSet::compute(
        &compiled.files,
        &dir,
        &compiled.plan,
        &inventory,
        renderer.as_ref(),
    )?;
    if let Some(m) = &manager {
        set.conflicts
            .extend(m.foreign_definitions(&compiled.files)?);
    }
    println!(
        "{} → {} ({}, {} scope)",
        crate::diag::display_path(&compiled.ecosystem.file),
        dir.display(),
        renderer.describe(),
        target.scope
    );
    let mut out = std::io::stdout().lock();
    report::print_changes(&set, &mut out)?;
    if s.dry_run {
        report::print_dry_run(&renderer.install_actions(&compiled.plan, &set), &mut out)?;
        return Ok(0);
    }
    let Some(manager) = manager else {
        anyhow::bail!("no connection to the service manager");
    };
    if target.shim != target.shim_source
        && compiled.plan.services.iter().any(|s| !s.shim.is_empty())
    {
        let dir = target.shim.parent().unwrap_or(std::path::Path::new("/"));
        let copy = crate::apply::shim_copy::install_shim(&target.shim_source, dir)?;
        if copy.copied {
            writeln!(
                out,
                "  + {} (the shim, where only root can change it)",
                copy.path.display()
            )?;
        }
    }
    manager.install(&compiled.plan, &set, &mut out)?;
    drop(lock);
    Ok(0)
}
