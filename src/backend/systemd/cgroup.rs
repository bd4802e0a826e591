//! A unit's memory and CPU straight from its cgroup's files, which the kernel keeps up to date
//! for free: no round trip to systemd (whose `MemoryCurrent`/`CPUUsageNSec` read the same files,
//! and are missing where systemd does not account).
//!
//! Three layouts exist. cgroup v2 alone (`/sys/fs/cgroup/cgroup.controllers`): `memory.current`,
//! `memory.stat` (`anon`, `file`), `memory.events` (`max`, `oom_kill`), `cpu.stat`
//! (`usage_usec`). The v1 and hybrid layouts (Debian 11/12 defaults, and this project's build
//! machines): `memory/<path>/memory.stat` (`total_rss`, `total_cache`),
//! `memory.failcnt`; CPU from `cpuacct/<path>/cpuacct.usage` when systemd
//! accounts it, else from the hybrid's `unified/<path>/cpu.stat` (cgroup2 keeps `usage_usec`
//! for every cgroup, with no controller enabled), else from `/proc/PID/stat` of every process
//! in the cgroup.
//!
//! A status of hundreds of apps reads a thousand of these files, and opening them is most of
//! its cost: each slice's directory is opened once and its units' files below it with
//! `openat`, so the kernel walks the long path once rather than for every file.

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use nix::fcntl::{OFlag, openat};
use nix::sys::stat::Mode;

/// Where the hierarchies are mounted, found once, and the slice directories opened so far.
#[derive(Debug)]
pub struct Cgroups {
    root: PathBuf,
    unified_only: bool,
    /// The hybrid layout's cgroup2 hierarchy (`unified/`) is mounted.
    hybrid_unified: bool,
    /// (Shared by the threads reading hundreds of cgroups; held only to look up or keep one.)
    dirs: Mutex<HashMap<PathBuf, Arc<OwnedFd>>>,
}

/// Memory and CPU of one cgroup at one moment.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Reading {
    pub memory: Option<u64>,
    /// Anonymous memory (v2 `anon`, v1 `total_rss`): what the app allocated itself.
    pub own: Option<u64>,
    /// Page cache (v2 `file`, v1 `total_cache`).
    pub cache: Option<u64>,
    pub cpu_ns: Option<u64>,
    /// The cgroup has hit its memory limit at least once (v1 `memory.failcnt`, v2
    /// `memory.events` `max`/`oom_kill`): the kernel reclaimed or killed at the limit.
    pub hit_limit: bool,
    /// The cgroup's processes, where they had to be read (no CPU accounting).
    pub procs: Vec<u32>,
}

impl Default for Cgroups {
    fn default() -> Self {
        Cgroups::at(Path::new("/sys/fs/cgroup"))
    }
}

impl Cgroups {
    pub fn at(root: &Path) -> Cgroups {
        Cgroups {
            root: root.to_path_buf(),
            unified_only: root.join("cgroup.controllers").exists(),
            hybrid_unified: root.join("unified").is_dir(),
            dirs: Mutex::default(),
        }
    }

    /// A file of the cgroup at `path` (`/system.slice/api.service`) in one hierarchy (`memory`;
    /// empty for cgroup v2 alone), opened below its slice's directory.
    fn file(&self, hierarchy: &str, path: &str, name: &str) -> Option<String> {
        let path = path.trim_start_matches('/');
        let (parent, leaf) = path.rsplit_once('/').unwrap_or(("", path));
        if leaf.is_empty() || leaf == ".." || parent.split('/').any(|c| c == "..") {
            return None;
        }
        let dir = self.root.join(hierarchy).join(parent);
        let rel = format!("{leaf}/{name}");
        let open_dir = |dir: &Path| {
            nix::fcntl::open(
                dir,
                OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .ok()
        };
        let open_at = |fd: &OwnedFd| {
            openat(
                fd,
                rel.as_str(),
                OFlag::O_RDONLY | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW,
                Mode::empty(),
            )
        };
        let dirs = || {
            self.dirs
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
        };
        let cached = dirs().get(&dir).cloned();
        let file = match cached.as_deref().map(open_at) {
            Some(Ok(file)) => file,
            // Not there, or the slice was removed and made again since its directory was opened
            // (all of a template's instances stopped, then one started): asked again, afresh.
            // Only directories that opened are kept, so a slice that appears later is found.
            Some(Err(_)) | None => {
                let fd = open_dir(&dir).map(Arc::new);
                let file = fd.as_deref().and_then(|fd| open_at(fd).ok());
                match fd {
                    Some(fd) => dirs().insert(dir, fd),
                    None => dirs().remove(&dir),
                };
                file?
            }
        };
        read_whole(std::fs::File::from(file))
    }

    /// The processes in the cgroup itself (not in cgroups below it), from the hierarchy that
    /// holds every unit: the unified one, or v1's `name=systemd`.
    pub fn processes(&self, path: &str) -> Vec<u32> {
        let text = if self.unified_only {
            self.file("", path, "cgroup.procs")
        } else {
            // The hybrid's cgroup2 hierarchy first: its slice directory is open already (for
            // `cpu.stat`).
            self.hybrid_unified
                .then(|| self.file("unified", path, "cgroup.procs"))
                .flatten()
                .or_else(|| self.file("systemd", path, "cgroup.procs"))
        };
        text.unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    }

    /// Reads a unit's cgroup (`ControlGroup`, e.g. `/system.slice/api.service`). Whatever a
    /// layout lacks stays `None`; a cgroup that is gone reads as empty.
    #[cfg(test)]
    pub fn read(&self, path: &str) -> Reading {
        self.read_for(path, true)
    }

    /// [`Self::read`], where `limited` says whether the unit has a memory limit of its own:
    /// without one the kernel never counts hits at it, so that file is not read.
    pub fn read_for(&self, path: &str, limited: bool) -> Reading {
        let text =
            |hierarchy: &str, name: &str| self.file(hierarchy, path, name).unwrap_or_default();
        let number = |hierarchy: &str, name: &str| text(hierarchy, name).trim().parse::<u64>().ok();
        if self.unified_only {
            let stat = text("", "memory.stat");
            let events = if limited {
                text("", "memory.events")
            } else {
                String::new()
            };
            return Reading {
                memory: number("", "memory.current"),
                own: field(&stat, "anon"),
                cache: field(&stat, "file"),
                cpu_ns: field(&text("", "cpu.stat"), "usage_usec").map(|us| us * 1000),
                hit_limit: field(&events, "max").is_some_and(|n| n > 0)
                    || field(&events, "oom_kill").is_some_and(|n| n > 0),
                // cgroup v2 accounts CPU in every cgroup: its processes are not needed.
                procs: Vec::new(),
            };
        }
        let stat = text("memory", "memory.stat");
        let mut procs = Vec::new();
        // The hybrid's cgroup2 hierarchy first: it accounts every unit, where `cpuacct` holds
        // only units with CPU accounting turned on (off by default on v1), so asking `cpuacct`
        // first would cost a failed open for nearly every unit.
        let unified = || {
            self.hybrid_unified
                .then(|| field(&text("unified", "cpu.stat"), "usage_usec"))
                .flatten()
                .map(|us| us * 1000)
        };
        let cpu_ns = unified()
            .or_else(|| number("cpuacct", "cpuacct.usage"))
            .or_else(|| {
                // Only where no hierarchy accounts CPU: add up the cgroup's processes.
                procs = self.processes(path);
                procs_cpu_ns(&procs)
            });
        let own = field(&stat, "total_rss").or_else(|| field(&stat, "rss"));
        let cache = field(&stat, "total_cache").or_else(|| field(&stat, "cache"));
        Reading {
            // What the kernel's v1 documentation calls the exact figure (RSS+CACHE of
            // memory.stat; `memory.usage_in_bytes` is a fuzzier counter), without opening
            // another file per unit. Not +SWAP: that is for memsw, and the limit (like v2's
            // `memory.current`) counts memory alone.
            memory: own.zip(cache).map(|(own, cache)| own + cache),
            own,
            cache,
            cpu_ns,
            hit_limit: limited && number("memory", "memory.failcnt").is_some_and(|n| n > 0),
            procs,
        }
    }
}

/// A small file the kernel generates on read (cgroup and `/proc` files). Unlike
/// `fs::read_to_string` it does not first ask for the size, which such files do not know (they
/// say 0 or 4096): one system call fewer per file, hundreds per status of hundreds of apps.
pub fn read_kernel_file(path: impl AsRef<Path>) -> Option<String> {
    read_whole(std::fs::File::open(path).ok()?)
}

/// Below this, a read that left room had nothing more to give. The kernel makes these files
/// with `seq_file`, which fills a read with whole records from a buffer of at least a page: it
/// stops short only at the end, or before a record that no longer fits in that page — and the
/// records of the files read here (one `memory.stat`, one `stat` line, a pid) are far smaller
/// than half of one. So the read that would only confirm the end is skipped.
const WHOLE_BELOW: usize = 2048;

/// The files read here are a few kilobytes; one that grows past this is not one of them.
const KERNEL_FILE_AT_MOST: usize = 1 << 20;

fn read_whole(mut file: std::fs::File) -> Option<String> {
    use std::io::Read as _;
    let mut bytes = vec![0; 4096];
    let mut len = 0;
    loop {
        if len == bytes.len() {
            if len >= KERNEL_FILE_AT_MOST {
                return None;
            }
            bytes.resize(len * 2, 0);
        }
        // (`read_to_end` on a `File` would ask for its size first.)
        match file.read(&mut bytes[len..]) {
            Ok(0) => break,
            Ok(n) => {
                len += n;
                if len < WHOLE_BELOW {
                    break;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    bytes.truncate(len);
    String::from_utf8(bytes).ok()
}

/// `key value` lines (`memory.stat`, `cpu.stat`, `memory.events`).
fn field(text: &str, key: &str) -> Option<u64> {
    // Found by substring search, not line by line: v1's `total_rss` is some 20 lines down.
    text.match_indices(key).find_map(|(at, _)| {
        let line_start = at == 0 || text.as_bytes()[at - 1] == b'\n';
        let value = text[at + key.len()..].strip_prefix(' ')?;
        let value = value.split('\n').next()?;
        line_start.then(|| value.trim().parse().ok()).flatten()
    })
}

fn procs_cpu_ns(pids: &[u32]) -> Option<u64> {
    if pids.is_empty() {
        return None;
    }
    Some(pids.iter().filter_map(|&p| proc_cpu_ns(p)).sum())
}

/// CPU time a process used, with its waited-for children, from `/proc/PID/stat`.
pub fn proc_cpu_ns(pid: u32) -> Option<u64> {
    let stat = read_kernel_file(format!("/proc/{pid}/stat"))?;
    // The command name (field 2) may contain spaces and parentheses; fields resume after the
    // last `)`, where field 3 (state) comes first: utime, stime, cutime, cstime are 14–17.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = fields
        .get(11..15)?
        .iter()
        .map(|v| v.parse::<u64>().ok())
        .sum::<Option<u64>>()?;
    Some(ticks * (1_000_000_000 / clock_ticks()?))
}

/// A process's parent and process group, from `/proc/PID/stat` (fields 4 and 5).
pub fn proc_parent_and_group(pid: u32) -> Option<(u32, u32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace().skip(1);
    Some((fields.next()?.parse().ok()?, fields.next()?.parse().ok()?))
}

/// How long ago a process started, from its start time in `/proc/PID/stat` (clock ticks since
/// boot, field 22) and the boot-time clock — as precise as systemd's start timestamp, without
/// asking systemd.
pub fn proc_age_ms(pid: u32) -> Option<u64> {
    let stat = read_kernel_file(format!("/proc/{pid}/stat"))?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let started_ticks: u64 = fields.get(19)?.parse().ok()?;
    let started_ms = started_ticks * 1000 / clock_ticks()?;
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec it is given and nothing else.
    if unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut now) } != 0 {
        return None;
    }
    let now_ms = now.tv_sec as u64 * 1000 + now.tv_nsec as u64 / 1_000_000;
    Some(now_ms.saturating_sub(started_ms))
}

/// [`proc_age_ms`] of each process; hundreds of them are read on every CPU (each `/proc/PID/stat`
/// costs the kernel a good many microseconds to put together).
pub fn ages_ms(pids: &[Option<u32>]) -> Vec<Option<u64>> {
    crate::parallel::map_chunks(pids, PROCS_PER_THREAD, |part| {
        part.iter().map(|p| p.and_then(proc_age_ms)).collect()
    })
}

/// Below this many processes per CPU, one thread reads them all.
const PROCS_PER_THREAD: usize = 48;

/// A process's cgroup in systemd's hierarchy (`/system.slice/api.service`), as the kernel
/// records it: the `0::` line on v2, the `name=systemd` one on v1.
pub fn proc_cgroup(pid: u32) -> Option<String> {
    let text = read_kernel_file(format!("/proc/{pid}/cgroup"))?;
    let of = |prefix: &str| {
        text.lines()
            .find_map(|l| {
                l.split_once(':')
                    .and_then(|(_, rest)| rest.strip_prefix(prefix))
            })
            .map(str::to_string)
    };
    of("name=systemd:")
        .or_else(|| of(":"))
        .filter(|p| p.starts_with('/') && !p.contains(".."))
}

fn clock_ticks() -> Option<u64> {
    // SAFETY: sysconf has no preconditions.
    u64::try_from(unsafe { libc::sysconf(libc::_SC_CLK_TCK) })
        .ok()
        .filter(|&hz| hz > 0)
}

/// The shim's child (the app), from the kernel's record of the shim's children.
pub fn first_child(pid: u32) -> Option<u32> {
    read_kernel_file(format!("/proc/{pid}/task/{pid}/children"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    #[test]
    fn parent_and_group_of_this_process() {
        let me = std::process::id();
        // SAFETY: getppid and getpgrp have no preconditions.
        let expected = unsafe { (libc::getppid() as u32, libc::getpgrp() as u32) };
        assert_eq!(proc_parent_and_group(me), Some(expected));
    }

    #[test]
    fn unified_hierarchy() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "cgroup.controllers", "cpu memory pids\n");
        let unit = "system.slice/api.service";
        write(root, &format!("{unit}/memory.current"), "52428800\n");
        write(
            root,
            &format!("{unit}/memory.stat"),
            "anon 41943040\nfile 10485760\nkernel 1\n",
        );
        write(
            root,
            &format!("{unit}/memory.events"),
            "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n",
        );
        write(
            root,
            &format!("{unit}/cpu.stat"),
            "usage_usec 1500\nuser_usec 1000\n",
        );
        write(root, &format!("{unit}/cgroup.procs"), "12\n13\n");
        let r = Cgroups::at(root).read("/system.slice/api.service");
        assert_eq!(
            r,
            Reading {
                memory: Some(50 << 20),
                own: Some(40 << 20),
                cache: Some(10 << 20),
                cpu_ns: Some(1_500_000),
                hit_limit: true,
                procs: Vec::new(),
            }
        );
    }

    #[test]
    fn hybrid_hierarchy_as_on_debian_12() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let unit = "system.slice/hog.service";
        // (Not read: memory.stat's sum is the exact figure.)
        write(
            root,
            &format!("memory/{unit}/memory.usage_in_bytes"),
            "67039232\n",
        );
        write(
            root,
            &format!("memory/{unit}/memory.stat"),
            "cache 987136\nrss 65843200\ntotal_cache 987136\ntotal_rss 65843200\n",
        );
        write(root, &format!("memory/{unit}/memory.failcnt"), "260\n");
        write(root, &format!("systemd/{unit}/cgroup.procs"), "999999999\n");
        // No cpuacct for the unit: CPU from the cgroup2 hierarchy beside it.
        write(
            root,
            &format!("unified/{unit}/cpu.stat"),
            "usage_usec 17088\nuser_usec 13671\n",
        );
        let r = Cgroups::at(root).read("/system.slice/hog.service");
        assert_eq!(r.memory, Some(65_843_200 + 987_136));
        assert_eq!((r.own, r.cache), (Some(65_843_200), Some(987_136)));
        assert_eq!(r.cpu_ns, Some(17_088_000));
        assert!(r.hit_limit);
        // Processes are read only when no hierarchy accounts CPU.
        assert!(r.procs.is_empty());
        std::fs::remove_file(root.join(format!("unified/{unit}/cpu.stat"))).unwrap();
        let r = Cgroups::at(root).read("/system.slice/hog.service");
        assert_eq!(r.procs, [999_999_999]);
        assert_eq!(r.cpu_ns, Some(0));
        // Without the cgroup2 hierarchy's numbers, cpuacct's (units with CPU accounting on).
        write(root, &format!("cpuacct/{unit}/cpuacct.usage"), "99\n");
        assert_eq!(Cgroups::at(root).read(&format!("/{unit}")).cpu_ns, Some(99));
        // A cgroup that is gone: nothing.
        assert_eq!(
            Cgroups::at(root).read("/system.slice/gone.service"),
            Reading::default()
        );
    }

    #[test]
    fn kernel_files_read_whole_whatever_their_size() {
        // An idle child's maps and smaps: many records over several pages, and unlike this
        // process's own (its test threads map and unmap stacks) the same from read to read.
        let mut idle = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = idle.id();
        // Settled once the loader is done mapping: the same records three reads running.
        let records = || std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
        let mut seen = vec![records()];
        for _ in 0..250 {
            if seen.len() == 3 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
            let now = records();
            if now != seen[seen.len() - 1] {
                seen.clear();
            }
            seen.push(now);
        }
        let paths = [
            format!("/proc/{pid}/smaps"),
            format!("/proc/{pid}/maps"),
            format!("/proc/{pid}/stat"),
            "/proc/self/cgroup".to_string(),
            "/proc/vmstat".to_string(),
        ];
        for path in &paths {
            let ours = read_kernel_file(path).unwrap();
            let std = std::fs::read_to_string(path).unwrap();
            // (Numbers move between the two reads; the records do not.)
            assert_eq!(ours.lines().count(), std.lines().count(), "{path}");
            assert!(ours.ends_with('\n'), "{path}");
        }
        idle.kill().unwrap();
        idle.wait().unwrap();
    }

    #[test]
    fn a_file_larger_than_any_kernel_file_read_here_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("memory.stat");
        std::fs::write(&big, "anon 1\n".repeat(KERNEL_FILE_AT_MOST / 7 + 1)).unwrap();
        assert_eq!(read_kernel_file(&big), None);
        std::fs::write(&big, "anon 1\n".repeat(KERNEL_FILE_AT_MOST / 8)).unwrap();
        assert!(read_kernel_file(&big).is_some());
    }

    #[test]
    fn a_slice_that_appears_or_is_made_again_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "cgroup.controllers", "memory\n");
        let cgroups = Cgroups::at(root);
        let unit = "system.slice/system-web.slice/web@1.service";
        let cgroup = format!("/{unit}");
        // Every instance stopped: the template's slice is not there.
        assert_eq!(cgroups.read(&cgroup).memory, None);
        write(root, &format!("{unit}/memory.current"), "7\n");
        assert_eq!(cgroups.read(&cgroup).memory, Some(7));
        // Removed and made again (a directory opened before no longer leads to it).
        std::fs::remove_dir_all(root.join("system.slice/system-web.slice")).unwrap();
        write(root, &format!("{unit}/memory.current"), "9\n");
        assert_eq!(cgroups.read(&cgroup).memory, Some(9));
    }

    #[test]
    fn a_cgroup_path_that_climbs_out_is_not_read() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "cgroup.controllers", "memory\n");
        write(dir.path(), "memory.current", "1\n");
        write(dir.path(), "system.slice/memory.current", "2\n");
        let cgroups = Cgroups::at(&dir.path().join("system.slice"));
        assert_eq!(cgroups.read("/../memory.current").memory, None);
        assert_eq!(cgroups.read("/..").memory, None);
    }

    #[test]
    fn this_process_in_proc() {
        let start = std::time::Instant::now();
        let mut x = 0u64;
        while start.elapsed() < std::time::Duration::from_millis(30) {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        let me = std::process::id();
        assert!(proc_cpu_ns(me).expect("our own /proc/PID/stat") > 0);
        assert_eq!(proc_cpu_ns(u32::MAX), None);
        assert!(proc_age_ms(me).is_some());
        assert_eq!(proc_age_ms(u32::MAX), None);
        // Many at once, in order, on several threads.
        let pids: Vec<Option<u32>> = (0..200)
            .map(|i| match i % 3 {
                0 => Some(me),
                1 => Some(u32::MAX),
                _ => None,
            })
            .collect();
        let ages = ages_ms(&pids);
        assert_eq!(ages.len(), 200);
        for (i, age) in ages.iter().enumerate() {
            assert_eq!(age.is_some(), i % 3 == 0, "{i}");
        }
    }
}
