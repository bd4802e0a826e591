//! `start`, `stop`, `restart` and `reload` of launchd jobs. A `KeepAlive` job comes straight back
//! after a kill, so stopping means unloading (`bootout`) and starting means loading.

use std::io::Write;

use anyhow::Result;

use super::install::{bootout, ensure_loaded};
use super::{LaunchdManager, names};
use crate::apply::inventory::InstalledApp;
use crate::backend::{Failure, Verb};

pub fn control(
    m: &LaunchdManager,
    verb: Verb,
    apps: &[&InstalledApp],
    out: &mut dyn Write,
) -> Result<Vec<Failure>> {
    m.require_root_for_system()?;
    let lc = &m.launchctl;
    let domain = m.domain();
    let mut failures = Vec::new();
    for app in apps {
        for label in app.services() {
            let service = names::service(&domain, &label);
            let plist = m.dir.join(names::plist_file(&label));
            match verb {
                Verb::Stop => bootout(lc, &service)?,
                Verb::Start => ensure_loaded(lc, &domain, &label, &plist)?,
                Verb::Restart | Verb::Reload => {
                    ensure_loaded(lc, &domain, &label, &plist)?;
                    let out = lc.kickstart(&service, true)?;
                    if !out.ok() {
                        failures.push(Failure {
                            unit: label.clone(),
                            why: format!(
                                "`launchctl kickstart -k {service}` failed ({}): {}",
                                out.code,
                                out.text()
                            ),
                            not_permitted: false,
                        });
                    }
                }
            }
        }
    }
    if verb == Verb::Reload {
        writeln!(
            out,
            "note: launchd cannot hand a socket from one job to the next, so a reload is a restart"
        )?;
    }
    Ok(failures)
}
