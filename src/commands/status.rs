//! `rgen status` (`ls`, `list`): a `pm2 ls` table, or stable JSON (documented in README), with
//! each app's drift from its ecosystem file.

use std::collections::BTreeMap;
use std::io::Write as _;

use anyhow::Result;

use super::{compile, installed};
use crate::apply::inventory::{InstalledApp, Inventory};
use crate::backend::{self, Renderer};
use crate::load::{self, Format};
use crate::observe::select::select;
use crate::observe::status::{
    self, AppStatus, LogFileStatus, Report, format_bytes, format_duration_ms,
};
use crate::settings::{SourceSettings, StatusSettings, cpus};
use crate::target::Target;

pub fn run(s: &StatusSettings) -> Result<i32> {
    let (report, sources) = collect_keeping(&s.target, &s.apps)?;
    print_report(&report, s.json)?;
    // The process ends now: its exit reclaims these at no cost, where freeing hundreds of
    // apps' parsed files and closing the manager's connection took about a millisecond.
    std::mem::forget(sources);
    Ok(0)
}

/// The report for the selected apps, with drift.
pub fn collect(target: &Target, wanted: &[String]) -> Result<Report> {
    collect_keeping(target, wanted).map(|(report, _)| report)
}

/// What a report was made from, handed back with it so that a command about to exit need not
/// free it.
pub struct Sources {
    _inventory: Inventory,
    _apps: Vec<InstalledApp>,
    _manager: Option<Box<dyn backend::Manager>>,
}

/// [`collect`], with what the report was made from.
pub fn collect_keeping(target: &Target, wanted: &[String]) -> Result<(Report, Sources)> {
    let renderer = backend::renderer(target);
    // The manager is reached while the files are read. (A manager that cannot be reached
    // matters only if there is an app to ask about.)
    let (manager, installed) = backend::connect_while(target, || installed(renderer.as_ref()));
    let (inventory, apps) = installed?;
    let selected = select(&apps, wanted)?;
    let (apps_status, manager) = if selected.is_empty() {
        (Vec::new(), None)
    } else {
        let manager = manager?;
        let mut rows = manager.status(&selected)?;
        let drift = drift(
            target,
            &|| manager.version(),
            renderer.as_ref(),
            &inventory,
            &selected,
        );
        for row in &mut rows {
            row.drift = drift
                .get(&(row.group.clone(), row.name.clone()))
                .copied()
                .flatten();
        }
        (rows, Some(manager))
    };
    let report = Report {
        version: status::JSON_VERSION,
        backend: target.backend.as_str(),
        scope: target.scope.as_str(),
        apps: apps_status,
    };
    let sources = Sources {
        _inventory: inventory,
        _apps: apps,
        _manager: manager,
    };
    Ok((report, sources))
}

pub fn print_report(report: &Report, json: bool) -> Result<()> {
    if json {
        // No colour in JSON, so no need for anstream's escape-stripping pass over it. Buffered:
        // stdout flushes every line, which was one write(2) per JSON line (7,500 for 200 apps).
        let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
        serde_json::to_writer_pretty(&mut out, report)?;
        writeln!(out)?;
        out.flush()?;
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
    let any_log_file = apps.iter().any(|a| !a.logs.is_empty());
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
    if any_log_file {
        header.push("logs");
    }
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
                // The app's own memory first, as PM2's RSS; page cache is in --json.
                a.memory_own_bytes
                    .or(a.memory_bytes)
                    .map(format_bytes)
                    .unwrap_or_else(|| "-".into()),
                None,
            ),
        ];
        if any_log_file {
            // Live files' size, and how many rotated ones lie beside them.
            row.push((
                LogFileStatus::summary(&a.logs).unwrap_or_else(|| "-".into()),
                None,
            ));
        }
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

/// An app from the command line has its definition in its files: compiled again, does it still
/// render the same (a later rgen, `rgen scale`)?
fn command_line_drift(
    target: &Target,
    renderer: &dyn Renderer,
    app: &InstalledApp,
) -> Option<bool> {
    let marker = app.units.iter().find_map(|u| {
        u.marker
            .definition
            .as_ref()
            .map(|d| (d, u.marker.source.parent()))
    })?;
    let dir = marker.1?;
    let def = load::adhoc::Definition::from_json(dir, marker.0)?;
    let mut target = target.clone();
    target.cpus = cpus();
    target.invoking_user = Some(installed_identity(app));
    let source = SourceSettings {
        adhoc: Some(def),
        group: Some(app.group.clone()),
        ..SourceSettings::default()
    };
    let files = compile(&source, &target, renderer).ok()?.files;
    Some(differs(&files, app))
}

/// Who an installed app runs as (`root` for the manager's own user).
pub(crate) fn installed_identity(app: &InstalledApp) -> String {
    app.units
        .iter()
        .find(|u| u.role == crate::apply::inventory::Role::App)
        .and_then(|u| u.run_as.clone())
        .unwrap_or_else(|| "root".into())
}

fn differs(files: &[crate::apply::RenderedFile], a: &InstalledApp) -> bool {
    let mine: Vec<_> = files
        .iter()
        .filter(|f| f.app.as_deref() == Some(a.name.as_str()))
        .collect();
    mine.len() != a.units.len()
        || mine.iter().any(|r| {
            a.units
                .iter()
                .find(|u| u.name == r.name)
                .is_none_or(|u| u.contents != r.contents)
        })
}

/// Whether each app's installed files still match its ecosystem file. Cheap in the common case:
/// the file's digest is compared with the one recorded at install. A changed JavaScript file is
/// reported as changed without running it — a read-only verb never executes an ecosystem
/// file's code (README, "Security model"); other formats are compiled again, which reads but runs
/// nothing.
fn drift(
    target: &Target,
    manager_version: &dyn Fn() -> Option<u32>,
    renderer: &dyn Renderer,
    inventory: &Inventory,
    apps: &[&InstalledApp],
) -> BTreeMap<(String, String), Option<bool>> {
    let mut result = BTreeMap::new();
    // The manager's version is asked only for apps compiled again (it changes what is
    // rendered, and asking costs a round trip).
    let version = std::cell::OnceCell::new();
    let versioned = || {
        let mut target = target.clone();
        if let Some(v) = *version.get_or_init(manager_version) {
            target.systemd_version = v;
        }
        target
    };
    let mut groups: BTreeMap<&str, Vec<&InstalledApp>> = BTreeMap::new();
    for app in apps {
        groups.entry(app.group.as_str()).or_default().push(app);
    }
    for (group, members) in groups {
        let group_units = inventory.group_units(group);
        let Some(head) = group_units
            .iter()
            .find(|u| u.marker.app.is_none() && u.marker.source_hash.is_some())
            .or_else(|| group_units.iter().find(|u| u.marker.source_hash.is_some()))
            .or(group_units.first())
        else {
            continue;
        };
        let marker = &head.marker;
        if load::adhoc::is_command_line(&marker.source) {
            for a in &members {
                result.insert(
                    (group.to_string(), a.name.clone()),
                    command_line_drift(&versioned(), renderer, a),
                );
            }
            continue;
        }
        let mut set = |value: Option<bool>| {
            for a in &members {
                result.insert((group.to_string(), a.name.clone()), value);
            }
        };
        // Checked like any ecosystem file (a FIFO or a huge file there must not hang `status`).
        let Ok(bytes) = load::read_source(&marker.source) else {
            set(None);
            continue;
        };
        if marker.source_hash.as_deref() == Some(load::source_hash(&bytes).as_str()) {
            set(Some(false));
            continue;
        }
        if load::detect_format(&marker.source, None) == Some(Format::Pm2Js) {
            set(Some(true));
            continue;
        }
        let mut target = versioned();
        target.cpus = cpus();
        // Compiled again as it was installed: apps without `uid` as whom they run as now.
        target.invoking_user = members.first().map(|a| installed_identity(a));
        target.strict_hardening = group_units.iter().any(|u| u.marker.strict_hardening);
        let installed_apps: Vec<String> = group_units
            .iter()
            .filter_map(|u| u.marker.app.clone())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let source = SourceSettings {
            file: Some(marker.source.clone()),
            adhoc: None,
            env: marker.env.clone(),
            only: installed_apps,
            format: None,
            group: Some(group.to_string()),
            ..SourceSettings::default()
        };
        let rendered = compile(&source, &target, renderer).ok().map(|c| c.files);
        for a in &members {
            let changed = rendered.as_ref().is_none_or(|files| differs(files, a));
            result.insert((group.to_string(), a.name.clone()), Some(changed));
        }
    }
    result
}
