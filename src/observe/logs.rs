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
                // Files the shim writes (`--stdout PATH`, …), before the app's own argv.
                let words = escape::parse_exec_line(v);
                let end = words.iter().position(|w| w == "--").unwrap_or(words.len());
                for pair in words[..end].windows(2) {
                    let stream = match pair[0].as_str() {
                        "--stdout" => Stream::Out,
                        "--stderr" => Stream::Err,
                        "--combined" => Stream::Both,
                        _ => continue,
                    };
                    found.push((pair[1].clone(), stream));
                }
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
    let args = &job.program_arguments;
    let end = args.iter().position(|w| w == "--").unwrap_or(0);
    let mut out: Vec<Source> = args[..end]
        .windows(2)
        .filter_map(|pair| {
            let stream = match pair[0].as_str() {
                "--stdout" => Stream::Out,
                "--stderr" => Stream::Err,
                "--combined" => Stream::Both,
                _ => return None,
            };
            Some(Source::File {
                path: PathBuf::from(&pair[1]),
                stream,
            })
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

fn same_unit(service: &str, file: &str) -> bool {
    service == file
        || file
            .strip_suffix("@.service")
            .is_some_and(|base| service.starts_with(&format!("{base}@")))
}

/// The last `n` lines of a file (whole lines; a huge file is read from its end only).
pub fn tail_file(path: &Path, n: usize) -> Vec<String> {
    let Ok(mut f) = std::fs::File::open(path) else {
        return Vec::new();
    };
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
    let journal_units: Vec<String> = labelled
        .iter()
        .filter_map(|(_, s)| {
            if let Source::Journal { unit } = s {
                Some(unit.clone())
            } else {
                None
            }
        })
        .collect();
    for (label, source) in labelled {
        if let Source::File { path, stream } = source {
            let mut o = out.lock().expect("stdout lock");
            writeln!(
                o,
                "{}",
                dim(&format!(
                    "==> {label}: {} ({}) <==",
                    path.display(),
                    stream_word(*stream)
                ))
            )?;
            for line in tail_file(path, n) {
                writeln!(o, "{} {line}", prefix(label, width, *stream))?;
            }
        }
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
    for (label, source) in labelled.iter().cloned() {
        if let Source::File { path, stream } = source {
            let out = Arc::clone(&out);
            threads.push(std::thread::spawn(move || {
                follow_file(&path, &label, width, stream, &out)
            }));
        }
    }
    if !journal_units.is_empty() {
        journal_command(scope, &journal_units, n, true)
            .status()
            .context("cannot run journalctl")?;
    }
    for t in threads {
        let _ = t.join();
    }
    Ok(())
}

fn follow_file(
    path: &Path,
    label: &str,
    width: usize,
    stream: Stream,
    out: &Mutex<anstream::AutoStream<std::io::Stdout>>,
) {
    let mut pos = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    loop {
        std::thread::sleep(Duration::from_millis(250));
        let Ok(meta) = std::fs::metadata(path) else {
            continue;
        };
        if meta.len() < pos {
            // Truncated or rotated: start from the top of the new file.
            pos = 0;
        }
        if meta.len() == pos {
            continue;
        }
        let Ok(mut f) = std::fs::File::open(path) else {
            continue;
        };
        let _ = f.seek(SeekFrom::Start(pos));
        let mut reader = std::io::BufReader::new(f);
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap_or(0) > 0 {
            if !line.ends_with('\n') {
                break;
            }
            pos += line.len() as u64;
            if let Ok(mut o) = out.lock() {
                let _ = writeln!(
                    o,
                    "{} {}",
                    prefix(label, width, stream),
                    line.trim_end_matches('\n')
                );
            }
            line.clear();
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
