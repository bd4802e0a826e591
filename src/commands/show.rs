//! `rgen show APP` (`describe`): everything about one app, like `pm2 show` — the same fields on
//! every backend, from the installed files and the manager.

use std::io::Write as _;

use anyhow::Result;

use super::installed;
use crate::apply::inventory::LogSource;
use crate::backend;
use crate::diag::printable;
use crate::observe::secrets;
use crate::observe::select::select;
use crate::observe::status::{format_bytes, format_duration_ms};
use crate::settings::ShowSettings;

pub fn run(s: &ShowSettings) -> Result<i32> {
    let report = super::status::collect(&s.target, std::slice::from_ref(&s.app))?;
    if s.json {
        let mut out = std::io::stdout().lock();
        serde_json::to_writer_pretty(&mut out, &report.apps)?;
        writeln!(out)?;
        return Ok(0);
    }
    let renderer = backend::renderer(&s.target);
    let (_, apps) = installed(renderer.as_ref())?;
    let selected = select(&apps, std::slice::from_ref(&s.app))?;
    let mut out = anstream::stdout().lock();
    for (app, installed) in report.apps.iter().zip(&selected) {
        let bold = anstyle::Style::new().bold();
        writeln!(
            out,
            "{bold}{}{bold:#} ({}, {})",
            app.name, app.status, app.mode
        )?;
        let row = |k: &str, v: String| format!("  {k:<14} {v}");
        writeln!(out, "{}", row("group", app.group.clone()))?;
        writeln!(out, "{}", row("namespace", app.namespace.clone()))?;
        writeln!(out, "{}", row("source", app.source.display().to_string()))?;
        writeln!(
            out,
            "{}",
            row(
                "drift",
                match app.drift {
                    Some(true) =>
                        "the ecosystem file changed since install: `rgen install` applies it".into(),
                    Some(false) => "none".into(),
                    None => "unknown (the ecosystem file is gone)".into(),
                }
            )
        )?;
        let command = installed.app_argv().join(" ");
        writeln!(out, "{}", row("command", printable(&command).into_owned()))?;
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
        for u in &installed.units {
            writeln!(out, "{}", row("file", u.path.display().to_string()))?;
        }
        for source in installed.log_sources() {
            let text = match source {
                LogSource::File { path, stream, .. } => {
                    let on_disk = app
                        .logs
                        .iter()
                        .find(|f| f.path == path)
                        .map(|f| format!(": {}", f.describe()))
                        .unwrap_or_default();
                    format!("{} ({}){on_disk}", path.display(), stream.as_str())
                }
                LogSource::Journal { unit } => format!("journal (journalctl -u {unit})"),
            };
            writeln!(out, "{}", row("logs", text))?;
        }
        for unit in &installed.units {
            for (name, value) in &unit.env {
                let value = secrets::shown(name, value, s.show_secrets);
                let line = format!("{name}={value}");
                writeln!(out, "{}", row("env", printable(&line).into_owned()))?;
            }
        }
        // The manager's own settings for the app, as installed.
        if let Some(unit) = installed
            .units
            .iter()
            .find(|u| u.role == crate::apply::inventory::Role::App)
        {
            for (key, value) in &unit.settings {
                writeln!(out, "{}", row("", format!("{key}={value}")))?;
            }
        }
    }
    Ok(0)
}
