//! `rgen import`: a PM2 or Forever file → rgen.toml with the same keys, a comment on every key the
//! OS only approximates, and the unsupported ones kept but marked. With `--from-pm2`, what a
//! running PM2 runs (its dump.pm2 or `pm2 jlist`) instead, see `pm2`; with `--from-installed`,
//! what rgen installed, see `installed`.

mod installed;
mod pm2;
mod ports;
pub mod write;

use std::fmt::Write as _;

use anyhow::{Context as _, Result};
use serde_json::Value;

use super::print_warnings;
use crate::apply::files::write_atomic;
use crate::keys::Support;
use crate::load::{self, Canonical, Format, RawEcosystem};
use crate::settings::ImportSettings;
use write::{bare_key, toml_value};

pub fn run(args: &ImportSettings) -> Result<i32> {
    if let Some(from_pm2) = &args.pm2 {
        return pm2::run(args, from_pm2);
    }
    if let Some(from_installed) = &args.installed {
        return installed::run(args, from_installed);
    }
    let file = args
        .file
        .as_deref()
        .context("rgen import needs a file (or --from-pm2)")?;
    let (raw, report) = load::load(file, args.format)?;
    print_warnings(&report.warnings);
    let text = to_toml(&raw);
    // The result must load as rgen.toml; anything else is a bug to report, not a file to write.
    toml::from_str::<toml::Value>(&text)
        .context("the converted file is not valid TOML (a bug in rgen)")?;
    match &args.out {
        Some(path) => {
            if path.exists() {
                anyhow::bail!(
                    "{} exists; rgen import does not overwrite files (remove it or choose another --out)",
                    path.display()
                );
            }
            // Environment values are often secrets: the converted file is its owner's alone.
            let carries_env = raw.apps.iter().any(|a| {
                a.entries.iter().any(|e| match &e.canonical {
                    Canonical::Key(spec) => spec.name == "env",
                    Canonical::EnvOverlay(_) => true,
                })
            }) || !raw.deploy.is_empty();
            let mode = if carries_env { 0o600 } else { 0o644 };
            write_atomic(path, text.as_bytes(), mode)?;
            eprintln!("wrote {}", path.display());
        }
        None => print!("{text}"),
    }
    Ok(0)
}

pub fn to_toml(raw: &RawEcosystem) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Converted by `rgen import` from {}.",
        raw.file.display()
    );
    let _ = writeln!(
        out,
        "# Keys keep PM2's names; `rgen check` explains how each maps to systemd and launchd."
    );
    if raw.format == Format::Forever {
        let _ = writeln!(
            out,
            "# Forever's keys were renamed to their PM2 equivalents."
        );
    }
    // Beside `apps`, before them: a bare `log_rotate = false` must precede every table.
    match &raw.log_rotate {
        Some((_, Value::Object(settings))) => {
            out.push_str("\n[log_rotate]\n");
            for (k, v) in settings {
                let _ = writeln!(out, "{} = {}", bare_key(k), toml_value(v));
            }
        }
        Some((_, value)) if !value.is_null() => {
            let _ = writeln!(out, "\nlog_rotate = {}", toml_value(value));
        }
        _ => {}
    }
    for app in &raw.apps {
        out.push_str("\n[[apps]]\n");
        let mut tables = Vec::new();
        for entry in &app.entries {
            let key = match &entry.canonical {
                Canonical::Key(spec) => spec.name.to_string(),
                Canonical::EnvOverlay(name) => format!("env_{name}"),
            };
            if entry.value.is_null() {
                let _ = writeln!(out, "# {} = null (PM2 treats it as unset)", bare_key(&key));
                continue;
            }
            if let Value::Object(map) = &entry.value {
                tables.push((key, map.clone()));
                continue;
            }
            if let Canonical::Key(spec) = &entry.canonical {
                let note = match (spec.systemd.support, spec.launchd.support) {
                    (Support::Unsupported, Support::Unsupported) => {
                        Some(format!("ignored: {}", spec.systemd.text))
                    }
                    (Support::Approximated(..), _) => {
                        Some(format!("systemd: {}", spec.systemd.text))
                    }
                    (_, Support::Approximated(..)) => {
                        Some(format!("launchd: {}", spec.launchd.text))
                    }
                    (Support::Shim(_), _) | (_, Support::Shim(_)) => {
                        Some("needs rgen-shim".to_string())
                    }
                    _ => None,
                };
                if let Some(note) = note {
                    let _ = writeln!(out, "# {note}");
                }
            }
            let _ = writeln!(out, "{} = {}", bare_key(&key), toml_value(&entry.value));
        }
        for (key, map) in tables {
            let _ = writeln!(out, "\n[apps.{}]", bare_key(&key));
            for (k, v) in &map {
                let _ = writeln!(out, "{} = {}", bare_key(k), toml_value(v));
            }
        }
    }
    out
}
