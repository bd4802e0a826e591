//! App output to files: line-prefixed timestamps, a combined file, and size-based rotation.
//!
//! The shim owns the file descriptors, so rotation is a rename and a reopen — no copytruncate,
//! no lost lines (launchd's own Standard*Path cannot be rotated safely, platform.md D8).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::cli::Options;
use crate::sys;

/// A line without newline is held this long, so a prompt or progress dot still shows up.
const PARTIAL_FLUSH: Duration = Duration::from_millis(200);
/// Longest line held back; beyond it the bytes are written as a line of their own.
const MAX_LINE: usize = 8192;
/// Reads per wakeup: an app flooding its output must not starve signals and timers.
const MAX_READS: usize = 16;

pub struct Logs {
    files: Vec<LogFile>,
    pub streams: Vec<Stream>,
    format: Option<Vec<Tok>>,
    max_size: Option<u64>,
    keep: u32,
}

struct LogFile {
    path: PathBuf,
    file: File,
    size: u64,
    failed: bool,
}

pub struct Stream {
    rd: Option<OwnedFd>,
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

/// Which of the child's fds (1, 2) get a pipe, and the write ends to give it.
pub struct ChildEnds {
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
}

impl Logs {
    /// Opens the files. A stream with no destination keeps the shim's own fd (no pipe, no copy).
    pub fn open(o: &Options) -> io::Result<Option<(Logs, ChildEnds)>> {
        if !o.logs_configured() {
            return Ok(None);
        }
        let mut files: Vec<LogFile> = Vec::new();
        let mut dest = |p: &Option<PathBuf>| -> io::Result<Option<usize>> {
            let Some(p) = p else { return Ok(None) };
            if let Some(i) = files.iter().position(|f| f.path == *p) {
                return Ok(Some(i));
            }
            files.push(LogFile::open(p)?);
            Ok(Some(files.len() - 1))
        };
        let out = dest(&o.stdout)?;
        let err = dest(&o.stderr)?;
        let comb = dest(&o.combined)?;
        let mut streams = Vec::new();
        let mut ends = ChildEnds {
            stdout: None,
            stderr: None,
        };
        for (own, end) in [(out, &mut ends.stdout), (err, &mut ends.stderr)] {
            let mut dests: Vec<usize> = own.into_iter().chain(comb).collect();
            dests.dedup();
            if dests.is_empty() {
                continue;
            }
            let (rd, wr) = sys::pipe()?;
            sys::set_nonblocking(rd.as_raw_fd())?;
            *end = Some(wr);
            streams.push(Stream {
                rd: Some(rd),
                dests,
                buf: Vec::new(),
                partial_since: None,
            });
        }
        let logs = Logs {
            files,
            streams,
            format: o.log_date_format.as_deref().map(parse_format),
            max_size: o.log_max_size,
            keep: o.log_keep,
        };
        Ok(Some((logs, ends)))
    }

    /// Reads what stream `i` has; at EOF flushes the rest and stops polling it. Returns true
    /// if it stopped at its read budget with more possibly pending.
    pub fn on_readable(&mut self, i: usize) -> bool {
        let Some(stream) = self.streams.get_mut(i) else {
            return false;
        };
        let Some(fd) = stream.fd() else { return false };
        let mut chunk = [0u8; 4096];
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
        !eof && !drained
    }

    fn absorb(&mut self, i: usize, mut data: &[u8]) {
        while !data.is_empty() {
            let Some(stream) = self.streams.get_mut(i) else {
                return;
            };
            match data.iter().position(|&b| b == b'\n') {
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

    /// Earliest moment a held partial line must be written.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.streams
            .iter()
            .filter_map(|s| s.partial_since)
            .min()
            .map(|t| t + PARTIAL_FLUSH)
    }

    pub fn on_timer(&mut self, now: Instant) {
        for i in 0..self.streams.len() {
            if matches!(self.streams[i].partial_since, Some(t) if now >= t + PARTIAL_FLUSH) {
                self.flush_partial(i);
            }
        }
    }

    /// Final drain once the app is gone: what is already in the pipes, without waiting for
    /// descendants that may still hold the write ends.
    pub fn finish(&mut self) {
        for i in 0..self.streams.len() {
            // Bounded: a surviving descendant (no treekill) may write forever.
            for _ in 0..64 {
                if !self.on_readable(i) {
                    break;
                }
            }
            self.flush_partial(i);
        }
    }

    /// One write(2) per line and file, so lines from stdout and stderr never interleave
    /// inside the combined file.
    fn emit(&mut self, i: usize, line: &[u8]) {
        let mut out = Vec::with_capacity(line.len() + 40);
        if let Some(toks) = &self.format {
            // PM2 `prefixLogWithDate`: `${date}: ${line}`.
            out.extend_from_slice(format_now(toks).as_bytes());
            out.extend_from_slice(b": ");
        }
        out.extend_from_slice(line);
        out.push(b'\n');
        let Some(stream) = self.streams.get(i) else {
            return;
        };
        for &d in &stream.dests {
            if let Some(f) = self.files.get_mut(d) {
                f.write(&out, self.max_size, self.keep);
            }
        }
    }
}

impl LogFile {
    fn open(path: &Path) -> io::Result<LogFile> {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        let file = OpenOptions::new().append(true).create(true).open(path)?;
        let size = file.metadata()?.len();
        Ok(LogFile {
            path: path.to_owned(),
            file,
            size,
            failed: false,
        })
    }

    fn write(&mut self, data: &[u8], max: Option<u64>, keep: u32) {
        if let Some(max) = max
            && self.size + data.len() as u64 > max
        {
            // Someone may have emptied the file meanwhile (`rgen flush`): ask before rotating.
            self.size = self.file.metadata().map_or(self.size, |m| m.len());
        }
        if let Some(max) = max
            && self.size > 0
            && self.size + data.len() as u64 > max
            && let Err(e) = self.rotate(keep)
        {
            sys::say!(
                "cannot rotate `{}`: {}",
                self.path.display(),
                sys::err_text(&e)
            );
        }
        match self.file.write_all(data) {
            Ok(()) => {
                self.size += data.len() as u64;
                self.failed = false;
            }
            Err(e) => {
                // Say it once per failure streak: a full disk must not flood the journal.
                if !self.failed {
                    sys::say!(
                        "cannot write `{}`: {}",
                        self.path.display(),
                        sys::err_text(&e)
                    );
                }
                self.failed = true;
            }
        }
    }

    /// `file.(N-1)` → `file.N` … `file` → `file.1`, then a fresh `file`.
    fn rotate(&mut self, keep: u32) -> io::Result<()> {
        let numbered = |n: u32| {
            let mut p = self.path.clone().into_os_string();
            p.push(format!(".{n}"));
            PathBuf::from(p)
        };
        if keep == 0 {
            let _ = fs::remove_file(&self.path);
        } else {
            let _ = fs::remove_file(numbered(keep));
            for n in (1..keep).rev() {
                let from = numbered(n);
                if from.exists() {
                    fs::rename(&from, numbered(n + 1))?;
                }
            }
            fs::rename(&self.path, numbered(1))?;
        }
        self.file = OpenOptions::new()
            .append(true)
            .create(true)
            .open(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

/// A day.js format token. `[...]` is literal text, as in day.js.
#[derive(Debug, PartialEq)]
pub enum Tok {
    Lit(String),
    Year4,
    Year2,
    Month2,
    Month,
    Day2,
    Day,
    Hour2,
    Hour,
    Minute2,
    Minute,
    Second2,
    Second,
    Millis3,
    /// `Z` = +01:00, `ZZ` = +0100.
    Offset {
        colon: bool,
    },
}

pub fn parse_format(fmt: &str) -> Vec<Tok> {
    type Make = fn() -> Tok;
    const TOKENS: &[(&str, Make)] = &[
        ("YYYY", || Tok::Year4),
        ("YY", || Tok::Year2),
        ("MM", || Tok::Month2),
        ("M", || Tok::Month),
        ("DD", || Tok::Day2),
        ("D", || Tok::Day),
        ("HH", || Tok::Hour2),
        ("H", || Tok::Hour),
        ("mm", || Tok::Minute2),
        ("m", || Tok::Minute),
        ("ss", || Tok::Second2),
        ("s", || Tok::Second),
        ("SSS", || Tok::Millis3),
        ("ZZ", || Tok::Offset { colon: false }),
        ("Z", || Tok::Offset { colon: true }),
    ];
    let mut toks = Vec::new();
    let mut lit = String::new();
    let mut rest = fmt;
    'outer: while let Some(c) = rest.chars().next() {
        if c == '['
            && let Some(end) = rest.find(']')
        {
            lit.push_str(&rest[1..end]);
            rest = &rest[end + 1..];
            continue;
        }
        for (pat, make) in TOKENS {
            if let Some(after) = rest.strip_prefix(pat) {
                if !lit.is_empty() {
                    toks.push(Tok::Lit(std::mem::take(&mut lit)));
                }
                toks.push(make());
                rest = after;
                continue 'outer;
            }
        }
        lit.push(c);
        rest = &rest[c.len_utf8()..];
    }
    if !lit.is_empty() {
        toks.push(Tok::Lit(lit));
    }
    toks
}

fn format_now(toks: &[Tok]) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    format_time(toks, now.as_secs() as libc::time_t, now.subsec_millis())
}

/// Local time, as day.js formats by default (and PM2 with it).
pub fn format_time(toks: &[Tok], secs: libc::time_t, millis: u32) -> String {
    // SAFETY: tm is plain data; localtime_r fills it or returns null.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    if unsafe { libc::localtime_r(&secs, &mut tm) }.is_null() {
        return String::new();
    }
    let mut s = String::with_capacity(32);
    let year = i64::from(tm.tm_year) + 1900;
    for t in toks {
        use std::fmt::Write as _;
        let _ = match t {
            Tok::Lit(l) => write!(s, "{l}"),
            Tok::Year4 => write!(s, "{year:04}"),
            Tok::Year2 => write!(s, "{:02}", year.rem_euclid(100)),
            Tok::Month2 => write!(s, "{:02}", tm.tm_mon + 1),
            Tok::Month => write!(s, "{}", tm.tm_mon + 1),
            Tok::Day2 => write!(s, "{:02}", tm.tm_mday),
            Tok::Day => write!(s, "{}", tm.tm_mday),
            Tok::Hour2 => write!(s, "{:02}", tm.tm_hour),
            Tok::Hour => write!(s, "{}", tm.tm_hour),
            Tok::Minute2 => write!(s, "{:02}", tm.tm_min),
            Tok::Minute => write!(s, "{}", tm.tm_min),
            Tok::Second2 => write!(s, "{:02}", tm.tm_sec),
            Tok::Second => write!(s, "{}", tm.tm_sec),
            Tok::Millis3 => write!(s, "{millis:03}"),
            Tok::Offset { colon } => {
                let off = tm.tm_gmtoff;
                let sign = if off < 0 { '-' } else { '+' };
                let (h, m) = (off.abs() / 3600, off.abs() % 3600 / 60);
                if *colon {
                    write!(s, "{sign}{h:02}:{m:02}")
                } else {
                    write!(s, "{sign}{h:02}{m:02}")
                }
            }
        };
    }
    s
}

#[cfg(test)]
mod tests {
    use super::{Tok, parse_format};

    #[test]
    fn day_js_tokens_and_bracket_literals() {
        assert_eq!(
            parse_format("YYYY-MM-DD[T]HH:mm:ss.SSS Z"),
            [
                Tok::Year4,
                Tok::Lit("-".into()),
                Tok::Month2,
                Tok::Lit("-".into()),
                Tok::Day2,
                Tok::Lit("T".into()),
                Tok::Hour2,
                Tok::Lit(":".into()),
                Tok::Minute2,
                Tok::Lit(":".into()),
                Tok::Second2,
                Tok::Lit(".".into()),
                Tok::Millis3,
                Tok::Lit(" ".into()),
                Tok::Offset { colon: true },
            ]
        );
        // PM2's `time: true` format has a bare T, which is not a token.
        assert_eq!(parse_format("DDTHH")[1], Tok::Lit("T".into()));
        assert_eq!(parse_format("[YYYY]"), [Tok::Lit("YYYY".into())]);
    }
}
