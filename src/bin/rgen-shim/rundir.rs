//! Private runtime files: the backoff state directory, and a per-shim directory holding the Node
//! preload and the FIFO the preload reports through.

use std::ffi::{CString, OsString};
use std::fs;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::ipc::LineReader;
use crate::shim_protocol::env;
use crate::sys;

pub const PRELOAD_SOURCE: &str = include_str!("node-preload.cjs");

/// `$RUNTIME_DIRECTORY` (systemd made it for this unit, private already), else a private `rgen`
/// directory under `$XDG_RUNTIME_DIR`, else `<tmp>/rgen-<uid>`.
pub fn runtime_base() -> io::Result<PathBuf> {
    if let Some(dirs) = std::env::var_os(env::RUNTIME_DIRECTORY) {
        // systemd joins several RuntimeDirectory= entries with ':'.
        let first = dirs.as_bytes().split(|&b| b == b':').next().unwrap_or(&[]);
        if first.starts_with(b"/") {
            return Ok(PathBuf::from(OsString::from_vec(first.to_vec())));
        }
    }
    let base = match std::env::var_os(env::XDG_RUNTIME_DIR) {
        Some(x) if x.as_bytes().starts_with(b"/") => PathBuf::from(x).join("rgen"),
        // SAFETY: geteuid cannot fail.
        _ => std::env::temp_dir().join(format!("rgen-{}", unsafe { libc::geteuid() })),
    };
    ensure_private_dir(&base)?;
    Ok(base)
}

/// Creates `dir` 0700, or accepts an existing one only if it is a real directory (not a symlink)
/// owned by us — in a shared /tmp someone else could have planted it first.
pub fn ensure_private_dir(dir: &Path) -> io::Result<()> {
    match fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    let meta = fs::symlink_metadata(dir)?;
    // SAFETY: geteuid cannot fail.
    let uid = unsafe { libc::geteuid() };
    if !meta.file_type().is_dir() || meta.uid() != uid {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "`{}` is not a directory owned by uid {uid}; refusing to use it",
                dir.display()
            ),
        ));
    }
    if meta.mode() & 0o077 != 0 {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// A `shim-<pid>-XXXXXX` directory (mkdtemp: 0700, unpredictable name), removed on drop.
pub struct RunDir {
    dir: PathBuf,
}

impl RunDir {
    pub fn create(base: &Path) -> io::Result<RunDir> {
        remove_stale(base);
        let template = base.join(format!("shim-{}-XXXXXX", std::process::id()));
        let mut bytes = sys::cstring(&template)?.into_bytes_with_nul();
        // SAFETY: bytes is a NUL-terminated template that mkdtemp rewrites in place.
        let r = unsafe { libc::mkdtemp(bytes.as_mut_ptr().cast()) };
        if r.is_null() {
            return Err(io::Error::last_os_error());
        }
        bytes.pop();
        Ok(RunDir {
            dir: PathBuf::from(OsString::from_vec(bytes)),
        })
    }

    /// Writes the embedded preload; O_EXCL|O_NOFOLLOW inside our fresh 0700 dir leaves no race.
    pub fn write_preload(&self) -> io::Result<PathBuf> {
        let path = self.dir.join("preload.cjs");
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)?;
        f.write_all(PRELOAD_SOURCE.as_bytes())?;
        Ok(path)
    }

    pub fn make_fifo(&self) -> io::Result<Fifo> {
        let path = self.dir.join("notify.fifo");
        let c = sys::cstring(&path)?;
        // SAFETY: c is a valid C string.
        sys::cvt(unsafe { libc::mkfifo(c.as_ptr(), 0o600) })?;
        let rd = open_fifo(&c, libc::O_RDONLY)?;
        // Holding a writer ourselves means the read end never sees EOF between preload writes,
        // so poll() does not spin on POLLHUP.
        let wr = open_fifo(&c, libc::O_WRONLY)?;
        Ok(Fifo {
            path,
            rd,
            _wr: wr,
            reader: LineReader::new(),
        })
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn open_fifo(path: &CString, mode: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: path is a valid C string; O_NONBLOCK keeps a read-only open from waiting for a writer.
    let fd = sys::cvt(unsafe {
        libc::open(
            path.as_ptr(),
            mode | libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOFOLLOW,
        )
    })?;
    // SAFETY: fresh descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Directories of shims that died without cleaning up (SIGKILL) would otherwise pile up in a
/// crash loop when the base is not a systemd RuntimeDirectory.
fn remove_stale(base: &Path) {
    let Ok(entries) = fs::read_dir(base) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix("shim-")) else {
            continue;
        };
        let Some(pid) = rest
            .split('-')
            .next()
            .and_then(|p| p.parse::<libc::pid_t>().ok())
        else {
            continue;
        };
        if pid > 0 && !sys::alive(pid) {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// Reports from the preload in any Node process of the app: `ready <pid>` / `listening <pid> <port>`.
///
/// A FIFO rather than a unix datagram socket: Node's `dgram` has no AF_UNIX support, and a
/// synchronous write(2) of one short line is atomic (≤ PIPE_BUF), needs no event-loop handle,
/// and is delivered even if the process exits right after `process.send('ready')`.
pub struct Fifo {
    pub path: PathBuf,
    rd: OwnedFd,
    _wr: OwnedFd,
    reader: LineReader,
}

impl Fifo {
    pub fn fd(&self) -> RawFd {
        self.rd.as_raw_fd()
    }

    /// Calls `msg(kind)` for each complete report.
    pub fn read(&mut self, mut msg: impl FnMut(&str)) {
        self.reader.read(self.rd.as_raw_fd(), |line| {
            if let Some(kind) = std::str::from_utf8(line)
                .ok()
                .and_then(|l| l.split_whitespace().next())
            {
                msg(kind);
            }
        });
    }
}
