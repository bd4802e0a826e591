//! Writing, creating and emptying files the safe way for a program that runs as root on paths
//! other users can influence.
//!
//! Files rgen writes go through a temporary file in the target directory and a rename, so a
//! reader (or a crash) never sees half a unit. Directories rgen makes for an app, and log files
//! it empties, are reached by walking the path through directory descriptors (see
//! [`super::walk`]): never through a link someone other than root can change, never in a
//! directory another user could change.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::Write as _;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

use super::walk::{
    Follow, Kind, OnWriter, Step, Trusted, UnsafePath, Walk, Who, Writer, io_error, lstat_at,
};

/// The mode of a log directory rgen makes for an app: the app writes, its group reads.
pub const LOG_DIR_MODE: u32 = 0o750;
/// The mode of the directories rgen makes above the one asked for.
pub const PARENT_DIR_MODE: u32 = 0o755;
/// Temporary files are named this and six letters or digits (what an interrupted write leaves).
pub const TEMP_PREFIX: &str = ".rgen-";
const TEMP_RANDOM_LEN: usize = 6;

/// Writes `path` atomically with `mode`: a new temporary file in the same directory (created
/// with `O_EXCL|O_NOFOLLOW`, so never through a planted link), written and synced, then renamed
/// over `path`, and the directory synced so the rename survives a crash. The directory is opened
/// once and every step works relative to it, so they all happen in the same directory even if
/// its path is renamed meanwhile.
///
/// The directory path is followed as given (links included): it is the caller's or the user's
/// choice. The destination itself must not be a link or a directory: the rename would replace
/// the link rather than write through it, but a link at a path rgen writes (a masked unit, a
/// file the user manages elsewhere) is not rgen's to replace.
pub fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> Result<()> {
    let (dir, name) = split(path)?;
    let dir_fd = nix::fcntl::open(
        dir,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(std::io::Error::from)
    .with_context(|| format!("cannot open the directory {}", dir.display()))?;
    write_atomic_at(&dir_fd, path, name, contents, mode, None)?;
    Ok(())
}

fn split(path: &Path) -> Result<(&Path, &OsStr)> {
    let name = path
        .file_name()
        .with_context(|| format!("{} names no file", path.display()))?;
    let dir = match path.parent() {
        Some(d) if d.as_os_str().is_empty() => Path::new("."),
        Some(d) => d,
        None => anyhow::bail!("{} names no file", path.display()),
    };
    Ok((dir, name))
}

/// [`write_atomic`] in an open directory; `path` is `name` in it, for messages. With `owner`,
/// the file is given to them before it takes its place.
pub(crate) fn write_atomic_at(
    dir: &OwnedFd,
    path: &Path,
    name: &OsStr,
    contents: &[u8],
    mode: u32,
    owner: Option<(u32, u32)>,
) -> Result<(), UnsafePath> {
    let fail = |action, e| io_error(path, path, action, e);
    match lstat_at(dir, name) {
        Ok(meta) if meta.kind == Kind::Symlink => {
            let target = nix::fcntl::readlinkat(dir, name).unwrap_or_default();
            return Err(UnsafePath::Symlink {
                path: path.to_path_buf(),
                at: path.to_path_buf(),
                target: target.into(),
                writer: None,
            });
        }
        Ok(meta) if meta.kind == Kind::Directory => {
            return Err(UnsafePath::NotRegular {
                path: path.to_path_buf(),
                kind: meta.kind,
            });
        }
        Ok(_) | Err(Errno::ENOENT) => {}
        Err(e) => return Err(fail("inspect", e)),
    }
    let (tmp_name, fd) =
        create_temp(dir).map_err(|e| io_error(path, path, "create a temporary file next to", e))?;
    let mut tmp = TempFile {
        dir,
        name: tmp_name,
        file: Some(File::from(fd)),
    };
    let file = tmp.file.as_mut().expect("just created");
    file.write_all(contents).map_err(|source| UnsafePath::Io {
        path: path.to_path_buf(),
        at: path.to_path_buf(),
        action: "write",
        source,
    })?;
    if let Some((uid, gid)) = owner {
        nix::unistd::fchown(
            file.as_fd(),
            Some(nix::unistd::Uid::from_raw(uid)),
            Some(nix::unistd::Gid::from_raw(gid)),
        )
        .map_err(|e| fail("change the owner of", e))?;
    }
    // After the chown, which clears set-id bits.
    nix::sys::stat::fchmod(file.as_fd(), Mode::from_bits_truncate(mode as libc::mode_t))
        .map_err(|e| fail("set the mode of", e))?;
    nix::unistd::fsync(file.as_fd()).map_err(|e| fail("write", e))?;
    nix::fcntl::renameat(dir, tmp.name.as_os_str(), dir, name)
        .map_err(|e| fail("move the new file into place at", e))?;
    tmp.name.clear();
    // The rename is in the directory; without this a crash can lose it.
    nix::unistd::fsync(dir).map_err(|e| fail("sync the directory of", e))?;
    Ok(())
}

/// A temporary file not yet renamed into place: removed if anything fails.
struct TempFile<'a> {
    dir: &'a OwnedFd,
    /// Empty once renamed.
    name: OsString,
    file: Option<File>,
}

impl Drop for TempFile<'_> {
    fn drop(&mut self) {
        self.file.take();
        if !self.name.is_empty() {
            let _ = nix::unistd::unlinkat(
                self.dir,
                self.name.as_os_str(),
                nix::unistd::UnlinkatFlags::NoRemoveDir,
            );
        }
    }
}

fn create_temp(dir: &OwnedFd) -> Result<(OsString, OwnedFd), Errno> {
    for attempt in 0u32.. {
        let name = temp_name(attempt);
        match nix::fcntl::openat(
            dir,
            name.as_os_str(),
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(0o600),
        ) {
            Ok(fd) => return Ok((name, fd)),
            Err(Errno::EEXIST) if attempt < 100 => continue,
            Err(e) => return Err(e),
        }
    }
    unreachable!("the loop returns")
}

/// `.rgen-` and six letters or digits, different every call (the name needs no secrecy: the
/// file is created exclusively, and a clash just tries another).
fn temp_name(attempt: u32) -> OsString {
    use std::hash::{BuildHasher as _, Hasher as _};
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(attempt);
    h.write_u32(std::process::id());
    if let Ok(t) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        h.write_u128(t.as_nanos());
    }
    let mut bits = h.finish();
    let mut name = String::from(TEMP_PREFIX);
    for _ in 0..TEMP_RANDOM_LEN {
        name.push(ALPHABET[(bits % ALPHABET.len() as u64) as usize] as char);
        bits /= ALPHABET.len() as u64;
    }
    name.into()
}

/// Whether a file name is one of rgen's temporary files.
pub fn is_temp_name(name: &OsStr) -> bool {
    name.as_bytes()
        .strip_prefix(TEMP_PREFIX.as_bytes())
        .is_some_and(|rest| {
            rest.len() == TEMP_RANDOM_LEN && rest.iter().all(u8::is_ascii_alphanumeric)
        })
}

/// Removes what interrupted writes left in `dir`: regular files named like rgen's temporary
/// files ([`is_temp_name`]), directly in `dir`. Never a link (whatever it points at), a
/// directory or any other name. Call it while holding the install lock
/// ([`super::lock::InstallLock`]), so that no other rgen is writing there. A missing `dir` has
/// nothing to remove. Returns the files removed.
///
/// Entries are looked at and removed relative to the directory's descriptor; `unlink` never
/// follows a link, so an entry swapped between the look and the removal is at worst a link
/// removed in its place, never its target.
pub fn remove_leftover_temp_files(dir: &Path) -> Result<Vec<PathBuf>, UnsafePath> {
    let fd = match nix::fcntl::open(
        dir,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return Ok(Vec::new()),
        Err(e) => return Err(io_error(dir, dir, "open", e)),
    };
    let listing = fd
        .try_clone()
        .map_err(|e| UnsafePath::Io {
            path: dir.to_path_buf(),
            at: dir.to_path_buf(),
            action: "list",
            source: e,
        })
        .and_then(|dup| nix::dir::Dir::from_fd(dup).map_err(|e| io_error(dir, dir, "list", e)))?;
    let names: Vec<OsString> = listing
        .into_iter()
        .filter_map(|e| e.ok())
        .map(|e| OsStr::from_bytes(e.file_name().to_bytes()).to_os_string())
        .filter(|n| is_temp_name(n))
        .collect();
    let mut removed = Vec::new();
    for name in names {
        let at = dir.join(&name);
        match lstat_at(&fd, &name) {
            Ok(meta) if meta.kind == Kind::File => {}
            Ok(_) | Err(Errno::ENOENT) => continue,
            Err(e) => return Err(io_error(&at, &at, "inspect", e)),
        }
        match nix::unistd::unlinkat(
            &fd,
            name.as_os_str(),
            nix::unistd::UnlinkatFlags::NoRemoveDir,
        ) {
            Ok(()) => removed.push(at),
            Err(Errno::ENOENT) => {}
            Err(e) => return Err(io_error(&at, &at, "remove", e)),
        }
    }
    Ok(removed)
}

/// Makes the directory `path` and any missing directory above it, for an app that runs as
/// `owner` (uid, gid; `None`: root), the way `mkdir -p` would as that user, from a root that
/// could be tricked:
///
/// - the path is walked from `/` through directory descriptors, following no link that anyone
///   but root can change (a link planted in a user's tree is refused, naming it);
/// - every existing directory on the way must be root's or `owner`'s, and writable by no one
///   else unless sticky (`/tmp`) with the next step root's or `owner`'s;
/// - the directories it makes are made private, checked to be the ones it made, then given to
///   `owner` and their mode through their own descriptor (`mode` for `path` itself, usually
///   [`LOG_DIR_MODE`]; [`PARENT_DIR_MODE`] above it). Existing directories are never chowned
///   or chmodded.
///
/// Returns the directories it made, outermost first.
///
/// Where the path may be at all (not in a unit directory, say) is the caller's decision: this
/// only makes sure that what it creates is where the path says, and that no one else can
/// change that afterwards.
pub fn create_dir_safely(
    path: &Path,
    owner: Option<(u32, u32)>,
    mode: u32,
) -> Result<Vec<PathBuf>, UnsafePath> {
    open_or_create_dir(path, owner, mode).map(|(_, created)| created)
}

/// [`create_dir_safely`], keeping the directory open.
pub(crate) fn open_or_create_dir(
    path: &Path,
    owner: Option<(u32, u32)>,
    mode: u32,
) -> Result<(OwnedFd, Vec<PathBuf>), UnsafePath> {
    let trusted = Trusted {
        uid: owner.map_or(0, |(uid, _)| uid),
    };
    let mut walk = Walk::start(path, trusted, Follow::RootOnly, OnWriter::Refuse)?;
    let mut created = Vec::new();
    while let Some(name) = walk.next_name() {
        // A directory made by someone else between our look and our mkdir: look again, a few
        // times, then give up.
        for attempt in 0.. {
            match walk.descend(&name)? {
                Step::Entered | Step::Followed => break,
                Step::Other(meta) => {
                    return Err(UnsafePath::NotADirectory {
                        path: path.to_path_buf(),
                        at: walk.at(&name),
                        kind: meta.kind,
                    });
                }
                Step::Missing => {
                    let mode = if walk.at_end() { mode } else { PARENT_DIR_MODE };
                    if let Some(at) = walk.create_dir(&name, owner, mode)? {
                        created.push(at);
                        break;
                    }
                    if attempt >= 3 {
                        return Err(UnsafePath::Changed {
                            path: path.to_path_buf(),
                            at: walk.at(&name),
                        });
                    }
                }
            }
        }
    }
    Ok((walk.into_top().fd, created))
}

/// What [`probe_dir`] found: where the path would be made, without making anything.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirProbe {
    /// The deepest directory that exists (links resolved).
    pub existing: PathBuf,
    /// Its owner.
    pub existing_uid: u32,
    /// The directories [`create_dir_safely`] would make, outermost first.
    pub missing: Vec<PathBuf>,
}

/// The checks of [`create_dir_safely`] without making anything, for `rgen check`: refuses what
/// it would refuse, and says what it would make and inside whose directory.
pub fn probe_dir(path: &Path, owner: Option<u32>) -> Result<DirProbe, UnsafePath> {
    let trusted = Trusted {
        uid: owner.unwrap_or(0),
    };
    let mut walk = Walk::start(path, trusted, Follow::RootOnly, OnWriter::Refuse)?;
    while let Some(name) = walk.next_name() {
        match walk.descend(&name)? {
            Step::Entered | Step::Followed => {}
            Step::Other(meta) => {
                return Err(UnsafePath::NotADirectory {
                    path: path.to_path_buf(),
                    at: walk.at(&name),
                    kind: meta.kind,
                });
            }
            Step::Missing => {
                let top = walk.top();
                let (existing, existing_uid) = (top.path.clone(), top.meta.uid);
                let mut missing = vec![walk.at(&name)];
                let mut next = missing[0].clone();
                // What follows cannot be walked (it does not exist); links in it cannot exist.
                while let Some(n) = walk.next_name() {
                    next = next.join(n);
                    missing.push(next.clone());
                }
                return Ok(DirProbe {
                    existing,
                    existing_uid,
                    missing,
                });
            }
        }
    }
    let top = walk.top();
    Ok(DirProbe {
        existing: top.path.clone(),
        existing_uid: top.meta.uid,
        missing: Vec::new(),
    })
}

/// Opens an app's log file so that root can empty it (`rgen flush`), for an app that runs as
/// `expected_owner_uid` (`None`: root). The directory is reached as in [`create_dir_safely`]
/// (the same refusals); the file itself must be a regular file with one name (no link, no hard
/// link to another file), owned by that user or root. `Ok(None)`: the file (or a directory on
/// the way) does not exist yet. The caller empties it with `set_len(0)` on the file returned.
///
/// The file is looked at before it is opened (so a device or fifo is never opened), opened
/// with `O_NOFOLLOW|O_NONBLOCK`, and checked again through the descriptor to be the file looked
/// at.
pub fn open_log_for_truncate(
    path: &Path,
    expected_owner_uid: Option<u32>,
) -> Result<Option<File>, UnsafePath> {
    let uid = expected_owner_uid.unwrap_or(0);
    let trusted = Trusted { uid };
    let Some(name) = path.file_name() else {
        return Err(UnsafePath::NotRegular {
            path: path.to_path_buf(),
            kind: Kind::Directory,
        });
    };
    if !path.is_absolute() {
        return Err(UnsafePath::NotAbsolute {
            path: path.to_path_buf(),
        });
    }
    let parent = path.parent().unwrap_or(Path::new("/"));
    let mut walk = Walk::start(parent, trusted, Follow::RootOnly, OnWriter::Refuse)?;
    while let Some(n) = walk.next_name() {
        match walk.descend(&n)? {
            Step::Entered | Step::Followed => {}
            Step::Missing => return Ok(None),
            Step::Other(meta) => {
                return Err(UnsafePath::NotADirectory {
                    path: path.to_path_buf(),
                    at: walk.at(&n),
                    kind: meta.kind,
                });
            }
        }
    }
    let at = walk.at(name);
    let dir = &walk.top().fd;
    let before = match lstat_at(dir, name) {
        Ok(meta) => meta,
        Err(Errno::ENOENT) => return Ok(None),
        Err(e) => return Err(io_error(path, &at, "inspect", e)),
    };
    let check = |meta: &super::walk::Meta| -> Result<(), UnsafePath> {
        match meta.kind {
            Kind::File => {}
            Kind::Symlink => {
                return Err(UnsafePath::Symlink {
                    path: path.to_path_buf(),
                    at: at.clone(),
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
        if meta.uid != 0 && meta.uid != uid {
            return Err(UnsafePath::Untrusted {
                path: path.to_path_buf(),
                writer: Writer {
                    at: at.clone(),
                    who: Who::Owner(meta.uid),
                    kind: meta.kind,
                    uid: meta.uid,
                    gid: meta.gid,
                    mode: meta.mode,
                },
                trusted: uid,
            });
        }
        if meta.links != 1 {
            return Err(UnsafePath::HardLinks {
                path: path.to_path_buf(),
                links: meta.links,
            });
        }
        Ok(())
    };
    check(&before)?;
    let fd = match nix::fcntl::openat(
        dir,
        name,
        OFlag::O_WRONLY
            | OFlag::O_NOFOLLOW
            | OFlag::O_NONBLOCK
            | OFlag::O_NOCTTY
            | OFlag::O_CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return Ok(None),
        Err(_) => {
            return Err(UnsafePath::Changed {
                path: path.to_path_buf(),
                at,
            });
        }
    };
    let after = super::walk::fstat(&fd).map_err(|e| io_error(path, &at, "inspect", e))?;
    check(&after)?;
    if !after.same_file(&before) {
        return Err(UnsafePath::Changed {
            path: path.to_path_buf(),
            at,
        });
    }
    Ok(Some(File::from(fd)))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};

    use super::super::walk::tests::{file, mkdir, root_or_skip, scratch};
    use super::*;

    const ALICE: u32 = 12345;
    const BOB: u32 = 23456;

    fn meta(p: &Path) -> std::fs::Metadata {
        std::fs::symlink_metadata(p).unwrap()
    }

    // ---- write_atomic ----

    #[test]
    fn write_atomic_replaces_a_file_with_the_mode_asked() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("a.service");
        std::fs::write(&p, "old").unwrap();
        write_atomic(&p, b"new", 0o644).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "new");
        assert_eq!(meta(&p).mode() & 0o7777, 0o644);
        let names: Vec<_> = std::fs::read_dir(t.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporary file is left");
    }

    #[test]
    fn write_atomic_never_replaces_or_follows_a_link() {
        let t = tempfile::tempdir().unwrap();
        let victim = t.path().join("victim");
        std::fs::write(&victim, "root's").unwrap();
        let p = t.path().join("a.service");
        std::os::unix::fs::symlink(&victim, &p).unwrap();
        let e = write_atomic(&p, b"new", 0o644).unwrap_err();
        let unsafe_path = e.downcast_ref::<UnsafePath>().expect("an UnsafePath");
        assert!(matches!(unsafe_path, UnsafePath::Symlink { .. }), "{e}");
        assert!(e.to_string().contains("symbolic link"), "{e}");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "root's");
        assert!(meta(&p).file_type().is_symlink());
        let names: Vec<_> = std::fs::read_dir(t.path()).unwrap().collect();
        assert_eq!(names.len(), 2, "no temporary file is left");
    }

    #[test]
    fn temp_names_are_recognised_and_others_are_not() {
        for _ in 0..100 {
            let n = temp_name(0);
            assert!(is_temp_name(&n), "{n:?}");
        }
        for other in [
            ".rgen-",
            ".rgen-x",
            ".rgen-abc1234",
            ".rgen-abc12!",
            "rgen-abc123",
            ".rgen-abc12/",
        ] {
            assert!(!is_temp_name(OsStr::new(other)), "{other}");
        }
        assert!(is_temp_name(OsStr::new(".rgen-Atk7c1")));
    }

    // ---- remove_leftover_temp_files ----

    #[test]
    fn leftovers_are_removed_but_never_links_directories_or_other_names() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        let victim = t.path().join("passwd");
        std::fs::write(&victim, "root:x:0:0").unwrap();
        std::fs::write(d.join(".rgen-Abc123"), "half a unit").unwrap();
        std::fs::write(d.join(".rgen-Zz9yX8"), "").unwrap();
        std::os::unix::fs::symlink(&victim, d.join(".rgen-x")).unwrap();
        std::os::unix::fs::symlink(&victim, d.join(".rgen-Lnk001")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", d.join(".rgen-Lnk002")).unwrap();
        std::fs::create_dir(d.join(".rgen-Dir001")).unwrap();
        std::fs::write(d.join(".rgen-Dir001/inner"), "").unwrap();
        std::fs::write(d.join(".rgen-notes.txt"), "mine").unwrap();
        std::fs::write(d.join("app.service"), "[Unit]").unwrap();
        let mut removed = remove_leftover_temp_files(d).unwrap();
        removed.sort();
        assert_eq!(
            removed,
            vec![d.join(".rgen-Abc123"), d.join(".rgen-Zz9yX8")]
        );
        for kept in [
            ".rgen-x",
            ".rgen-Lnk001",
            ".rgen-Lnk002",
            ".rgen-Dir001/inner",
            ".rgen-notes.txt",
            "app.service",
        ] {
            assert!(
                std::fs::symlink_metadata(d.join(kept)).is_ok(),
                "{kept} was removed"
            );
        }
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "root:x:0:0");
        assert!(std::fs::metadata("/etc/passwd").is_ok());
    }

    #[test]
    fn leftovers_in_a_missing_directory_are_none() {
        let t = tempfile::tempdir().unwrap();
        assert_eq!(
            remove_leftover_temp_files(&t.path().join("nope")).unwrap(),
            Vec::<PathBuf>::new()
        );
    }

    // ---- create_dir_safely ----

    #[test]
    fn missing_directories_are_made_and_given_to_the_owner() {
        if !root_or_skip("missing_directories_are_made_and_given_to_the_owner") {
            return;
        }
        let t = scratch();
        let app = t.path().join("app");
        mkdir(&app, ALICE, 0o755);
        let logs = app.join("var/logs");
        let created = create_dir_safely(&logs, Some((ALICE, BOB)), LOG_DIR_MODE).unwrap();
        assert_eq!(created, vec![app.join("var"), logs.clone()]);
        let (parent, leaf) = (meta(&app.join("var")), meta(&logs));
        assert_eq!(
            (parent.uid(), parent.gid(), parent.mode() & 0o7777),
            (ALICE, BOB, 0o755)
        );
        assert_eq!(
            (leaf.uid(), leaf.gid(), leaf.mode() & 0o7777),
            (ALICE, BOB, 0o750)
        );
        // Again: nothing to make, nothing changed.
        std::fs::set_permissions(&logs, std::fs::Permissions::from_mode(0o700)).unwrap();
        assert!(
            create_dir_safely(&logs, Some((ALICE, BOB)), LOG_DIR_MODE)
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            meta(&logs).mode() & 0o7777,
            0o700,
            "an existing directory is never chmodded"
        );
    }

    #[test]
    fn the_mode_is_exact_whatever_the_umask() {
        if !root_or_skip("the_mode_is_exact_whatever_the_umask") {
            return;
        }
        let t = scratch();
        let shim = t.path().join("lib/rgen");
        create_dir_safely(&shim, None, 0o755).unwrap();
        assert_eq!(meta(&shim).mode() & 0o7777, 0o755);
        assert_eq!(meta(&shim).uid(), 0);
    }

    #[test]
    fn a_link_planted_in_the_middle_is_refused_and_nothing_is_made_behind_it() {
        if !root_or_skip("a_link_planted_in_the_middle_is_refused_and_nothing_is_made_behind_it") {
            return;
        }
        let t = scratch();
        let system = t.path().join("system");
        mkdir(&system, 0, 0o755);
        let home = t.path().join("mallory");
        mkdir(&home, ALICE, 0o755);
        let link = home.join("sys");
        std::os::unix::fs::symlink(&system, &link).unwrap();
        std::os::unix::fs::lchown(&link, Some(ALICE), Some(ALICE)).unwrap();
        let e = create_dir_safely(
            &link.join("getty.target.wants"),
            Some((ALICE, ALICE)),
            LOG_DIR_MODE,
        )
        .unwrap_err();
        match &e {
            UnsafePath::Symlink {
                at,
                target,
                writer: Some(w),
                ..
            } => {
                assert_eq!(at, &link);
                assert_eq!(target, &system);
                assert_eq!(w.who, Who::Owner(ALICE));
            }
            other => panic!("{other:?}"),
        }
        let msg = e.to_string();
        assert!(
            msg.contains(&*link.to_string_lossy()) && msg.contains("symbolic link"),
            "{msg}"
        );
        assert!(e.hint().is_some());
        assert!(
            std::fs::read_dir(&system).unwrap().next().is_none(),
            "nothing made through the link"
        );
    }

    #[test]
    fn a_link_at_the_final_component_is_refused() {
        if !root_or_skip("a_link_at_the_final_component_is_refused") {
            return;
        }
        let t = scratch();
        let home = t.path().join("alice");
        mkdir(&home, ALICE, 0o755);
        let etc = t.path().join("etc");
        mkdir(&etc, 0, 0o755);
        std::os::unix::fs::symlink(&etc, home.join("logs")).unwrap();
        let e =
            create_dir_safely(&home.join("logs"), Some((ALICE, ALICE)), LOG_DIR_MODE).unwrap_err();
        assert!(matches!(e, UnsafePath::Symlink { .. }), "{e:?}");
        assert_eq!(meta(&etc).uid(), 0, "the link's target is untouched");
    }

    #[test]
    fn another_users_directory_is_refused_naming_it_and_its_owner() {
        if !root_or_skip("another_users_directory_is_refused_naming_it_and_its_owner") {
            return;
        }
        let t = scratch();
        let bobs = t.path().join("bob");
        mkdir(&bobs, BOB, 0o755);
        let e =
            create_dir_safely(&bobs.join("sub"), Some((ALICE, ALICE)), LOG_DIR_MODE).unwrap_err();
        match &e {
            UnsafePath::Untrusted {
                writer, trusted, ..
            } => {
                assert_eq!(writer.at, bobs);
                assert_eq!(writer.who, Who::Owner(BOB));
                assert_eq!(*trusted, ALICE);
            }
            other => panic!("{other:?}"),
        }
        assert!(e.to_string().contains(&format!("uid {BOB}")), "{e}");
        assert!(!bobs.join("sub").exists());
        // Root's own log directory there is refused just the same.
        assert!(create_dir_safely(&bobs.join("sub"), None, LOG_DIR_MODE).is_err());
    }

    #[test]
    fn a_world_writable_directory_without_the_sticky_bit_is_refused() {
        if !root_or_skip("a_world_writable_directory_without_the_sticky_bit_is_refused") {
            return;
        }
        let t = scratch();
        let open = t.path().join("open");
        mkdir(&open, 0, 0o777);
        let e =
            create_dir_safely(&open.join("logs"), Some((ALICE, ALICE)), LOG_DIR_MODE).unwrap_err();
        match &e {
            UnsafePath::Untrusted { writer, .. } => assert_eq!(writer.who, Who::Anyone),
            other => panic!("{other:?}"),
        }
        assert!(e.hint().unwrap().contains("chmod go-w"), "{:?}", e.hint());
        let grp = t.path().join("grp");
        mkdir(&grp, 0, 0o775);
        std::os::unix::fs::chown(&grp, None, Some(BOB)).unwrap();
        let e =
            create_dir_safely(&grp.join("logs"), Some((ALICE, ALICE)), LOG_DIR_MODE).unwrap_err();
        assert!(
            matches!(&e, UnsafePath::Untrusted { writer, .. } if writer.who == Who::Group(BOB)),
            "{e:?}"
        );
    }

    #[test]
    fn a_sticky_shared_directory_is_fine_if_the_next_step_is_trusted() {
        if !root_or_skip("a_sticky_shared_directory_is_fine_if_the_next_step_is_trusted") {
            return;
        }
        let t = scratch();
        let shared = t.path().join("shared");
        mkdir(&shared, 0, 0o1777);
        let made = create_dir_safely(&shared.join("app/logs"), Some((ALICE, ALICE)), LOG_DIR_MODE)
            .unwrap();
        assert_eq!(made.len(), 2);
        // Bob got there first: his directory in the shared one is refused.
        mkdir(&shared.join("bobs"), BOB, 0o755);
        let e = create_dir_safely(
            &shared.join("bobs/logs"),
            Some((ALICE, ALICE)),
            LOG_DIR_MODE,
        )
        .unwrap_err();
        assert!(
            matches!(&e, UnsafePath::Untrusted { writer, .. } if writer.who == Who::Owner(BOB)),
            "{e:?}"
        );
    }

    #[test]
    fn a_file_in_the_way_is_refused() {
        if !root_or_skip("a_file_in_the_way_is_refused") {
            return;
        }
        let t = scratch();
        file(&t.path().join("f"), 0, 0o644);
        let e = create_dir_safely(&t.path().join("f/logs"), None, LOG_DIR_MODE).unwrap_err();
        assert!(
            matches!(
                e,
                UnsafePath::NotADirectory {
                    kind: Kind::File,
                    ..
                }
            ),
            "{e:?}"
        );
    }

    #[test]
    fn probe_says_what_would_be_made_and_refuses_the_same() {
        if !root_or_skip("probe_says_what_would_be_made_and_refuses_the_same") {
            return;
        }
        let t = scratch();
        let home = t.path().join("alice");
        mkdir(&home, ALICE, 0o755);
        let p = probe_dir(&home.join("a/b"), Some(ALICE)).unwrap();
        assert_eq!(
            p,
            DirProbe {
                existing: home.clone(),
                existing_uid: ALICE,
                missing: vec![home.join("a"), home.join("a/b")]
            }
        );
        assert!(!home.join("a").exists());
        assert!(probe_dir(&home.join("a/b"), Some(BOB)).is_err());
    }

    // ---- open_log_for_truncate ----

    fn log_dir(t: &tempfile::TempDir, uid: u32) -> PathBuf {
        let d = t.path().join("logs");
        mkdir(&d, uid, 0o750);
        d
    }

    #[test]
    fn the_apps_own_log_is_opened_and_emptied() {
        if !root_or_skip("the_apps_own_log_is_opened_and_emptied") {
            return;
        }
        let t = scratch();
        let d = log_dir(&t, ALICE);
        file(&d.join("out.log"), ALICE, 0o640);
        let f = open_log_for_truncate(&d.join("out.log"), Some(ALICE))
            .unwrap()
            .unwrap();
        f.set_len(0).unwrap();
        assert_eq!(meta(&d.join("out.log")).len(), 0);
        // One systemd created as root is fine too.
        file(&d.join("err.log"), 0, 0o640);
        assert!(
            open_log_for_truncate(&d.join("err.log"), Some(ALICE))
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn a_missing_log_or_directory_is_none() {
        if !root_or_skip("a_missing_log_or_directory_is_none") {
            return;
        }
        let t = scratch();
        let d = log_dir(&t, ALICE);
        assert!(
            open_log_for_truncate(&d.join("out.log"), Some(ALICE))
                .unwrap()
                .is_none()
        );
        assert!(
            open_log_for_truncate(&d.join("sub/out.log"), Some(ALICE))
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn a_log_that_is_a_link_to_roots_file_is_never_opened() {
        if !root_or_skip("a_log_that_is_a_link_to_roots_file_is_never_opened") {
            return;
        }
        let t = scratch();
        let d = log_dir(&t, ALICE);
        let victim = t.path().join("shadow");
        std::fs::write(&victim, "root:secret").unwrap();
        std::os::unix::fs::symlink(&victim, d.join("out.log")).unwrap();
        let e = open_log_for_truncate(&d.join("out.log"), Some(ALICE)).unwrap_err();
        assert!(
            matches!(e, UnsafePath::Symlink { writer: None, .. }),
            "{e:?}"
        );
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "root:secret");
    }

    #[test]
    fn a_hard_link_to_roots_file_is_never_opened() {
        if !root_or_skip("a_hard_link_to_roots_file_is_never_opened") {
            return;
        }
        let t = scratch();
        let d = log_dir(&t, ALICE);
        let victim = t.path().join("shadow");
        file(&victim, 0, 0o600);
        std::fs::hard_link(&victim, d.join("out.log")).unwrap();
        let e = open_log_for_truncate(&d.join("out.log"), Some(ALICE)).unwrap_err();
        assert!(matches!(e, UnsafePath::HardLinks { links: 2, .. }), "{e:?}");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "x");
    }

    #[test]
    fn a_log_owned_by_another_user_is_refused() {
        if !root_or_skip("a_log_owned_by_another_user_is_refused") {
            return;
        }
        let t = scratch();
        let d = log_dir(&t, ALICE);
        file(&d.join("out.log"), BOB, 0o644);
        let e = open_log_for_truncate(&d.join("out.log"), Some(ALICE)).unwrap_err();
        assert!(
            matches!(&e, UnsafePath::Untrusted { writer, .. } if writer.who == Who::Owner(BOB)),
            "{e:?}"
        );
        assert_eq!(std::fs::read_to_string(d.join("out.log")).unwrap(), "x");
        // A root app's log must be root's.
        let e = open_log_for_truncate(&d.join("out.log"), None).unwrap_err();
        assert!(matches!(e, UnsafePath::Untrusted { .. }), "{e:?}");
    }

    #[test]
    fn a_log_in_a_directory_another_user_owns_is_refused() {
        if !root_or_skip("a_log_in_a_directory_another_user_owns_is_refused") {
            return;
        }
        let t = scratch();
        let d = log_dir(&t, BOB);
        file(&d.join("out.log"), ALICE, 0o644);
        let e = open_log_for_truncate(&d.join("out.log"), Some(ALICE)).unwrap_err();
        assert!(
            matches!(&e, UnsafePath::Untrusted { writer, .. } if writer.who == Who::Owner(BOB)),
            "{e:?}"
        );
    }

    #[test]
    fn a_log_reached_through_a_users_link_is_refused() {
        if !root_or_skip("a_log_reached_through_a_users_link_is_refused") {
            return;
        }
        let t = scratch();
        let home = t.path().join("alice");
        mkdir(&home, ALICE, 0o755);
        let etc = t.path().join("etc");
        mkdir(&etc, 0, 0o755);
        file(&etc.join("passwd"), 0, 0o644);
        let link = home.join("logs");
        std::os::unix::fs::symlink(&etc, &link).unwrap();
        let e = open_log_for_truncate(&link.join("passwd"), Some(ALICE)).unwrap_err();
        assert!(
            matches!(
                e,
                UnsafePath::Symlink {
                    writer: Some(_),
                    ..
                }
            ),
            "{e:?}"
        );
    }

    #[test]
    fn a_fifo_or_directory_at_the_log_path_is_never_opened() {
        if !root_or_skip("a_fifo_or_directory_at_the_log_path_is_never_opened") {
            return;
        }
        let t = scratch();
        let d = log_dir(&t, ALICE);
        nix::unistd::mkfifo(&d.join("out.log"), Mode::from_bits_truncate(0o644)).unwrap();
        let e = open_log_for_truncate(&d.join("out.log"), Some(ALICE)).unwrap_err();
        assert!(
            matches!(
                e,
                UnsafePath::NotRegular {
                    kind: Kind::Special,
                    ..
                }
            ),
            "{e:?}"
        );
        std::fs::create_dir(d.join("err.log")).unwrap();
        let e = open_log_for_truncate(&d.join("err.log"), Some(ALICE)).unwrap_err();
        assert!(
            matches!(
                e,
                UnsafePath::NotRegular {
                    kind: Kind::Directory,
                    ..
                }
            ),
            "{e:?}"
        );
    }
}
