//! What an install would change on disk: each rendered file is new, changed (with a diff) or
//! unchanged; files rgen installed earlier for these apps but no longer renders are stale; and any
//! file in the way that rgen did not write — or that another ecosystem owns — is a conflict that
//! stops the install before anything is touched.

use std::path::{Path, PathBuf};

use similar::TextDiff;

use super::RenderedFile;
use super::inventory::{Existing, InstalledUnit, Inventory, ReadBack, read_existing};
use crate::plan::Plan;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileChange {
    Create,
    Update {
        diff: String,
    },
    /// Only rgen's bookkeeping differs (the ecosystem file's digest): rewritten, not restarted.
    Bookkeeping,
    Unchanged,
}

impl FileChange {
    /// Whether the manager must load the file again (and restart what it runs).
    pub fn reloads(&self) -> bool {
        matches!(self, FileChange::Create | FileChange::Update { .. })
    }
}

#[derive(Clone, Debug)]
pub struct FilePlan {
    pub file: RenderedFile,
    pub path: PathBuf,
    pub change: FileChange,
    /// The app would run as another user than it does now: `(was, will be)`, `None` for the
    /// manager's own user (root).
    pub identity: Option<(Option<String>, Option<String>)>,
}

#[derive(Clone, Debug)]
pub enum Conflict {
    /// A file rgen did not write.
    Foreign(PathBuf),
    /// A file rgen wrote for another ecosystem.
    OtherEcosystem {
        path: PathBuf,
        source: PathBuf,
        group: String,
        /// The app that file is for.
        app: Option<String>,
    },
}

impl std::fmt::Display for Conflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Conflict::Foreign(path) => write!(
                f,
                "{} exists and was not written by rgen; rgen never overwrites it (rename the app, or remove the file yourself)",
                path.display()
            ),
            Conflict::OtherEcosystem {
                path,
                source,
                group,
                app,
            } => {
                let app = app.as_deref().unwrap_or("…");
                write!(
                    f,
                    "{} belongs to group `{group}` installed from {}: app names are one namespace per scope (unit names, launchd labels), so two ecosystems cannot both have `{app}`. Rename the app in one of the files (`name`); or give one `append_env_to_name: true` and install it with `--env NAME`; or remove the other first with `rgen uninstall {app}`",
                    path.display(),
                    source.display()
                )
            }
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct ChangeSet {
    pub files: Vec<FilePlan>,
    pub stale: Vec<InstalledUnit>,
    pub conflicts: Vec<Conflict>,
}

impl ChangeSet {
    pub fn compute(
        files: &[RenderedFile],
        dir: &Path,
        plan: &Plan,
        inventory: &Inventory,
        backend: &dyn ReadBack,
    ) -> std::io::Result<ChangeSet> {
        let mut set = ChangeSet::default();
        for file in files {
            let path = dir.join(&file.name);
            let mut identity = None;
            let exists = path.symlink_metadata().is_ok();
            let is_file = path
                .symlink_metadata()
                .is_ok_and(|m| m.file_type().is_file());
            let change = match (exists, is_file) {
                (false, _) => FileChange::Create,
                // A symlink or directory in the way is never written through.
                (true, false) => {
                    set.conflicts.push(Conflict::Foreign(path));
                    continue;
                }
                (true, true) => match read_existing(&path, &file.name, backend)? {
                    Existing::Foreign(p) => {
                        set.conflicts.push(Conflict::Foreign(p));
                        continue;
                    }
                    Existing::Ignored => {
                        set.conflicts.push(Conflict::Foreign(path));
                        continue;
                    }
                    Existing::Ours(old) => {
                        if old.marker.group != plan.group
                            || (old.marker.source != plan.source
                                && !moves_to_a_file(&old.marker.source, &plan.source))
                        {
                            set.conflicts.push(Conflict::OtherEcosystem {
                                path,
                                source: old.marker.source.clone(),
                                group: old.marker.group.clone(),
                                app: old.marker.app.clone(),
                            });
                            continue;
                        }
                        if let Existing::Ours(new) =
                            backend.read_back(&file.name, &path, file.contents.as_bytes())
                            && new.role == super::inventory::Role::App
                            && new.run_as != old.run_as
                        {
                            identity = Some((old.run_as.clone(), new.run_as.clone()));
                        }
                        if old.contents == file.contents {
                            FileChange::Unchanged
                        } else if backend.same_but_bookkeeping(&old.contents, &file.contents) {
                            FileChange::Bookkeeping
                        } else if file.secret {
                            // The values are nobody's business on the terminal.
                            FileChange::Update {
                                diff: "(the values changed; not shown)\n".into(),
                            }
                        } else {
                            FileChange::Update {
                                diff: unified_diff(&old.contents, &file.contents, &path),
                            }
                        }
                    }
                },
            };
            set.files.push(FilePlan {
                file: file.clone(),
                path,
                change,
                identity,
            });
        }
        let rendered_apps: Vec<&str> = files.iter().filter_map(|f| f.app.as_deref()).collect();
        set.stale = inventory
            .units
            .iter()
            .filter(|f| f.marker.group == plan.group)
            .filter(|f| {
                f.marker
                    .app
                    .as_deref()
                    .is_some_and(|a| rendered_apps.contains(&a))
            })
            .filter(|f| !files.iter().any(|r| r.name == f.name))
            .cloned()
            .collect();
        Ok(set)
    }

    pub fn changed_apps(&self) -> Vec<String> {
        let mut apps: Vec<String> = self
            .files
            .iter()
            .filter(|f| f.change.reloads())
            .filter_map(|f| f.file.app.clone())
            .chain(self.stale.iter().filter_map(|f| f.marker.app.clone()))
            .collect();
        apps.sort();
        apps.dedup();
        apps
    }

    pub fn writes(&self) -> impl Iterator<Item = &FilePlan> {
        self.files
            .iter()
            .filter(|f| f.change != FileChange::Unchanged)
    }

    pub fn is_noop(&self) -> bool {
        self.writes().next().is_none() && self.stale.is_empty()
    }
}

/// Apps given on the command line become a file's (`rgen import --from-installed`, then
/// `rgen install` of what it wrote) in the same group: the file takes over their files in place.
/// The other way round, an app on the command line never replaces a file's.
fn moves_to_a_file(installed_from: &Path, source: &Path) -> bool {
    crate::plan::is_command_line(installed_from) && !crate::plan::is_command_line(source)
}

pub fn unified_diff(old: &str, new: &str, path: &Path) -> String {
    TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(2)
        .header(&path.display().to_string(), &path.display().to_string())
        .to_string()
}
