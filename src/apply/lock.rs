//! One install at a time per scope: two installs interleaving their writes, reloads and
//! restarts would leave a mix of both, and the cleanup of interrupted writes
//! ([`super::files::remove_leftover_temp_files`]) is safe only while no other install writes.
//!
//! The lock is `flock(LOCK_EX)` on a file no one else can touch: root's in `/run/rgen` (made
//! root-only; not `/run/lock`, which is world-writable, so that anyone could create the file
//! first and hold it, and `fs.protected_regular` would then refuse root's `O_CREAT` on it), a
//! user's in `$XDG_RUNTIME_DIR` (their own) or else `rgen-<uid>` in the temporary directory. The
//! kernel drops the lock when the holder exits, however it exits, so there are no stale locks;
//! the file stays (removing it would let two installs lock two different files).

use std::fs::File;
use std::io::{Read as _, Seek as _, Write as _};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

use super::files::open_or_create_dir;
use super::walk::{Follow, Kind, OnWriter, Step, Trusted, UnsafePath, Walk, Who, Writer, io_error};

/// How long [`InstallLock::acquire`] waits for another install to finish.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(120);

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "`{key}` cannot name a lock: use letters, digits, `-`, `_`, `.` and `@`, not starting with `.`"
    )]
    BadKey { key: String },
    #[error("another rgen install is running{}; waited {} s for {}", holder.map(|p| format!(" (pid {p})")).unwrap_or_default(), waited.as_secs(), path.display())]
    Busy {
        path: PathBuf,
        holder: Option<u32>,
        waited: Duration,
    },
    #[error("cannot use {} as the install lock", path.display())]
    Unsafe {
        path: PathBuf,
        #[source]
        why: Box<UnsafePath>,
    },
}

impl LockError {
    pub fn hint(&self) -> Option<String> {
        match self {
            LockError::BadKey { .. } => None,
            LockError::Busy { holder, .. } => Some(match holder {
                Some(pid) => format!(
                    "wait for it to finish and run this again; `ps -p {pid}` shows what it is"
                ),
                None => "wait for it to finish and run this again".into(),
            }),
            LockError::Unsafe { why, .. } => why.hint(),
        }
    }
}

/// Held while an install changes the machine; dropping it releases the lock.
#[derive(Debug)]
pub struct InstallLock {
    path: PathBuf,
    // The lock lives as long as this descriptor.
    _file: File,
}

impl InstallLock {
    /// Takes the lock for `scope_key` (`system`, `user-1000`: one per set of directories an
    /// install changes), waiting up to [`DEFAULT_WAIT`] for another install to finish.
    pub fn acquire(scope_key: &str) -> Result<InstallLock, LockError> {
        Self::acquire_with(scope_key, DEFAULT_WAIT, |_| {})
    }

    /// [`InstallLock::acquire`], waiting up to `wait`; `on_wait` is told once, with the
    /// holder's pid if known, when the lock is busy (to print "waiting for …").
    pub fn acquire_with(
        scope_key: &str,
        wait: Duration,
        on_wait: impl FnOnce(Option<u32>),
    ) -> Result<InstallLock, LockError> {
        check_key(scope_key)?;
        let (dir, dir_path) = lock_dir()?;
        acquire_in(&dir, &dir_path, scope_key, wait, on_wait)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn check_key(key: &str) -> Result<(), LockError> {
    let ok = !key.is_empty()
        && key.len() <= 64
        && !key.starts_with('.')
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.@".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(LockError::BadKey {
            key: key.to_string(),
        })
    }
}

/// The directory for the lock files of this user, opened and checked.
fn lock_dir() -> Result<(OwnedFd, PathBuf), LockError> {
    let uid = nix::unistd::geteuid().as_raw();
    let unsafe_dir = |path: &Path, why| LockError::Unsafe {
        path: path.to_path_buf(),
        why: Box::new(why),
    };
    if uid == 0 {
        let dir = Path::new(ROOT_LOCK_DIR);
        let (fd, _) = open_or_create_dir(dir, None, 0o755).map_err(|e| unsafe_dir(dir, e))?;
        return Ok((fd, dir.to_path_buf()));
    }
    if let Some(runtime) = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from)
        && let Ok(fd) = open_own_dir(&runtime, uid)
    {
        return Ok((fd, runtime));
    }
    let gid = nix::unistd::getegid().as_raw();
    let dir = std::env::temp_dir().join(format!("rgen-{uid}"));
    let (fd, _) =
        open_or_create_dir(&dir, Some((uid, gid)), 0o700).map_err(|e| unsafe_dir(&dir, e))?;
    // One root left there would do (the walk trusts root), but we could not create the file.
    let meta = super::walk::fstat(&fd)
        .map_err(|e| unsafe_dir(&dir, io_error(&dir, &dir, "inspect", e)))?;
    if meta.uid != uid {
        return Err(unsafe_dir(&dir, not_ours(&dir, &meta, uid)));
    }
    Ok((fd, dir))
}

#[cfg(target_os = "macos")]
const ROOT_LOCK_DIR: &str = "/var/db/rgen";
#[cfg(not(target_os = "macos"))]
const ROOT_LOCK_DIR: &str = "/run/rgen";

/// An existing directory reachable only through paths `uid` and root control, and owned by
/// `uid`.
fn open_own_dir(path: &Path, uid: u32) -> Result<OwnedFd, UnsafePath> {
    let mut walk = Walk::start(path, Trusted { uid }, Follow::RootOnly, OnWriter::Refuse)?;
    while let Some(name) = walk.next_name() {
        match walk.descend(&name)? {
            Step::Entered | Step::Followed => {}
            Step::Missing => {
                return Err(UnsafePath::Missing {
                    path: path.to_path_buf(),
                    at: walk.at(&name),
                });
            }
            Step::Other(meta) => {
                return Err(UnsafePath::NotADirectory {
                    path: path.to_path_buf(),
                    at: walk.at(&name),
                    kind: meta.kind,
                });
            }
        }
    }
    let top = walk.into_top();
    if top.meta.uid != uid {
        return Err(not_ours(path, &top.meta, uid));
    }
    Ok(top.fd)
}

fn not_ours(path: &Path, meta: &super::walk::Meta, uid: u32) -> UnsafePath {
    UnsafePath::Untrusted {
        path: path.to_path_buf(),
        writer: Writer {
            at: path.to_path_buf(),
            who: Who::Owner(meta.uid),
            kind: meta.kind,
            uid: meta.uid,
            gid: meta.gid,
            mode: meta.mode,
        },
        trusted: uid,
    }
}

/// Takes `rgen-<key>.lock` in an open directory.
pub(crate) fn acquire_in(
    dir: &OwnedFd,
    dir_path: &Path,
    key: &str,
    wait: Duration,
    on_wait: impl FnOnce(Option<u32>),
) -> Result<InstallLock, LockError> {
    check_key(key)?;
    let path = dir_path.join(format!("rgen-{key}.lock"));
    let unsafe_file = |why| LockError::Unsafe {
        path: path.clone(),
        why: Box::new(why),
    };
    let fd = nix::fcntl::openat(
        dir,
        path.file_name().expect("a file name"),
        OFlag::O_RDWR | OFlag::O_CREAT | OFlag::O_NOFOLLOW | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(0o600),
    )
    .map_err(|e| match e {
        Errno::ELOOP | Errno::EMLINK => unsafe_file(UnsafePath::Symlink {
            path: path.clone(),
            at: path.clone(),
            target: PathBuf::new(),
            writer: None,
        }),
        e => unsafe_file(io_error(&path, &path, "open", e)),
    })?;
    let meta =
        super::walk::fstat(&fd).map_err(|e| unsafe_file(io_error(&path, &path, "inspect", e)))?;
    if meta.kind != Kind::File {
        return Err(unsafe_file(UnsafePath::NotRegular {
            path: path.clone(),
            kind: meta.kind,
        }));
    }
    let me = nix::unistd::geteuid().as_raw();
    if meta.uid != me {
        return Err(unsafe_file(not_ours(&path, &meta, me)));
    }
    let mut file = File::from(fd);
    let started = Instant::now();
    let mut on_wait = Some(on_wait);
    let mut pause = Duration::from_millis(10);
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(std::fs::TryLockError::WouldBlock) => {
                let holder = read_holder(&mut file);
                if let Some(tell) = on_wait.take() {
                    tell(holder);
                }
                let waited = started.elapsed();
                if waited >= wait {
                    return Err(LockError::Busy {
                        path,
                        holder,
                        waited,
                    });
                }
                // flock has no timeout: poll, backing off.
                std::thread::sleep(pause.min(wait - waited));
                pause = (pause * 2).min(Duration::from_millis(250));
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(unsafe_file(UnsafePath::Io {
                    path: path.clone(),
                    at: path.clone(),
                    action: "lock",
                    source: e,
                }));
            }
        }
    }
    // Who holds it, for the next one to say.
    let _ = file
        .set_len(0)
        .and_then(|_| file.rewind())
        .and_then(|_| writeln!(file, "{}", std::process::id()));
    Ok(InstallLock { path, _file: file })
}

fn read_holder(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.rewind().ok()?;
    file.read_to_string(&mut text).ok()?;
    let pid: u32 = text.trim().parse().ok()?;
    // The pid of a holder that has exited (and so released the lock) is no news.
    alive(pid).then_some(pid)
}

fn alive(pid: u32) -> bool {
    let Ok(pid @ 1..) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // Signal 0 checks that the process exists without touching it.
    // SAFETY: kill with signal 0 has no effect beyond its result.
    unsafe { libc::kill(pid, 0) == 0 || Errno::last() == Errno::EPERM }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt as _;
    use std::process::{Command, Stdio};
    use std::sync::mpsc;

    use super::*;

    fn open_dir(p: &Path) -> OwnedFd {
        nix::fcntl::open(p, super::super::walk::dir_flags(), Mode::empty()).unwrap()
    }

    #[test]
    fn keys_are_plain_names() {
        for good in ["system", "user-1000", "alice@host", "a.b_c"] {
            check_key(good).unwrap();
        }
        for bad in ["", ".hidden", "a/b", "../x", "a b", &"x".repeat(65)] {
            assert!(
                matches!(check_key(bad), Err(LockError::BadKey { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_second_install_waits_then_gets_the_lock() {
        let t = tempfile::tempdir().unwrap();
        let dir = open_dir(t.path());
        let first = acquire_in(&dir, t.path(), "system", Duration::ZERO, |_| {}).unwrap();
        assert_eq!(
            std::fs::metadata(first.path()).unwrap().mode() & 0o777,
            0o600
        );
        // Busy at once: says who holds it.
        match acquire_in(&dir, t.path(), "system", Duration::ZERO, |_| {}) {
            Err(LockError::Busy { holder, .. }) => assert_eq!(holder, Some(std::process::id())),
            other => panic!("{other:?}"),
        }
        // Another scope is independent.
        acquire_in(&dir, t.path(), "user-1000", Duration::ZERO, |_| {}).unwrap();
        // A waiter gets it once the first lets go (released when the waiter says it waits).
        let (told, waiting) = mpsc::channel();
        let path = t.path().to_path_buf();
        let waiter = std::thread::spawn(move || {
            let dir = open_dir(&path);
            acquire_in(
                &dir,
                &path,
                "system",
                Duration::from_secs(60),
                move |holder| told.send(holder).unwrap(),
            )
            .map(|l| l.path().to_path_buf())
        });
        assert_eq!(waiting.recv().unwrap(), Some(std::process::id()));
        drop(first);
        let got = waiter.join().unwrap().unwrap();
        assert_eq!(got, t.path().join("rgen-system.lock"));
    }

    #[test]
    fn a_lock_held_by_another_process_is_waited_for() {
        if Command::new("flock").arg("--version").output().is_err() {
            eprintln!("skipped a_lock_held_by_another_process_is_waited_for: no flock(1)");
            return;
        }
        let t = tempfile::tempdir().unwrap();
        let dir = open_dir(t.path());
        let file = t.path().join("rgen-system.lock");
        std::fs::write(&file, "").unwrap();
        let mut holder = Command::new("flock")
            .arg("--exclusive")
            .arg(&file)
            .arg("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        // Until flock(1) has it, our tries may win; let go and look again.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match acquire_in(&dir, t.path(), "system", Duration::ZERO, |_| {}) {
                // flock(1) writes no pid: any is from one of our own tries.
                Err(LockError::Busy { .. }) => break,
                Ok(lock) => drop(lock),
                Err(e) => panic!("{e}"),
            }
            assert!(Instant::now() < deadline, "flock(1) never took the lock");
            std::thread::yield_now();
        }
        let (told, waiting) = mpsc::channel();
        let path = t.path().to_path_buf();
        let waiter = std::thread::spawn(move || {
            let dir = open_dir(&path);
            acquire_in(&dir, &path, "system", Duration::from_secs(60), move |h| {
                told.send(h).unwrap()
            })
            .is_ok()
        });
        waiting.recv().unwrap();
        // Closing its stdin ends `cat`, and flock(1) with it.
        drop(holder.stdin.take());
        holder.wait().unwrap();
        assert!(waiter.join().unwrap());
    }

    #[test]
    fn a_link_or_foreign_file_at_the_lock_path_is_refused() {
        let t = tempfile::tempdir().unwrap();
        let dir = open_dir(t.path());
        let victim = t.path().join("victim");
        std::fs::write(&victim, "keep").unwrap();
        std::os::unix::fs::symlink(&victim, t.path().join("rgen-system.lock")).unwrap();
        let e = acquire_in(&dir, t.path(), "system", Duration::ZERO, |_| {}).unwrap_err();
        assert!(
            matches!(&e, LockError::Unsafe { why, .. } if matches!(**why, UnsafePath::Symlink { .. })),
            "{e:?}"
        );
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
        if !super::super::walk::tests::root_or_skip("a_foreign_lock_file_is_refused") {
            return;
        }
        let foreign = t.path().join("rgen-user-1.lock");
        std::fs::write(&foreign, "").unwrap();
        std::os::unix::fs::chown(&foreign, Some(12345), Some(12345)).unwrap();
        let e = acquire_in(&dir, t.path(), "user-1", Duration::ZERO, |_| {}).unwrap_err();
        assert!(
            matches!(&e, LockError::Unsafe { why, .. } if matches!(**why, UnsafePath::Untrusted { .. })),
            "{e:?}"
        );
    }

    #[test]
    fn busy_names_the_holder_and_hints() {
        let e = LockError::Busy {
            path: PathBuf::from("/run/rgen/rgen-system.lock"),
            holder: Some(42),
            waited: Duration::from_secs(120),
        };
        assert_eq!(
            e.to_string(),
            "another rgen install is running (pid 42); waited 120 s for /run/rgen/rgen-system.lock"
        );
        assert!(e.hint().unwrap().contains("ps -p 42"));
    }
}
