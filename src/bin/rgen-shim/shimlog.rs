//! `--shim-log`: the shim's own messages in a file it opens and rotates itself. launchd opens
//! `StandardErrorPath` once and keeps it, so a file given there can never be rotated safely
//! (platform.md D8); this one is rotated with the app's logs' settings, as pm2-logrotate rotates
//! `pm2.log`.

use std::cell::Cell;
use std::io;
use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

use crate::clock::Stamper;
use crate::rotate::{LogFile, Policy, Rotator};

struct ShimLog {
    file: LogFile,
    rotator: Rotator,
    stamper: Stamper,
}

static LOG: Mutex<Option<ShimLog>> = Mutex::new(None);

thread_local! {
    /// Set while this thread writes the shim log, so a message about the shim log itself (a
    /// failed rotation) goes to stderr instead of deadlocking on LOG.
    static WRITING: Cell<bool> = const { Cell::new(false) };
}

pub fn open(path: &Path, policy: Policy) -> io::Result<()> {
    let mut rotator = Rotator::new(policy);
    let file = LogFile::open(path, &mut rotator)?;
    let log = ShimLog {
        file,
        rotator,
        // PM2's `time: true` format, as the app's lines get.
        stamper: Stamper::new(crate::shim_protocol::default::PM2_TIME_FORMAT),
    };
    *LOG.lock().unwrap_or_else(|e| e.into_inner()) = Some(log);
    Ok(())
}

/// Writes one message line; false if there is no shim log (the caller uses stderr).
pub fn write(line: &[u8]) -> bool {
    if WRITING.with(Cell::get) {
        return false;
    }
    let mut guard = LOG.lock().unwrap_or_else(|e| e.into_inner());
    let Some(log) = guard.as_mut() else {
        return false;
    };
    WRITING.with(|w| w.set(true));
    let mut stamped = Vec::with_capacity(line.len() + 24);
    stamped.extend_from_slice(log.stamper.stamp().as_bytes());
    stamped.extend_from_slice(b": ");
    stamped.extend_from_slice(line);
    log.file.push(&stamped, &mut log.rotator);
    log.file.flush();
    WRITING.with(|w| w.set(false));
    true
}

pub fn next_deadline() -> Option<Instant> {
    LOG.lock()
        .ok()?
        .as_ref()
        .and_then(|l| l.rotator.next_deadline())
}

pub fn on_timer(now: Instant) {
    let mut guard = LOG.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(log) = guard.as_mut()
        && log.rotator.cron_due(now)
    {
        WRITING.with(|w| w.set(true));
        log.file.rotate_now(&mut log.rotator);
        WRITING.with(|w| w.set(false));
    }
}

/// At exit: pending compressions of the shim log finish first.
pub fn finish() {
    // Out of the lock first: the compression thread may want to say something meanwhile.
    let log = LOG.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(mut log) = log {
        log.rotator.finish();
    }
}
