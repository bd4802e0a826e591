//! The parent end of a Node IPC channel (`json` serialization = one JSON value per line) and the
//! line reader shared with the preload FIFO.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use crate::sys;

/// Longest line we keep; longer ones (app payloads we do not care about) are skipped.
const MAX_LINE: usize = 4096;
/// Reads per wakeup: a chatty peer must not starve signals and timers.
const MAX_READS: usize = 64;

pub struct LineReader {
    buf: Vec<u8>,
    skipping: bool,
}

impl LineReader {
    pub fn new() -> Self {
        LineReader {
            buf: Vec::new(),
            skipping: false,
        }
    }

    /// Reads what is available from a non-blocking fd and calls `line` for each complete line.
    /// Returns false once the peer is gone (EOF or error).
    pub fn read(&mut self, fd: RawFd, mut line: impl FnMut(&[u8])) -> bool {
        let mut chunk = [0u8; 1024];
        for _ in 0..MAX_READS {
            // SAFETY: chunk is valid for its length.
            let n = unsafe { libc::read(fd, chunk.as_mut_ptr().cast(), chunk.len()) };
            if n == 0 {
                return false;
            }
            if n < 0 {
                return match io::Error::last_os_error().kind() {
                    io::ErrorKind::Interrupted => continue,
                    io::ErrorKind::WouldBlock => true,
                    _ => false,
                };
            }
            for &b in &chunk[..n as usize] {
                if b == b'\n' {
                    if !self.skipping {
                        line(&self.buf);
                    }
                    self.buf.clear();
                    self.skipping = false;
                } else if !self.skipping {
                    if self.buf.len() >= MAX_LINE {
                        self.buf.clear();
                        self.skipping = true;
                    } else {
                        self.buf.push(b);
                    }
                }
            }
            if self.buf.capacity() > MAX_LINE && self.buf.is_empty() {
                self.buf.shrink_to(256);
            }
        }
        // More may be pending; poll() reports it again.
        true
    }
}

pub struct Ipc {
    fd: OwnedFd,
    reader: LineReader,
    /// False once the app closed its end (exited, or called process.disconnect()).
    pub open: bool,
}

impl Ipc {
    /// Returns the shim's end and the app's end.
    pub fn pair() -> io::Result<(Ipc, OwnedFd)> {
        let (ours, theirs) = sys::socketpair()?;
        sys::set_nonblocking(ours.as_raw_fd())?;
        Ok((
            Ipc {
                fd: ours,
                reader: LineReader::new(),
                open: true,
            },
            theirs,
        ))
    }

    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Reads the pending messages; calls `msg` with each raw JSON line.
    pub fn read(&mut self, msg: impl FnMut(&[u8])) {
        if !self.reader.read(self.fd.as_raw_fd(), msg) {
            // Keep the fd itself: closing our end would fire 'disconnect' in a live app.
            self.open = false;
        }
    }

    /// Sends one JSON value; false if the channel is gone or full.
    pub fn send(&mut self, json: &str) -> bool {
        if !self.open {
            return false;
        }
        let mut line = Vec::with_capacity(json.len() + 1);
        line.extend_from_slice(json.as_bytes());
        line.push(b'\n');
        // SAFETY: line is valid for its length. SIGPIPE is ignored, so a closed peer is EPIPE.
        let r = sys::retry_size(|| unsafe {
            libc::write(self.fd.as_raw_fd(), line.as_ptr().cast(), line.len())
        });
        matches!(r, Ok(n) if n == line.len())
    }
}
