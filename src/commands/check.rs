//! `rgen check`: validate an ecosystem for a target and report every warning and what each app
//! will need.

use anyhow::Result;

use super::{compile, print_warnings};
use crate::cli::CheckArgs;
use crate::plan::ShimNeed;

pub fn run(args: &CheckArgs) -> Result<i32> {
    let target = args.target.render_target();
    let compiled = compile(&args.source, &target)?;
    print_warnings(&compiled.warnings);
    let n = compiled.plan.services.len();
    println!(
        "{}: {n} app{} for {} ({} scope), {} warning{}",
        crate::diag::display_path(&compiled.ecosystem.file),
        if n == 1 { "" } else { "s" },
        match target.backend {
            crate::plan::Backend::Systemd => "systemd",
            crate::plan::Backend::Launchd => "launchd",
        },
        match target.scope {
            crate::plan::Scope::System => "system",
            crate::plan::Scope::User => "user",
        },
        compiled.warnings.len(),
        if compiled.warnings.len() == 1 {
            ""
        } else {
            "s"
        },
    );
    for spec in &compiled.plan.services {
        let shim: Vec<&str> = spec.shim.iter().map(|n| need_text(*n)).collect();
        let instances = spec
            .instances
            .as_ref()
            .map(|i| format!(" ×{}", i.count))
            .unwrap_or_default();
        println!(
            "  {}{instances}: {}{}",
            spec.app,
            spec.app_argv.join(" "),
            if shim.is_empty() {
                String::new()
            } else {
                format!(" [shim: {}]", shim.join(", "))
            }
        );
    }
    Ok(0)
}

pub fn need_text(need: ShimNeed) -> &'static str {
    match need {
        ShimNeed::Readiness => "readiness",
        ShimNeed::Socket => "shared socket",
        ShimNeed::ShutdownMessage => "shutdown message",
        ShimNeed::Backoff => "backoff",
        ShimNeed::IncrementVar => "increment_var",
        ShimNeed::Logs => "log files",
        ShimNeed::StopSignal => "SIGINT stop",
        ShimNeed::MemoryWatchdog => "memory watchdog",
    }
}
