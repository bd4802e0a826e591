//! `rgen scale`, `rgen signal` and `rgen reset`: PM2's `scale`, `sendSignal` and `reset` on
//! installed apps, through the backend.

use std::io::Write as _;

use anyhow::{Result, bail};

use super::installed;
use crate::backend::{self, Failure};
use crate::observe::select::select;
use crate::settings::{ControlSettings, ScaleSettings, SignalSettings};

pub fn scale(s: &ScaleSettings) -> Result<i32> {
    let renderer = backend::renderer(&s.target);
    let _lock = super::lock_manager_dir(&s.target, renderer.as_ref())?;
    let (_, apps) = installed(renderer.as_ref())?;
    let selected = select(&apps, std::slice::from_ref(&s.app))?;
    let [app] = selected.as_slice() else {
        bail!(
            "`{}` names {} apps; scale one app at a time",
            s.app,
            selected.len()
        );
    };
    let current = app.instances().unwrap_or(1);
    let count = s.count.from(current);
    let manager = backend::connect(&s.target)?;
    let mut out = std::io::stdout().lock();
    let failures = manager.scale(app, count, &mut out)?;
    report(&failures, &mut out)?;
    if failures.is_empty() {
        writeln!(out, "{}: {current} → {count} instances", app.name)?;
    }
    Ok(i32::from(!failures.is_empty()))
}

pub fn signal(s: &SignalSettings) -> Result<i32> {
    let renderer = backend::renderer(&s.target);
    let (_, apps) = installed(renderer.as_ref())?;
    let selected = select(&apps, &s.apps)?;
    let manager = backend::connect(&s.target)?;
    let mut out = std::io::stdout().lock();
    let failures = manager.signal(&selected, s.signal, &mut out)?;
    report(&failures, &mut out)?;
    if failures.is_empty() {
        let names: Vec<&str> = selected.iter().map(|a| a.name.as_str()).collect();
        writeln!(out, "{} sent to {}", s.signal_name, names.join(", "))?;
    }
    Ok(i32::from(!failures.is_empty()))
}

pub fn reset(s: &ControlSettings) -> Result<i32> {
    let renderer = backend::renderer(&s.target);
    let (_, apps) = installed(renderer.as_ref())?;
    let selected = select(&apps, &s.apps)?;
    let manager = backend::connect(&s.target)?;
    let mut out = std::io::stdout().lock();
    let failures = manager.reset(&selected, &mut out)?;
    report(&failures, &mut out)?;
    if failures.is_empty() {
        let names: Vec<&str> = selected.iter().map(|a| a.name.as_str()).collect();
        writeln!(out, "reset: {}", names.join(", "))?;
    }
    Ok(i32::from(!failures.is_empty()))
}

fn report(failures: &[Failure], out: &mut dyn std::io::Write) -> Result<()> {
    for f in failures {
        writeln!(out, "failed: {}: {}", f.unit, f.why)?;
    }
    Ok(())
}
