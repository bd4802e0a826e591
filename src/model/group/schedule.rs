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
use crate::model::{Watch, glob, resolve};

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
    // PM2's schema lists `boolean` first for `watch`, so a string is one path, never split.
    let patterns: Vec<String> = match f.entry("watch").map(|e| e.value.clone()) {
        None | Some(Value::Null) | Some(Value::Bool(false)) => return None,
        Some(Value::Bool(true)) => Vec::new(),
        Some(Value::String(s)) => {
            if s == "true" || s == "false" {
                let o = f.origin_of("watch");
                f.report.warn(
                    WarningKind::WatchStringIsPath,
                    o,
                    format!("`watch: \"{s}\"` is a string, so PM2 watches a path named `{s}` (in effect nothing); write `watch: {s}` without quotes to turn watching {}", if s == "true" { "on" } else { "off" }),
                );
            }
            vec![s]
        }
        Some(_) => f.words("watch")?,
    };
    // `true` and an empty list watch the app's cwd (lib/Watcher.js).
    let patterns = if patterns.is_empty() {
        vec![".".to_string()]
    } else {
        patterns
    };
    let mut roots: Vec<(PathBuf, bool)> = Vec::new();
    for pattern in &patterns {
        let (prefix, deep) = glob::static_prefix(pattern);
        let path = resolve::normalize(&cwd.join(resolve::expand_home(&prefix)));
        if !f.fits("watch", &path.to_string_lossy(), Shape::Path) {
            return None;
        }
        if !roots.iter().any(|(p, _)| *p == path) {
            roots.push((path, deep));
        }
    }
    let ignore = f.words("ignore_watch").unwrap_or_default();
    let ignore = Ignore::new(&ignore, cwd);
    let mut dirs = Vec::new();
    let mut missing = Vec::new();
    for (root, deep) in &roots {
        if root.exists() {
            collect_dirs(root, *deep, &ignore, &mut dirs);
        } else {
            // A path unit watches the nearest existing parent until the path appears.
            missing.push(root.display().to_string());
            dirs.push(root.clone());
        }
    }
    if !missing.is_empty() {
        let o = f.origin_of("watch");
        f.report.warn(
            WarningKind::WatchIsStatic,
            o,
            format!("{} does not exist yet: a change is seen when it appears, but not inside it until `rgen install` runs again", missing.join(", ")),
        );
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
        paths: roots.into_iter().map(|(p, _)| p).collect(),
        dirs,
        ignore: ignore.written,
        delay_ms: f.millis("watch_delay"),
    })
}

/// `ignore_watch` as chokidar applies it: each entry a glob relative to the app's cwd, matched
/// against whole paths (`logs` is `<cwd>/logs`, `**/*.tmp` any depth). A JavaScript RegExp
/// arrives as its source text (`/node_modules/`): its literal text then matches a component.
struct Ignore {
    written: Vec<String>,
    globs: Vec<String>,
    components: Vec<String>,
}

impl Ignore {
    fn new(written: &[String], cwd: &Path) -> Ignore {
        let mut globs = Vec::new();
        let mut components = Vec::new();
        for entry in written {
            if let Some(inner) = entry.strip_prefix('/').and_then(|e| e.strip_suffix('/'))
                && !inner.is_empty()
                && !inner.contains('/')
            {
                components.push(inner.to_string());
                continue;
            }
            let entry = entry.trim_start_matches("./").trim_end_matches('/');
            let absolute = cwd.join(resolve::expand_home(entry));
            globs.push(absolute.to_string_lossy().into_owned());
        }
        Ignore {
            written: written.to_vec(),
            globs,
            components,
        }
    }

    fn skips(&self, dir: &Path) -> bool {
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // PM2's default (`/[\/\\]\.|node_modules/`), kept even with an `ignore_watch`.
        if name.starts_with('.') || name == "node_modules" {
            return true;
        }
        let text = dir.to_string_lossy();
        self.components.contains(&name) || self.globs.iter().any(|g| glob::matches(g, &text))
    }
}

/// `root` itself and, when `deep`, the directories under it, skipping what `ignore` skips.
fn collect_dirs(root: &Path, deep: bool, ignore: &Ignore, out: &mut Vec<PathBuf>) {
    if out.contains(&root.to_path_buf()) {
        return;
    }
    out.push(root.to_path_buf());
    if !deep || !root.is_dir() {
        return;
    }
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
        if ignore.skips(&child) {
            continue;
        }
        if out.len() > WATCH_DIR_LIMIT {
            out.push(child);
            return;
        }
        collect_dirs(&child, true, ignore, out);
    }
}
