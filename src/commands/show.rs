//! `rgen show APP`: everything about one app, like `pm2 show`.

use std::io::Write as _;

use anyhow::Result;

use crate::apply::inventory::Inventory;
use crate::apply::paths;
use crate::cli::ShowArgs;
use crate::manager::systemd::Systemd;
use crate::observe::logs;
use crate::observe::status::{self, format_bytes, format_duration_ms};
use crate::plan::Backend;

pub fn run(args: &ShowArgs) -> Result<i32> {
    let target = args.target.target();
    if target.backend == Backend::Launchd {
        return crate::apply::launchd::show_command(args, target);
    }
    let dir = paths::manager_dir(&target);
    let inventory = Inventory::scan(&dir);
    let installed = status::installed_apps(&inventory);
    let selected = status::select(&installed, std::slice::from_ref(&args.app))?;
    let sd = Systemd::connect(target.scope)?;
    let drift = super::status::drift(&sd, &inventory, &selected, target.clone());
    let apps = status::collect(&sd, &selected, &drift)?;
    if args.json {
        let mut out = std::io::stdout().lock();
        serde_json::to_writer_pretty(&mut out, &apps)?;
        writeln!(out)?;
        return Ok(0);
    }
    let mut out = anstream::stdout().lock();
    for (app, installed) in apps.iter().zip(&selected) {
        let bold = anstyle::Style::new().bold();
        writeln!(
            out,
            "{bold}{}{bold:#} ({}, {})",
            app.name, app.status, app.mode
        )?;
        let row = |k: &str, v: String| format!("  {k:<14} {v}");
        writeln!(
            out,
            "{}",
            row(
                "group",
                format!("{} (rgen-{}.target)", app.group, app.group)
            )
        )?;
        writeln!(out, "{}", row("namespace", app.namespace.clone()))?;
        writeln!(out, "{}", row("source", app.source.display().to_string()))?;
        writeln!(
            out,
            "{}",
            row(
                "drift",
                match app.drift {
                    Some(true) =>
                        "the ecosystem file now renders differently: `rgen install` applies it"
                            .into(),
                    Some(false) => "none".into(),
                    None => "unknown (the ecosystem file is gone)".into(),
                }
            )
        )?;
        for u in &app.units {
            writeln!(
                out,
                "{}",
                row(
                    "unit",
                    format!(
                        "{}: {}/{} ({}), pid {}, up {}, restarts {}, memory {}, last result {}",
                        u.unit,
                        u.active_state,
                        u.sub_state,
                        u.status,
                        u.pid.map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
                        u.uptime_ms
                            .map(format_duration_ms)
                            .unwrap_or_else(|| "-".into()),
                        u.restarts,
                        u.memory_bytes
                            .map(format_bytes)
                            .unwrap_or_else(|| "-".into()),
                        if u.result.is_empty() { "-" } else { &u.result },
                    )
                )
            )?;
        }
        for f in &installed.files {
            writeln!(out, "{}", row("file", f.path.display().to_string()))?;
        }
        for source in logs::sources(installed) {
            let text = match source {
                logs::Source::File { path, .. } => path.display().to_string(),
                logs::Source::Journal { unit } => format!("journal (journalctl -u {unit})"),
            };
            writeln!(out, "{}", row("logs", text))?;
        }
        // The service's own settings, as installed.
        if let Some(service) = installed
            .files
            .iter()
            .find(|f| f.name.ends_with(".service") && f.contents.contains("\n[Install]"))
        {
            for line in service.contents.lines().filter(|l| {
                [
                    "ExecStart=",
                    "WorkingDirectory=",
                    "Environment=",
                    "User=",
                    "Restart",
                    "MemoryMax=",
                    "KillSignal=",
                    "TimeoutStopSec=",
                    "StartLimit",
                ]
                .iter()
                .any(|k| l.starts_with(k))
            }) {
                writeln!(out, "{}", row("", line.to_string()))?;
            }
        }
    }
    Ok(0)
}
