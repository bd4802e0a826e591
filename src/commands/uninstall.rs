//! `rgen uninstall`: stop, disable and remove every file rgen wrote for the apps.

use anyhow::{Result, bail};

use crate::apply::inventory::{InstalledFile, Inventory};
use crate::apply::{self, paths};
use crate::cli::UninstallArgs;
use crate::manager::systemd::Systemd;
use crate::plan::Backend;

pub fn run(args: &UninstallArgs) -> Result<i32> {
    if args.apps.is_empty() && !args.all {
        bail!(
            "name the apps to remove, or pass --all to remove every app rgen installed in this scope"
        );
    }
    let target = args.target.target();
    let dir = paths::manager_dir(&target);
    let inventory = Inventory::scan(&dir);
    let files = select_files(&inventory, &args.apps, args.all)?;
    if files.is_empty() {
        println!(
            "nothing to remove: rgen has installed nothing in {}",
            dir.display()
        );
        return Ok(0);
    }
    let mut out = std::io::stdout().lock();
    match target.backend {
        Backend::Systemd => {
            let sd = Systemd::connect(target.scope)?;
            apply::systemd::uninstall(&sd, &dir, &files, &mut out)?;
        }
        Backend::Launchd => apply::launchd::uninstall(&target, &files, &mut out)?,
    }
    println!(
        "removed {} file{}",
        files.len(),
        if files.len() == 1 { "" } else { "s" }
    );
    Ok(0)
}

/// The files of the named apps (or all), plus each group's own files once no app of it remains.
pub fn select_files(
    inventory: &Inventory,
    apps: &[String],
    all: bool,
) -> Result<Vec<InstalledFile>> {
    if all || apps.iter().any(|a| a == "all") {
        return Ok(inventory.files.clone());
    }
    let mut chosen: Vec<InstalledFile> = Vec::new();
    for name in apps {
        let matched: Vec<&InstalledFile> = inventory
            .files
            .iter()
            .filter(|f| {
                f.marker.app.as_deref() == Some(name)
                    || f.marker.namespace.as_deref() == Some(name)
                    || f.marker.group == *name
            })
            .collect();
        if matched.is_empty() {
            let known: std::collections::BTreeSet<&str> = inventory
                .files
                .iter()
                .filter_map(|f| f.marker.app.as_deref())
                .collect();
            bail!(
                "rgen has not installed an app, namespace or group called `{name}`{}",
                if known.is_empty() {
                    String::new()
                } else {
                    format!(
                        " (installed: {})",
                        known.into_iter().collect::<Vec<_>>().join(", ")
                    )
                }
            );
        }
        chosen.extend(matched.into_iter().cloned());
    }
    let groups: std::collections::BTreeSet<String> =
        chosen.iter().map(|f| f.marker.group.clone()).collect();
    for group in groups {
        let remaining = inventory
            .group_files(&group)
            .into_iter()
            .any(|f| f.marker.app.is_some() && !chosen.iter().any(|c| c.name == f.name));
        if !remaining {
            chosen.extend(
                inventory
                    .group_files(&group)
                    .into_iter()
                    .filter(|f| f.marker.app.is_none())
                    .cloned(),
            );
        }
    }
    chosen.sort_by(|a, b| a.name.cmp(&b.name));
    chosen.dedup_by(|a, b| a.name == b.name);
    Ok(chosen)
}
