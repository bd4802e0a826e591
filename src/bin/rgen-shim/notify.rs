//! sd_notify(3) without libsystemd: one datagram per message to `$NOTIFY_SOCKET`.

use std::io;
use std::mem;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::time::{Duration, Instant};

use crate::shim_protocol::env;
use crate::sys;

pub struct Notifier {
    sock: OwnedFd,
    addr: libc::sockaddr_un,
    len: libc::socklen_t,
}

impl Notifier {
    /// None when the manager does not listen (launchd, Type=simple, or run by hand).
    pub fn from_env() -> Option<Notifier> {
        let path = std::env::var_os(env::NOTIFY_SOCKET)?;
        let bytes = path.as_bytes();
        if bytes.is_empty() {
            return None;
        }
        // SAFETY: sockaddr_un is plain data.
        let mut addr: libc::sockaddr_un = unsafe { mem::zeroed() };
        addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
        // '@' = Linux abstract namespace: a leading NUL, no terminator.
        let (abstract_ns, name) = match bytes.split_first() {
            Some((b'@', rest)) => (true, rest),
            _ => (false, bytes),
        };
        let start = usize::from(abstract_ns);
        if start + name.len() >= addr.sun_path.len() {
            sys::say!("NOTIFY_SOCKET path is too long; not notifying the service manager");
            return None;
        }
        for (i, &b) in name.iter().enumerate() {
            addr.sun_path[start + i] = b as libc::c_char;
        }
        let path_len = start + name.len() + usize::from(!abstract_ns);
        let len = mem::offset_of!(libc::sockaddr_un, sun_path) + path_len;
        #[cfg(target_os = "macos")]
        {
            addr.sun_len = len as u8;
        }
        let sock = sys::socket(libc::AF_UNIX, libc::SOCK_DGRAM).ok()?;
        Some(Notifier {
            sock,
            addr,
            len: len as libc::socklen_t,
        })
    }

    /// Never blocks the supervisor for long: a manager that does not drain its socket would
    /// otherwise freeze the shim inside sendto(). A full queue is retried for a bounded time.
    pub fn send(&self, msg: &str) {
        let give_up = Instant::now() + SEND_PATIENCE;
        loop {
            // SAFETY: addr/len describe a valid sockaddr_un; msg is valid for its length.
            let r = unsafe {
                libc::sendto(
                    self.sock.as_raw_fd(),
                    msg.as_ptr().cast(),
                    msg.len(),
                    libc::MSG_DONTWAIT,
                    (&self.addr as *const libc::sockaddr_un).cast(),
                    self.len,
                )
            };
            if r >= 0 {
                return;
            }
            let e = io::Error::last_os_error();
            match e.kind() {
                io::ErrorKind::Interrupted => continue,
                io::ErrorKind::WouldBlock if Instant::now() < give_up => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                _ => {
                    sys::say!("cannot notify the service manager: {}", sys::err_text(&e));
                    return;
                }
            }
        }
    }
}

const SEND_PATIENCE: Duration = Duration::from_secs(2);
