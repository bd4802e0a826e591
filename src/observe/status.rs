//! `rgen status`: the report every backend fills in — one row per app in PM2's vocabulary, its
//! units underneath — and how a row is aggregated and shown.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::apply::inventory::{InstalledApp, LogRotation, LogSource};

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
    /// Everything charged to the app: its own memory and the page cache of the files it read.
    pub memory_bytes: Option<u64>,
    /// The app's own memory (anonymous / resident), over all instances.
    pub memory_own_bytes: Option<u64>,
    /// Page cache charged to the app (reclaimable), over all instances.
    pub memory_cache_bytes: Option<u64>,
    /// `max_memory_restart` as installed, per instance.
    pub memory_limit_bytes: Option<u64>,
    /// Average CPU use since start, in percent of one core.
    pub cpu_percent: Option<f64>,
    /// The installed files differ from what the ecosystem file would produce now; `null` when the
    /// ecosystem file is gone.
    pub drift: Option<bool>,
    pub units: Vec<UnitStatus>,
    /// The app's log files (none when it logs to the journal), as they are on disk now.
    pub logs: Vec<LogFileStatus>,
}

/// One log file and the rotated files beside it.
#[derive(Clone, Debug, Serialize)]
pub struct LogFileStatus {
    pub path: PathBuf,
    /// `out`, `err` or `out+err`.
    pub stream: &'static str,
    /// `null` when the file is not there (yet), or not readable by whoever asks.
    pub size_bytes: Option<u64>,
    /// Rotated files beside it, `<stem>__<date>.log` or `.log.gz` (a file being compressed
    /// counts once).
    pub rotated_files: u32,
    pub rotated_bytes: u64,
    /// How `rgen-shim` rotates it (pm2-logrotate's settings); `null`: never.
    pub rotation: Option<LogRotation>,
}

/// Each log file of the app once (instances of a merged log share it), with what is on disk.
pub fn log_files(app: &InstalledApp) -> Vec<LogFileStatus> {
    let mut out: Vec<LogFileStatus> = Vec::new();
    for source in app.log_sources() {
        let LogSource::File {
            path,
            stream,
            rotation,
            ..
        } = source
        else {
            continue;
        };
        if out.iter().any(|f| f.path == path) || path == Path::new("/dev/null") {
            continue;
        }
        let size_bytes = std::fs::symlink_metadata(&path)
            .ok()
            .filter(|m| m.is_file())
            .map(|m| m.len());
        let (rotated_files, rotated_bytes) = rotated(&path);
        out.push(LogFileStatus {
            path,
            stream: stream.as_str(),
            size_bytes,
            rotated_files,
            rotated_bytes,
            rotation,
        });
    }
    out
}

/// `at 10.0mb, on `0 0 * * *`, 30 kept, gzip`.
pub fn describe_rotation(r: &LogRotation) -> String {
    let mut parts = Vec::new();
    if let Some(size) = r.max_size_bytes {
        parts.push(format!("at {}", format_bytes(size)));
    }
    if let Some(cron) = &r.interval {
        parts.push(format!("on `{cron}`"));
    }
    parts.push(match r.retain {
        Some(n) => format!("{n} kept"),
        None => "all kept".into(),
    });
    if r.compress {
        parts.push("gzip".into());
    }
    parts.join(", ")
}

/// The rotated files of `live` as the shim names them (pm2-logrotate's naming): in its
/// directory, `<stem>__<date>.log[.gz]`, `<stem>` being its name without `.log`.
fn rotated(live: &Path) -> (u32, u64) {
    let (Some(dir), Some(name)) = (live.parent(), live.file_name()) else {
        return (0, 0);
    };
    let name = name.to_string_lossy();
    let prefix = format!("{}__", name.strip_suffix(".log").unwrap_or(&name));
    let Ok(entries) = std::fs::read_dir(dir) else {
        return (0, 0);
    };
    let mut logical: Vec<String> = Vec::new();
    let mut bytes = 0;
    for e in entries.flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        if n == *name || !n.starts_with(&prefix) {
            continue;
        }
        let stem = n.strip_suffix(".gz").unwrap_or(&n);
        if !stem.ends_with(".log") {
            continue;
        }
        if let Ok(m) = e.metadata()
            && m.is_file()
        {
            bytes += m.len();
        }
        if !logical.iter().any(|l| l == stem) {
            logical.push(stem.to_string());
        }
    }
    (logical.len() as u32, bytes)
}

impl LogFileStatus {
    /// `1.2mb, 3 rotated (at 10.0mb, 30 kept)` for `rgen show`.
    pub fn describe(&self) -> String {
        let size = self
            .size_bytes
            .map_or_else(|| "not there yet".to_string(), format_bytes);
        let rotated = match self.rotated_files {
            0 => String::new(),
            n => format!(", {n} rotated ({})", format_bytes(self.rotated_bytes)),
        };
        let how = match &self.rotation {
            Some(r) => format!("rotated {}", describe_rotation(r)),
            None => "never rotated".into(),
        };
        format!("{size}{rotated}; {how}")
    }

    /// `1.2mb, 3 rotated` for tables.
    pub fn summary(files: &[LogFileStatus]) -> Option<String> {
        if files
            .iter()
            .all(|f| f.size_bytes.is_none() && f.rotated_files == 0)
        {
            return None;
        }
        let size: u64 = files.iter().filter_map(|f| f.size_bytes).sum();
        let rotated: u32 = files.iter().map(|f| f.rotated_files).sum();
        Some(if rotated == 0 {
            format_bytes(size)
        } else {
            format!("{}, {rotated} rotated", format_bytes(size))
        })
    }
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
    pub memory_own_bytes: Option<u64>,
    pub memory_cache_bytes: Option<u64>,
    pub memory_limit_bytes: Option<u64>,
    pub cpu_ns: Option<u64>,
    /// systemd's `Result` of the last run (`success`, `exit-code`, `signal`, `oom-kill`, `start-limit-hit`, …).
    pub result: String,
    pub exit_status: Option<i32>,
}

impl UnitStatus {
    /// A unit the manager does not know (never started, or unloaded while stopped).
    pub fn not_loaded(unit: &str) -> UnitStatus {
        UnitStatus {
            unit: unit.to_string(),
            active_state: "inactive".into(),
            sub_state: "dead".into(),
            status: "stopped".into(),
            pid: None,
            main_pid: None,
            uptime_ms: None,
            restarts: 0,
            memory_bytes: None,
            memory_own_bytes: None,
            memory_cache_bytes: None,
            memory_limit_bytes: None,
            cpu_ns: None,
            result: String::new(),
            exit_status: None,
        }
    }
}

impl AppStatus {
    /// An app's row from its units: the most alarming state wins; restarts and memory add up.
    pub fn from_units(app: &InstalledApp, units: Vec<UnitStatus>) -> AppStatus {
        let cpu: u64 = units.iter().filter_map(|u| u.cpu_ns).sum();
        let up = units.iter().filter_map(|u| u.uptime_ms).max().unwrap_or(0);
        AppStatus {
            name: app.name.clone(),
            group: app.group.clone(),
            namespace: app.namespace().to_string(),
            source: app.marker().map(|m| m.source.clone()).unwrap_or_default(),
            mode: if app.is_cluster() { "cluster" } else { "fork" },
            instances: units.len() as u32,
            status: aggregate_status(&units),
            pid: units.iter().find_map(|u| u.pid),
            uptime_ms: units.iter().filter_map(|u| u.uptime_ms).min(),
            restarts: units.iter().map(|u| u.restarts).sum(),
            memory_bytes: sum(&units, |u| u.memory_bytes),
            memory_own_bytes: sum(&units, |u| u.memory_own_bytes),
            memory_cache_bytes: sum(&units, |u| u.memory_cache_bytes),
            memory_limit_bytes: units
                .iter()
                .find_map(|u| u.memory_limit_bytes)
                .or(app.memory_limit()),
            cpu_percent: (up > 0 && cpu > 0).then(|| (cpu as f64 / 1e6) / up as f64 * 100.0),
            drift: None,
            units,
            logs: log_files(app),
        }
    }
}

fn sum(units: &[UnitStatus], field: impl Fn(&UnitStatus) -> Option<u64>) -> Option<u64> {
    units.iter().filter_map(field).reduce(|a, b| a + b)
}

pub fn aggregate_status(units: &[UnitStatus]) -> String {
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
    fn rotated_files_are_counted_as_the_shim_names_them() {
        let dir = tempfile::tempdir().unwrap();
        let live = dir.path().join("api-out.log");
        for (name, bytes) in [
            ("api-out.log", 5),
            ("api-out__2024-01-01_00-00-00.log", 10),
            ("api-out__2024-01-02_00-00-00.log.gz", 3),
            // Being compressed: one rotated file.
            ("api-out__2024-01-03_00-00-00.log", 10),
            ("api-out__2024-01-03_00-00-00.log.gz.tmp.42", 1),
            ("api-out__2024-01-03_00-00-00.log.gz", 2),
            ("api-err__2024-01-01_00-00-00.log", 7),
            ("api-out.log.1", 7),
        ] {
            std::fs::write(dir.path().join(name), vec![b'x'; bytes]).unwrap();
        }
        assert_eq!(rotated(&live), (3, 25));
        assert_eq!(rotated(&dir.path().join("none.log")), (0, 0));
    }

    #[test]
    fn human_units() {
        assert_eq!(format_duration_ms(59_000), "59s");
        assert_eq!(format_duration_ms(3_600_000), "1h");
        assert_eq!(format_bytes(1536 * 1024), "1.5mb");
        assert_eq!(format_bytes(512), "512b");
    }
}
