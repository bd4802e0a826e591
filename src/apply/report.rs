//! How an install reports what it changes, the same for every backend: `+` new, `~` changed (with
//! its diff), `=` unchanged, `-` no longer needed, `refused:` files in the way; and for a dry run
//! the actions the backend would take.

use std::io::Write;

use anyhow::{Result, bail};

use super::changes::{ChangeSet, FileChange};

/// Prints the change set. Conflicts stop the install before anything is touched.
pub fn print_changes(set: &ChangeSet, out: &mut dyn Write) -> Result<()> {
    if !set.conflicts.is_empty() {
        for c in &set.conflicts {
            writeln!(out, "refused: {c}")?;
        }
        bail!(
            "nothing was installed: {} file{} in the way",
            set.conflicts.len(),
            if set.conflicts.len() == 1 {
                " is"
            } else {
                "s are"
            }
        );
    }
    for f in &set.files {
        match &f.change {
            FileChange::Create => writeln!(out, "  + {}", f.path.display())?,
            FileChange::Update { diff } => {
                writeln!(out, "  ~ {}", f.path.display())?;
                for line in diff.lines() {
                    writeln!(out, "    {line}")?;
                }
            }
            FileChange::Bookkeeping => writeln!(
                out,
                "  = {} (rgen's record of the source updated)",
                f.path.display()
            )?,
            FileChange::Unchanged => writeln!(out, "  = {}", f.path.display())?,
        }
    }
    for f in &set.stale {
        writeln!(out, "  - {} (no longer needed)", f.path.display())?;
    }
    for f in &set.files {
        if let Some((was, will)) = &f.identity {
            let who = |u: &Option<String>| u.clone().unwrap_or_else(|| "root".into());
            writeln!(
                out,
                "  ! {} will run as `{}` instead of `{}`",
                f.file.app.as_deref().unwrap_or(&f.file.name),
                who(will),
                who(was)
            )?;
        }
    }
    Ok(())
}

/// The dry run's last words: what would have been done.
pub fn print_dry_run(actions: &[String], out: &mut dyn Write) -> Result<()> {
    writeln!(out, "dry run, nothing changed; would:")?;
    for a in actions {
        writeln!(out, "  - {a}")?;
    }
    Ok(())
}

/// `1 file` / `2 files`.
pub fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}
