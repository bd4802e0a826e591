//! Status of installed apps on launchd: `launchctl print` for each job (state, pid, runs, last
//! exit), the shim's status file (PM2's state: waiting to restart, errored after too many
//! unstable restarts, the app's own last exit and restart count), and one `ps` for the rest —
//! the app behind the shim, its uptime, and memory and CPU of the whole process tree.

use std::path::{Path, PathBuf};

use anyhow::Result;

use super::launchctl::{LastExit, ServiceInfo};
use super::{LaunchdManager, names};
use crate::apply::inventory::{InstalledApp, Role};
use crate::observe::status::{AppStatus, UnitStatus};
use crate::shim_protocol::{opt, status as state};

pub fn collect(m: &LaunchdManager, apps: &[&InstalledApp]) -> Result<Vec<AppStatus>> {
    let table = process_table();
    let mut out = Vec::new();
    for app in apps {
        let mut units = Vec::new();
        for unit in app.units.iter().filter(|u| u.role == Role::App) {
            let domain = m.domain_of(unit);
            let shim = status_file(&unit.argv).and_then(|p| ShimStatus::read(&p));
            // From the plist root wrote, not from `ps`: a process's name is its user's to choose.
            let shimmed = unit.argv.first().is_some_and(|p| {
                Path::new(p)
                    .file_name()
                    .is_some_and(|n| n == crate::shim_protocol::BIN)
            });
            for label in &unit.runtime {
                let info = m.launchctl.print(&names::service(&domain, label))?;
                units.push(unit_status(
                    label,
                    info.as_ref(),
                    &table,
                    shim.as_ref(),
                    shimmed,
                ));
            }
        }
        out.push(AppStatus::from_units(app, units));
    }
    Ok(out)
}

/// The `--status-file` an installed job's shim writes.
pub fn status_file(argv: &[String]) -> Option<PathBuf> {
    let (options, _) = crate::backend::shim_args::split(argv);
    options
        .windows(2)
        .find(|pair| pair[0] == opt::STATUS_FILE)
        .map(|pair| PathBuf::from(&pair[1]))
}

/// What the shim last wrote to its status file (`shim_protocol::status`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ShimStatus {
    pub state: String,
    pub pid: Option<u32>,
    pub started_at_unix_ms: Option<u64>,
    pub restarts: Option<u64>,
    pub unstable_restarts: u64,
    /// The app's (not the shim's) last exit.
    pub last_exit: Option<LastExit>,
}

impl ShimStatus {
    pub fn read(path: &Path) -> Option<ShimStatus> {
        let text = std::fs::read_to_string(path).ok()?;
        ShimStatus::parse(&text)
    }

    pub fn parse(text: &str) -> Option<ShimStatus> {
        let v: serde_json::Value = serde_json::from_str(text).ok()?;
        let exit = &v["last_exit"];
        Some(ShimStatus {
            state: v["state"].as_str()?.to_string(),
            pid: v["pid"].as_u64().and_then(|p| u32::try_from(p).ok()),
            started_at_unix_ms: v["started_at_unix_ms"].as_u64(),
            restarts: v["restarts"].as_u64(),
            unstable_restarts: v["unstable_restarts"].as_u64().unwrap_or(0),
            last_exit: if let Some(code) = exit["code"].as_i64() {
                Some(LastExit::Code(code as i32))
            } else {
                exit["signal"]
                    .as_i64()
                    .map(|s| LastExit::Signal(s.to_string()))
            },
        })
    }

    /// The shim's state in PM2's words, with the job still running (`None`: ask launchd).
    fn while_running(&self) -> Option<&'static str> {
        Some(match self.state.as_str() {
            state::ONLINE => "online",
            state::LAUNCHING | state::RESTARTING => "launching",
            state::WAITING_RESTART => "waiting restart",
            state::STOPPING => "stopping",
            state::ERRORED => "errored",
            state::EXITED | state::STOPPED => "stopped",
            _ => return None,
        })
    }

    /// Why a shim that is no longer running left the app down (`None`: ask launchd).
    fn after_exit(&self) -> Option<&'static str> {
        match self.state.as_str() {
            // `autorestart: false` (`--max-restarts 0`) counts no unstable restart: a clean
            // exit there is PM2's `stopped`.
            state::ERRORED
                if self.unstable_restarts == 0 && self.last_exit == Some(LastExit::Code(0)) =>
            {
                Some("stopped")
            }
            state::ERRORED => Some("errored"),
            state::EXITED => Some(match self.last_exit {
                Some(LastExit::Code(0)) | None => "stopped",
                _ => "errored",
            }),
            _ => None,
        }
    }
}

/// `launchctl print` in PM2's words, refined by the shim's status file. Unknown states are
/// transitional, never an error.
fn unit_status(
    label: &str,
    info: Option<&ServiceInfo>,
    table: &[Process],
    shim: Option<&ShimStatus>,
    shimmed: bool,
) -> UnitStatus {
    let (active, sub, status) = match info {
        None => ("inactive", "not loaded".to_string(), "stopped"),
        Some(i) if i.running() => ("active", i.state.clone().unwrap_or_default(), "online"),
        Some(i) => {
            let state = i.state.clone().unwrap_or_default();
            let status = match (&i.last_exit, state.as_str()) {
                (_, "spawn scheduled") => "waiting restart",
                (Some(LastExit::Code(0)) | Some(LastExit::Never) | None, _) => "stopped",
                _ => "errored",
            };
            ("inactive", state, status)
        }
    };
    let main_pid = info.and_then(|i| i.pid);
    let behind = main_pid.map_or(Behind::Unknown, |p| behind(p, table, shimmed));
    let app = behind.app();
    let tree = main_pid.map_or_else(Vec::new, |p| process_tree(p, table));
    let running = info.is_some_and(ServiceInfo::running);
    let from_shim = match (info, shim) {
        (Some(_), Some(s)) if running => s.while_running(),
        (Some(_), Some(s)) => s.after_exit(),
        _ => None,
    };
    // launchd sees its job running while the shim sleeps the backoff delay.
    let status = match from_shim {
        Some(s) => s,
        None if behind == Behind::ShimWaiting => "waiting restart",
        None => status,
    };
    // The app's own last exit: launchd's is the shim's (0 when it left the app down).
    let last_exit = shim
        .and_then(|s| s.last_exit.as_ref())
        .or(info.and_then(|i| i.last_exit.as_ref()));
    UnitStatus {
        unit: label.to_string(),
        active_state: active.to_string(),
        sub_state: sub,
        status: status.to_string(),
        pid: app
            .map(|a| a.pid)
            .or(main_pid.filter(|_| behind == Behind::Unknown)),
        main_pid,
        uptime_ms: app.map(|a| a.elapsed_ms),
        // The shim counts its own restarts of the app and its restarts by launchd; launchd
        // alone counts spawns, of which the first is not a restart.
        restarts: shim
            .and_then(|s| s.restarts)
            .map(|r| u32::try_from(r).unwrap_or(u32::MAX))
            .or_else(|| info.and_then(|i| i.runs).map(|r| r.saturating_sub(1)))
            .unwrap_or(0),
        memory_bytes: Some(tree.iter().map(|p| p.rss_bytes).sum()).filter(|&b| b > 0),
        // Resident memory is all the app's own: macOS charges no page cache to a process.
        memory_own_bytes: Some(tree.iter().map(|p| p.rss_bytes).sum()).filter(|&b| b > 0),
        memory_cache_bytes: None,
        memory_limit_bytes: None,
        cpu_ns: app.map(|_| tree.iter().map(|p| p.cpu_ns).sum()),
        result: match last_exit {
            Some(LastExit::Code(c)) => format!("exit {c}"),
            Some(LastExit::Signal(s)) => format!("signal {s}"),
            Some(LastExit::Reason(r)) => r.clone(),
            Some(LastExit::Never) | None => String::new(),
        },
        exit_status: match last_exit {
            Some(LastExit::Code(c)) => Some(*c),
            _ => None,
        },
    }
}

/// One process as `ps` sees it.
#[derive(Clone, Debug, PartialEq)]
struct Process {
    pid: u32,
    ppid: u32,
    rss_bytes: u64,
    cpu_ns: u64,
    elapsed_ms: u64,
}

/// Every process, from `ps` (macOS has no /proc). The columns mean the same in BSD and procps
/// `ps`; only the time formats differ, and [`clock_ms`] reads both. Numbers only: a command name
/// is chosen by whoever runs it, and one holding a newline and a made-up line would add a
/// process of its own to the table — a child of root's job, say pid 1, which `rgen signal`
/// would then signal as `kill(-1)`, every process on the machine.
fn process_table() -> Vec<Process> {
    let Ok(out) = std::process::Command::new("ps")
        .args(["-A", "-o", "pid=,ppid=,rss=,time=,etime="])
        .output()
    else {
        return Vec::new();
    };
    parse_process_table(&String::from_utf8_lossy(&out.stdout))
}

fn parse_process_table(text: &str) -> Vec<Process> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let pid = f.next()?.parse().ok()?;
            let ppid = f.next()?.parse().ok()?;
            let rss_bytes = f.next()?.parse::<u64>().ok()? * 1024;
            let cpu_ns = clock_ms(f.next()?)? * 1_000_000;
            let elapsed_ms = clock_ms(f.next()?)?;
            if f.next().is_some() {
                return None;
            }
            Some(Process {
                pid,
                ppid,
                rss_bytes,
                cpu_ns,
                elapsed_ms,
            })
        })
        .collect()
}

/// `ps` durations: `[[dd-]hh:]mm:ss[.cc]` (BSD `time` is `mm:ss.cc` with minutes past 59).
fn clock_ms(text: &str) -> Option<u64> {
    let (days, clock) = match text.split_once('-') {
        Some((d, rest)) => (d.parse::<u64>().ok()?, rest),
        None => (0, text),
    };
    let mut parts = clock.rsplit(':');
    let seconds: f64 = parts.next()?.parse().ok()?;
    let minutes: u64 = parts.next().map_or(Some(0), |m| m.parse().ok())?;
    let hours: u64 = parts.next().map_or(Some(0), |h| h.parse().ok())?;
    if parts.next().is_some() || !(0.0..=59.999).contains(&seconds) {
        return None;
    }
    Some(((days * 24 + hours) * 60 + minutes) * 60_000 + (seconds * 1000.0).round() as u64)
}

/// What runs behind a launchd job's pid.
#[derive(Debug, PartialEq)]
enum Behind<'a> {
    /// The pid is not in the process table (it just exited, or `ps` failed).
    Unknown,
    /// `rgen-shim` with the app as its first child.
    Shim(&'a Process),
    /// `rgen-shim` without a child: sleeping PM2's backoff delay before the next start.
    ShimWaiting,
    /// The job's own process is the app.
    Plain(&'a Process),
}

impl<'a> Behind<'a> {
    fn app(&self) -> Option<&'a Process> {
        match self {
            Behind::Shim(p) | Behind::Plain(p) => Some(p),
            Behind::Unknown | Behind::ShimWaiting => None,
        }
    }
}

fn behind(launchd_pid: u32, table: &[Process], shimmed: bool) -> Behind<'_> {
    let Some(job) = table.iter().find(|p| p.pid == launchd_pid) else {
        return Behind::Unknown;
    };
    if !shimmed {
        return Behind::Plain(job);
    }
    match table.iter().find(|p| p.ppid == launchd_pid) {
        Some(app) => Behind::Shim(app),
        None => Behind::ShimWaiting,
    }
}

/// A process and all its descendants (the shim, the app and its children).
fn process_tree(root: u32, table: &[Process]) -> Vec<&Process> {
    let mut tree = Vec::new();
    let mut stack = vec![root];
    while let Some(pid) = stack.pop() {
        for p in table {
            if p.pid == pid {
                tree.push(p);
            }
            if p.ppid == pid {
                stack.push(p.pid);
            }
        }
    }
    tree
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ps_durations_in_bsd_and_procps_formats() {
        assert_eq!(clock_ms("0:00.05"), Some(50)); // BSD `time`
        assert_eq!(clock_ms("125:03.50"), Some((125 * 60 + 3) * 1000 + 500));
        assert_eq!(clock_ms("00:00:43"), Some(43_000)); // procps `time`
        assert_eq!(clock_ms("03:47:15"), Some((3 * 3600 + 47 * 60 + 15) * 1000));
        assert_eq!(clock_ms("2-01:00:00"), Some(49 * 3_600_000));
        assert_eq!(clock_ms("12:34"), Some(754_000)); // `etime` under an hour
        assert_eq!(clock_ms("-"), None);
        assert_eq!(clock_ms("1:2:3:4"), None);
        assert_eq!(clock_ms("00:75"), None);
    }

    #[test]
    fn the_app_behind_the_shim_is_its_child() {
        // `ps -A -o pid=,ppid=,rss=,time=,etime=` as macOS prints it.
        let table = parse_process_table(
            "    1     0  9316   0:43.10 03:47:15\n\
             \x20 700     1  1200   0:00.02    05:00\n\
             \x20 701   700 40000   0:02.50    04:58\n\
             \x20 702   701  8000   0:00.50    04:57\n\
             \x20 800     1  3000   0:01.00    10:00\n\
             garbage line\n",
        );
        assert_eq!(table.len(), 5);
        let Behind::Shim(app) = behind(700, &table, true) else {
            panic!("the shim's child is the app");
        };
        assert_eq!((app.pid, app.elapsed_ms), (701, 298_000));
        let tree = process_tree(700, &table);
        assert_eq!(tree.iter().map(|p| p.rss_bytes).sum::<u64>(), 49_200 * 1024);
        assert_eq!(tree.iter().map(|p| p.cpu_ns).sum::<u64>(), 3_020_000_000);
        // Not a shim: the job's own process is the app.
        assert!(matches!(behind(800, &table, false), Behind::Plain(p) if p.pid == 800));
        assert_eq!(behind(999, &table, true), Behind::Unknown);
    }

    #[test]
    fn a_shim_without_its_app_is_waiting_to_restart() {
        let table = parse_process_table("  700     1  1200   0:00.02    00:03\n");
        let running = ServiceInfo {
            state: Some("running".into()),
            pid: Some(700),
            runs: Some(4),
            last_exit: Some(LastExit::Code(1)),
            program: None,
            path: None,
        };
        let unit = unit_status("rgen.api", Some(&running), &table, None, true);
        assert_eq!(unit.status, "waiting restart");
        assert_eq!((unit.pid, unit.main_pid), (None, Some(700)));
        assert_eq!(unit.restarts, 3);
    }

    /// A process named `x\n    1   800 …` (its user picks the name) printed a second line that
    /// made pid 1 a child of root's job 800 (ahead of its real one, 801), and `rgen signal` of
    /// that job ran `kill(-1, …)`. Only lines of numbers count now.
    #[test]
    fn no_process_name_can_add_a_process_to_the_table() {
        let printed = "  700   500  1000   0:00.01    00:01 x\n\
                       \x20   1   800     0   0:00.00    00:01 y\n\
                       \x20 800     1  3000   0:01.00    10:00\n\
                       \x20 801   800  3000   0:01.00    09:00\n";
        let table = parse_process_table(printed);
        assert_eq!(table.iter().map(|p| p.pid).collect::<Vec<_>>(), [800, 801]);
        let running = ServiceInfo {
            state: Some("running".into()),
            pid: Some(800),
            runs: Some(1),
            last_exit: None,
            program: None,
            path: None,
        };
        let unit = unit_status("root.job", Some(&running), &table, None, true);
        assert_eq!(unit.pid, Some(801));
    }

    #[test]
    fn this_machines_ps_is_understood() {
        let table = process_table();
        let me = table
            .iter()
            .find(|p| p.pid == std::process::id())
            .expect("this test in the ps table");
        assert!(me.rss_bytes > 0);
    }
}
