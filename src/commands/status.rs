//! `rgen status` (`ls`, `list`): a `pm2 ls` table, or stable JSON (documented in README).

use std::collections::BTreeMap;
use std::io::Write as _;

use anyhow::Result;

use super::compile;
use crate::apply::inventory::Inventory;
use crate::apply::paths;
use crate::cli::{SourceArgs, StatusArgs};
use crate::load;
use crate::manager::systemd::{Systemd, scope_word};
use crate::observe::status::{
    self, AppStatus, InstalledApp, Report, format_bytes, format_duration_ms,
};
use crate::plan::{Backend, Target};

pub fn run(args: &StatusArgs) -> Result<i32> {
    let target = args.target.target();
    if target.backend == Backend::Launchd {
        return crate::apply::launchd::status_command(args, target);
    }
    let dir = paths::manager_dir(&target);
    let inventory = Inventory::scan(&dir);
    let installed = status::installed_apps(&inventory);
    let selected = status::select(&installed, &args.apps)?;
    let apps = if selected.is_empty() {
        Vec::new()
    } else {
        let sd = Systemd::connect(target.scope)?;
        let drift = drift(&sd, &inventory, &selected, target.clone());
        status::collect(&sd, &selected, &drift)?
    };
    let report = Report {
        version: status::JSON_VERSION,
        backend: "systemd",
        scope: scope_word(target.scope),
        apps,
    };
    print_report(&report, args.json)?;
    Ok(0)
}

pub fn print_report(report: &Report, json: bool) -> Result<()> {
    if json {
        // No colour in JSON, so no need for anstream's escape-stripping pass over it.
        let mut out = std::io::stdout().lock();
        serde_json::to_writer_pretty(&mut out, report)?;
        writeln!(out)?;
        return Ok(());
    }
    let mut out = anstream::stdout().lock();
    if report.apps.is_empty() {
        writeln!(
            out,
            "no apps installed by rgen ({} scope); `rgen install` adds them",
            report.scope
        )?;
        return Ok(());
    }
    print_table(&mut out, &report.apps)?;
    Ok(())
}

fn print_table(out: &mut impl std::io::Write, apps: &[AppStatus]) -> Result<()> {
    let any_drift = apps.iter().any(|a| a.drift == Some(true));
    let mut rows: Vec<Vec<(String, Option<anstyle::Style>)>> = Vec::new();
    let mut header = vec![
        "name",
        "namespace",
        "mode",
        "status",
        "pid",
        "uptime",
        "↺",
        "cpu",
        "memory",
    ];
    if any_drift {
        header.push("drift");
    }
    rows.push(
        header
            .iter()
            .map(|h| (h.to_string(), Some(anstyle::Style::new().bold())))
            .collect(),
    );
    for a in apps {
        let color = match a.status.as_str() {
            "online" => anstyle::AnsiColor::Green,
            "errored" => anstyle::AnsiColor::Red,
            "stopped" => anstyle::AnsiColor::BrightBlack,
            _ => anstyle::AnsiColor::Yellow,
        };
        let mode = if a.instances > 1 || a.mode == "cluster" {
            format!("{} ×{}", a.mode, a.instances)
        } else {
            a.mode.to_string()
        };
        let mut row = vec![
            (a.name.clone(), None),
            (a.namespace.clone(), None),
            (mode, None),
            (a.status.clone(), Some(color.on_default())),
            (
                a.pid.map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
                None,
            ),
            (
                a.uptime_ms
                    .map(format_duration_ms)
                    .unwrap_or_else(|| "-".into()),
                None,
            ),
            (a.restarts.to_string(), None),
            (
                a.cpu_percent
                    .map(|c| format!("{c:.1}%"))
                    .unwrap_or_else(|| "-".into()),
                None,
            ),
            (
                a.memory_bytes
                    .map(format_bytes)
                    .unwrap_or_else(|| "-".into()),
                None,
            ),
        ];
        if any_drift {
            row.push((
                if a.drift == Some(true) {
                    "changed".into()
                } else {
                    String::new()
                },
                Some(anstyle::AnsiColor::Yellow.on_default()),
            ));
        }
        rows.push(row);
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|c| {
            rows.iter()
                .map(|r| r[c].0.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in &rows {
        let mut line = String::new();
        for (i, (text, style)) in row.iter().enumerate() {
            let pad = widths[i] - text.chars().count();
            match style {
                Some(s) => line.push_str(&format!("{s}{text}{s:#}")),
                None => line.push_str(text),
            }
            if i + 1 < row.len() {
                line.push_str(&" ".repeat(pad + 2));
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    if any_drift {
        writeln!(
            out,
            "\n`changed`: the ecosystem file now renders differently; `rgen install` applies it"
        )?;
    }
    Ok(())
}

/// Whether each app's installed files still match its ecosystem file. Cheap in the common case:
/// the file's digest is compared with the one recorded at install; only a changed file is
/// compiled again (which, for JavaScript files, runs node).
pub fn drift(
    sd: &Systemd,
    inventory: &Inventory,
    apps: &[&InstalledApp<'_>],
    mut target: Target,
) -> BTreeMap<(String, String), Option<bool>> {
    let mut result = BTreeMap::new();
    let mut groups: BTreeMap<&str, Vec<&InstalledApp<'_>>> = BTreeMap::new();
    for app in apps {
        groups.entry(app.group.as_str()).or_default().push(app);
    }
    for (group, members) in groups {
        let group_files = inventory.group_files(group);
        let Some(head) = group_files
            .iter()
            .find(|f| f.marker.app.is_none())
            .or(group_files.first())
        else {
            continue;
        };
        let marker = &head.marker;
        let Ok(bytes) = std::fs::read(&marker.source) else {
            for a in &members {
                result.insert((group.to_string(), a.name.clone()), None);
            }
            continue;
        };
        if marker.source_hash.as_deref() == Some(load::source_hash(&bytes).as_str()) {
            for a in &members {
                result.insert((group.to_string(), a.name.clone()), Some(false));
            }
            continue;
        }
        if let Ok(v) = sd.version() {
            target.systemd_version = v;
        }
        target.cpus = super::cpus();
        let all_installed: Vec<String> = inventory
            .group_files(group)
            .iter()
            .filter_map(|f| f.marker.app.clone())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let source = SourceArgs {
            file: Some(marker.source.clone()),
            env: marker.env.clone(),
            only: all_installed,
            format: None,
            group: Some(group.to_string()),
        };
        let rendered = compile(&source, &target).ok().map(|c| c.files);
        for a in &members {
            let differs = match &rendered {
                None => true,
                Some(files) => {
                    let mine: Vec<_> = files
                        .iter()
                        .filter(|f| f.app.as_deref() == Some(a.name.as_str()))
                        .collect();
                    mine.len() != a.files.len()
                        || mine.iter().any(|r| {
                            a.files
                                .iter()
                                .find(|f| f.name == r.name)
                                .is_none_or(|f| f.contents != r.contents)
                        })
                }
            };
            result.insert((group.to_string(), a.name.clone()), Some(differs));
        }
    }
    result
}
