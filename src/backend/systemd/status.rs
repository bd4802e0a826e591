//! Status of installed apps on systemd: one reading of the sampler (`sampler.rs`), in the
//! status report's shape.

use anyhow::Result;

use super::dbus::Client;
use super::sampler::SystemdSampler;
use crate::apply::inventory::InstalledApp;
use crate::observe::sample::Sampler as _;
use crate::observe::status::AppStatus;

/// PM2's status names for a unit's state.
pub fn pm2_status(active: &str, sub: &str) -> &'static str {
    match (active, sub) {
        ("active", _) | ("reloading", _) => "online",
        ("activating", "auto-restart") => "waiting restart",
        ("activating", _) => "launching",
        ("deactivating", _) => "stopping",
        ("failed", _) => "errored",
        _ => "stopped",
    }
}

/// Every app's row, from one reading.
pub fn collect(sd: &Client, apps: &[&InstalledApp]) -> Result<Vec<AppStatus>> {
    let readings = SystemdSampler::new(sd, apps, false)?.sample()?;
    Ok(apps
        .iter()
        .zip(readings)
        .map(|(app, reading)| {
            AppStatus::from_units(app, reading.units.into_iter().map(|u| u.status).collect())
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_use_pm2_words() {
        assert_eq!(pm2_status("active", "running"), "online");
        assert_eq!(pm2_status("activating", "auto-restart"), "waiting restart");
        assert_eq!(pm2_status("activating", "start"), "launching");
        assert_eq!(pm2_status("failed", "failed"), "errored");
        assert_eq!(pm2_status("inactive", "dead"), "stopped");
    }
}
