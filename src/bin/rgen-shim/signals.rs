//! Signals become bytes on a self-pipe, so the single poll() loop sees them like any other event.

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicI32, Ordering};

use crate::sys;

static WAKE_FD: AtomicI32 = AtomicI32::new(-1);

/// TERM/INT mean "stop"; URG means "restart" (`shim_protocol::signal`); HUP/QUIT/USR1/USR2/
/// WINCH are forwarded to the app; CHLD means "reap". As a container's PID 1 the shim gets no
/// other signal at all: the kernel drops those PID 1 has no handler for.
pub const HANDLED: [libc::c_int; 9] = [
    libc::SIGTERM,
    libc::SIGINT,
    RESTART,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGWINCH,
    libc::SIGCHLD,
];

pub const RESTART: libc::c_int = libc::SIGURG;

pub const FORWARDED: [libc::c_int; 5] = [
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGWINCH,
];

extern "C" fn on_signal(sig: libc::c_int) {
    let fd = WAKE_FD.load(Ordering::Relaxed);
    if fd < 0 {
        return;
    }
    let byte = sig as u8;
    let errno = sys::errno_location();
    // SAFETY: write(2) and errno access are async-signal-safe; errno is restored so the
    // interrupted code does not see our write's result.
    unsafe {
        let saved = *errno;
        libc::write(fd, (&byte as *const u8).cast(), 1);
        *errno = saved;
    }
}

pub struct Signals {
    rd: OwnedFd,
    _wr: OwnedFd,
}

impl Signals {
    pub fn install() -> io::Result<Signals> {
        let (rd, wr) = sys::pipe()?;
        sys::set_nonblocking(rd.as_raw_fd())?;
        // A full pipe must not block the handler; the loop is awake anyway when it is full.
        sys::set_nonblocking(wr.as_raw_fd())?;
        WAKE_FD.store(wr.as_raw_fd(), Ordering::Relaxed);
        for sig in HANDLED {
            // SAFETY: sigaction is zero-initialisable; the handler only does async-signal-safe work.
            unsafe {
                let mut sa: libc::sigaction = std::mem::zeroed();
                sa.sa_sigaction = on_signal as *const () as libc::sighandler_t;
                sa.sa_flags = libc::SA_RESTART
                    | if sig == libc::SIGCHLD {
                        libc::SA_NOCLDSTOP
                    } else {
                        0
                    };
                libc::sigemptyset(&mut sa.sa_mask);
                sys::cvt(libc::sigaction(sig, &sa, std::ptr::null_mut()))?;
            }
        }
        Ok(Signals { rd, _wr: wr })
    }

    pub fn fd(&self) -> RawFd {
        self.rd.as_raw_fd()
    }

    /// Pending signals, oldest first.
    pub fn drain(&self) -> Vec<libc::c_int> {
        let mut out = Vec::new();
        let mut buf = [0u8; 64];
        loop {
            // SAFETY: buf is valid for its length.
            let n = unsafe { libc::read(self.rd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n <= 0 {
                if n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                break;
            }
            out.extend(buf[..n as usize].iter().map(|&b| libc::c_int::from(b)));
        }
        out
    }
}

pub type SigSet = libc::sigset_t;

/// Blocks every signal and returns the previous mask. Used around fork() so no handler of ours
/// runs in the child before it has reset them.
pub fn block_all() -> SigSet {
    // SAFETY: sigset_t is plain data initialised by sigfillset/sigprocmask.
    unsafe {
        let mut all = MaybeUninit::<SigSet>::zeroed().assume_init();
        let mut old = MaybeUninit::<SigSet>::zeroed().assume_init();
        libc::sigfillset(&mut all);
        libc::sigprocmask(libc::SIG_SETMASK, &all, &mut old);
        old
    }
}

/// Blocks every signal a thread can receive from outside (keeps SIGSEGV & co, which the kernel
/// delivers to the faulting thread whatever its mask) and returns the previous mask. For helper
/// threads: the main thread's self-pipe handler stays the only one that runs.
pub fn block_async() -> SigSet {
    // SAFETY: as in block_all.
    unsafe {
        let mut set = MaybeUninit::<SigSet>::zeroed().assume_init();
        let mut old = MaybeUninit::<SigSet>::zeroed().assume_init();
        libc::sigfillset(&mut set);
        for sync in [libc::SIGSEGV, libc::SIGBUS, libc::SIGILL, libc::SIGFPE] {
            libc::sigdelset(&mut set, sync);
        }
        libc::pthread_sigmask(libc::SIG_SETMASK, &set, &mut old);
        old
    }
}

pub fn current_mask() -> SigSet {
    // SAFETY: a null new-set only queries the mask.
    unsafe {
        let mut cur = MaybeUninit::<SigSet>::zeroed().assume_init();
        libc::sigprocmask(libc::SIG_BLOCK, std::ptr::null(), &mut cur);
        cur
    }
}

pub fn set_mask(mask: &SigSet) {
    // SAFETY: mask is a valid sigset_t.
    unsafe { libc::sigprocmask(libc::SIG_SETMASK, mask, std::ptr::null_mut()) };
}

/// In the forked child: back to default dispositions before exec. Caught signals would be reset
/// by exec anyway, but SIGPIPE is *ignored* by the Rust runtime, and an ignored signal survives
/// exec — the app would never die of a broken pipe.
///
/// # Safety
/// Only async-signal-safe calls; meant for the window between fork() and exec().
pub unsafe fn reset_for_child() {
    for sig in HANDLED.iter().chain(&[libc::SIGPIPE]) {
        // SAFETY: signal(2) with SIG_DFL is async-signal-safe.
        unsafe { libc::signal(*sig, libc::SIG_DFL) };
    }
}

/// Dies of `sig` the way the app did, so the manager records the real cause
/// (systemd `Result=signal`, launchd "last terminating signal").
pub fn die_of(sig: libc::c_int) -> ! {
    // SAFETY: plain syscalls on this process.
    unsafe {
        // The shim's own core would be useless and confusing next to the app's.
        let zero = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        libc::setrlimit(libc::RLIMIT_CORE, &zero);
        libc::signal(sig, libc::SIG_DFL);
        let mut set = MaybeUninit::<SigSet>::zeroed().assume_init();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, sig);
        libc::sigprocmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        libc::raise(sig);
    }
    // Signals whose default action is to ignore (e.g. a SIGWINCH "death" cannot happen, but a
    // number we do not know might): fall back to the shell convention.
    std::process::exit(128 + sig)
}

#[cfg(test)]
mod tests {
    use crate::cli::parse_signal;
    use crate::shim_protocol::signal;

    #[test]
    fn the_protocol_names_the_signals_the_shim_handles() {
        assert_eq!(parse_signal(signal::RESTART), Ok(super::RESTART));
        for name in signal::STOP.iter().chain(&signal::FORWARDED) {
            let n = parse_signal(name).expect(name);
            assert!(super::HANDLED.contains(&n), "{name}");
        }
        for name in signal::FORWARDED {
            assert!(super::FORWARDED.contains(&parse_signal(name).unwrap()));
        }
    }
}
