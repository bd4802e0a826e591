//! `rgen start|stop|restart|reload`: act on installed apps by name, namespace, group or `all`.

use std::io::Write as _;

use anyhow::{Result, bail};

use super::installed;
use crate::backend;
use crate::observe::select::select;
use crate::settings::ControlSettings;

pub fn run(s: &ControlSettings) -> Result<i32> {
    let renderer = backend::renderer(&s.target);
    let (_, apps) = installed(renderer.as_ref())?;
    let selected = select(&apps, &s.apps)?;
    if selected.is_empty() {
        bail!(
            "rgen has installed no apps in {}",
            renderer.manager_dir().display()
        );
    }
    let manager = backend::connect(&s.target)?;
    let mut out = std::io::stdout().lock();
    let failures = manager.control(s.verb, &selected, &mut out)?;
    if failures.is_empty() {
        let names: Vec<&str> = selected.iter().map(|a| a.name.as_str()).collect();
        writeln!(out, "{}: {}", s.verb.past(), names.join(", "))?;
        return Ok(0);
    }
    for f in &failures {
        writeln!(out, "failed: {}: {}", f.unit, f.why)?;
        if let Some(app) = selected.iter().find(|a| a.services().contains(&f.unit)) {
            manager.explain_failure(&f.unit, app, &mut out)?;
        }
    }
    if failures.iter().any(|f| f.not_permitted)
        && let Some(hint) = super::not_permitted_hint()
    {
        writeln!(out, "hint: {hint}")?;
    }
    Ok(1)
}
