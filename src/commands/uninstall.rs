//! `rgen uninstall`: stop, disable and remove every file rgen wrote for the apps.

use anyhow::{Result, bail};

use super::installed;
use crate::apply::report::plural;
use crate::backend;
use crate::observe::select::select;
use crate::settings::UninstallSettings;

pub fn run(s: &UninstallSettings) -> Result<i32> {
    if s.apps.is_empty() && !s.all {
        bail!(
            "name the apps to remove, or pass --all to remove every app rgen installed in this scope"
        );
    }
    let renderer = backend::renderer(&s.target);
    let _lock = super::lock_manager_dir(&s.target, renderer.as_ref())?;
    let (inventory, apps) = installed(renderer.as_ref())?;
    let wanted: Vec<String> = if s.all { Vec::new() } else { s.apps.clone() };
    let chosen = select(&apps, &wanted)?;
    let units = if s.all || wanted.iter().any(|w| w == "all") {
        inventory.units.clone()
    } else {
        inventory.removal(&chosen)
    };
    if units.is_empty() {
        println!(
            "nothing to remove: rgen has installed nothing in {}",
            renderer.manager_dir().display()
        );
        return Ok(0);
    }
    let manager = backend::connect(&s.target)?;
    let mut out = std::io::stdout().lock();
    manager.uninstall(&units, &mut out)?;
    println!("removed {}", plural(units.len(), "file"));
    Ok(0)
}
