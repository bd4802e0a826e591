//! `--pid-file`: the app's pid on disk, so a shim that was SIGKILLed (`launchctl kickstart -k`)
//! does not leave its app running beside the next one. On Linux `PR_SET_PDEATHSIG` already
//! takes the app down with the shim; macOS has nothing like it, so the next shim does it.

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant, UNIX_EPOCH};

use crate::sys::{self, say};

pub fn record(path: &Path, pid: libc::pid_t) {
    if let Err(e) = sys::replace_file(path, format!("{pid}\n").as_bytes()) {
        say!(
            "cannot write pid file `{}`: {}",
            path.display(),
            sys::err_text(&e)
        );
    }
}

pub fn clear(path: &Path) {
    let _ = fs::remove_file(path);
}

/// Stops the process group of an app a previous shim left behind, if the file still names one:
/// `sig` to the group, SIGKILL after `grace`, then waits (bounded) until it is gone.
pub fn stop_leftover(path: &Path, sig: libc::c_int, grace: Duration, name: &str) {
    let Some(pid) = leftover(path) else {
        clear(path);
        return;
    };
    say!(
        "the previous app of {name} (pid {pid}) is still running without its shim; stopping it first"
    );
    sys::kill(-pid, sig);
    if !wait_gone(pid, grace) {
        say!(
            "pid {pid} still running {}ms after the stop signal; sending SIGKILL",
            grace.as_millis()
        );
        sys::kill(-pid, libc::SIGKILL);
        if !wait_gone(pid, grace.max(Duration::from_secs(1))) {
            say!("process group {pid} could not be killed; starting the app anyway");
        }
    }
    clear(path);
}

fn wait_gone(pgid: libc::pid_t, within: Duration) -> bool {
    let until = Instant::now() + within;
    loop {
        if !group_running(pgid) {
            return true;
        }
        if Instant::now() >= until {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The recorded pid, if it can only be the app we started: the file was written after the
/// last boot, and the process with that pid (if it still exists) is older than the file. A
/// group whose leader exited keeps its id reserved, so a live group without a live leader is
/// still ours.
fn leftover(path: &Path) -> Option<libc::pid_t> {
    let text = fs::read_to_string(path).ok()?;
    let pid: libc::pid_t = text.trim().parse().ok().filter(|&p| p > 1)?;
    let written = fs::metadata(path).ok()?.modified().ok()?;
    let written = written.duration_since(UNIX_EPOCH).ok()?.as_secs();
    if written < boot_time_unix()? {
        return None;
    }
    // SAFETY: getpid cannot fail.
    if pid == unsafe { libc::getpid() } {
        return None;
    }
    match start_time_unix(pid) {
        // One second of slack: the start time is rounded down, the mtime may be coarse.
        Some(started) if started > written + 1 => return None,
        _ => {}
    }
    group_running(pid).then_some(pid)
}

/// A live (non-zombie) member in process group `pgid` that we may signal.
fn group_running(pgid: libc::pid_t) -> bool {
    // SAFETY: signal 0 only checks.
    if unsafe { libc::kill(-pgid, 0) } != 0 {
        // ESRCH: no such group; EPERM: someone else's, never ours to stop.
        return false;
    }
    #[cfg(target_os = "linux")]
    {
        // Zombies still answer kill(); they wait for their (new) parent to reap them.
        let Ok(entries) = fs::read_dir("/proc") else {
            return true;
        };
        entries.flatten().any(|e| {
            let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
                return false;
            };
            let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
                return false;
            };
            let Some(after) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
                return false;
            };
            let f: Vec<&str> = after.split_ascii_whitespace().take(4).collect();
            // state ppid pgrp
            f.len() == 4 && f[0] != "Z" && f[0] != "X" && f[2].parse() == Ok(pgid)
        })
    }
    #[cfg(not(target_os = "linux"))]
    true
}

#[cfg(target_os = "linux")]
fn boot_time_unix() -> Option<u64> {
    let stat = fs::read_to_string("/proc/stat").ok()?;
    stat.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

#[cfg(target_os = "linux")]
fn start_time_unix(pid: libc::pid_t) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    // Field 22 overall; after the comm, state is the first.
    let ticks: u64 = after.split_ascii_whitespace().nth(19)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = u64::try_from(unsafe { libc::sysconf(libc::_SC_CLK_TCK) }).ok()?;
    Some(boot_time_unix()? + ticks / hz.max(1))
}

#[cfg(target_os = "macos")]
fn boot_time_unix() -> Option<u64> {
    let mut mib = [libc::CTL_KERN, libc::KERN_BOOTTIME];
    // SAFETY: plain data filled by sysctl.
    let mut tv: libc::timeval = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::timeval>();
    // SAFETY: mib, tv and len are valid for the sizes given.
    let r = unsafe {
        libc::sysctl(
            mib.as_mut_ptr(),
            2,
            (&mut tv as *mut libc::timeval).cast(),
            &mut len,
            std::ptr::null_mut(),
            0,
        )
    };
    (r == 0).then_some(tv.tv_sec as u64)
}

#[cfg(target_os = "macos")]
fn start_time_unix(pid: libc::pid_t) -> Option<u64> {
    // SAFETY: plain data filled by proc_pidinfo.
    let mut info: libc::proc_bsdinfo = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::proc_bsdinfo>() as libc::c_int;
    // SAFETY: info is valid for `size` bytes.
    let n = unsafe {
        libc::proc_pidinfo(
            pid,
            libc::PROC_PIDTBSDINFO,
            0,
            (&mut info as *mut libc::proc_bsdinfo).cast(),
            size,
        )
    };
    (n == size).then_some(info.pbi_start_tvsec)
}
