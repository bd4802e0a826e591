//! Status of installed apps on systemd: unit states and service properties over D-Bus, with
//! `/proc` filling in what cgroups do not account (CPU on cgroup-v1 hosts without `cpuacct`).

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Result;

use super::dbus::{Client, Properties, UnitListing, prop_i32, prop_str, prop_u32, prop_u64};
use crate::apply::inventory::InstalledApp;
use crate::observe::status::{AppStatus, UnitStatus};

/// What `status` reads of each service (its states come with the unit listing).
const STATUS_PROPERTIES: &[(&str, &str)] = &[
    (SERVICE, "MainPID"),
    (SERVICE, "NRestarts"),
    (SERVICE, "ExecMainStartTimestamp"),
    (SERVICE, "MemoryCurrent"),
    (SERVICE, "CPUUsageNSec"),
    (SERVICE, "Result"),
    (SERVICE, "ExecMainStatus"),
];
const SERVICE: &str = "org.freedesktop.systemd1.Service";

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

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// Every app's row: states from one `ListUnitsByNames`, the service's numbers from one small
/// `Get` each, all in flight together. Measured against one `GetAll` per service (a few hundred
/// properties each): faster for 3 units and for 200 (bench/run status).
pub fn collect(sd: &Client, apps: &[&InstalledApp]) -> Result<Vec<AppStatus>> {
    let names: Vec<String> = apps.iter().flat_map(|a| a.services()).collect();
    let units = sd.units_with_properties(&names, STATUS_PROPERTIES)?;
    let by_name: BTreeMap<&str, (&UnitListing, &Properties)> = units
        .iter()
        .map(|(listing, props)| (listing.name.as_str(), (listing, props)))
        .collect();
    let now = now_us();
    let mut out = Vec::new();
    for app in apps {
        let units: Vec<UnitStatus> = app
            .services()
            .iter()
            .map(|name| match by_name.get(name.as_str()) {
                Some((listing, props)) => unit_status(listing, props, now, app.shimmed()),
                None => UnitStatus::not_loaded(name),
            })
            .collect();
        out.push(AppStatus::from_units(app, units));
    }
    Ok(out)
}

/// The shim's child, from the kernel's record of the shim's children.
fn app_pid_behind_shim(shim: u32) -> Option<u32> {
    std::fs::read_to_string(format!("/proc/{shim}/task/{shim}/children"))
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// CPU time a process used, with its waited-for children, from `/proc/PID/stat`.
fn proc_cpu_ns(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces and parentheses; fields resume after the
    // last `)`, where field 3 (state) comes first: utime, stime, cutime, cstime are 14–17.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = fields
        .get(11..15)?
        .iter()
        .map(|v| v.parse::<u64>().ok())
        .sum::<Option<u64>>()?;
    // SAFETY: sysconf has no preconditions.
    let per_second = u64::try_from(unsafe { libc::sysconf(libc::_SC_CLK_TCK) })
        .ok()
        .filter(|&hz| hz > 0)?;
    Some(ticks * (1_000_000_000 / per_second))
}

fn unit_status(listing: &UnitListing, p: &Properties, now: u64, shimmed: bool) -> UnitStatus {
    let active_state = listing.active_state.clone();
    let sub_state = listing.sub_state.clone();
    let main_pid = prop_u32(p, "MainPID").filter(|&pid| pid != 0);
    let pid = if shimmed {
        main_pid.and_then(app_pid_behind_shim).or(main_pid)
    } else {
        main_pid
    };
    let started = prop_u64(p, "ExecMainStartTimestamp").filter(|&t| t != 0);
    let running = active_state == "active" || active_state == "reloading";
    // systemd reports u64::MAX for "not available" (no accounting, unit inactive).
    let available = |v: Option<u64>| v.filter(|&x| x != u64::MAX);
    UnitStatus {
        unit: listing.name.clone(),
        status: pm2_status(&active_state, &sub_state).to_string(),
        active_state,
        sub_state,
        pid,
        main_pid,
        uptime_ms: started
            .filter(|_| running)
            .map(|t| now.saturating_sub(t) / 1000),
        restarts: prop_u32(p, "NRestarts").unwrap_or(0),
        memory_bytes: available(prop_u64(p, "MemoryCurrent")).filter(|_| running),
        // Without CPU accounting (cgroup-v1 hosts without cpuacct) the unit has no total:
        // count the main process and the app behind the shim instead.
        cpu_ns: running
            .then(|| {
                available(prop_u64(p, "CPUUsageNSec")).or_else(|| {
                    let main = proc_cpu_ns(main_pid?)?;
                    let app = pid.filter(|&p| Some(p) != main_pid).and_then(proc_cpu_ns);
                    Some(main + app.unwrap_or(0))
                })
            })
            .flatten(),
        result: prop_str(p, "Result").unwrap_or_default(),
        exit_status: prop_i32(p, "ExecMainStatus"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_of_a_process_is_read_from_proc() {
        // Burn a little CPU so the count is not zero ticks.
        let start = std::time::Instant::now();
        let mut x = 0u64;
        while start.elapsed() < std::time::Duration::from_millis(30) {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        let ns = proc_cpu_ns(std::process::id()).expect("our own /proc/PID/stat");
        assert!(ns > 0, "{ns}");
        assert_eq!(proc_cpu_ns(u32::MAX), None);
    }

    #[test]
    fn states_use_pm2_words() {
        assert_eq!(pm2_status("active", "running"), "online");
        assert_eq!(pm2_status("activating", "auto-restart"), "waiting restart");
        assert_eq!(pm2_status("activating", "start"), "launching");
        assert_eq!(pm2_status("failed", "failed"), "errored");
        assert_eq!(pm2_status("inactive", "dead"), "stopped");
    }
}
