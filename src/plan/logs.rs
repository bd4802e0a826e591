//! Logs (group `logs`): where stdout and stderr go, and when the shim must write the files itself
//! — dated lines, a combined file next to split ones, rotation (no manager rotates the files it
//! writes; see `rotation.rs`), or a manager that opens them as root.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::{LogDest, LogPlan, ShimNeed, Word};
use crate::diag::Problems;
use crate::model::{App, LogTarget};
use crate::shim_protocol as shimp;
use crate::target::{Capabilities, DefaultLogs, Target};

pub(super) struct Logs {
    pub plan: LogPlan,
    /// The shim's log options (`--stdout PATH`, …), when the shim writes the files; a flag
    /// has no value.
    pub shim_options: Vec<(&'static str, Option<Word>)>,
}

pub(super) fn has_split_files(app: &App) -> bool {
    matches!(app.logs.out, LogTarget::File(_)) || matches!(app.logs.err, LogTarget::File(_))
}

pub(super) fn plan(
    app: &App,
    target: &Target,
    caps: &Capabilities,
    needs: &mut BTreeSet<ShimNeed>,
    problems: &mut Problems,
) -> Logs {
    let per_instance = app.is_templated() && app.logs.per_instance;
    let file_word = |p: &Path| -> Word {
        if per_instance {
            Word::instance_path(p)
        } else {
            Word::text(p.to_string_lossy())
        }
    };
    let dest = |t: &LogTarget| match t {
        LogTarget::Default => LogDest::Journal,
        LogTarget::Null => LogDest::Null,
        LogTarget::File(p) => LogDest::File(file_word(p)),
    };
    if !caps.log_files {
        return collected(app, needs);
    }
    let mut dirs: BTreeSet<PathBuf> = BTreeSet::new();
    for p in [&app.logs.out, &app.logs.err]
        .into_iter()
        .filter_map(|t| match t {
            LogTarget::File(p) => Some(p),
            _ => None,
        })
        .chain(app.logs.combined.iter())
    {
        if let Some(d) = p.parent() {
            dirs.insert(d.to_path_buf());
        }
    }
    let split = has_split_files(app);
    let dated_files = app.logs.date_format.is_some() && (app.logs.combined.is_some() || split);
    let (mut stdout, mut stderr) = (dest(&app.logs.out), dest(&app.logs.err));
    if let Some(combined) = &app.logs.combined {
        if split || dated_files {
            needs.insert(ShimNeed::Logs);
        } else {
            stdout = LogDest::File(file_word(combined));
            stderr = LogDest::File(file_word(combined));
        }
        if split {
            super::warnings::announce_key(app, target, "log_file", problems);
        }
    }
    if dated_files {
        needs.insert(ShimNeed::Logs);
    }
    if let DefaultLogs::Files(default_dir) = &caps.default_logs {
        // The manager drops output it is not given a path for; rgen's default keeps it.
        for (dest, suffix) in [(&mut stdout, "out"), (&mut stderr, "error")] {
            if *dest == LogDest::Journal {
                let p = default_dir.join(format!("{}-{suffix}.log", app.unit));
                dirs.insert(default_dir.clone());
                *dest = LogDest::File(file_word(&p));
            }
        }
    }
    let any_file = matches!(stdout, LogDest::File(_)) || matches!(stderr, LogDest::File(_));
    let rotation = app.logs.rotation.as_ref().filter(|r| r.rotates());
    // Only the process that writes a file can rotate it without losing lines.
    if (caps.keeps_log_files_open || caps.opens_log_files_as_root || rotation.is_some()) && any_file
    {
        needs.insert(ShimNeed::Logs);
    }
    let mut shim_options: Vec<(&'static str, Option<Word>)> = Vec::new();
    let shim_writes = needs.contains(&ShimNeed::Logs);
    if shim_writes {
        if let LogDest::File(w) = &stdout {
            shim_options.push((shimp::opt::STDOUT, Some(w.clone())));
        }
        if let LogDest::File(w) = &stderr {
            shim_options.push((shimp::opt::STDERR, Some(w.clone())));
        }
        if let Some(c) = &app.logs.combined {
            shim_options.push((shimp::opt::COMBINED, Some(file_word(c))));
        }
        if let Some(r) = rotation {
            shim_options.extend(super::rotation::shim_options(r));
        }
        if let Some(fmt) = &app.logs.date_format {
            shim_options.push((shimp::opt::LOG_DATE_FORMAT, Some(Word::text(fmt))));
        }
        // The shim owns the files; what it prints itself goes to the manager's log, or to its
        // own file where the manager has none — rotated by the shim like the app's, where the
        // manager would keep it open forever.
        let own = match &caps.default_logs {
            DefaultLogs::Files(dir) => {
                dirs.insert(dir.clone());
                let shim_log = file_word(&dir.join(format!("{}.rgen-shim.log", app.unit)));
                if caps.keeps_log_files_open {
                    shim_options.push((shimp::opt::SHIM_LOG, Some(shim_log.clone())));
                }
                if caps.opens_log_files_as_root {
                    // The manager would open a path in the app's user's directory with more
                    // privilege than the app; the shim's own log says everything after its
                    // first moment.
                    LogDest::Null
                } else {
                    LogDest::File(shim_log)
                }
            }
            DefaultLogs::Collected => LogDest::Journal,
        };
        stdout = own.clone();
        stderr = own;
    }
    Logs {
        plan: LogPlan {
            stdout,
            stderr,
            dirs: dirs.into_iter().collect(),
            files: [("out_file", &app.logs.out), ("error_file", &app.logs.err)]
                .into_iter()
                .filter_map(|(key, t)| match t {
                    LogTarget::File(p) => Some((key, p.clone())),
                    _ => None,
                })
                .chain(app.logs.combined.iter().map(|p| ("log_file", p.clone())))
                .collect(),
            rotation: rotation.filter(|_| shim_writes).cloned(),
        },
        shim_options,
    }
}

/// Where the manager only collects stdout and stderr (a container's), every stream goes there;
/// a stream PM2 would drop goes to `/dev/null` through the shim.
fn collected(app: &App, needs: &mut BTreeSet<ShimNeed>) -> Logs {
    let dest = |t: &LogTarget| match t {
        LogTarget::Null => LogDest::Null,
        LogTarget::Default | LogTarget::File(_) => LogDest::Journal,
    };
    let (stdout, stderr) = (dest(&app.logs.out), dest(&app.logs.err));
    let mut shim_options = Vec::new();
    for (dest, option) in [(&stdout, shimp::opt::STDOUT), (&stderr, shimp::opt::STDERR)] {
        if *dest == LogDest::Null {
            shim_options.push((option, Some(Word::text("/dev/null"))));
        }
    }
    if !shim_options.is_empty() {
        needs.insert(ShimNeed::Logs);
    }
    Logs {
        plan: LogPlan {
            stdout,
            stderr,
            dirs: Vec::new(),
            files: Vec::new(),
            rotation: None,
        },
        shim_options,
    }
}
