//! App output to files: pipes from the app's stdout/stderr, split into lines, optionally
//! timestamped, copied to the out/err/combined files, which `rotate` rotates.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::cli::Options;
use crate::clock::Stamper;
use crate::rotate::{LogFile, Rotator};
use crate::sys;

/// A line without newline is held this long, so a prompt or progress dot still shows up.
const PARTIAL_FLUSH: Duration = Duration::from_millis(200);
/// Longest line held back; beyond it the bytes are written as a line of their own.
const MAX_LINE: usize = 8192;
/// Reads per wakeup: an app flooding its output must not starve signals and timers.
const MAX_READS: usize = 16;
const CHUNK: usize = 16 * 1024;

pub struct Logs {
    files: Vec<LogFile>,
    pub streams: Vec<Stream>,
    stamper: Option<Stamper>,
    rotator: Rotator,
    /// One line with its prefix, reused: no allocation per line.
    scratch: Vec<u8>,
}

pub struct Stream {
    rd: Option<OwnedFd>,
    /// Kept for the whole life of the shim, so every run of the app writes into the same pipe
    /// and lines of consecutive runs stay in order.
    wr: OwnedFd,
    /// 1 or 2: the app's descriptor this pipe becomes.
    pub target: RawFd,
    /// Indexes into `Logs::files`.
    dests: Vec<usize>,
    buf: Vec<u8>,
    partial_since: Option<Instant>,
}

impl Stream {
    pub fn fd(&self) -> Option<RawFd> {
        self.rd.as_ref().map(AsRawFd::as_raw_fd)
    }
}

impl Logs {
    /// Opens the files. A stream with no destination keeps the shim's own fd (no pipe, no copy).
    pub fn open(o: &Options, mut rotator: Rotator) -> io::Result<Option<Logs>> {
        if !o.logs_configured() {
            return Ok(None);
        }
        let mut files: Vec<LogFile> = Vec::new();
        let mut paths: Vec<PathBuf> = Vec::new();
        let mut dest = |p: &Option<PathBuf>, rot: &mut Rotator| -> io::Result<Option<usize>> {
            let Some(p) = p else { return Ok(None) };
            if let Some(i) = paths.iter().position(|q| q == p) {
                return Ok(Some(i));
            }
            files.push(LogFile::open(p, rot)?);
            paths.push(p.clone());
            Ok(Some(files.len() - 1))
        };
        let out = dest(&o.stdout, &mut rotator)?;
        let err = dest(&o.stderr, &mut rotator)?;
        let comb = dest(&o.combined, &mut rotator)?;
        let mut streams = Vec::new();
        for (own, target) in [(out, 1), (err, 2)] {
            let mut dests: Vec<usize> = own.into_iter().chain(comb).collect();
            dests.dedup();
            if dests.is_empty() {
                continue;
            }
            let (rd, wr) = sys::pipe()?;
            sys::set_nonblocking(rd.as_raw_fd())?;
            streams.push(Stream {
                rd: Some(rd),
                wr,
                target,
                dests,
                buf: Vec::new(),
                partial_since: None,
            });
        }
        Ok(Some(Logs {
            files,
            streams,
            stamper: o.log_date_format.as_deref().map(Stamper::new),
            rotator,
            scratch: Vec::new(),
        }))
    }

    /// Write ends for one run of the app: (descriptor, number it gets in the app).
    pub fn child_ends(&self) -> io::Result<Vec<(OwnedFd, RawFd)>> {
        self.streams
            .iter()
            .map(|s| Ok((s.wr.try_clone()?, s.target)))
            .collect()
    }

    /// Reads what stream `i` has; at EOF flushes the rest and stops polling it. Returns true
    /// if it stopped at its read budget with more possibly pending.
    pub fn on_readable(&mut self, i: usize) -> bool {
        let Some(fd) = self.streams.get(i).and_then(Stream::fd) else {
            return false;
        };
        let mut chunk = [0u8; CHUNK];
        let mut eof = false;
        let mut drained = false;
        for _ in 0..MAX_READS {
            // SAFETY: chunk is valid for its length.
            let n = unsafe { libc::read(fd, chunk.as_mut_ptr().cast(), chunk.len()) };
            if n == 0 {
                eof = true;
                break;
            }
            if n < 0 {
                match io::Error::last_os_error().kind() {
                    io::ErrorKind::Interrupted => continue,
                    io::ErrorKind::WouldBlock => {
                        drained = true;
                        break;
                    }
                    _ => {
                        eof = true;
                        break;
                    }
                }
            }
            self.absorb(i, &chunk[..n as usize]);
        }
        if eof {
            self.flush_partial(i);
            if let Some(s) = self.streams.get_mut(i) {
                s.rd = None;
            }
        }
        self.flush_files();
        !eof && !drained
    }

    fn absorb(&mut self, i: usize, mut data: &[u8]) {
        while !data.is_empty() {
            let Some(stream) = self.streams.get_mut(i) else {
                return;
            };
            match data.iter().position(|&b| b == b'\n') {
                Some(nl) if stream.buf.is_empty() => {
                    // The common case: a whole line straight from the chunk, no copy.
                    stream.partial_since = None;
                    self.emit(i, &data[..nl]);
                    data = &data[nl + 1..];
                }
                Some(nl) => {
                    let mut line = std::mem::take(&mut stream.buf);
                    line.extend_from_slice(&data[..nl]);
                    stream.partial_since = None;
                    self.emit(i, &line);
                    line.clear();
                    if let Some(s) = self.streams.get_mut(i) {
                        // Reuse the allocation unless one huge line inflated it.
                        if line.capacity() <= MAX_LINE {
                            s.buf = line;
                        }
                    }
                    data = &data[nl + 1..];
                }
                None => {
                    let room = MAX_LINE.saturating_sub(stream.buf.len());
                    let take = data.len().min(room);
                    stream.buf.extend_from_slice(&data[..take]);
                    stream.partial_since.get_or_insert_with(Instant::now);
                    data = &data[take..];
                    if stream.buf.len() >= MAX_LINE {
                        self.flush_partial(i);
                    }
                }
            }
        }
    }

    fn flush_partial(&mut self, i: usize) {
        let Some(stream) = self.streams.get_mut(i) else {
            return;
        };
        stream.partial_since = None;
        if stream.buf.is_empty() {
            return;
        }
        let line = std::mem::take(&mut stream.buf);
        self.emit(i, &line);
    }

    /// Earliest moment a held partial line must be written, or the rotation clock looked at.
    pub fn next_deadline(&self) -> Option<Instant> {
        let partial = self
            .streams
            .iter()
            .filter_map(|s| s.partial_since)
            .min()
            .map(|t| t + PARTIAL_FLUSH);
        [partial, self.rotator.next_deadline()]
            .into_iter()
            .flatten()
            .min()
    }

    pub fn on_timer(&mut self, now: Instant) {
        for i in 0..self.streams.len() {
            if matches!(self.streams[i].partial_since, Some(t) if now >= t + PARTIAL_FLUSH) {
                self.flush_partial(i);
            }
        }
        if self.rotator.cron_due(now) {
            for f in &mut self.files {
                f.rotate_now(&mut self.rotator);
            }
        }
        self.flush_files();
    }

    /// What is already in the pipes, without waiting for descendants that may still hold the
    /// write ends. Called when a run of the app ends, so its last lines come before the next
    /// run's first.
    pub fn drain(&mut self) {
        for i in 0..self.streams.len() {
            // Bounded: a surviving descendant (no treekill) may write forever.
            for _ in 0..64 {
                if !self.on_readable(i) {
                    break;
                }
            }
            self.flush_partial(i);
        }
        self.flush_files();
    }

    /// At exit: drain, then wait for pending compressions.
    pub fn finish(&mut self) {
        self.drain();
        self.rotator.finish();
    }

    /// Each line goes whole into each destination's buffer, so lines from stdout and stderr
    /// never interleave inside the combined file.
    fn emit(&mut self, i: usize, line: &[u8]) {
        let Some(stream) = self.streams.get(i) else {
            return;
        };
        let mut out = std::mem::take(&mut self.scratch);
        out.clear();
        if let Some(st) = &mut self.stamper {
            // PM2 `prefixLogWithDate`: `${date}: ${line}`.
            out.extend_from_slice(st.stamp().as_bytes());
            out.extend_from_slice(b": ");
        }
        out.extend_from_slice(line);
        out.push(b'\n');
        for &d in &stream.dests {
            if let Some(f) = self.files.get_mut(d) {
                f.push(&out, &mut self.rotator);
            }
        }
        if out.capacity() <= MAX_LINE * 2 {
            self.scratch = out;
        }
    }

    fn flush_files(&mut self) {
        for f in &mut self.files {
            f.flush();
        }
    }
}
