//! `rgen logs`: print and follow an app's log sources (its files, or the journal), like
//! `pm2 logs`, each line prefixed by its app. Where the sources are comes from the installed
//! files (`InstalledApp::log_sources`); this module only reads them.

use std::io::{BufRead as _, Read as _, Seek as _, SeekFrom, Write as _};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, Result};

use crate::apply::inventory::{LogSource, Stream};
use crate::target::Scope;

/// The last `n` lines of a file (whole lines; a huge file is read from its end only).
pub fn tail_file(path: &Path, n: usize) -> Vec<String> {
    std::fs::File::open(path)
        .map(|mut f| tail_of(&mut f, n))
        .unwrap_or_default()
}

/// The last `n` lines of an open file, leaving it positioned at the end of what was read.
fn tail_of(f: &mut std::fs::File, n: usize) -> Vec<String> {
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let window = (n as u64 + 1) * 512;
    let start = len.saturating_sub(window.max(64 * 1024));
    let _ = f.seek(SeekFrom::Start(start));
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    if start > 0 && !lines.is_empty() {
        lines.remove(0);
    }
    let skip = lines.len().saturating_sub(n);
    lines.split_off(skip)
}

/// A line an app wrote, as it may reach a terminal: control characters as `\u{1b}` escapes (as
/// `diag::printable` shows config values), except that colour and style
/// (SGR: `ESC [ digits ; … m`) pass, as apps' coloured logs are meant to be seen. Everything
/// else that a terminal acts on — retitling, clearing the screen, moving the cursor over earlier
/// lines, writing the clipboard (OSC 52, which a later paste runs in root's shell) — is shown.
pub fn printable_log_line(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(|c| c.is_control() && c != '\t') {
        return text.into();
    }
    let mut out = String::with_capacity(text.len() + 16);
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if c == '\u{1b}' {
            let params = rest[1..].strip_prefix('[').map(|p| {
                p.len()
                    - p.trim_start_matches(|c: char| c.is_ascii_digit() || c == ';' || c == ':')
                        .len()
            });
            if let Some(n) = params
                && rest[2 + n..].starts_with('m')
            {
                out.push_str(&rest[..3 + n]);
                rest = &rest[3 + n..];
                continue;
            }
        }
        if c.is_control() && c != '\t' {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
        rest = &rest[c.len_utf8()..];
    }
    out.into()
}

fn journal_command(scope: Scope, units: &[String], n: usize, follow: bool) -> Command {
    let mut cmd = Command::new("journalctl");
    cmd.args(["--no-pager", "-o", "short-iso", "-n", &n.to_string()]);
    for u in units {
        match scope {
            Scope::System => cmd.args(["-u", u]),
            Scope::User => cmd.arg(format!("--user-unit={u}")),
        };
    }
    if follow {
        cmd.arg("-f");
    }
    cmd
}

/// The last lines a failed unit left, for error reports: its error log file (or its only
/// file), else the journal.
pub fn last_lines(scope: Scope, sources: &[LogSource], n: usize) -> Vec<String> {
    let files: Vec<(&Path, Stream)> = sources
        .iter()
        .filter_map(|s| match s {
            LogSource::File { path, stream, .. } => Some((path.as_path(), *stream)),
            LogSource::Journal { .. } => None,
        })
        .collect();
    let file = files
        .iter()
        .find(|(_, s)| *s != Stream::Out)
        .or(files.first());
    let printable = |lines: Vec<String>| -> Vec<String> {
        lines
            .iter()
            .map(|l| printable_log_line(l).into_owned())
            .collect()
    };
    if let Some((path, _)) = file {
        return printable(tail_file(path, n));
    }
    let units: Vec<String> = sources
        .iter()
        .filter_map(|s| match s {
            LogSource::Journal { unit } => Some(unit.clone()),
            LogSource::File { .. } => None,
        })
        .collect();
    if units.is_empty() {
        return Vec::new();
    }
    journal_command(scope, &units, n, false)
        .stderr(Stdio::null())
        .output()
        .map(|o| {
            printable(
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .map(str::to_string)
                    .collect(),
            )
        })
        .unwrap_or_default()
}

/// Prints the history of every source, then (with `follow`) new lines as they arrive.
pub fn show(scope: Scope, labelled: &[(String, LogSource)], n: usize, follow: bool) -> Result<()> {
    let out = Arc::new(Mutex::new(anstream::stdout()));
    let width = labelled.iter().map(|(l, _)| l.len()).max().unwrap_or(0);
    let mut files = Vec::new();
    let mut journal_units = Vec::new();
    for (label, source) in labelled {
        match source {
            LogSource::File { path, stream, .. } => {
                files.push((label.clone(), path.clone(), *stream))
            }
            LogSource::Journal { unit } => journal_units.push(unit.clone()),
        }
    }
    // Each file stays open after its history, so following starts exactly where it ended.
    let mut opened = Vec::with_capacity(files.len());
    for (label, path, stream) in &files {
        let mut o = out.lock().expect("stdout lock");
        let header = format!("==> {label}: {} ({}) <==", path.display(), stream.as_str());
        writeln!(o, "{}", dim(&header))?;
        let mut file = std::fs::File::open(path).ok();
        let history = file.as_mut().map(|f| tail_of(f, n)).unwrap_or_default();
        for line in history {
            let line = printable_log_line(&line);
            writeln!(o, "{} {line}", prefix(label, width, *stream))?;
        }
        opened.push(file);
    }
    if !journal_units.is_empty() && !follow {
        // The journal interleaves several units by time itself.
        let status = journal_command(scope, &journal_units, n * journal_units.len(), false)
            .status()
            .context("cannot run journalctl")?;
        if !status.success() {
            anyhow::bail!("journalctl failed ({status})");
        }
    }
    if !follow {
        return Ok(());
    }
    let mut threads = Vec::new();
    for ((label, path, stream), file) in files.into_iter().zip(opened) {
        let out = Arc::clone(&out);
        threads.push(std::thread::spawn(move || {
            follow_file(&path, file, &label, width, stream, &out)
        }));
    }
    if !journal_units.is_empty() {
        let mut journal = journal_command(scope, &journal_units, n, true);
        if threads.is_empty() {
            // Nothing else to follow: become journalctl, so stopping this pid stops the stream.
            use std::os::unix::process::CommandExt as _;
            let _ = out.lock().map(|mut o| o.flush());
            let err = journal.exec();
            return Err(err).context("cannot run journalctl");
        }
        journal.status().context("cannot run journalctl")?;
    }
    for t in threads {
        let _ = t.join();
    }
    Ok(())
}

/// Prints lines appended to `path` after what `opened` has been read to, like `tail -F`: it
/// keeps reading the file it has open, starts over when the file is emptied (`rgen flush`, copytruncate), and after a
/// rotation by rename (the shim's, newsyslog's) finishes the old file, then follows the new one.
fn follow_file(
    path: &Path,
    opened: Option<std::fs::File>,
    label: &str,
    width: usize,
    stream: Stream,
    out: &Mutex<anstream::AutoStream<std::io::Stdout>>,
) {
    use std::os::unix::fs::MetadataExt as _;
    let print = |line: &str| {
        if let Ok(mut o) = out.lock() {
            let line = printable_log_line(line);
            let _ = writeln!(o, "{} {line}", prefix(label, width, stream));
        }
    };
    let mut current = opened.map(std::io::BufReader::new);
    let mut partial = Vec::new();
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let Some(reader) = current.as_mut() else {
            // Not there yet: everything in it once it appears is new.
            current = std::fs::File::open(path).ok().map(std::io::BufReader::new);
            continue;
        };
        read_new_lines(reader, &mut partial, &print);
        let Ok(on_disk) = std::fs::metadata(path) else {
            continue;
        };
        let Ok(open) = reader.get_ref().metadata() else {
            continue;
        };
        if (on_disk.dev(), on_disk.ino()) != (open.dev(), open.ino()) {
            // Rotated: the old file is finished (read above); the new one is read from its start.
            if !partial.is_empty() {
                print(&String::from_utf8_lossy(&partial));
                partial.clear();
            }
            current = std::fs::File::open(path).ok().map(std::io::BufReader::new);
        } else if let Ok(pos) = reader.stream_position()
            && open.len() < pos
        {
            partial.clear();
            let _ = reader.seek(SeekFrom::Start(0));
        }
    }
}

/// New lines of one app's log sources as they arrive, for a screen to show (`rgen monit`'s log
/// pane): its files followed like `tail -F` (emptied and rotated files included), polled by the
/// caller; its journal through a `journalctl --follow` child whose lines a thread passes on.
pub struct Follower {
    files: Vec<FollowedFile>,
    journal: Option<(std::process::Child, std::sync::mpsc::Receiver<String>)>,
}

struct FollowedFile {
    path: std::path::PathBuf,
    stream: Stream,
    reader: Option<std::io::BufReader<std::fs::File>>,
    partial: Vec<u8>,
}

impl Follower {
    /// Starts following `sources`; returns the last `n` lines of each as history.
    pub fn start(scope: Scope, sources: &[LogSource], n: usize) -> (Follower, Vec<String>) {
        let mut history = Vec::new();
        let mut files = Vec::new();
        let mut units = Vec::new();
        for source in sources {
            match source {
                LogSource::File { path, stream, .. } => {
                    let mut file = std::fs::File::open(path).ok();
                    if let Some(f) = file.as_mut() {
                        history.extend(tail_of(f, n).into_iter().map(|l| tagged(*stream, &l)));
                    }
                    files.push(FollowedFile {
                        path: path.clone(),
                        stream: *stream,
                        reader: file.map(std::io::BufReader::new),
                        partial: Vec::new(),
                    });
                }
                LogSource::Journal { unit } => units.push(unit.clone()),
            }
        }
        let journal = (!units.is_empty())
            .then(|| {
                let mut cmd = journal_command(scope, &units, n, true);
                cmd.args(["-o", "cat"])
                    .stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::null());
                let mut child = cmd.spawn().ok()?;
                let stdout = child.stdout.take()?;
                let (tx, rx) = std::sync::mpsc::channel();
                std::thread::spawn(move || {
                    for line in std::io::BufReader::new(stdout).lines() {
                        let Ok(line) = line else { break };
                        if tx.send(line).is_err() {
                            break;
                        }
                    }
                });
                Some((child, rx))
            })
            .flatten();
        (Follower { files, journal }, history)
    }

    /// Lines that arrived since the last call.
    pub fn poll(&mut self) -> Vec<String> {
        use std::os::unix::fs::MetadataExt as _;
        let mut out = Vec::new();
        for f in &mut self.files {
            let stream = f.stream;
            let Some(reader) = f.reader.as_mut() else {
                f.reader = std::fs::File::open(&f.path)
                    .ok()
                    .map(std::io::BufReader::new);
                continue;
            };
            let lines = std::cell::RefCell::new(Vec::new());
            read_new_lines(reader, &mut f.partial, &|l| {
                lines.borrow_mut().push(tagged(stream, l))
            });
            out.extend(lines.into_inner());
            let (Ok(on_disk), Ok(open)) = (std::fs::metadata(&f.path), reader.get_ref().metadata())
            else {
                continue;
            };
            if (on_disk.dev(), on_disk.ino()) != (open.dev(), open.ino()) {
                f.partial.clear();
                f.reader = std::fs::File::open(&f.path)
                    .ok()
                    .map(std::io::BufReader::new);
            } else if let Ok(pos) = reader.stream_position()
                && open.len() < pos
            {
                f.partial.clear();
                let _ = reader.seek(SeekFrom::Start(0));
            }
        }
        if let Some((_, rx)) = &self.journal {
            out.extend(rx.try_iter());
        }
        out
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        if let Some((child, _)) = self.journal.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Error lines are marked, as `rgen logs` colours them.
fn tagged(stream: Stream, line: &str) -> String {
    match stream {
        Stream::Err => format!("err| {line}"),
        _ => line.to_string(),
    }
}

/// Prints every complete line the reader has; keeps an unfinished last line for later.
/// Bytes that are not UTF-8 are shown replaced rather than dropping the line.
fn read_new_lines(
    reader: &mut std::io::BufReader<std::fs::File>,
    partial: &mut Vec<u8>,
    print: &dyn Fn(&str),
) {
    loop {
        match reader.read_until(b'\n', partial) {
            Ok(0) | Err(_) => return,
            Ok(_) if partial.ends_with(b"\n") => {
                partial.pop();
                print(&String::from_utf8_lossy(partial));
                partial.clear();
            }
            Ok(_) => return,
        }
    }
}

fn prefix(label: &str, width: usize, stream: Stream) -> String {
    let style = match stream {
        Stream::Err => anstyle::AnsiColor::Red.on_default(),
        _ => anstyle::AnsiColor::Green.on_default(),
    };
    format!("{style}{label:<width$} |{style:#}")
}

fn dim(text: &str) -> String {
    let style = anstyle::Style::new().dimmed();
    format!("{style}{text}{style:#}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_lines_keep_colour_and_show_every_other_control() {
        let line = "a \x1b[1;31mred\x1b[0m\tb \x1b]52;c;cHduZWQ=\x07 \x1b[2J\x1b[1A\r\u{9b}31m end";
        assert_eq!(
            printable_log_line(line),
            "a \x1b[1;31mred\x1b[0m\tb \\u{1b}]52;c;cHduZWQ=\\u{7} \\u{1b}[2J\\u{1b}[1A\\u{d}\\u{9b}31m end"
        );
        assert_eq!(printable_log_line("\x1b["), "\\u{1b}[");
        assert_eq!(printable_log_line("plain ünïcode"), "plain ünïcode");
    }
}
