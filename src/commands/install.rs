//! `rgen install`: render for the running manager, write what changed, enable at boot, start.

use anyhow::Result;

use super::{compile, print_warnings};
use crate::apply::changes::ChangeSet;
use crate::apply::inventory::Inventory;
use crate::apply::report;
use crate::backend;
use crate::settings::{InstallSettings, installed_systemd_version};

pub fn run(s: &InstallSettings) -> Result<i32> {
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
    let compiled = compile(&s.source, &target, renderer.as_ref())?;
    print_warnings(&compiled.warnings);
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
    manager.install(&compiled.plan, &set, &mut out)?;
    Ok(0)
}
