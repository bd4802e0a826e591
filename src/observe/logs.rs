//! `rgen logs`: an app's log files when the ecosystem names them (read from the installed unit),
//! the journal otherwise — like `pm2 logs`, with each line prefixed by its app.

use std::io::{BufRead as _, Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, Result};

use crate::apply::paths;
use crate::observe::status::InstalledApp;
use crate::plan::{Backend, Scope, Target};
use crate::render::systemd::escape;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Out,
    Err,
    Both,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    File { path: PathBuf, stream: Stream },
    Journal { unit: String },
}

/// Where an app's output goes, from its installed unit files.
pub fn sources(app: &InstalledApp<'_>) -> Vec<Source> {
    let mut out = Vec::new();
    let instances: Vec<Option<u32>> = match app.instances {
        Some(n) => (0..n).map(Some).collect(),
        None => vec![None],
    };
    for file in &app.files {
        if file.name.ends_with(".plist") {
            out.extend(plist_sources(file));
            continue;
        }
        if !(file.name.ends_with(".service")
            && app.units.services.iter().any(|s| same_unit(s, &file.name)))
        {
            continue;
        }
        let mut found = Vec::new();
        for line in file.contents.lines() {
            if let Some(v) = line.strip_prefix("StandardOutput=append:") {
                found.push((v.to_string(), Stream::Out));
            } else if let Some(v) = line.strip_prefix("StandardError=append:") {
                found.push((v.to_string(), Stream::Err));
            } else if let Some(v) = line.strip_prefix("ExecStart=") {
                found.extend(shim_log_files(&escape::parse_exec_line(v)));
            }
        }
        // One file for stdout and stderr together is a combined log.
        if found.len() == 2 && found[0].0 == found[1].0 {
            found = vec![(found[0].0.clone(), Stream::Both)];
        }
        for instance in &instances {
            let unit_name = match instance {
                Some(i) => file.name.replace("@.service", &format!("@{i}.service")),
                None => file.name.clone(),
            };
            if found.is_empty() {
                out.push(Source::Journal { unit: unit_name });
            }
            for (path, stream) in &found {
                let p = match instance {
                    Some(i) => path.replace("%i", &i.to_string()),
                    None => path.clone(),
                };
                out.push(Source::File {
                    path: PathBuf::from(p.replace("%%", "%")),
                    stream: *stream,
                });
            }
        }
    }
    out.dedup();
    out
}

/// A launchd job's logs: the files its shim writes, else launchd's own paths.
fn plist_sources(file: &crate::apply::inventory::InstalledFile) -> Vec<Source> {
    let Ok(job) = crate::render::launchd::parse(file.contents.as_bytes()) else {
        return Vec::new();
    };
    if job.marker.role != "app" {
        return Vec::new();
    }
    let mut out: Vec<Source> = shim_log_files(&job.program_arguments)
        .into_iter()
        .map(|(path, stream)| Source::File {
            path: PathBuf::from(path),
            stream,
        })
        .collect();
    if out.is_empty() {
        for (path, stream) in [
            (&job.standard_out_path, Stream::Out),
            (&job.standard_error_path, Stream::Err),
        ] {
            if let Some(p) = path.as_ref().filter(|p| p.as_str() != "/dev/null") {
                out.push(Source::File {
                    path: PathBuf::from(p),
                    stream,
                });
            }
        }
    }
    out
}

/// The log files `rgen-shim` writes (`--stdout PATH`, …), from its command line: its own options
/// come before `--`, the app's argv after. Nothing for a command that is not the shim.
fn shim_log_files(argv: &[String]) -> Vec<(String, Stream)> {
    use crate::shim_protocol::{BIN, END_OF_OPTIONS, opt};
    let is_shim = argv
        .first()
        .is_some_and(|program| Path::new(program).file_name().is_some_and(|n| n == BIN));
    if !is_shim {
        return Vec::new();
    }
    let end = argv
        .iter()
        .position(|w| w == END_OF_OPTIONS)
        .unwrap_or(argv.len());
    argv[..end]
        .windows(2)
        .filter_map(|pair| {
            let stream = match pair[0].as_str() {
                opt::STDOUT => Stream::Out,
                opt::STDERR => Stream::Err,
                opt::COMBINED => Stream::Both,
                _ => return None,
            };
            Some((pair[1].clone(), stream))
        })
        .collect()
}

fn same_unit(service: &str, file: &str) -> bool {
    service == file
        || file
            .strip_suffix("@.service")
            .is_some_and(|base| service.starts_with(&format!("{base}@")))
}

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

/// The last lines a failed unit left, for error reports: its log file, or the journal.
pub fn last_lines(scope: Scope, unit: &str, n: usize) -> Vec<String> {
    let target = Target {
        backend: Backend::Systemd,
        scope,
        systemd_version: 0,
        cpus: 1,
        shim: PathBuf::new(),
        invoking_user: None,
        home: paths::home(),
    };
    let dir = paths::manager_dir(&target);
    let file_name = match unit.split_once('@') {
        Some((base, _)) => format!("{base}@.service"),
        None => unit.to_string(),
    };
    if let Ok(contents) = std::fs::read_to_string(dir.join(&file_name)) {
        let instance = unit
            .split_once('@')
            .and_then(|(_, rest)| rest.strip_suffix(".service"))
            .unwrap_or("");
        for line in contents.lines() {
            if let Some(path) = line.strip_prefix("StandardError=append:") {
                let path = path.replace("%i", instance).replace("%%", "%");
                return tail_file(Path::new(&path), n);
            }
        }
    }
    journal_command(scope, &[unit.to_string()], n, false)
        .stderr(Stdio::null())
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Prints the history of every source, then (with `follow`) new lines as they arrive.
pub fn show(scope: Scope, labelled: &[(String, Source)], n: usize, follow: bool) -> Result<()> {
    let out = Arc::new(Mutex::new(anstream::stdout()));
    let width = labelled.iter().map(|(l, _)| l.len()).max().unwrap_or(0);
    let mut files = Vec::new();
    let mut journal_units = Vec::new();
    for (label, source) in labelled {
        match source {
            Source::File { path, stream } => files.push((label.clone(), path.clone(), *stream)),
            Source::Journal { unit } => journal_units.push(unit.clone()),
        }
    }
    // Each file stays open after its history, so following starts exactly where it ended.
    let mut opened = Vec::with_capacity(files.len());
    for (label, path, stream) in &files {
        let mut o = out.lock().expect("stdout lock");
        let header = format!(
            "==> {label}: {} ({}) <==",
            path.display(),
            stream_word(*stream)
        );
        writeln!(o, "{}", dim(&header))?;
        let mut file = std::fs::File::open(path).ok();
        let history = file.as_mut().map(|f| tail_of(f, n)).unwrap_or_default();
        for line in history {
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

fn stream_word(s: Stream) -> &'static str {
    match s {
        Stream::Out => "out",
        Stream::Err => "err",
        Stream::Both => "out+err",
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
