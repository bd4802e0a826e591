//! `rgen logs` and `rgen flush`: like `pm2 logs` and `pm2 flush`.

use std::fs::OpenOptions;

use anyhow::{Result, bail};

use super::installed;
use crate::apply::inventory::{LogSource, Stream};
use crate::backend;
use crate::observe::logs;
use crate::observe::select::select;
use crate::settings::{FlushSettings, LogsSettings};
use crate::target::Target;

pub fn run(s: &LogsSettings) -> Result<i32> {
    let mut labelled = sources_of(&s.target, &s.apps)?;
    if let Some(only) = s.only {
        labelled.retain(|(_, source)| match source {
            LogSource::File { stream, .. } => *stream == only || *stream == Stream::Both,
            LogSource::Journal { .. } => true,
        });
    }
    logs::show(s.target.scope, &labelled, s.lines, s.follow)?;
    Ok(0)
}

/// Empties log files in place: the writers (systemd's `append:`, the shim) keep their
/// descriptors, opened with O_APPEND, and go on writing at the new end.
pub fn flush(s: &FlushSettings) -> Result<i32> {
    let labelled = sources_of(&s.target, &s.apps)?;
    let mut failed = false;
    let mut journal_apps = Vec::new();
    for (app, source) in &labelled {
        match source {
            LogSource::File { path, .. } => {
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
            LogSource::Journal { .. } => {
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
fn sources_of(target: &Target, wanted: &[String]) -> Result<Vec<(String, LogSource)>> {
    let renderer = backend::renderer(target);
    let (_, apps) = installed(renderer.as_ref());
    let selected = select(&apps, wanted)?;
    if selected.is_empty() {
        bail!(
            "rgen has installed no apps in {}",
            renderer.manager_dir().display()
        );
    }
    Ok(selected
        .iter()
        .flat_map(|app| {
            app.log_sources()
                .into_iter()
                .map(|source| (app.name.clone(), source))
        })
        .collect())
}
