//! `rgen status`: what rgen installed (read from the unit directory) joined with what the manager
//! says about it (over D-Bus, every unit's properties requested at once).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Result;
use serde::Serialize;

use crate::apply::inventory::{InstalledFile, Inventory, Marker};
use crate::apply::systemd::AppUnits;
use crate::manager::systemd::{
    Properties, Systemd, UnitListing, prop_i32, prop_str, prop_u32, prop_u64,
};

/// Bumped when a field changes meaning or disappears (new fields may be added freely).
pub const JSON_VERSION: u32 = 1;

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub version: u32,
    pub backend: &'static str,
    pub scope: &'static str,
    pub apps: Vec<AppStatus>,
}

#[derive(Clone, Debug, Serialize)]
pub struct AppStatus {
    pub name: String,
    pub group: String,
    pub namespace: String,
    pub source: PathBuf,
    /// `fork` or `cluster` (several instances sharing a socket).
    pub mode: &'static str,
    pub instances: u32,
    /// PM2's vocabulary: `online`, `launching`, `waiting restart`, `stopping`, `stopped`, `errored`.
    pub status: String,
    /// Main pid of the first running instance.
    pub pid: Option<u32>,
    pub uptime_ms: Option<u64>,
    /// Automatic restarts since the last manual start (systemd's `NRestarts`), over all instances.
    pub restarts: u32,
    pub memory_bytes: Option<u64>,
    /// Average CPU use since start, in percent of one core.
    pub cpu_percent: Option<f64>,
    /// The installed files differ from what the ecosystem file would produce now; `null` when the
    /// ecosystem file is gone.
    pub drift: Option<bool>,
    pub units: Vec<UnitStatus>,
}

#[derive(Clone, Debug, Serialize)]
pub struct UnitStatus {
    pub unit: String,
    pub active_state: String,
    pub sub_state: String,
    pub status: String,
    /// The app's process (the shim's child when the shim runs it).
    pub pid: Option<u32>,
    /// The manager's main process: the app itself, or `rgen-shim` in front of it.
    pub main_pid: Option<u32>,
    pub uptime_ms: Option<u64>,
    pub restarts: u32,
    pub memory_bytes: Option<u64>,
    pub cpu_ns: Option<u64>,
    /// systemd's `Result` of the last run (`success`, `exit-code`, `signal`, `oom-kill`, `start-limit-hit`, …).
    pub result: String,
    pub exit_status: Option<i32>,
}

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

impl AppStatus {
    /// An app's row from its units: the most alarming state wins; restarts and memory add up.
    pub fn from_units(
        name: &str,
        group: &str,
        marker: Option<&Marker>,
        mode: &'static str,
        units: Vec<UnitStatus>,
        drift: Option<bool>,
    ) -> AppStatus {
        let cpu: u64 = units.iter().filter_map(|u| u.cpu_ns).sum();
        let up = units.iter().filter_map(|u| u.uptime_ms).max().unwrap_or(0);
        AppStatus {
            name: name.to_string(),
            group: group.to_string(),
            namespace: marker
                .and_then(|m| m.namespace.clone())
                .unwrap_or_else(|| "default".into()),
            source: marker.map(|m| m.source.clone()).unwrap_or_default(),
            mode,
            instances: units.len() as u32,
            status: aggregate_status(&units),
            pid: units.iter().find_map(|u| u.pid),
            uptime_ms: units.iter().filter_map(|u| u.uptime_ms).min(),
            restarts: units.iter().map(|u| u.restarts).sum(),
            memory_bytes: units
                .iter()
                .filter_map(|u| u.memory_bytes)
                .reduce(|a, b| a + b),
            cpu_percent: (up > 0 && cpu > 0).then(|| (cpu as f64 / 1e6) / up as f64 * 100.0),
            drift,
            units,
        }
    }
}

pub struct InstalledApp<'a> {
    pub name: String,
    pub group: String,
    pub files: Vec<&'a InstalledFile>,
    pub units: AppUnits,
    pub instances: Option<u32>,
}

pub fn installed_apps(inventory: &Inventory) -> Vec<InstalledApp<'_>> {
    inventory
        .apps()
        .into_iter()
        .map(|((group, name), files)| {
            let instances = files.iter().find_map(|f| f.marker.instances);
            let units = AppUnits::from_files(
                files.iter().map(|f| (f.name.as_str(), f.contents.as_str())),
                instances,
            );
            InstalledApp {
                name,
                group,
                files,
                units,
                instances,
            }
        })
        .collect()
}

/// Selects apps by `all`, name or namespace; unknown names are an error that lists what exists.
pub fn select<'a, 'b>(
    apps: &'b [InstalledApp<'a>],
    wanted: &[String],
) -> Result<Vec<&'b InstalledApp<'a>>> {
    if wanted.is_empty() || wanted.iter().any(|w| w == "all") {
        return Ok(apps.iter().collect());
    }
    let mut out = Vec::new();
    for w in wanted {
        let matched: Vec<&InstalledApp> = apps
            .iter()
            .filter(|a| {
                &a.name == w
                    || a.files
                        .iter()
                        .any(|f| f.marker.namespace.as_deref() == Some(w))
                    || &a.group == w
            })
            .collect();
        if matched.is_empty() {
            let known: Vec<String> = apps.iter().map(|a| format!("`{}`", a.name)).collect();
            anyhow::bail!(
                "no installed app, namespace or group is called `{w}`{}",
                if known.is_empty() {
                    " (nothing is installed in this scope)".to_string()
                } else {
                    format!("; installed: {}", known.join(", "))
                }
            );
        }
        for m in matched {
            if !out
                .iter()
                .any(|o: &&InstalledApp| o.name == m.name && o.group == m.group)
            {
                out.push(m);
            }
        }
    }
    Ok(out)
}

pub fn collect(
    sd: &Systemd,
    apps: &[&InstalledApp<'_>],
    drift: &BTreeMap<(String, String), Option<bool>>,
) -> Result<Vec<AppStatus>> {
    let names: Vec<String> = apps
        .iter()
        .flat_map(|a| a.units.services.iter().cloned())
        .collect();
    // States come from one `ListUnitsByNames`, the service's numbers from one small `Get` each,
    // all in flight together. Measured against one `GetAll` per service (a few hundred
    // properties each): faster for 3 units and for 200 (bench/run status).
    let units = sd.units_with_properties(&names, STATUS_PROPERTIES)?;
    let by_name: BTreeMap<&str, (&UnitListing, &Properties)> = units
        .iter()
        .map(|(listing, props)| (listing.name.as_str(), (listing, props)))
        .collect();
    let now = now_us();
    let mut out = Vec::new();
    for app in apps {
        let units: Vec<UnitStatus> = app
            .units
            .services
            .iter()
            .map(|name| match by_name.get(name.as_str()) {
                Some((listing, props)) => unit_status(listing, props, now, shimmed(app)),
                None => UnitStatus {
                    unit: name.clone(),
                    active_state: "inactive".into(),
                    sub_state: "dead".into(),
                    status: "stopped".into(),
                    pid: None,
                    main_pid: None,
                    uptime_ms: None,
                    restarts: 0,
                    memory_bytes: None,
                    cpu_ns: None,
                    result: String::new(),
                    exit_status: None,
                },
            })
            .collect();
        let mode = if app.instances.is_some() && !app.units.sockets.is_empty() {
            "cluster"
        } else {
            "fork"
        };
        let drift = drift
            .get(&(app.group.clone(), app.name.clone()))
            .copied()
            .flatten();
        out.push(AppStatus::from_units(
            &app.name,
            &app.group,
            app.files.first().map(|f| &f.marker),
            mode,
            units,
            drift,
        ));
    }
    Ok(out)
}

/// Whether the app's service runs through `rgen-shim`.
fn shimmed(app: &InstalledApp<'_>) -> bool {
    let shim = format!("/{}\"", crate::shim_protocol::BIN);
    app.files.iter().any(|f| {
        f.contents
            .lines()
            .any(|l| l.starts_with("ExecStart=") && l.contains(&shim))
    })
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

fn aggregate_status(units: &[UnitStatus]) -> String {
    // The most alarming state wins, so one errored instance is not hidden.
    for s in ["errored", "waiting restart", "launching", "stopping"] {
        if units.iter().any(|u| u.status == s) {
            return s.to_string();
        }
    }
    if units.iter().any(|u| u.status == "online") {
        if units.iter().all(|u| u.status == "online") {
            return "online".into();
        }
        return "partly online".into();
    }
    "stopped".into()
}

pub fn format_duration_ms(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m", s / 60),
        3600..=86_399 => format!("{}h", s / 3600),
        _ => format!("{}D", s / 86_400),
    }
}

pub fn format_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["b", "kb", "mb", "gb", "tb"];
    let mut v = b as f64;
    let mut i = 0;
    while v >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{b}b")
    } else {
        format!("{v:.1}{}", UNITS[i])
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

    #[test]
    fn human_units() {
        assert_eq!(format_duration_ms(59_000), "59s");
        assert_eq!(format_duration_ms(3_600_000), "1h");
        assert_eq!(format_bytes(1536 * 1024), "1.5mb");
        assert_eq!(format_bytes(512), "512b");
    }
}
