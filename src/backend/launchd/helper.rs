//! The shell scripts of the helper jobs (`cron_restart`, `watch`). launchd starts a helper when
//! its calendar fires or a watched directory changes; the helper asks each of the app's jobs
//! for a graceful restart with the shim's restart signal (`launchctl kill SIGURG`: stop signal,
//! `kill_timeout`, SIGKILL of the app's group, then a new app once the old one is gone) — never
//! `kickstart -k`, which SIGKILLs the shim at once and leaves the app running as an orphan.
//!
//! Only POSIX `sh` and tools macOS and Linux both have (`find`, `ls`, `cksum`, `date`), found
//! through launchd's default PATH, so the scripts run the same in the tests on Linux. Every
//! value is single-quoted. Pure.

use std::path::Path;

use crate::shim_protocol::{opt, signal};

/// `$0` of a helper script, which `ps` shows.
pub fn program_name(role: &str) -> String {
    format!("rgen-{role}")
}

/// The argument that makes the watch script only record the directories (`rgen install` runs it
/// once, so the first change after an install is seen as one).
pub const BASELINE: &str = "baseline";

/// A word for `sh`, single-quoted unless it needs no quotes.
fn q(word: &str) -> String {
    if !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-:@%+=,".contains(&b))
    {
        return word.to_string();
    }
    format!("'{}'", word.replace('\'', r"'\''"))
}

const LOG_FUNCTION: &str = "log() { printf '%s %s\\n' \"$(date '+%Y-%m-%d %H:%M:%S')\" \"$*\"; }\n";

/// Sends the restart signal to a job; one that is loaded but not running (errored, exited) is
/// started, as PM2 restarts an errored app; one that is not loaded (`rgen stop`) stays down.
fn restart_function() -> String {
    format!(
        "restart() {{\n\
         \x20 if launchctl kill {sig} \"$1\" >/dev/null 2>&1; then log \"$2: restarting $1 gracefully ({sig})\"\n\
         \x20 elif launchctl kickstart \"$1\" >/dev/null 2>&1; then log \"$2: $1 was not running; started it\"\n\
         \x20 else log \"$2: $1 is not loaded (stopped); left alone\"\n\
         \x20 fi\n\
         }}\n",
        sig = signal::RESTART
    )
}

fn restart_calls(services: &[String], why: &str) -> String {
    services
        .iter()
        .map(|s| format!("restart {} {}\n", q(s), q(why)))
        .collect()
}

/// `cron_restart`: restart every job of the app.
pub fn cron_script(services: &[String]) -> String {
    let mut s = String::from(LOG_FUNCTION);
    s.push_str(&restart_function());
    s.push_str(&restart_calls(services, "cron_restart"));
    s
}

/// What the watch script compares between two firings.
pub struct Watch<'a> {
    pub dirs: &'a [String],
    /// `ignore_watch`: a name or a glob of names (`node_modules`, `*.log`), or, with a `/`, the
    /// end of a path (`src/tmp`).
    pub ignore: &'a [String],
    /// Files the app's own shim writes (logs, pid and status files) that may sit in a watched
    /// directory: a change to them is never a reason to restart.
    pub own_files: &'a [String],
    pub delay_ms: u64,
    pub state: &'a Path,
}

/// `watch`: launchd fires `WatchPaths` on any change to a watched directory's entries, ignored
/// ones included (an editor's swap file, `.DS_Store`, the app's own log rotating). The script
/// lists the entries that are not ignored (name, size, mtime, through `ls -ln`) and restarts
/// only if that listing changed or one of them is newer than the last look — after waiting
/// `watch_delay`, so a burst of saves is one restart.
pub fn watch_script(services: &[String], w: &Watch<'_>) -> String {
    let mut filters = vec![
        "! -name '.*'".to_string(),
        "! -name node_modules".to_string(),
    ];
    for pattern in w.ignore {
        let pattern = pattern.trim_end_matches('/');
        if pattern.contains('/') {
            filters.push(format!(
                "! -path {}",
                q(&format!("*/{}", pattern.trim_start_matches("./")))
            ));
        } else if !pattern.is_empty() {
            filters.push(format!("! -name {}", q(pattern)));
        }
    }
    let watched = |file: &str| w.dirs.iter().any(|d| Path::new(file).starts_with(d));
    for file in w.own_files.iter().filter(|f| watched(f)) {
        filters.push(format!("! -path {}", q(&format!("{file}*"))));
        // A rotated log: `<stem>__<date>.log`, as pm2-logrotate names it.
        if let Some(stem) = file.strip_suffix(".log") {
            filters.push(format!("! -path {}", q(&format!("{stem}__*"))));
        }
    }
    let dirs: Vec<String> = w.dirs.iter().map(|d| q(d)).collect();
    let mut s = String::from(LOG_FUNCTION);
    s.push_str(&restart_function());
    s.push_str(&format!("state={}\n", q(&w.state.to_string_lossy())));
    s.push_str(&format!(
        "entries() {{ find {} -mindepth 1 -maxdepth 1 {} \"$@\" 2>/dev/null; }}\n",
        dirs.join(" "),
        filters.join(" ")
    ));
    if w.delay_ms > 0 {
        s.push_str(&format!(
            "[ \"${{1:-}}\" = {BASELINE} ] || sleep {}.{:03}\n",
            w.delay_ms / 1000,
            w.delay_ms % 1000
        ));
    }
    s.push_str(
        "listing=$(entries -exec ls -dlnq {} + | cksum)\n\
         changed=\n\
         if [ \"${1:-}\" != baseline ] && [ -f \"$state\" ]; then\n\
         \x20 [ \"$listing\" = \"$(cat \"$state\")\" ] || changed=listing\n\
         \x20 [ -n \"$(entries -newer \"$state\" | head -n 1)\" ] && changed=newer\n\
         fi\n\
         printf '%s\\n' \"$listing\" > \"$state.tmp\" && mv -f \"$state.tmp\" \"$state\"\n\
         if [ -z \"$changed\" ]; then\n\
         \x20 [ \"${1:-}\" = baseline ] || log 'watch: no change outside ignored paths; nothing restarted'\n\
         \x20 exit 0\n\
         fi\n",
    );
    s.push_str(&restart_calls(services, "watch"));
    s
}

/// The shim options whose values are files the shim writes for the app.
pub const OWN_FILE_OPTIONS: [&str; 7] = [
    opt::STDOUT,
    opt::STDERR,
    opt::COMBINED,
    opt::SHIM_LOG,
    opt::PID_FILE,
    opt::STATUS_FILE,
    opt::READY_FILE,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(q("gui/501/rgen.api"), "gui/501/rgen.api");
        assert_eq!(q("/Users/me/My App"), "'/Users/me/My App'");
        assert_eq!(q("it's"), r"'it'\''s'");
        assert_eq!(q("*.log"), "'*.log'");
        assert_eq!(q(""), "''");
    }

    #[test]
    fn cron_restarts_every_instance_gracefully() {
        let s = cron_script(&["gui/501/rgen.api.0".into(), "gui/501/rgen.api.1".into()]);
        assert!(s.contains("launchctl kill SIGURG \"$1\""), "{s}");
        assert!(!s.contains("kickstart -k"), "{s}");
        assert!(
            s.contains("restart gui/501/rgen.api.1 cron_restart\n"),
            "{s}"
        );
    }
}
