//! `rgen logs` and `rgen flush`: like `pm2 logs` and `pm2 flush`.

use std::fs::OpenOptions;

use anyhow::{Result, bail};

use crate::apply::inventory::Inventory;
use crate::apply::paths;
use crate::cli::{FlushArgs, LogsArgs, TargetArgs};
use crate::observe::logs::{self, Source, Stream};
use crate::observe::status;

pub fn run(args: &LogsArgs) -> Result<i32> {
    let mut labelled = sources_of(&args.target, &args.apps)?;
    labelled.retain(|(_, source)| match source {
        Source::File { stream, .. } => match (args.out, args.err) {
            (true, _) => *stream != Stream::Err,
            (_, true) => *stream != Stream::Out,
            _ => true,
        },
        Source::Journal { .. } => true,
    });
    logs::show(args.target.scope(), &labelled, args.lines, args.follow)?;
    Ok(0)
}

/// Empties log files in place: the writers (systemd's `append:`, the shim) keep their
/// descriptors, opened with O_APPEND, and go on writing at the new end.
pub fn flush(args: &FlushArgs) -> Result<i32> {
    let labelled = sources_of(&args.target, &args.apps)?;
    let mut failed = false;
    let mut journal_apps = Vec::new();
    for (app, source) in &labelled {
        match source {
            Source::File { path, .. } => {
                match OpenOptions::new()
                    .write(true)
                    .open(path)
                    .and_then(|f| f.set_len(0))
                {
                    Ok(()) => println!("{app}: emptied {}", path.display()),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        println!("{app}: {} does not exist yet", path.display())
                    }
                    Err(e) => {
                        eprintln!("error: {app}: cannot empty {}: {e}", path.display());
                        failed = true;
                    }
                }
            }
            Source::Journal { .. } => {
                if !journal_apps.contains(app) {
                    journal_apps.push(app.clone());
                }
            }
        }
    }
    if !journal_apps.is_empty() {
        println!(
            "{}: log to the journal, which journald rotates and trims itself \
             (`journalctl --vacuum-time=…` empties it for every unit)",
            journal_apps.join(", ")
        );
    }
    Ok(i32::from(failed))
}

/// Every log source of the selected installed apps, labelled with the app's name.
fn sources_of(target: &TargetArgs, apps: &[String]) -> Result<Vec<(String, Source)>> {
    let dir = paths::manager_dir(&target.target());
    let inventory = Inventory::scan(&dir);
    let installed = status::installed_apps(&inventory);
    let selected = status::select(&installed, apps)?;
    if selected.is_empty() {
        bail!("rgen has installed no apps in {}", dir.display());
    }
    Ok(selected
        .iter()
        .flat_map(|app| {
            logs::sources(app)
                .into_iter()
                .map(|source| (app.name.clone(), source))
        })
        .collect())
}
