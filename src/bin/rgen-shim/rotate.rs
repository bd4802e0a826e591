//! Log files the shim writes itself, rotated the way pm2-logrotate names and keeps them — without
//! its copy-then-truncate, which loses whatever the app writes between the copy and the truncate.
//!
//! The shim is the only process that writes the file (the app writes into a pipe), so a rotation
//! is: rename the live file to `<stem>__<date>.log` and open a fresh live file, between two
//! writes of the same thread. No line can fall between them. Compression and pruning happen off
//! the write path: gzip in a helper thread, a few unlinks inline.
//!
//! Several shims may append to one file (instances with `merge_logs`). Each holds
//! `flock(LOCK_SH)` on the file it writes and re-checks every [`IDENTITY_RECHECK`] that it is
//! still the file at the path, moving to the new one if not. A rotation takes
//! `flock(LOCK_EX|LOCK_NB)` on the directory, so only one shim rotates at a time. A rotated file
//! is compressed once `flock(LOCK_EX)` on it succeeds — at once when no other shim writes it,
//! else when the last one has moved on — or after [`COMPRESS_GRACE`] at the latest: by then a
//! writer that still holds it has not written since before its last re-check, and re-checks
//! before its next write.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::clock::{self, Tok};
use crate::sys::{self, say};

/// How often a writer makes sure its descriptor is still the file at the configured path
/// (someone else rotated it, `rm`-ed it, or renamed it away).
pub const IDENTITY_RECHECK: Duration = Duration::from_secs(1);
/// The longest a rotated file waits for its other writers to let go before it is compressed.
pub const COMPRESS_GRACE: Duration = Duration::from_secs(2);
/// Buffered output written in one go past this size, even mid-batch.
const FLUSH_AT: usize = 64 * 1024;

/// pm2-logrotate's settings (`pm2 set pm2-logrotate:<key>`), as the shim applies them.
pub struct Policy {
    /// `max_size`: rotate before a write that would make the live file larger.
    pub max_size: Option<u64>,
    /// `retain`: rotated files kept per log; `None` keeps all.
    pub retain: Option<u32>,
    /// `compress`: gzip rotated files to `<name>.log.gz`.
    pub compress: bool,
    /// `dateFormat`, in rotated file names.
    pub date_format: Vec<Tok>,
    /// `rotateInterval`: rotate (non-empty files) at these times whatever their size.
    pub cron: Option<croner::Cron>,
    /// `workerInterval`: how often the wall clock is compared with `rotateInterval` (sizes are
    /// checked on every write, so it plays no part in size rotation).
    pub worker_interval: Duration,
}

impl Policy {
    pub fn rotates(&self) -> bool {
        self.max_size.is_some() || self.cron.is_some()
    }
}

/// Rotation state shared by every file of one shim.
pub struct Rotator {
    pub policy: Policy,
    housekeeper: Housekeeper,
    next_cron: Option<libc::time_t>,
    next_cron_check: Option<Instant>,
}

impl Rotator {
    pub fn new(policy: Policy) -> Rotator {
        let mut r = Rotator {
            policy,
            housekeeper: Housekeeper::default(),
            next_cron: None,
            next_cron_check: None,
        };
        r.schedule_cron(clock::now().0);
        r
    }

    fn schedule_cron(&mut self, after_unix: libc::time_t) {
        let Some(cron) = &self.policy.cron else {
            return;
        };
        self.next_cron = clock::next_after(cron, after_unix);
        self.next_cron_check = self.next_cron.map(|at| {
            let (secs, ms) = clock::now();
            let wait_ms = ((at - secs) * 1000 - libc::time_t::from(ms)).max(0) as u64;
            // The wall clock can jump (a sleeping Mac, an NTP step): look again at least every
            // worker interval.
            Instant::now() + Duration::from_millis(wait_ms).min(self.policy.worker_interval)
        });
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.next_cron_check
    }

    /// True when the cron time has come; reschedules the next one.
    pub fn cron_due(&mut self, now: Instant) -> bool {
        if self.next_cron_check.is_none_or(|d| now < d) {
            return false;
        }
        let (secs, _) = clock::now();
        let due = self.next_cron.is_some_and(|at| secs >= at);
        self.schedule_cron(secs);
        due
    }

    /// Waits for pending compressions (at exit: no more grace for other writers).
    pub fn finish(&mut self) {
        self.housekeeper.finish();
    }
}

pub struct LogFile {
    path: PathBuf,
    file: File,
    /// Identity of `file`, to notice that the path now names another file.
    dev: u64,
    ino: u64,
    size: u64,
    pending: Vec<u8>,
    /// False for `/dev/null` and other paths PM2 users give to throw output away.
    regular: bool,
    checked_at: Instant,
    failed: bool,
    /// The path names something the shim refuses (a symlink planted there): said once, and
    /// tried again only at the next identity check, not at every line.
    reopen_failed: bool,
}

impl LogFile {
    pub fn open(path: &Path, rot: &mut Rotator) -> io::Result<LogFile> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            refuse_others_on_the_way(parent)?;
            fs::create_dir_all(parent)?;
            refuse_others_on_the_way(parent)?;
        }
        let (file, meta) = open_live(path)?;
        let regular = meta.file_type().is_file();
        lock_shared(&file);
        let lf = LogFile {
            path: path.to_owned(),
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.len(),
            file,
            pending: Vec::new(),
            regular,
            checked_at: Instant::now(),
            failed: false,
            reopen_failed: false,
        };
        if regular && rot.policy.rotates() {
            lf.recover(rot);
        }
        Ok(lf)
    }

    /// Appends one line (newline included) to the buffer, rotating first if it would push the
    /// live file past `max_size`.
    pub fn push(&mut self, line: &[u8], rot: &mut Rotator) {
        if let Some(max) = rot.policy.max_size
            && self.regular
            && self.size + (self.pending.len() + line.len()) as u64 > max
        {
            self.flush();
            if self.size > 0 {
                self.rotate(rot, Some(line.len() as u64));
            }
        }
        self.pending.extend_from_slice(line);
        if self.pending.len() >= FLUSH_AT {
            self.flush();
        }
    }

    /// Writes what is buffered. One write(2) per batch of whole lines: O_APPEND keeps batches of
    /// several shims on one file from overwriting each other, and lines never split.
    pub fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        if self.regular && self.checked_at.elapsed() >= IDENTITY_RECHECK {
            self.check_identity();
        }
        match self.file.write_all(&self.pending) {
            Ok(()) => {
                self.size += self.pending.len() as u64;
                self.failed = false;
            }
            Err(e) => {
                // Once per failure streak: a full disk must not flood the journal.
                if !self.failed {
                    say!(
                        "cannot write `{}`: {}",
                        self.path.display(),
                        sys::err_text(&e)
                    );
                }
                self.failed = true;
            }
        }
        self.pending.clear();
        if self.pending.capacity() > 4 * FLUSH_AT {
            self.pending.shrink_to(FLUSH_AT);
        }
    }

    /// A time-triggered rotation (`rotateInterval`): any non-empty file.
    pub fn rotate_now(&mut self, rot: &mut Rotator) {
        self.flush();
        if self.regular {
            self.rotate(rot, None);
        }
    }

    /// Follows the path to whatever file it names now. Also refreshes the size, which others
    /// (another shim, `rgen flush`) may have changed.
    fn check_identity(&mut self) {
        self.checked_at = Instant::now();
        match fs::symlink_metadata(&self.path) {
            Ok(m) if m.dev() == self.dev && m.ino() == self.ino => self.size = m.len(),
            _ => self.reopen(),
        }
    }

    fn reopen(&mut self) {
        match open_live(&self.path) {
            Ok((file, meta)) => {
                lock_shared(&file);
                // Dropping the old descriptor releases our shared lock on the old file.
                self.file = file;
                self.dev = meta.dev();
                self.ino = meta.ino();
                self.size = meta.len();
                self.regular = meta.file_type().is_file();
                self.reopen_failed = false;
            }
            Err(e) => {
                // Keep writing to the old file: nothing is lost, and the next check retries.
                if !self.reopen_failed {
                    say!(
                        "cannot reopen `{}`: {}; still writing to the previous file",
                        self.path.display(),
                        sys::err_text(&e)
                    );
                }
                self.reopen_failed = true;
            }
        }
    }

    /// `incoming`: the size of the write that triggered it (None: forced by the clock).
    fn rotate(&mut self, rot: &mut Rotator, incoming: Option<u64>) {
        // Another shim is rotating a file of this directory (maybe this one): let it, and
        // follow at the next check.
        let Some(_dir_lock) = DirLock::try_take(&self.path) else {
            return;
        };
        match fs::symlink_metadata(&self.path) {
            Ok(m) if m.dev() == self.dev && m.ino() == self.ino => self.size = m.len(),
            // The path holds what the shim refuses to open; retried at the next check.
            _ if self.reopen_failed && self.checked_at.elapsed() < IDENTITY_RECHECK => return,
            _ => {
                // Someone rotated it while we were not looking.
                self.checked_at = Instant::now();
                self.reopen();
                return;
            }
        }
        let still_needed = match (incoming, rot.policy.max_size) {
            _ if self.size == 0 => false,
            (Some(n), Some(max)) => self.size + n > max,
            (Some(_), None) => false,
            (None, _) => true,
        };
        if !still_needed {
            // Emptied in place meanwhile (`rgen flush`).
            return;
        }
        // `retain` orders rotated files by mtime; the kernel's own mtime is coarse (a few ms),
        // too coarse for rotations in quick succession.
        let _ = self.file.set_modified(std::time::SystemTime::now());
        match self.move_aside(rot) {
            Ok(rotated) => {
                self.reopen();
                self.checked_at = Instant::now();
                if rot.policy.retain == Some(0) {
                    let _ = fs::remove_file(&rotated);
                } else if rot.policy.compress {
                    rot.housekeeper.compress(rotated);
                }
            }
            Err(e) => {
                say!(
                    "cannot rotate `{}`: {}",
                    self.path.display(),
                    sys::err_text(&e)
                );
            }
        }
    }

    /// Prunes to `retain - 1` rotated files, then gives the live file its rotated name.
    fn move_aside(&self, rot: &Rotator) -> io::Result<PathBuf> {
        let names = Names::of(&self.path);
        // Pruning and naming under one lock with the compressor's final rename: a name freed by
        // pruning may be given to the next rotated file at once.
        let _guard = DIR_OPS.lock();
        if let Some(retain) = rot.policy.retain.filter(|&r| r > 0) {
            names.prune(retain as usize - 1);
        }
        let (secs, ms) = clock::now();
        let date = clock::format_time(&rot.policy.date_format, secs, ms);
        for n in 0..1000u32 {
            let target = names.rotated(&date, n);
            if exists(&target) || exists(&with_suffix(&target, ".gz")) {
                continue;
            }
            match move_no_replace(&self.path, &target) {
                Ok(()) => return Ok(target),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::other("no free rotated file name"))
    }

    /// After a crash: finish what a previous shim left half done.
    fn recover(&self, rot: &mut Rotator) {
        let names = Names::of(&self.path);
        let _guard = DIR_OPS.lock();
        for (path, kind) in names.leftovers() {
            match kind {
                Leftover::DeadTemp => {
                    let _ = fs::remove_file(&path);
                }
                Leftover::Uncompressed { has_gz } if rot.policy.compress => {
                    if has_gz {
                        // The rename to .gz happens only once the archive is complete.
                        let _ = fs::remove_file(&path);
                    } else {
                        rot.housekeeper.compress(path);
                    }
                }
                Leftover::Uncompressed { .. } => {}
            }
        }
    }
}

/// Tells other shims' compressors that this file is still being written. Best effort: where
/// the filesystem has no locks, the compressor's grace period covers it.
fn lock_shared(f: &File) {
    // SAFETY: plain syscall on our descriptor.
    unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) };
}

/// `flock(LOCK_EX|LOCK_NB)` on a log's directory, held while it rotates.
struct DirLock(Option<File>);

impl DirLock {
    /// None if another process holds it; a lock-less filesystem counts as taken.
    fn try_take(live: &Path) -> Option<DirLock> {
        let dir = match live.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let Ok(f) = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY)
            .open(dir)
        else {
            return Some(DirLock(None));
        };
        // SAFETY: plain syscall on our descriptor.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let busy = io::Error::last_os_error().kind() == io::ErrorKind::WouldBlock;
            return if busy { None } else { Some(DirLock(None)) };
        }
        Some(DirLock(Some(f)))
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        if let Some(f) = &self.0 {
            // SAFETY: as above; closing would release it too, this only makes it explicit.
            unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_UN) };
        }
    }
}

/// Refuses a log directory reached through a symlink or a directory of another user's: where a
/// log directory vanished (tmpfiles ages /var/tmp), anyone may put a link to /etc at its name in
/// a sticky parent, and a root shim would create and fill files there. Checked before the
/// directories are made, so none is made through such a link, and after, as the way then holds
/// only root's and the app user's entries, which no one else can swap.
fn refuse_others_on_the_way(dir: &Path) -> io::Result<()> {
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    let mut at = PathBuf::new();
    for part in dir.components() {
        at.push(part);
        let meta = match fs::symlink_metadata(&at) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        if meta.uid() != me && meta.uid() != 0 {
            let what = if meta.file_type().is_symlink() {
                "a symbolic link"
            } else {
                "a directory"
            };
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!(
                    "`{}` is {what} of uid {}, not of the app's user (uid {me}) or root; refusing to put the app's log under it",
                    at.display(),
                    meta.uid()
                ),
            ));
        }
    }
    Ok(())
}

/// O_APPEND so `rgen flush` (truncate in place) and other writers never lose our place;
/// O_NOFOLLOW and a type check so a planted symlink or FIFO cannot redirect the app's output;
/// O_NONBLOCK only so that opening a FIFO fails instead of hanging.
fn open_live(path: &Path) -> io::Result<(File, fs::Metadata)> {
    let file = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o640)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| refusal(path, e))?;
    let meta = file.metadata()?;
    let is_dev_null = path == Path::new("/dev/null");
    if !meta.file_type().is_file() && !is_dev_null {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "`{}` is not a regular file; refusing to write the app's log into it",
                path.display()
            ),
        ));
    }
    // A file someone else put at the path: in a sticky directory such as /tmp anyone may
    // create the live name — before the first start, or in the instant after a rotation moved
    // it away — and would read what the app writes (root's app's, when the shim is root).
    // Root's own files are fine: only root could have put one there.
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    if meta.file_type().is_file() && meta.uid() != me && meta.uid() != 0 {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "`{}` belongs to uid {}, not to the app's user (uid {me}); refusing to write the app's log into it (remove it, or point the log path into a directory only the app's user can change)",
                path.display(),
                meta.uid()
            ),
        ));
    }
    let fd = file.as_raw_fd();
    // SAFETY: fcntl on our own descriptor.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags >= 0 {
            libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK);
        }
    }
    Ok((file, meta))
}

fn refusal(path: &Path, e: io::Error) -> io::Error {
    let symlink = e.raw_os_error() == Some(libc::ELOOP)
        || fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    if symlink {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "`{}` is a symbolic link; refusing to follow it for the app's log \
                 (point the log path at the real file)",
                path.display()
            ),
        )
    } else if e.raw_os_error() == Some(libc::ENXIO) {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "`{}` is a FIFO or socket; refusing to write the app's log into it",
                path.display()
            ),
        )
    } else {
        io::Error::new(
            e.kind(),
            format!("`{}`: {}", path.display(), sys::err_text(&e)),
        )
    }
}

fn exists(p: &Path) -> bool {
    fs::symlink_metadata(p).is_ok()
}

fn with_suffix(p: &Path, suffix: &str) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// A hard link then an unlink: unlike rename(2), link(2) fails instead of replacing a rotated
/// file another shim created a moment ago. Falls back to rename where links are unsupported.
fn move_no_replace(from: &Path, to: &Path) -> io::Result<()> {
    match fs::hard_link(from, to) {
        Ok(()) => fs::remove_file(from),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(e),
        Err(_) => {
            if exists(to) {
                return Err(io::ErrorKind::AlreadyExists.into());
            }
            fs::rename(from, to)
        }
    }
}

/// Serialises pruning with the compressor's final rename, so a pruned file is never brought back
/// as its archive.
static DIR_OPS: Mutex<()> = Mutex::new(());

/// pm2-logrotate's naming: `<dir>/<stem>__<date>.log`, where `<stem>` is the live file's name
/// without its `.log`. (pm2-logrotate cuts the last four characters whatever they are, and then
/// its `retain` never finds the files of a log not named `*.log`; rgen keeps such names whole.)
struct Names {
    dir: PathBuf,
    /// `<stem>__`
    prefix: Vec<u8>,
    live: Vec<u8>,
}

enum Leftover {
    /// A `.gz.tmp.<pid>` of a process that is gone.
    DeadTemp,
    Uncompressed {
        has_gz: bool,
    },
}

impl Names {
    fn of(live: &Path) -> Names {
        let dir = match live.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
            _ => PathBuf::from("."),
        };
        let name = live
            .file_name()
            .map(|n| n.as_bytes().to_vec())
            .unwrap_or_default();
        let stem = name.strip_suffix(b".log").unwrap_or(&name);
        let mut prefix = stem.to_vec();
        prefix.extend_from_slice(b"__");
        Names {
            dir,
            prefix,
            live: name,
        }
    }

    fn rotated(&self, date: &str, n: u32) -> PathBuf {
        let mut name = self.prefix.clone();
        name.extend_from_slice(date.as_bytes());
        if n > 0 {
            // Several rotations within one second of the date format: later ones get `_1`, `_2`.
            name.extend_from_slice(format!("_{n}").as_bytes());
        }
        name.extend_from_slice(b".log");
        self.dir.join(OsString::from_vec(name))
    }

    /// Rotated files of this log, by logical name (a `.log` and its `.log.gz` count once).
    fn rotated_files(&self) -> Vec<(PathBuf, std::time::SystemTime)> {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut out: Vec<(PathBuf, std::time::SystemTime)> = Vec::new();
        for e in entries.flatten() {
            let name = e.file_name();
            let b = name.as_bytes();
            if b == self.live.as_slice() || !b.starts_with(&self.prefix) {
                continue;
            }
            let logical = if let Some(s) = b.strip_suffix(b".gz") {
                s
            } else {
                b
            };
            if !logical.ends_with(b".log") {
                continue;
            }
            let path = self.dir.join(OsString::from_vec(logical.to_vec()));
            let mtime = e
                .metadata()
                .and_then(|m| m.modified())
                .unwrap_or(std::time::UNIX_EPOCH);
            match out.iter_mut().find(|(p, _)| *p == path) {
                Some((_, t)) => *t = (*t).min(mtime),
                None => out.push((path, mtime)),
            }
        }
        // Oldest first: by the time of their last line (archives keep their source's mtime).
        out.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
        out
    }

    /// Deletes the oldest rotated files until at most `keep` are left.
    fn prune(&self, keep: usize) {
        let files = self.rotated_files();
        let excess = files.len().saturating_sub(keep);
        for (logical, _) in files.into_iter().take(excess) {
            let _ = fs::remove_file(&logical);
            let _ = fs::remove_file(with_suffix(&logical, ".gz"));
        }
    }

    fn leftovers(&self) -> Vec<(PathBuf, Leftover)> {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let names: Vec<Vec<u8>> = entries
            .flatten()
            .map(|e| e.file_name().into_vec())
            .filter(|n| n.starts_with(&self.prefix) && *n != self.live)
            .collect();
        let mut out = Vec::new();
        let busy = |logical: &[u8]| {
            names
                .iter()
                .any(|n| temp_owner(n, logical).is_some_and(|pid| pid > 0 && sys::alive(pid)))
        };
        for n in &names {
            if let Some(pos) = find(n, b".log.gz.tmp.") {
                let logical = &n[..pos + 4];
                if temp_owner(n, logical).is_none_or(|pid| !sys::alive(pid)) {
                    out.push((
                        self.dir.join(OsString::from_vec(n.clone())),
                        Leftover::DeadTemp,
                    ));
                }
            } else if n.ends_with(b".log") && !busy(n) {
                let mut gz = n.clone();
                gz.extend_from_slice(b".gz");
                let path = self.dir.join(OsString::from_vec(n.clone()));
                // A file rotated moments ago by another shim is its compressor's to handle.
                let fresh = fs::symlink_metadata(&path)
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .is_none_or(|age| age < COMPRESS_GRACE * 2);
                if fresh {
                    continue;
                }
                out.push((
                    path,
                    Leftover::Uncompressed {
                        has_gz: names.contains(&gz),
                    },
                ));
            }
        }
        out
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The pid in `<logical>.gz.tmp.<pid>`.
fn temp_owner(name: &[u8], logical: &[u8]) -> Option<libc::pid_t> {
    let rest = name.strip_prefix(logical)?.strip_prefix(b".gz.tmp.")?;
    std::str::from_utf8(rest).ok()?.parse().ok()
}

struct Job {
    path: PathBuf,
    /// Other writers get until `queued_at + COMPRESS_GRACE` to let go of it.
    queued_at: Instant,
}

#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    worker_running: bool,
    hurry: bool,
}

/// Compresses rotated files in a helper thread that exists only while there is work, so the
/// shim stays one small thread while the app just runs.
#[derive(Default)]
struct Housekeeper {
    shared: Arc<(Mutex<Queue>, Condvar)>,
    worker: Option<std::thread::JoinHandle<()>>,
}

/// How long the idle helper thread lingers for the next job before it exits.
const WORKER_LINGER: Duration = Duration::from_secs(5);

impl Housekeeper {
    fn compress(&mut self, path: PathBuf) {
        let (lock, cv) = &*self.shared;
        let Ok(mut q) = lock.lock() else { return };
        q.jobs.push_back(Job {
            path,
            queued_at: Instant::now(),
        });
        cv.notify_all();
        if q.worker_running {
            return;
        }
        q.worker_running = true;
        drop(q);
        // A previous worker that ran out of work has returned or is about to.
        if let Some(old) = self.worker.take() {
            let _ = old.join();
        }
        let shared = Arc::clone(&self.shared);
        // The thread starts with every signal blocked, so signals keep reaching the main
        // thread's self-pipe and never interrupt a compression.
        let old_mask = crate::signals::block_async();
        let spawned = std::thread::Builder::new()
            .name("rgen-shim-gzip".into())
            // flate2's compressor state is built on the stack before it is boxed (in debug
            // builds): a few hundred kB. Only touched pages count, and only while it runs.
            .stack_size(1024 * 1024)
            .spawn(move || work(&shared));
        crate::signals::set_mask(&old_mask);
        match spawned {
            Ok(handle) => self.worker = Some(handle),
            Err(e) => {
                say!("cannot start the compression thread: {}", sys::err_text(&e));
                if let Ok(mut q) = lock.lock() {
                    q.worker_running = false;
                }
            }
        }
    }

    fn finish(&mut self) {
        let (lock, cv) = &*self.shared;
        if let Ok(mut q) = lock.lock() {
            q.hurry = true;
            cv.notify_all();
        }
        if let Some(h) = self.worker.take() {
            let _ = h.join();
        }
    }
}

fn work(shared: &(Mutex<Queue>, Condvar)) {
    let (lock, cv) = shared;
    loop {
        let job = {
            let Ok(mut q) = lock.lock() else { return };
            let idle_since = Instant::now();
            loop {
                if let Some(j) = q.jobs.pop_front() {
                    break j;
                }
                let now = Instant::now();
                if q.hurry || now >= idle_since + WORKER_LINGER {
                    q.worker_running = false;
                    drop(q);
                    give_back_memory();
                    return;
                }
                q = match cv.wait_timeout(q, idle_since + WORKER_LINGER - now) {
                    Ok((q, _)) => q,
                    Err(_) => return,
                };
            }
        };
        if let Err(e) = gzip(&job.path, job.queued_at + COMPRESS_GRACE) {
            say!(
                "cannot compress `{}`: {}",
                job.path.display(),
                sys::err_text(&e)
            );
        }
    }
}

/// The compressor's buffers (a few hundred kB) stay in glibc's per-thread arena after they are
/// freed; hand them back, so a shim that compressed once is as small as one that never did.
fn give_back_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Waits until no other process holds the file open under our protocol (or `until`).
fn wait_for_writers(f: &File, until: Instant) {
    loop {
        // SAFETY: plain syscall on our descriptor.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            return;
        }
        if io::Error::last_os_error().kind() != io::ErrorKind::WouldBlock || Instant::now() >= until
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `<file>` → `<file>.gz` through `<file>.gz.tmp.<pid>`; the archive appears under its name only
/// once complete, and keeps the source's mtime so `retain` still sees the files in order.
fn gzip(src: &Path, writers_until: Instant) -> io::Result<()> {
    use flate2::{Compression, write::GzEncoder};
    let input = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(src)
    {
        Ok(f) => f,
        // Pruned or compressed by another shim meanwhile.
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    wait_for_writers(&input, writers_until);
    // After the wait: the last lines may have arrived meanwhile.
    let meta = input.metadata()?;
    let tmp = with_suffix(src, &format!(".gz.tmp.{}", std::process::id()));
    let out = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o640)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&tmp)?;
    let result = (|| {
        let mut enc = GzEncoder::new(io::BufWriter::new(out), Compression::default());
        io::copy(&mut io::BufReader::new(&input), &mut enc)?;
        let out = enc.finish()?.into_inner().map_err(|e| e.into_error())?;
        if let Ok(t) = meta.modified() {
            let _ = out.set_modified(t);
        }
        out.sync_all()
    })();
    let _guard = DIR_OPS.lock();
    // Pruned meanwhile, and maybe its name already given to a newer file: that one is not ours.
    let same =
        fs::symlink_metadata(src).is_ok_and(|m| m.dev() == meta.dev() && m.ino() == meta.ino());
    if result.is_err() || !same {
        let _ = fs::remove_file(&tmp);
        return result;
    }
    fs::rename(&tmp, with_suffix(src, ".gz"))?;
    let _ = fs::remove_file(src);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::Names;
    use std::path::Path;

    #[test]
    fn pm2_logrotate_names() {
        let n = Names::of(Path::new("/var/log/app/api-out.log"));
        assert_eq!(
            n.rotated("2024-05-01_00-00-00", 0),
            Path::new("/var/log/app/api-out__2024-05-01_00-00-00.log")
        );
        assert_eq!(
            n.rotated("2024-05-01_00-00-00", 2),
            Path::new("/var/log/app/api-out__2024-05-01_00-00-00_2.log")
        );
        // Not a .log: the name stays whole.
        let n = Names::of(Path::new("/l/api.txt"));
        assert_eq!(n.rotated("d", 0), Path::new("/l/api.txt__d.log"));
    }
}
