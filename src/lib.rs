//! rgen compiles PM2 / Forever ecosystem files into native service definitions and hands
//! supervision to the operating system.
//!
//! The pipeline, one module per stage:
//! `load` (files → raw apps) → `model` (validated apps) → `plan` (backend-neutral service specs) →
//! `render` (systemd units via askama, launchd plists via `plist`) → `apply` (atomic files, the
//! manager over D-Bus or launchctl) → `observe` (status, logs).

pub mod apply;
pub mod cli;
pub mod commands;
pub mod diag;
pub mod load;
pub mod manager;
pub mod model;
pub mod observe;
pub mod plan;
pub mod render;
pub mod shim_protocol;

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
    let result = match &cli.command {
        cli::Command::Render(a) => commands::render::run(a),
        cli::Command::Check(a) => commands::check::run(a),
        cli::Command::Import(a) => commands::import::run(a),
        cli::Command::Install(a) => commands::install::run(a),
        cli::Command::Uninstall(a) => commands::uninstall::run(a),
        cli::Command::Status(a) => commands::status::run(a),
        cli::Command::Show(a) => commands::show::run(a),
        cli::Command::Start(a) => commands::control::run(a, commands::control::Verb::Start),
        cli::Command::Stop(a) => commands::control::run(a, commands::control::Verb::Stop),
        cli::Command::Restart(a) => commands::control::run(a, commands::control::Verb::Restart),
        cli::Command::Reload(a) => commands::control::run(a, commands::control::Verb::Reload),
        cli::Command::Logs(a) => commands::logs::run(a),
        cli::Command::Flush(a) => commands::logs::flush(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => report_error(&e),
    }
}

fn report_error(e: &anyhow::Error) -> i32 {
    use std::io::Write as _;
    if let Some(bad) = e.downcast_ref::<diag::BadInput>() {
        diag::print_bad_input(bad);
        return 2;
    }
    let code = if e.downcast_ref::<render::RenderError>().is_some() {
        2
    } else {
        1
    };
    let mut err = anstream::stderr().lock();
    let red = anstyle::AnsiColor::Red.on_default().bold();
    let _ = writeln!(err, "{red}error{red:#}: {e}");
    for cause in e.chain().skip(1) {
        let _ = writeln!(err, "  caused by: {cause}");
    }
    if is_not_permitted(e)
        && let Some(hint) = not_permitted_hint()
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
            .is_some_and(manager::systemd::is_not_permitted)
            || cause
                .downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::PermissionDenied)
            || cause.to_string().contains(manager::systemd::NOT_PERMITTED)
    })
}

/// What to do when a non-root user was refused managing the system scope.
pub fn not_permitted_hint() -> Option<String> {
    let command: Vec<String> = std::env::args().skip(1).collect();
    if plan::current_uid() == 0 || !command.iter().any(|a| a == "--system") {
        return None;
    }
    // Quoted for a POSIX shell, so the suggestion can be pasted as it is.
    let command = shlex::try_join(command.iter().map(String::as_str)).ok()?;
    Some(format!(
        "system-scope apps are managed as root: `sudo rgen {command}`; apps of your own can \
         live in the user scope (--user), which needs no privileges"
    ))
}
