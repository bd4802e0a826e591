//! Who listens on a port, from `/proc/net/tcp{,6}` (socket inode) and `/proc/PID/fd` (its
//! owner), so `--install` can say "PM2 still holds port 3000" instead of an app failing to
//! bind after the fact.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// A process listening on a port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listener {
    pub pid: u32,
    pub command: String,
    /// The process is PM2's daemon or runs under it.
    pub pm2: bool,
}

/// Listening TCP ports (IPv4 and IPv6) and their socket inodes.
pub fn listening(proc: &Path) -> BTreeMap<u16, BTreeSet<u64>> {
    let mut out: BTreeMap<u16, BTreeSet<u64>> = BTreeMap::new();
    for table in ["net/tcp", "net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(proc.join(table)) else {
            continue;
        };
        for (port, inode) in parse_tcp_table(&text) {
            out.entry(port).or_default().insert(inode);
        }
    }
    out
}

/// `(port, inode)` of every socket in the LISTEN state (`0A`) of a `/proc/net/tcp` table.
pub fn parse_tcp_table(text: &str) -> Vec<(u16, u64)> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let local = fields.get(1)?;
            if *fields.get(3)? != "0A" {
                return None;
            }
            let port = u16::from_str_radix(local.rsplit_once(':')?.1, 16).ok()?;
            let inode = fields.get(9)?.parse().ok()?;
            Some((port, inode))
        })
        .collect()
}

/// The processes holding any of these socket inodes.
pub fn owners(proc: &Path, inodes: &BTreeSet<u64>, pm2_daemon: Option<u32>) -> Vec<Listener> {
    let wanted: BTreeSet<String> = inodes.iter().map(|i| format!("socket:[{i}]")).collect();
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(proc) else {
        return out;
    };
    for entry in entries.filter_map(|e| e.ok()) {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        let holds = fds.filter_map(|f| f.ok()).any(|f| {
            std::fs::read_link(f.path())
                .is_ok_and(|target| wanted.contains(&*target.to_string_lossy()))
        });
        if holds {
            out.push(Listener {
                pid,
                command: command_line(proc, pid),
                pm2: under_pm2(proc, pid, pm2_daemon),
            });
        }
    }
    out
}

pub fn command_line(proc: &Path, pid: u32) -> String {
    std::fs::read(proc.join(pid.to_string()).join("cmdline"))
        .map(|b| {
            b.split(|c| *c == 0)
                .filter(|s| !s.is_empty())
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

/// PM2's daemon retitles itself `PM2 vX.Y.Z: God Daemon (/home)`.
pub fn is_pm2_daemon(command: &str) -> bool {
    command.starts_with("PM2 v") && command.contains("God Daemon")
}

/// The process is the daemon, or one of its ancestors is.
fn under_pm2(proc: &Path, pid: u32, daemon: Option<u32>) -> bool {
    let mut current = pid;
    for _ in 0..64 {
        if Some(current) == daemon || is_pm2_daemon(&command_line(proc, current)) {
            return true;
        }
        match parent(proc, current) {
            Some(p) if p > 1 && p != current => current = p,
            _ => return false,
        }
    }
    false
}

fn parent(proc: &Path, pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(proc.join(pid.to_string()).join("stat")).ok()?;
    // The command name is in parentheses and may itself hold spaces or parentheses.
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listening_sockets_are_read_from_the_tcp_table() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:A0A3 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 123456 1 0000000000000000 100 0 0 10 0\n   1: 0100007F:A0A3 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 123457 1 0000000000000000 20 4 30 10 -1\n";
        assert_eq!(parse_tcp_table(table), vec![(0xA0A3, 123456)]);
    }

    #[test]
    fn the_daemon_is_known_by_its_title() {
        assert!(is_pm2_daemon("PM2 v7.0.4: God Daemon (/root/.pm2)"));
        assert!(!is_pm2_daemon("node /srv/app.js"));
    }
}
