//! The app's process tree: who to signal for treekill, and whose memory counts.

#[cfg(target_os = "linux")]
pub use linux::{descendants, memory_bytes};
#[cfg(target_os = "macos")]
pub use macos::{descendants, memory_bytes};

#[cfg(target_os = "linux")]
mod linux {
    use std::fs;
    use std::sync::atomic::{AtomicU8, Ordering};

    /// Every live descendant of `root` (not `root` itself). The shim is a child subreaper, so
    /// with `root` = the shim this includes orphans whose parent died, wherever their pgid is.
    pub fn descendants(root: libc::pid_t) -> Vec<libc::pid_t> {
        if children_files_work() {
            let mut out = Vec::new();
            let mut i = 0;
            push_children(root, &mut out);
            while i < out.len() {
                let pid = out[i];
                push_children(pid, &mut out);
                i += 1;
            }
            out
        } else {
            by_scanning(root)
        }
    }

    /// `/proc/<pid>/task/<tid>/children` needs CONFIG_PROC_CHILDREN; checked once.
    fn children_files_work() -> bool {
        static STATE: AtomicU8 = AtomicU8::new(0);
        match STATE.load(Ordering::Relaxed) {
            1 => true,
            2 => false,
            _ => {
                let me = std::process::id();
                let ok = fs::metadata(format!("/proc/{me}/task/{me}/children")).is_ok();
                STATE.store(if ok { 1 } else { 2 }, Ordering::Relaxed);
                ok
            }
        }
    }

    /// Children are listed per thread (the one that forked), so every task is read.
    fn push_children(pid: libc::pid_t, out: &mut Vec<libc::pid_t>) {
        let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
            return;
        };
        for task in tasks.flatten() {
            let mut path = task.path();
            path.push("children");
            if let Ok(text) = fs::read_to_string(path) {
                for child in text.split_ascii_whitespace().filter_map(|p| p.parse().ok()) {
                    if !out.contains(&child) {
                        out.push(child);
                    }
                }
            }
        }
    }

    fn by_scanning(root: libc::pid_t) -> Vec<libc::pid_t> {
        let Ok(entries) = fs::read_dir("/proc") else {
            return Vec::new();
        };
        let pairs: Vec<(libc::pid_t, libc::pid_t)> = entries
            .flatten()
            .filter_map(|e| {
                let pid: libc::pid_t = e.file_name().to_str()?.parse().ok()?;
                let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
                // "pid (comm) state ppid ...": comm may hold spaces and parens.
                let after = &stat[stat.rfind(')')? + 1..];
                let ppid = after.split_ascii_whitespace().nth(1)?.parse().ok()?;
                Some((pid, ppid))
            })
            .collect();
        let mut out = Vec::new();
        let mut frontier = vec![root];
        while let Some(parent) = frontier.pop() {
            for &(pid, ppid) in &pairs {
                if ppid == parent && !out.contains(&pid) {
                    out.push(pid);
                    frontier.push(pid);
                }
            }
        }
        out
    }

    /// Resident set size (`statm` resident = VmRSS, in pages; cheaper to parse than `status`),
    /// which is what PM2 compares with `max_memory_restart` on Linux.
    pub fn memory_bytes(pid: libc::pid_t) -> Option<u64> {
        let text = fs::read_to_string(format!("/proc/{pid}/statm")).ok()?;
        let pages: u64 = text.split_ascii_whitespace().nth(1)?.parse().ok()?;
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        Some(pages * u64::try_from(page).ok()?)
    }
}

#[cfg(target_os = "macos")]
mod macos {
    /// Descendants of `root` via proc_listchildpids (no /proc, no subreaper on macOS).
    pub fn descendants(root: libc::pid_t) -> Vec<libc::pid_t> {
        let mut out = Vec::new();
        let mut frontier = vec![root];
        while let Some(parent) = frontier.pop() {
            let mut buf = [0 as libc::pid_t; 256];
            // SAFETY: buf is valid for the byte size passed.
            let n = unsafe {
                libc::proc_listchildpids(
                    parent,
                    buf.as_mut_ptr().cast(),
                    std::mem::size_of_val(&buf) as libc::c_int,
                )
            };
            // libproc returns a pid count, but some releases returned bytes; the buffer is
            // zeroed, so reading too far only sees zeros, which are skipped.
            for &pid in buf.iter().take(n.max(0) as usize) {
                if pid > 0 && !out.contains(&pid) {
                    out.push(pid);
                    frontier.push(pid);
                }
            }
        }
        out
    }

    /// The physical footprint (`ri_phys_footprint`, RUSAGE_INFO_V2): what Activity Monitor
    /// shows as Memory and what jetsam acts on. Resident size misses compressed memory, which
    /// macOS uses heavily, so a leaking app would look small to the watchdog.
    pub fn memory_bytes(pid: libc::pid_t) -> Option<u64> {
        // SAFETY: info is plain data the call fills for flavor RUSAGE_INFO_V2.
        let mut info: libc::rusage_info_v2 = unsafe { std::mem::zeroed() };
        let r = unsafe {
            libc::proc_pid_rusage(
                pid,
                libc::RUSAGE_INFO_V2,
                (&mut info as *mut libc::rusage_info_v2).cast(),
            )
        };
        (r == 0).then_some(info.ri_phys_footprint)
    }
}
