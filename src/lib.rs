//! rgen compiles PM2 / Forever ecosystem files into native service definitions and hands
//! supervision to the operating system.
//!
//! The pipeline: `load` (files → raw apps) → `model` (validated apps) → `plan` (backend-neutral
//! service specs) → a backend's `render` (systemd units, launchd plists) → its effects (`apply`:
//! atomic files and the change set, shared; the manager over D-Bus or launchctl) → `observe`
//! (status, logs). Everything that differs between managers lives in `backend/`, one folder per
//! manager. `cli` is parsed once and resolved by `settings`; `commands` never see clap types.
//!
//! The layering (checked by `tests/integration/layers.rs`): `cli → settings → commands →
//! backend → {observe, apply} → plan → model → load → keys → diag`, with `target` and
//! `shim_protocol` as leaves anyone may use.

pub mod apply;
pub mod backend;
pub mod cli;
pub mod commands;
pub mod diag;
pub mod keys;
pub mod load;
pub mod model;
pub mod observe;
pub mod parallel;
pub mod plan;
pub mod settings;
pub mod shim_protocol;
pub mod target;

use std::io::Write as _;

use clap::Parser as _;

/// Runs the command line and returns the exit status: 0 ok, 1 an operation failed, 2 bad input.
pub fn run() -> i32 {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            if e.kind() == clap::error::ErrorKind::InvalidSubcommand
                && let Some(verb) = std::env::args().nth(1)
                && let Some(hint) = cli::pm2_verb_hint(&verb)
            {
                let mut err = anstream::stderr().lock();
                let red = anstyle::AnsiColor::Red.on_default().bold();
                let _ = writeln!(err, "{red}error{red:#}: rgen has no `{verb}` command");
                let _ = writeln!(err, "  hint: {hint}");
                return 2;
            }
            e.exit()
        }
    };
    use backend::Verb;
    use settings as s;
    let result = match &cli.command {
        cli::Command::Render(a) => {
            s::RenderSettings::resolve(a).and_then(|x| commands::render::run(&x))
        }
        cli::Command::Check(a) => {
            s::CheckSettings::resolve(a).and_then(|x| commands::check::run(&x))
        }
        cli::Command::Import(a) => commands::import::run(&s::ImportSettings::resolve(a)),
        cli::Command::Install(a) => {
            s::InstallSettings::resolve(a).and_then(|x| commands::install::run(&x))
        }
        cli::Command::Uninstall(a) => commands::uninstall::run(&s::UninstallSettings::resolve(a)),
        cli::Command::Status(a) => commands::status::run(&s::StatusSettings::resolve(a)),
        cli::Command::Show(a) => commands::show::run(&s::ShowSettings::resolve(a)),
        cli::Command::Monit(a) => commands::monit::run(&s::MonitSettings::resolve(a)),
        cli::Command::Start(a) => {
            commands::control::run(&s::ControlSettings::resolve(a, Verb::Start))
        }
        cli::Command::Stop(a) => {
            commands::control::run(&s::ControlSettings::resolve(a, Verb::Stop))
        }
        cli::Command::Restart(a) => {
            commands::control::run(&s::ControlSettings::resolve(a, Verb::Restart))
        }
        cli::Command::Reload(a) => {
            commands::control::run(&s::ControlSettings::resolve(a, Verb::Reload))
        }
        cli::Command::Logs(a) => commands::logs::run(&s::LogsSettings::resolve(a)),
        cli::Command::Flush(a) => commands::logs::flush(&s::FlushSettings::resolve(a)),
        cli::Command::Scale(a) => {
            s::ScaleSettings::resolve(a).and_then(|x| commands::tune::scale(&x))
        }
        cli::Command::Signal(a) => {
            s::SignalSettings::resolve(a).and_then(|x| commands::tune::signal(&x))
        }
        cli::Command::Reset(a) => {
            commands::tune::reset(&s::ControlSettings::resolve(a, Verb::Start))
        }
        cli::Command::Completions(a) => completions(a.shell),
        cli::Command::Man => man_page(),
    };
    match result {
        Ok(code) => code,
        Err(e) => report_error(&e),
    }
}

/// `rgen completions SHELL`, generated from the clap definitions (every flag's help is written
/// once, there).
fn completions(shell: clap_complete::Shell) -> anyhow::Result<i32> {
    use clap::CommandFactory as _;
    let mut cmd = cli::Cli::command();
    clap_complete::generate(shell, &mut cmd, "rgen", &mut std::io::stdout());
    Ok(0)
}

/// `rgen man`: the man page, from the same definitions.
fn man_page() -> anyhow::Result<i32> {
    use clap::CommandFactory as _;
    clap_mangen::Man::new(cli::Cli::command()).render(&mut std::io::stdout().lock())?;
    Ok(0)
}

fn report_error(e: &anyhow::Error) -> i32 {
    use std::io::Write as _;
    if let Some(bad) = e.downcast_ref::<diag::BadInput>() {
        diag::print_bad_input(bad);
        return 2;
    }
    if let Some(render) = e.downcast_ref::<backend::RenderError>()
        && render.origin.is_some()
    {
        diag::print_bad_input(
            &backend::RenderError {
                origin: render.origin.clone(),
                message: render.message.clone(),
                hint: render.hint.clone(),
            }
            .into_bad_input(),
        );
        return 2;
    }
    let code = if e.downcast_ref::<backend::RenderError>().is_some() {
        2
    } else {
        1
    };
    let mut err = anstream::stderr().lock();
    let red = anstyle::AnsiColor::Red.on_default().bold();
    let _ = writeln!(
        err,
        "{red}error{red:#}: {}",
        diag::printable(&e.to_string())
    );
    for cause in e.chain().skip(1) {
        let _ = writeln!(err, "  caused by: {}", diag::printable(&cause.to_string()));
    }
    let hint = e.chain().find_map(|cause| {
        cause
            .downcast_ref::<apply::walk::UnsafePath>()
            .and_then(|u| u.hint())
            .or_else(|| {
                cause
                    .downcast_ref::<apply::lock::LockError>()
                    .and_then(|l| l.hint())
            })
    });
    if let Some(hint) = hint {
        let _ = writeln!(err, "  hint: {}", diag::printable(&hint));
    } else if is_not_permitted(e)
        && let Some(hint) = commands::not_permitted_hint()
    {
        let _ = writeln!(err, "  hint: {hint}");
    }
    code
}

/// Whether an error comes down to missing privileges (a polkit refusal, a read-only unit directory).
fn is_not_permitted(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<zbus::Error>()
            .is_some_and(backend::systemd::dbus::is_not_permitted)
            || cause
                .downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::PermissionDenied)
            || cause
                .to_string()
                .contains(backend::systemd::dbus::NOT_PERMITTED)
    })
}
