//! fork + exec by hand: the child needs its own process group, a parent-death signal, an exact
//! fd layout, and `LISTEN_PID` equal to its *own* pid — none of which `std::process::Command`
//! can express without allocating after fork.

use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;

use crate::shim_protocol::env;
use crate::signals::{self, SigSet};
use crate::sys;

/// The child's environment, in order, editable before it is frozen into `envp`.
#[derive(Clone)]
pub struct Env {
    vars: Vec<(OsString, OsString)>,
}

impl Env {
    pub fn inherit() -> Env {
        Env {
            vars: std::env::vars_os().collect(),
        }
    }

    pub fn get(&self, key: &str) -> Option<&OsStr> {
        self.vars
            .iter()
            .find(|(k, _)| k.as_bytes() == key.as_bytes())
            .map(|(_, v)| v.as_os_str())
    }

    pub fn set(&mut self, key: &str, value: impl Into<OsString>) {
        let value = value.into();
        match self
            .vars
            .iter_mut()
            .find(|(k, _)| k.as_bytes() == key.as_bytes())
        {
            Some((_, v)) => *v = value,
            None => self.vars.push((key.into(), value)),
        }
    }

    pub fn remove(&mut self, key: &str) {
        self.vars.retain(|(k, _)| k.as_bytes() != key.as_bytes());
    }
}

pub struct Spawn {
    pub program: OsString,
    pub args: Vec<OsString>,
    pub env: Env,
    /// Whether to append `LISTEN_PID=<child pid>` (written in the child, after fork).
    pub listen_pid: bool,
    /// (descriptor, number it must have in the child).
    pub fds: Vec<(OwnedFd, RawFd)>,
    /// Linux: the app gets SIGKILL when the shim dies (off only to test what macOS lacks).
    pub parent_death_signal: bool,
}

pub enum SpawnError {
    /// Before exec: fork, pipe, dup... failed in the shim.
    Setup(io::Error),
    /// execve (or the fd setup right before it) failed in the child.
    Exec(io::Error),
}

fn c(s: &OsStr) -> Result<CString, SpawnError> {
    CString::new(s.as_bytes()).map_err(|_| {
        SpawnError::Setup(io::Error::new(
            io::ErrorKind::InvalidInput,
            "argument or environment contains a NUL byte",
        ))
    })
}

/// Room for any pid after `LISTEN_PID=`.
const PID_SLOT: usize = 20;

impl Spawn {
    pub fn run(self, orig_mask: &SigSet) -> Result<libc::pid_t, SpawnError> {
        let program = c(&self.program)?;
        let mut argv = vec![program.clone()];
        for a in &self.args {
            argv.push(c(a)?);
        }
        let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
        argv_ptrs.push(std::ptr::null());

        // Each entry is a NUL-terminated "K=V".
        let mut envs: Vec<Vec<u8>> = Vec::with_capacity(self.env.vars.len() + 1);
        for (k, v) in &self.env.vars {
            let mut e = Vec::with_capacity(k.len() + v.len() + 2);
            e.extend_from_slice(k.as_bytes());
            e.push(b'=');
            e.extend_from_slice(v.as_bytes());
            if e.contains(&0) {
                return Err(SpawnError::Setup(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "environment contains a NUL byte",
                )));
            }
            e.push(0);
            envs.push(e);
        }
        let prefix = format!("{}=", env::LISTEN_PID);
        let mut pid_slot: Option<(*mut u8, usize)> = None;
        if self.listen_pid {
            let mut e = prefix.clone().into_bytes();
            e.resize(prefix.len() + PID_SLOT + 1, 0);
            envs.push(e);
        }
        let mut envp: Vec<*const libc::c_char> = Vec::with_capacity(envs.len() + 1);
        let last = envs.len().wrapping_sub(1);
        for (i, e) in envs.iter_mut().enumerate() {
            if self.listen_pid && i == last {
                // SAFETY: the slot lies inside this allocation, which outlives the fork.
                pid_slot = Some((unsafe { e.as_mut_ptr().add(prefix.len()) }, PID_SLOT));
            }
            envp.push(e.as_ptr().cast());
        }
        envp.push(std::ptr::null());

        // Every source must sit above every target so dup2() never clobbers a pending source
        // (and so dup2 never gets src == dst, which would keep FD_CLOEXEC set).
        let high = self.fds.iter().map(|&(_, t)| t).max().unwrap_or(2) + 1;
        let mut moves: Vec<(OwnedFd, RawFd)> = Vec::with_capacity(self.fds.len());
        for (fd, target) in &self.fds {
            moves.push((
                sys::dup_at_least(fd, high).map_err(SpawnError::Setup)?,
                *target,
            ));
        }
        let plan: Vec<(RawFd, RawFd)> = moves.iter().map(|(f, t)| (f.as_raw_fd(), *t)).collect();
        let (err_rd, low_wr) = sys::pipe().map_err(SpawnError::Setup)?;
        let err_wr = sys::dup_at_least(&low_wr, high).map_err(SpawnError::Setup)?;
        // Every copy of the write end must be gone from the parent, or EOF never comes.
        drop(low_wr);

        // SAFETY: getpid cannot fail.
        let parent = unsafe { libc::getpid() };
        let old = signals::block_all();
        // SAFETY: the child only calls async-signal-safe functions on memory prepared above,
        // then execs or _exits (the compression thread, if any, holds no lock it needs).
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: see above.
            unsafe {
                child(
                    &program,
                    &argv_ptrs,
                    &envp,
                    pid_slot,
                    &plan,
                    err_wr.as_raw_fd(),
                    parent,
                    self.parent_death_signal,
                    orig_mask,
                )
            }
        }
        signals::set_mask(&old);
        if pid < 0 {
            return Err(SpawnError::Setup(io::Error::last_os_error()));
        }
        // Also from the parent, so signalling the group works even before the child ran.
        // SAFETY: plain syscall; EACCES after the child exec'd is harmless.
        unsafe { libc::setpgid(pid, pid) };
        drop(err_wr);
        drop(moves);
        // The parent must not keep the app's ends: a listening socket held here would get its
        // share of connections after the app died, and a pipe write end would block EOF.
        drop(self.fds);

        let mut buf = [0u8; 4];
        let mut got = 0;
        while got < buf.len() {
            // SAFETY: buf[got..] is valid for the remaining length.
            let n = sys::retry_size(|| unsafe {
                libc::read(
                    err_rd.as_raw_fd(),
                    buf[got..].as_mut_ptr().cast(),
                    buf.len() - got,
                )
            });
            match n {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(_) => break,
            }
        }
        if got == 0 {
            // EOF: the CLOEXEC write end vanished in a successful exec.
            return Ok(pid);
        }
        let mut status = 0;
        // SAFETY: reaping our own child, which is about to _exit.
        let _ = sys::retry(|| unsafe { libc::waitpid(pid, &mut status, 0) });
        Err(SpawnError::Exec(io::Error::from_raw_os_error(
            i32::from_ne_bytes(buf),
        )))
    }
}

/// Between fork and exec: no allocation, no locks, async-signal-safe calls only.
#[allow(clippy::too_many_arguments)]
unsafe fn child(
    program: &CString,
    argv: &[*const libc::c_char],
    envp: &[*const libc::c_char],
    pid_slot: Option<(*mut u8, usize)>,
    plan: &[(RawFd, RawFd)],
    err_fd: RawFd,
    parent: libc::pid_t,
    parent_death_signal: bool,
    orig_mask: &SigSet,
) -> ! {
    // SAFETY: all calls below are async-signal-safe and touch only memory prepared before fork.
    unsafe {
        signals::reset_for_child();
        signals::set_mask(orig_mask);
        // Own process group, so the whole app tree can be signalled without hitting the shim.
        libc::setpgid(0, 0);
        #[cfg(target_os = "linux")]
        if parent_death_signal {
            // `kill -9` of the shim must not leave the app running unsupervised.
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
            if libc::getppid() != parent {
                libc::_exit(1);
            }
        }
        #[cfg(not(target_os = "linux"))]
        let _ = (parent, parent_death_signal);
        for &(src, dst) in plan {
            // dup2 leaves FD_CLOEXEC clear on dst; src stays CLOEXEC and vanishes at exec.
            if libc::dup2(src, dst) < 0 {
                fail(err_fd);
            }
        }
        if let Some((slot, len)) = pid_slot {
            let digits = std::slice::from_raw_parts_mut(slot, len);
            let n = sys::write_decimal(libc::getpid() as u64, digits);
            if let Some(b) = digits.get_mut(n) {
                *b = 0;
            }
        }
        libc::execve(program.as_ptr(), argv.as_ptr(), envp.as_ptr());
        fail(err_fd)
    }
}

unsafe fn fail(err_fd: RawFd) -> ! {
    // SAFETY: errno read, write(2) and _exit are async-signal-safe.
    unsafe {
        let errno = *sys::errno_location();
        let bytes = errno.to_ne_bytes();
        libc::write(err_fd, bytes.as_ptr().cast(), bytes.len());
        libc::_exit(crate::shim_protocol::exit::EXEC_FAILED)
    }
}
