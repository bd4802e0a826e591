//! `--for-other-host`: the command of an app that runs on another machine (a server rendered
//! for on a laptop or in CI), where this machine's files and PATH say nothing.
//!
//! Paths are kept as written: absolute ones as they are, relative ones against the app's cwd
//! (the file's directory, as always); that they are missing here is only noted. A program named
//! without a path — an interpreter from PM2's extension table (`node`, `python3`, `bun`), an
//! explicit `interpreter: 'bun'`, a `script: 'ts-node'` that is not a file in cwd — becomes
//! `/usr/bin/<name>`, where distribution and NodeSource packages put them: this machine's
//! `/opt/homebrew/bin/node` is no better a guess for a server, and rgen-shim (in front of many
//! apps) runs only absolute paths. An `interpreter` with an absolute path says where it really
//! is. The interpreter is still chosen as PM2 chooses it: by the script's extension, else node
//! (a script present here is read for its `#!` line as usual).

use std::path::{Path, PathBuf};

use super::command::ResolvedCommand;
use crate::model::fields::Fields;
use crate::model::resolve::{self, FileNature};

/// What an app names that could not be checked here, for one note per app.
#[derive(Default)]
pub(crate) struct Unchecked {
    pub items: Vec<String>,
}

impl Unchecked {
    fn path(&mut self, what: &str, path: &Path) {
        self.items.push(format!("{what} {}", path.display()));
    }

    /// The note, or `None` when everything was found here.
    pub fn note(&self) -> Option<String> {
        (!self.items.is_empty()).then(|| {
            format!(
                "rendered for another machine, not found here: {}",
                self.items.join(", ")
            )
        })
    }
}

/// `script` + `interpreter` for another machine. `None` after reporting an error that no
/// machine could fix (an nvm version with no nvm directory to find it in).
pub(crate) fn resolve_command(
    f: &mut Fields<'_>,
    script_text: &str,
    cwd: &Path,
    args: &[String],
    node_args: &[String],
    interpreter_name: Option<&str>,
    unchecked: &mut Unchecked,
) -> Option<ResolvedCommand> {
    let explicit: Option<Option<PathBuf>> = match interpreter_name {
        None | Some("") => None,
        Some("none") => Some(None),
        Some(name) => Some(Some(interpreter(name, cwd, unchecked))),
    };
    let expanded = resolve::expand_home(script_text);
    let in_cwd = resolve::normalize(&cwd.join(&expanded));
    // A name without a path or a script extension is a command PM2 would find on PATH.
    let command_name = !expanded.contains('/')
        && Path::new(&expanded)
            .extension()
            .and_then(|e| resolve::interpreter_for_extension(&e.to_string_lossy()))
            .is_none();
    let beside_interpreter = explicit
        .as_ref()
        .and_then(|p| p.as_ref())
        .filter(|p| p.is_absolute())
        .and_then(|p| p.parent())
        .map(|d| d.join(&expanded));
    let (script, by_name) = if in_cwd.exists() {
        (in_cwd, false)
    } else if command_name {
        match (&beside_interpreter, &explicit) {
            (Some(beside), _) => {
                if !beside.exists() {
                    unchecked.path("script", beside);
                }
                (beside.clone(), false)
            }
            // An interpreter runs a file: next to nothing, the file is in cwd.
            (None, Some(Some(_))) => {
                unchecked.path("script", &in_cwd);
                (in_cwd, false)
            }
            _ => (by_name_on_target(&expanded, unchecked), true),
        }
    } else {
        unchecked.path("script", &in_cwd);
        (in_cwd, false)
    };
    let interpreter_path = match explicit {
        Some(p) => p,
        // A command runs by its own `#!` line, as PM2 runs what `which` finds when it is binary.
        None if by_name => None,
        None => {
            let ext = script
                .extension()
                .map(|e| e.to_string_lossy().to_ascii_lowercase());
            match ext.as_deref().and_then(resolve::interpreter_for_extension) {
                Some("python") => Some(by_name_on_target("python3", unchecked)),
                Some(name) => Some(by_name_on_target(name, unchecked)),
                None if !script.exists() => Some(by_name_on_target("node", unchecked)),
                None => match resolve::file_nature(&script) {
                    FileNature::Binary | FileNature::OtherShebang(_) => None,
                    FileNature::NodeShebang | FileNature::Text => {
                        Some(by_name_on_target("node", unchecked))
                    }
                },
            }
        }
    };
    if interpreter_path.is_none() && script.exists() && !resolve::is_executable(&script) {
        f.fail(
            "script",
            format!(
                "{} is not executable and no interpreter is set",
                script.display()
            ),
            Some(format!(
                "`chmod +x {}`, or set `interpreter`",
                script.display()
            )),
        );
        return None;
    }
    Some(super::command::resolved(
        script,
        interpreter_path,
        node_args,
        args,
    ))
}

/// An explicit interpreter: a path as written (relative to cwd), nvm's `node@X.Y.Z` under
/// `$NVM_DIR` (else `~/.nvm`, nvm's default), or a name left for the target's PATH.
fn interpreter(name: &str, cwd: &Path, unchecked: &mut Unchecked) -> PathBuf {
    if let Some(version) = name.strip_prefix("node@") {
        let nvm = std::env::var_os("NVM_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(resolve::expand_home("~/.nvm")));
        let path = nvm.join(format!("versions/node/v{version}/bin/node"));
        if !path.is_file() {
            unchecked.items.push(format!(
                "nvm's node {version} at {} (set NVM_DIR to the target's nvm directory if it is elsewhere)",
                path.display()
            ));
        }
        return path;
    }
    if name.contains('/') {
        let path = resolve::normalize(&cwd.join(resolve::expand_home(name)));
        if !resolve::is_executable(&path) {
            unchecked.path("interpreter", &path);
        }
        return path;
    }
    by_name_on_target(name, unchecked)
}

/// Where a program named without a path is taken to be on the target. Noted unless this
/// machine has it there too.
fn by_name_on_target(name: &str, unchecked: &mut Unchecked) -> PathBuf {
    let path = Path::new(ASSUMED_BIN_DIR).join(name);
    if !resolve::is_executable(&path) {
        unchecked.items.push(format!(
            "`{name}`, assumed at {} (give `interpreter` an absolute path if it lives elsewhere)",
            path.display()
        ));
    }
    path
}

/// Where distributions (and NodeSource's node) install programs.
const ASSUMED_BIN_DIR: &str = "/usr/bin";
