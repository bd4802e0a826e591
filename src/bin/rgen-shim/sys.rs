//! Thin libc wrappers and the shim's message channel.

use std::ffi::CString;
use std::fmt;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

static NAME: OnceLock<String> = OnceLock::new();

pub fn set_name(name: &str) {
    let _ = NAME.set(name.to_owned());
}

pub fn name() -> &'static str {
    NAME.get().map(String::as_str).unwrap_or("")
}

/// Writes `rgen-shim[NAME]: ...` to the shim log (`--shim-log`) or stderr. A closed stderr must
/// not kill the supervisor (`eprintln!` would panic), so write errors are ignored.
pub fn say_args(args: fmt::Arguments) {
    let line = format!("rgen-shim[{}]: {args}\n", name());
    if crate::shimlog::write(line.as_bytes()) {
        return;
    }
    let _ = io::stderr().lock().write_all(line.as_bytes());
}

macro_rules! say {
    ($($t:tt)*) => { $crate::sys::say_args(format_args!($($t)*)) };
}
pub(crate) use say;

/// `io::Error`'s Display appends " (os error N)", which reads badly in a one-line message.
/// Writes a whole file through a temporary and a rename, so a reader never sees half of it.
pub fn replace_file(path: &Path, data: &[u8]) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp.{}", std::process::id()));
    let tmp = std::path::PathBuf::from(tmp);
    let written = std::fs::File::create(&tmp).and_then(|mut f| f.write_all(data));
    written
        .and_then(|()| std::fs::rename(&tmp, path))
        .inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })
}

pub fn err_text(e: &io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error ") {
        Some(i) => s[..i].to_owned(),
        None => s,
    }
}

pub fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// Signals are delivered through the self-pipe, so an EINTR carries no information: retry.
pub fn retry(mut f: impl FnMut() -> libc::c_int) -> io::Result<libc::c_int> {
    loop {
        match cvt(f()) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            r => return r,
        }
    }
}

pub fn retry_size(mut f: impl FnMut() -> isize) -> io::Result<usize> {
    loop {
        let r = f();
        if r >= 0 {
            return Ok(r as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

pub fn set_cloexec(fd: RawFd, on: bool) -> io::Result<()> {
    // SAFETY: fcntl on an fd number has no memory-safety preconditions.
    let flags = cvt(unsafe { libc::fcntl(fd, libc::F_GETFD) })?;
    let new = if on {
        flags | libc::FD_CLOEXEC
    } else {
        flags & !libc::FD_CLOEXEC
    };
    if new != flags {
        cvt(unsafe { libc::fcntl(fd, libc::F_SETFD, new) })?;
    }
    Ok(())
}

pub fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: as above.
    let flags = cvt(unsafe { libc::fcntl(fd, libc::F_GETFL) })?;
    cvt(unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) })?;
    Ok(())
}

/// A pipe whose ends are both close-on-exec: the child only ever sees what the spawner dup2()s.
pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    #[cfg(target_os = "linux")]
    // SAFETY: fds is a valid 2-element array.
    cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    #[cfg(not(target_os = "linux"))]
    {
        // SAFETY: as above; the shim is single-threaded, so nothing can fork in between.
        cvt(unsafe { libc::pipe(fds.as_mut_ptr()) })?;
        set_cloexec(fds[0], true)?;
        set_cloexec(fds[1], true)?;
    }
    // SAFETY: pipe() returned two fresh descriptors that nothing else owns.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

pub fn socket(domain: libc::c_int, ty: libc::c_int) -> io::Result<OwnedFd> {
    #[cfg(target_os = "linux")]
    // SAFETY: plain syscall.
    let fd = cvt(unsafe { libc::socket(domain, ty | libc::SOCK_CLOEXEC, 0) })?;
    #[cfg(not(target_os = "linux"))]
    let fd = {
        let fd = cvt(unsafe { libc::socket(domain, ty, 0) })?;
        set_cloexec(fd, true)?;
        fd
    };
    // SAFETY: fresh descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

pub fn socketpair() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    #[cfg(target_os = "linux")]
    let ty = libc::SOCK_STREAM | libc::SOCK_CLOEXEC;
    #[cfg(not(target_os = "linux"))]
    let ty = libc::SOCK_STREAM;
    // SAFETY: fds is a valid 2-element array.
    cvt(unsafe { libc::socketpair(libc::AF_UNIX, ty, 0, fds.as_mut_ptr()) })?;
    // SAFETY: fresh descriptors.
    let pair = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    set_cloexec(fds[0], true)?;
    set_cloexec(fds[1], true)?;
    Ok(pair)
}

/// A close-on-exec duplicate numbered at least `min`, so the spawner's dup2() onto low target
/// numbers can never clobber a source it still has to move.
pub fn dup_at_least(fd: &impl AsRawFd, min: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: fcntl(F_DUPFD_CLOEXEC) returns a fresh descriptor or -1.
    let new = cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, min) })?;
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

/// Marks every inherited descriptor above stderr close-on-exec. Whatever the service manager or
/// a careless parent leaked into the shim must not reach the app; the app gets exactly the fds
/// the spawner places.
pub fn cloexec_inherited_fds() {
    #[cfg(target_os = "linux")]
    let dir = "/proc/self/fd";
    #[cfg(not(target_os = "linux"))]
    let dir = "/dev/fd";
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let fds: Vec<RawFd> = entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    for fd in fds.into_iter().filter(|&fd| fd > 2) {
        let _ = set_cloexec(fd, true);
    }
}

pub fn cstring(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))
}

pub fn now_unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

pub fn errno_location() -> *mut libc::c_int {
    #[cfg(target_os = "linux")]
    // SAFETY: returns the calling thread's errno slot.
    unsafe {
        libc::__errno_location()
    }
    #[cfg(target_os = "macos")]
    // SAFETY: as above.
    unsafe {
        libc::__error()
    }
}

/// kill(2) that treats "no such process" as success: the target raced us to its death.
pub fn kill(pid: libc::pid_t, sig: libc::c_int) {
    // SAFETY: plain syscall.
    unsafe { libc::kill(pid, sig) };
}

pub fn alive(pid: libc::pid_t) -> bool {
    // SAFETY: signal 0 only checks existence/permission.
    unsafe { libc::kill(pid, 0) == 0 || *errno_location() == libc::EPERM }
}

/// Renders `n` into `buf` without allocating (usable between fork and exec); returns the length.
pub fn write_decimal(mut n: u64, buf: &mut [u8]) -> usize {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let digits = &tmp[i..];
    let len = digits.len().min(buf.len());
    buf[..len].copy_from_slice(&digits[..len]);
    len
}
