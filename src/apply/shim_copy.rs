//! A copy of `rgen-shim` that system units can run: root's, in a directory only root can change.
//!
//! `sudo rgen install` may run an `rgen` from a user's `~/.cargo/bin` or a build tree, with the
//! shim next to it. A system unit that executed that shim would run, as root or as the app's
//! user, whatever that user puts there next; so the shim is copied to a root-owned place first
//! and the units name the copy.

use std::io::Read as _;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

use super::files::{open_or_create_dir, write_atomic_at};
use super::trust::check_only_writable_by;
use super::walk::{Kind, UnsafePath, fstat, io_error, lstat_at};

/// Where system units find the shim when the one next to `rgen` is not root's alone.
pub const SHIM_DIR: &str = "/usr/local/lib/rgen";
pub const SHIM_NAME: &str = "rgen-shim";
const SHIM_MODE: u32 = 0o755;

/// What [`install_shim`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstalledShim {
    /// `dest_dir/rgen-shim`, for the units to run.
    pub path: PathBuf,
    /// Whether the file was written (false: it was there already, the same bytes, root's).
    pub copied: bool,
}

/// Copies the shim at `source` to `dest_dir/rgen-shim` (usually [`SHIM_DIR`]), root's and mode
/// 0755. `dest_dir` is made if missing (root's, 0755, as [`super::files::create_dir_safely`]
/// makes directories), and refused, like every directory above it, if anyone but root can
/// change it. The copy is atomic (a temporary file in `dest_dir`, synced, renamed, the directory
/// synced) so a unit starting meanwhile runs the old shim or the new one, never half of one; a
/// running shim keeps its old file. Nothing is written when the same bytes are already there
/// with the right owner and mode. Must run as root.
///
/// Whether `source` itself is to be trusted is not its question: whoever could change it could
/// also have changed the `rgen` running now.
pub fn install_shim(source: &Path, dest_dir: &Path) -> Result<InstalledShim, UnsafePath> {
    let path = dest_dir.join(SHIM_NAME);
    let bytes = std::fs::read(source).map_err(|e| UnsafePath::Io {
        path: source.to_path_buf(),
        at: source.to_path_buf(),
        action: "read the shim",
        source: e,
    })?;
    if bytes.is_empty() {
        return Err(UnsafePath::NotRegular {
            path: source.to_path_buf(),
            kind: Kind::Special,
        });
    }
    let (dir, _) = open_or_create_dir(dest_dir, None, SHIM_MODE)?;
    let name = std::ffi::OsStr::new(SHIM_NAME);
    let copied = if installed_matches(&dir, &path, &bytes)? {
        false
    } else {
        write_atomic_at(&dir, &path, name, &bytes, SHIM_MODE, Some((0, 0)))?;
        true
    };
    // What the units will run, checked as units will reach it.
    check_only_writable_by(&path, 0)?;
    Ok(InstalledShim { path, copied })
}

/// Whether `rgen-shim` in the open directory already is these bytes, root's, mode 0755 and
/// with one name. A link or directory there is refused: root put it there, and replacing it is
/// not rgen's decision.
fn installed_matches(dir: &OwnedFd, path: &Path, bytes: &[u8]) -> Result<bool, UnsafePath> {
    let name = std::ffi::OsStr::new(SHIM_NAME);
    let meta = match lstat_at(dir, name) {
        Ok(meta) => meta,
        Err(Errno::ENOENT) => return Ok(false),
        Err(e) => return Err(io_error(path, path, "inspect", e)),
    };
    match meta.kind {
        Kind::File => {}
        Kind::Symlink => {
            return Err(UnsafePath::Symlink {
                path: path.to_path_buf(),
                at: path.to_path_buf(),
                target: nix::fcntl::readlinkat(dir, name).unwrap_or_default().into(),
                writer: None,
            });
        }
        kind => {
            return Err(UnsafePath::NotRegular {
                path: path.to_path_buf(),
                kind,
            });
        }
    }
    if meta.uid != 0 || meta.mode != SHIM_MODE || meta.links != 1 {
        return Ok(false);
    }
    let fd = nix::fcntl::openat(
        dir,
        name,
        OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| io_error(path, path, "open", e))?;
    let opened = fstat(&fd).map_err(|e| io_error(path, path, "inspect", e))?;
    if !opened.same_file(&meta) || opened.size != bytes.len() as u64 {
        return Ok(false);
    }
    let mut existing = Vec::with_capacity(bytes.len());
    std::fs::File::from(fd)
        .read_to_end(&mut existing)
        .map_err(|e| UnsafePath::Io {
            path: path.to_path_buf(),
            at: path.to_path_buf(),
            action: "read",
            source: e,
        })?;
    Ok(existing == bytes)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};

    use super::super::walk::Who;
    use super::super::walk::tests::{mkdir, root_or_skip, scratch};
    use super::*;

    fn fake_shim(t: &tempfile::TempDir, bytes: &[u8]) -> PathBuf {
        // Built by a user: theirs and writable by them.
        let src = t.path().join("home/target/debug/rgen-shim");
        std::fs::create_dir_all(src.parent().unwrap()).unwrap();
        std::fs::write(&src, bytes).unwrap();
        std::os::unix::fs::chown(&src, Some(12345), Some(12345)).unwrap();
        std::fs::set_permissions(&src, std::fs::Permissions::from_mode(0o775)).unwrap();
        src
    }

    #[test]
    fn the_shim_is_copied_roots_and_0755_then_left_alone() {
        if !root_or_skip("the_shim_is_copied_roots_and_0755_then_left_alone") {
            return;
        }
        let t = scratch();
        let src = fake_shim(&t, b"\x7fELF shim v1");
        let dest = t.path().join("usr/local/lib/rgen");
        let first = install_shim(&src, &dest).unwrap();
        assert_eq!(
            first,
            InstalledShim {
                path: dest.join("rgen-shim"),
                copied: true
            }
        );
        let m = std::fs::symlink_metadata(&first.path).unwrap();
        assert_eq!((m.uid(), m.gid(), m.mode() & 0o7777), (0, 0, 0o755));
        assert_eq!(std::fs::read(&first.path).unwrap(), b"\x7fELF shim v1");
        let d = std::fs::metadata(&dest).unwrap();
        assert_eq!((d.uid(), d.mode() & 0o7777), (0, 0o755));
        let ino = m.ino();
        // Same bytes: untouched.
        assert!(!install_shim(&src, &dest).unwrap().copied);
        assert_eq!(std::fs::metadata(&first.path).unwrap().ino(), ino);
        // New bytes: replaced by a new file (a running shim keeps the old one).
        std::fs::write(&src, b"\x7fELF shim v2").unwrap();
        assert!(install_shim(&src, &dest).unwrap().copied);
        assert_eq!(std::fs::read(&first.path).unwrap(), b"\x7fELF shim v2");
        assert_ne!(std::fs::metadata(&first.path).unwrap().ino(), ino);
        // A wrong mode is put right.
        std::fs::set_permissions(&first.path, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(install_shim(&src, &dest).unwrap().copied);
        assert_eq!(
            std::fs::metadata(&first.path).unwrap().mode() & 0o7777,
            0o755
        );
        let left: Vec<_> = std::fs::read_dir(&dest)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, vec!["rgen-shim"], "no temporary file is left");
    }

    #[test]
    fn a_destination_another_user_can_change_is_refused() {
        if !root_or_skip("a_destination_another_user_can_change_is_refused") {
            return;
        }
        let t = scratch();
        let src = fake_shim(&t, b"shim");
        let users = t.path().join("local");
        mkdir(&users, 12345, 0o755);
        let e = install_shim(&src, &users.join("lib/rgen")).unwrap_err();
        assert!(
            matches!(&e, UnsafePath::Untrusted { writer, .. } if writer.who == Who::Owner(12345)),
            "{e:?}"
        );
        assert!(!users.join("lib").exists());
        let open = t.path().join("open");
        mkdir(&open, 0, 0o777);
        assert!(install_shim(&src, &open).is_err());
        assert!(!open.join("rgen-shim").exists());
    }

    #[test]
    fn a_link_at_the_destination_is_refused() {
        if !root_or_skip("a_link_at_the_destination_is_refused") {
            return;
        }
        let t = scratch();
        let src = fake_shim(&t, b"shim");
        let dest = t.path().join("lib");
        mkdir(&dest, 0, 0o755);
        let victim = t.path().join("victim");
        std::fs::write(&victim, "keep").unwrap();
        std::os::unix::fs::symlink(&victim, dest.join("rgen-shim")).unwrap();
        let e = install_shim(&src, &dest).unwrap_err();
        assert!(matches!(e, UnsafePath::Symlink { .. }), "{e:?}");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
    }

    #[test]
    fn a_missing_source_says_so() {
        let e = install_shim(
            Path::new("/nonexistent/rgen-shim"),
            Path::new("/nonexistent/lib"),
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("cannot read the shim /nonexistent/rgen-shim"),
            "{e}"
        );
    }
}
