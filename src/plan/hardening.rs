//! Hardening (group `hardening`): whether the app runs in the strict sandbox, and what the
//! sandbox must leave open for it to keep working — the directories it writes, a low port it
//! binds itself, a runtime directory for the shim. The directives are the backend's business;
//! how much of them the manager can apply is `Capabilities::sandboxing`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::instances::Sharing;
use super::{LogPlan, ShimNeed};
use crate::diag::{Problems, WarningKind};
use crate::model::{App, Hardening};
use crate::target::{Capabilities, Sandboxing, Target};

/// Ports below this need `CAP_NET_BIND_SERVICE` to bind.
const FIRST_UNPRIVILEGED_PORT: u16 = 1024;

/// The strict profile for one app.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sandbox {
    /// `Full` or `Unprivileged`; an app the manager cannot sandbox at all gets no `Sandbox`.
    pub extent: Sandboxing,
    /// The only places the app may write: its cwd and its log directories (one inside another
    /// is left out). Everything else is read-only, or hidden (other users' temporary files).
    pub writable: Vec<PathBuf>,
    /// Programs and files named on the command line (the shim, the interpreter, the script) that
    /// live under `/tmp` or `/var/tmp` outside the writable directories: the private temporary
    /// directories would hide them, so each is bound read-only where it is.
    pub readable: Vec<PathBuf>,
    /// The app binds its `port`, below 1024, itself (no socket unit holds it), so it keeps the
    /// one capability that needs.
    pub binds_low_port: bool,
    /// The shim keeps its state (PM2's backoff, the Node preload) in a runtime directory of the
    /// unit's own that survives restarts: the private /tmp is a new one at every start.
    pub shim_runtime_dir: bool,
}

pub(super) fn plan(
    app: &App,
    target: &Target,
    caps: &Capabilities,
    sharing: &Sharing,
    needs: &BTreeSet<ShimNeed>,
    logs: &LogPlan,
    problems: &mut Problems,
) -> Option<Sandbox> {
    let strict = match app.hardening {
        Some(level) => level == Hardening::Strict,
        None => target.strict_hardening,
    };
    if !strict {
        return None;
    }
    // Named by the key when the file set it, else by the app (`--hardening` chose).
    let origin = match app.hardening {
        Some(_) => app.origin_of("hardening"),
        None => app.origin.clone(),
    };
    match caps.sandboxing {
        Sandboxing::None => {
            let text = crate::keys::lookup("hardening")
                .map(|spec| spec.mapping(target.backend).text)
                .unwrap_or_default();
            problems.warn(
                WarningKind::HardeningLimited,
                origin,
                format!("`hardening: 'strict'`: {text}"),
            );
            return None;
        }
        Sandboxing::Unprivileged => problems.warn(
            WarningKind::HardeningLimited,
            origin,
            "`hardening: 'strict'` in the user scope: a user manager applies only \
             `NoNewPrivileges=` and the system-call filters; the file-system, device and kernel \
             protection needs `--system`",
        ),
        Sandboxing::Full => {}
    }
    let writable = outermost(std::iter::once(app.cwd.clone()).chain(logs.dirs.iter().cloned()));
    let shim = (!needs.is_empty()).then_some(target.shim.as_path());
    let readable = hidden_by_private_tmp(
        shim.into_iter().chain(app.argv.iter().map(Path::new)),
        &writable,
    );
    Some(Sandbox {
        extent: caps.sandboxing,
        writable,
        readable,
        binds_low_port: sharing.socket.is_none()
            && app.port.is_some_and(|p| p < FIRST_UNPRIVILEGED_PORT),
        shim_runtime_dir: !needs.is_empty() && caps.sandboxing == Sandboxing::Full,
    })
}

/// The temporary directories `PrivateTmp=` replaces with the unit's own.
const PRIVATE_TMP_DIRS: [&str; 2] = ["/tmp", "/var/tmp"];

/// The absolute paths among `words` that a private /tmp would hide, each once, in order.
fn hidden_by_private_tmp<'a>(
    words: impl Iterator<Item = &'a Path>,
    writable: &[PathBuf],
) -> Vec<PathBuf> {
    let mut hidden: Vec<PathBuf> = Vec::new();
    for path in words {
        let hides = PRIVATE_TMP_DIRS
            .iter()
            .any(|tmp| path.starts_with(tmp) && path != Path::new(tmp));
        let bound = writable.iter().any(|dir| path.starts_with(dir));
        if hides && !bound && !hidden.iter().any(|p| p == path) {
            hidden.push(path.to_path_buf());
        }
    }
    hidden
}

/// The directories in the order given (the working directory first, so a unit does not depend on
/// where its paths sort), each once, without those inside another one of them.
fn outermost(dirs: impl Iterator<Item = PathBuf>) -> Vec<PathBuf> {
    let all: Vec<PathBuf> = dirs.collect();
    let mut kept: Vec<PathBuf> = Vec::new();
    for dir in &all {
        let covered = all
            .iter()
            .any(|outer| outer != dir && dir.starts_with(outer));
        if !covered && !kept.contains(dir) {
            kept.push(dir.clone());
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn programs_under_a_temporary_directory_are_kept_visible() {
        let words = [
            "/tmp/build/target/debug/rgen-shim",
            "/usr/bin/node",
            "/var/tmp/app/server.js",
            "/srv/app/server.js",
            "/tmp/build/target/debug/rgen-shim",
            "--port",
            "/tmp",
        ];
        assert_eq!(
            hidden_by_private_tmp(words.iter().map(Path::new), &[PathBuf::from("/srv/app")]),
            [
                "/tmp/build/target/debug/rgen-shim",
                "/var/tmp/app/server.js"
            ]
            .map(PathBuf::from)
        );
        assert!(
            hidden_by_private_tmp(
                [Path::new("/tmp/app/server.js")].into_iter(),
                &[PathBuf::from("/tmp/app")]
            )
            .is_empty()
        );
    }

    #[test]
    fn nested_directories_are_covered_by_their_parent() {
        let dirs = [
            "/srv/app/logs",
            "/srv/app",
            "/var/log/app",
            "/srv/application",
        ]
        .map(PathBuf::from);
        assert_eq!(
            outermost(dirs.into_iter()),
            ["/srv/app", "/var/log/app", "/srv/application"].map(PathBuf::from)
        );
    }
}
