//! `rgen check`: validate an ecosystem for a target and report every warning and what each app
//! will need.

use anyhow::Result;

use super::print_warnings;
use crate::backend;
use crate::diag::printable;
use crate::plan::{LogDest, LogPlan};
use crate::settings::CheckSettings;

pub fn run(s: &CheckSettings) -> Result<i32> {
    let renderer = backend::renderer(&s.target);
    let compiled = super::compile_for(&s.source, &s.target, renderer.as_ref(), true)?;
    print_warnings(&compiled.warnings);
    let n = compiled.plan.services.len();
    println!(
        "{}: {n} app{} for {} ({} scope), {} warning{}",
        crate::diag::display_path(&compiled.ecosystem.file),
        if n == 1 { "" } else { "s" },
        s.target.backend,
        s.target.scope,
        compiled.warnings.len(),
        if compiled.warnings.len() == 1 {
            ""
        } else {
            "s"
        },
    );
    for spec in &compiled.plan.services {
        let shim: Vec<&str> = spec.shim.iter().map(|n| n.describe()).collect();
        let instances = spec
            .instances
            .as_ref()
            .map(|i| format!(" ×{}", i.count))
            .unwrap_or_default();
        println!(
            "  {}{instances}: {}{}",
            printable(&spec.app),
            printable(&spec.app_argv.join(" ")),
            if shim.is_empty() {
                String::new()
            } else {
                format!(" [shim: {}]", shim.join(", "))
            }
        );
        println!("    logs: {}", logs_line(&spec.logs));
    }
    Ok(0)
}

/// Where the app's output goes and how it is rotated, in one line.
fn logs_line(logs: &LogPlan) -> String {
    let file = |d: &LogDest| matches!(d, LogDest::File(_));
    if let Some(r) = &logs.rotation {
        let whose = if r.configured {
            "log_rotate"
        } else {
            "rgen's default; `log_rotate` changes it"
        };
        return format!("rotated by rgen-shim {} ({whose})", r.describe());
    }
    if !logs.files.is_empty() || file(&logs.stdout) || file(&logs.stderr) {
        return "files, never rotated (`log_rotate` turns it off); `rgen flush` empties them"
            .into();
    }
    if logs.stdout == LogDest::Journal || logs.stderr == LogDest::Journal {
        return "the journal, which journald rotates (SystemMaxUse=, MaxRetentionSec= in journald.conf)".into();
    }
    "discarded".into()
}
