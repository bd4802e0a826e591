//! Listening sockets handed to the app: one made by `--listen`, or those systemd passed us.

use std::ffi::OsString;
use std::io;
use std::mem;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use crate::shim_protocol::{default, env, fd};
use crate::sys;

pub struct Sockets {
    pub fds: Vec<OwnedFd>,
    /// `LISTEN_FDNAMES` for the app.
    pub names: Option<OsString>,
    /// TCP port of the first socket, for the preload's listen() redirection.
    pub port: Option<u16>,
}

/// SO_REUSEPORT lets every instance's shim bind the same port and have the kernel spread
/// connections over them (measured far more even than one shared fd, platform.md D4).
pub fn bind(addr: SocketAddr) -> io::Result<Sockets> {
    let domain = match addr {
        SocketAddr::V4(_) => libc::AF_INET,
        SocketAddr::V6(_) => libc::AF_INET6,
    };
    let sock = sys::socket(domain, libc::SOCK_STREAM)?;
    let fd = sock.as_raw_fd();
    for opt in [libc::SO_REUSEADDR, libc::SO_REUSEPORT] {
        let one: libc::c_int = 1;
        // SAFETY: valid pointer and length for an int option.
        sys::cvt(unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                opt,
                (&one as *const libc::c_int).cast(),
                mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        })?;
    }
    // SAFETY: both sockaddr structs are plain data; zeroed is a valid initial state.
    unsafe {
        let mut storage: libc::sockaddr_storage = mem::zeroed();
        let len = match addr {
            SocketAddr::V4(a) => {
                let sin = &mut *(&mut storage as *mut _ as *mut libc::sockaddr_in);
                sin.sin_family = libc::AF_INET as libc::sa_family_t;
                sin.sin_port = a.port().to_be();
                sin.sin_addr.s_addr = u32::from_ne_bytes(a.ip().octets());
                #[cfg(target_os = "macos")]
                {
                    sin.sin_len = mem::size_of::<libc::sockaddr_in>() as u8;
                }
                mem::size_of::<libc::sockaddr_in>()
            }
            SocketAddr::V6(a) => {
                let sin6 = &mut *(&mut storage as *mut _ as *mut libc::sockaddr_in6);
                sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
                sin6.sin6_port = a.port().to_be();
                sin6.sin6_addr.s6_addr = a.ip().octets();
                sin6.sin6_flowinfo = a.flowinfo();
                sin6.sin6_scope_id = a.scope_id();
                #[cfg(target_os = "macos")]
                {
                    sin6.sin6_len = mem::size_of::<libc::sockaddr_in6>() as u8;
                }
                mem::size_of::<libc::sockaddr_in6>()
            }
        };
        sys::cvt(libc::bind(
            fd,
            (&storage as *const libc::sockaddr_storage).cast(),
            len as libc::socklen_t,
        ))?;
        sys::cvt(libc::listen(fd, default::LISTEN_BACKLOG))?;
    }
    Ok(Sockets {
        // The bound port, which differs from the asked one for port 0.
        port: tcp_port(&sock).or(Some(addr.port())),
        fds: vec![sock],
        names: Some(default::LISTEN_FDNAME.into()),
    })
}

/// systemd socket activation meant for us: LISTEN_PID must be our pid, as sd_listen_fds checks.
pub fn inherited() -> Option<Sockets> {
    let pid: u32 = std::env::var(env::LISTEN_PID).ok()?.parse().ok()?;
    if pid != std::process::id() {
        return None;
    }
    let n: RawFd = std::env::var(env::LISTEN_FDS).ok()?.parse().ok()?;
    let mut fds = Vec::new();
    for raw in fd::LISTEN_FDS_START..fd::LISTEN_FDS_START.checked_add(n)? {
        // SAFETY: F_GETFD only checks that the number is an open descriptor.
        if unsafe { libc::fcntl(raw, libc::F_GETFD) } < 0 {
            return None;
        }
        // SAFETY: systemd handed these to this process; nothing else in the shim owns them.
        fds.push(unsafe { OwnedFd::from_raw_fd(raw) });
    }
    if fds.is_empty() {
        return None;
    }
    let port = fds.first().and_then(tcp_port);
    Some(Sockets {
        fds,
        names: std::env::var_os(env::LISTEN_FDNAMES),
        port,
    })
}

fn tcp_port(sock: &OwnedFd) -> Option<u16> {
    // SAFETY: storage is large enough for any address; len is updated by the kernel.
    unsafe {
        let mut storage: libc::sockaddr_storage = mem::zeroed();
        let mut len = mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        if libc::getsockname(
            sock.as_raw_fd(),
            (&mut storage as *mut libc::sockaddr_storage).cast(),
            &mut len,
        ) != 0
        {
            return None;
        }
        let mut ty: libc::c_int = 0;
        let mut tylen = mem::size_of::<libc::c_int>() as libc::socklen_t;
        if libc::getsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_TYPE,
            (&mut ty as *mut libc::c_int).cast(),
            &mut tylen,
        ) != 0
            || ty != libc::SOCK_STREAM
        {
            return None;
        }
        match libc::c_int::from(storage.ss_family) {
            libc::AF_INET => {
                let sin = &*(&storage as *const _ as *const libc::sockaddr_in);
                Some(u16::from_be(sin.sin_port))
            }
            libc::AF_INET6 => {
                let sin6 = &*(&storage as *const _ as *const libc::sockaddr_in6);
                Some(u16::from_be(sin6.sin6_port))
            }
            _ => None,
        }
    }
}
