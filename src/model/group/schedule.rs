//! Group `schedule`: `cron_restart` (croner's grammar, expanded to value sets) and `watch`,
//! `ignore_watch`, `watch_delay` — the watched directories expanded here, where files are read,
//! so `plan` stays pure.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::diag::WarningKind;
use crate::load::kind;
use crate::model::cron::{self, CronSchedule};
use crate::model::fields::Fields;
use crate::model::text::Shape;
use crate::model::{Watch, resolve};

/// How many directories one watch may cover; more would be a recursive watch in disguise.
const WATCH_DIR_LIMIT: usize = 256;

pub(crate) fn cron_restart(f: &mut Fields<'_>) -> Option<CronSchedule> {
    match f.entry("cron_restart").map(|e| e.value.clone()) {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) if n.as_f64() == Some(0.0) => None,
        Some(Value::String(s)) if s.trim() == "0" || s.trim().is_empty() => None,
        Some(Value::String(s)) => match cron::parse(&s) {
            Ok(c) => Some(c),
            Err(why) => {
                f.fail(
                    "cron_restart",
                    format!("`cron_restart` {s:?} is not a cron pattern rgen can express: {why}"),
                    Some("use five fields `minute hour day month weekday` (or six with seconds first), e.g. \"0 3 * * *\"".into()),
                );
                None
            }
        },
        Some(other) => {
            f.fail(
                "cron_restart",
                format!(
                    "`cron_restart` must be a cron pattern string, not {}",
                    kind(&other)
                ),
                None,
            );
            None
        }
    }
}

pub(crate) fn watch(f: &mut Fields<'_>, cwd: &Path) -> Option<Watch> {
    let paths: Option<Vec<PathBuf>> = match f.entry("watch").map(|e| e.value.clone()) {
        None | Some(Value::Null) | Some(Value::Bool(false)) => None,
        Some(Value::Bool(true)) => Some(vec![cwd.to_path_buf()]),
        Some(_) => f.words("watch").map(|ws| {
            ws.iter()
                .map(|w| resolve::normalize(&cwd.join(w)))
                .collect()
        }),
    };
    let paths = paths?;
    for p in &paths {
        if !f.fits("watch", &p.to_string_lossy(), Shape::Path) {
            return None;
        }
    }
    let ignore = f.words("ignore_watch").unwrap_or_default();
    let mut dirs = Vec::new();
    for p in &paths {
        collect_dirs(p, &ignore, &mut dirs);
    }
    if dirs.len() > WATCH_DIR_LIMIT {
        let o = f.origin_of("watch");
        f.report.warn(
            WarningKind::WatchIsStatic,
            o,
            format!("{} directories to watch; only the first {WATCH_DIR_LIMIT} are watched — narrow `watch` or add `ignore_watch`", dirs.len()),
        );
        dirs.truncate(WATCH_DIR_LIMIT);
    }
    Some(Watch {
        paths,
        dirs,
        ignore,
        delay_ms: f.millis("watch_delay"),
    })
}

/// Directories under `root` (itself included), skipping dot-directories, `node_modules` (PM2's
/// watcher ignores both) and anything matching `ignore_watch`.
fn collect_dirs(root: &Path, ignore: &[String], out: &mut Vec<PathBuf>) {
    if !root.is_dir() {
        if root.exists() {
            out.push(root.to_path_buf());
        }
        return;
    }
    out.push(root.to_path_buf());
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    let mut children: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect();
    children.sort();
    for child in children {
        let name = child
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let path_text = child.to_string_lossy();
        if name.starts_with('.')
            || name == "node_modules"
            || ignore
                .iter()
                .any(|i| name == *i || path_text.contains(i.as_str()))
        {
            continue;
        }
        if out.len() > WATCH_DIR_LIMIT {
            out.push(child);
            return;
        }
        collect_dirs(&child, ignore, out);
    }
}
