//! `rgen logs` and `rgen flush`: like `pm2 logs` and `pm2 flush`.

use anyhow::{Result, bail};

use super::installed;
use crate::apply::files::open_log_for_truncate;
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

/// Empties log files in place: the writers (the shim, systemd's `append:`) keep their
/// descriptors, opened with O_APPEND, and go on writing at the new end. Run as root, it never
/// follows a symlink the app's user planted, and empties only a file that user (or root) owns.
pub fn flush(s: &FlushSettings) -> Result<i32> {
    let renderer = backend::renderer(&s.target);
    let (_, apps) = installed(renderer.as_ref())?;
    let selected = select(&apps, &s.apps)?;
    let mut labelled = Vec::new();
    for app in &selected {
        let owner = app
            .units
            .iter()
            .find(|u| u.role == crate::apply::inventory::Role::App)
            .and_then(|u| u.run_as.as_deref())
            .and_then(crate::apply::users::lookup_user)
            .map(|(uid, _)| uid)
            .or((s.target.uid != 0).then_some(s.target.uid));
        for source in app.log_sources() {
            labelled.push((app.name.clone(), source, owner));
        }
    }
    let mut failed = false;
    let mut journal_apps = Vec::new();
    for (app, source, owner) in &labelled {
        match source {
            LogSource::File { path, .. } => match open_log_for_truncate(path, *owner) {
                Ok(Some(f)) => match f.set_len(0) {
                    Ok(()) => println!("{app}: emptied {}", path.display()),
                    Err(e) => {
                        eprintln!("error: {app}: cannot empty {}: {e}", path.display());
                        failed = true;
                    }
                },
                Ok(None) => println!("{app}: {} does not exist yet", path.display()),
                Err(e) => {
                    eprintln!("error: {app}: not emptied: {e}");
                    if let Some(hint) = e.hint() {
                        eprintln!("  hint: {hint}");
                    }
                    failed = true;
                }
            },
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
    let (_, apps) = installed(renderer.as_ref())?;
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
