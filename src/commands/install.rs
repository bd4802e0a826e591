//! `rgen install`: render for the running manager, write what changed, enable at boot, start.

use anyhow::Result;

use super::{compile, print_warnings};
use crate::apply::changes::{ChangeSet, Conflict};
use crate::apply::inventory::Inventory;
use crate::apply::{self, paths};
use crate::cli::InstallArgs;
use crate::manager::systemd::{Systemd, prop_str};
use crate::plan::Backend;
use crate::render::RenderedFile;

pub fn run(args: &InstallArgs) -> Result<i32> {
    let mut target = args.target.target();
    if target.backend == Backend::Launchd {
        return apply::launchd::install_command(args, target);
    }
    let sd = match Systemd::connect(target.scope) {
        Ok(sd) => Some(sd),
        Err(e) if args.dry_run => {
            eprintln!("note: {e:#}\nnote: showing the file changes only");
            target = args.target.render_target();
            None
        }
        Err(e) => return Err(e),
    };
    if let Some(sd) = &sd
        && args.target.systemd_version.is_none()
    {
        target.systemd_version = sd.version()?;
    }
    target.cpus = super::cpus();
    let compiled = compile(&args.source, &target)?;
    print_warnings(&compiled.warnings);
    let dir = paths::manager_dir(&target);
    let inventory = Inventory::scan(&dir);
    let mut set = ChangeSet::compute(&compiled.files, &dir, &compiled.plan, &inventory);
    if let Some(sd) = &sd {
        set.conflicts
            .extend(units_defined_elsewhere(sd, &compiled.files, &dir)?);
    }
    println!(
        "{} → {} (systemd {}, {} scope)",
        crate::diag::display_path(&compiled.ecosystem.file),
        dir.display(),
        target.systemd_version,
        crate::manager::systemd::scope_word(target.scope)
    );
    let mut out = std::io::stdout().lock();
    apply::systemd::install(
        sd.as_ref(),
        &compiled.plan,
        &set,
        &dir,
        &apply::systemd::InstallOptions {
            dry_run: args.dry_run,
        },
        &mut out,
    )?;
    Ok(0)
}

/// A unit of the same name defined outside the install directory (a package's
/// `/lib/systemd/system/nginx.service`) would be shadowed by rgen's file: refused like any other
/// file rgen did not write.
fn units_defined_elsewhere(
    sd: &Systemd,
    files: &[RenderedFile],
    dir: &std::path::Path,
) -> Result<Vec<Conflict>> {
    let names: Vec<String> = files
        .iter()
        .map(|f| f.name.replace("@.service", "@0.service"))
        .collect();
    let listed = sd.units_by_name(&names)?;
    let loaded: Vec<_> = listed.iter().filter(|u| u.load_state == "loaded").collect();
    let paths: Vec<_> = loaded.iter().map(|u| u.path.clone()).collect();
    let props = sd.properties(&paths, &["org.freedesktop.systemd1.Unit"])?;
    let mut conflicts = Vec::new();
    for (unit, p) in loaded.iter().zip(&props) {
        let fragment = prop_str(p, "FragmentPath").unwrap_or_default();
        if fragment.is_empty() {
            continue;
        }
        let ours = dir.join(unit.name.replace("@0.service", "@.service"));
        if std::path::Path::new(&fragment) != ours {
            conflicts.push(Conflict::Foreign(fragment.into()));
        }
    }
    Ok(conflicts)
}
