//! Group `command`: what runs — `cwd`, `script` (a file, a command on PATH, or a shell command
//! line), `exec_interpreter` chosen as PM2 chooses it (by extension, else node), `node_args`,
//! `args`; and for npm/yarn/pnpm in front of node, the package script run directly when that is
//! exactly equivalent.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::elsewhere::{self, Unchecked};
use crate::diag::WarningKind;
use crate::model::fields::Fields;
use crate::model::resolve::{self, FileNature, Interpreter, InterpreterKind, SearchPath};
use crate::model::text::Shape;

/// The resolved command of an app.
pub(crate) struct Command {
    /// The resolved script or binary.
    pub script: PathBuf,
    pub interpreter: Interpreter,
    /// The full command: absolute program followed by its arguments.
    pub argv: Vec<String>,
    /// `npm`/`yarn`/`npx`/`pnpm` when the script is such a launcher.
    pub launcher: Option<&'static str>,
    pub args: Vec<String>,
    /// Directories to put first on PATH (a package's `node_modules/.bin`, as npm does).
    pub path_prepend: Vec<PathBuf>,
}

/// `script` as written; `None` after reporting that it is missing or empty.
pub(crate) fn script_text(f: &mut Fields<'_>) -> Option<String> {
    let script_text = f.string("script");
    let Some(script_text) = script_text.filter(|s| !s.trim().is_empty()) else {
        if !f.present("script") {
            f.report
                .error(f.origin.with_key(f.raw.key_path("script")), "`script` is required")
                .hint("name the file or command to run, e.g. `script: 'server.js'` or `script: 'npm', args: 'start'`");
        } else if f
            .entry("script")
            .is_some_and(|e| e.value.as_str().is_some())
        {
            f.fail("script", "`script` is empty".into(), None);
        }
        return None;
    };

    Some(script_text)
}

/// The working directory: absolute, or relative to the ecosystem file's directory. For another
/// machine (`elsewhere`), one missing here is only noted.
pub(crate) fn cwd(
    f: &mut Fields<'_>,
    file_dir: &Path,
    elsewhere: Option<&mut Unchecked>,
) -> PathBuf {
    let cwd = match f.string("cwd") {
        Some(c) => resolve::normalize(&file_dir.join(resolve::expand_home(&c))),
        None => file_dir.to_path_buf(),
    };
    if !f.fits("cwd", &cwd.to_string_lossy(), Shape::Path) {
        return cwd;
    }
    if !cwd.is_dir()
        && let Some(unchecked) = elsewhere
    {
        unchecked.items.push(format!("cwd {}", cwd.display()));
    } else if !cwd.is_dir() {
        f.fail(
            "cwd",
            format!("the working directory {} does not exist", cwd.display()),
            Some(
                "create it, or fix `cwd` (relative paths start at the ecosystem file's directory)"
                    .into(),
            ),
        );
    }

    cwd
}

/// `script` + `interpreter` + `node_args` + `args` → an absolute argv. On failure the others keys
/// are still validated, so every problem is reported at once.
pub(crate) fn read(
    f: &mut Fields<'_>,
    script_text: &str,
    cwd: &Path,
    search: &SearchPath,
    elsewhere: Option<&mut Unchecked>,
) -> Command {
    let mut args = f.words("args").unwrap_or_default();
    let node_args = f.words("node_args").unwrap_or_default();
    for (key, words) in [("args", &args), ("node_args", &node_args)] {
        for w in words {
            if !f.fits(key, w, Shape::Arg) {
                break;
            }
        }
    }
    if !f.fits("script", script_text, Shape::Arg) {
        return Command {
            script: PathBuf::new(),
            interpreter: Interpreter {
                kind: InterpreterKind::None,
                path: None,
            },
            argv: Vec::new(),
            launcher: None,
            args,
            path_prepend: Vec::new(),
        };
    }
    let interpreter_name = f.string("exec_interpreter");
    let (script, interpreter, argv, launcher) = resolve_command(
        f,
        script_text,
        cwd,
        &mut args,
        &node_args,
        interpreter_name.as_deref(),
        Lookup { search, elsewhere },
    )
    .unwrap_or_else(|| {
        let none = Interpreter {
            kind: InterpreterKind::None,
            path: None,
        };
        (PathBuf::new(), none, Vec::new(), None)
    });
    for path in std::iter::once(&script).chain(interpreter.path.iter()) {
        if resolve::is_versioned_node_path(path) {
            let o = f.origin_of("script");
            f.report.warn(
                WarningKind::VersionedNodePath,
                o,
                format!("{} is inside a versioned node install; run `rgen install` again after upgrading node", path.display()),
            );
        }
    }
    Command {
        script,
        interpreter,
        argv,
        launcher,
        args,
        path_prepend: Vec::new(),
    }
}

/// A package manager in front of node closes the socket the manager holds for the app and takes
/// the IPC channel: run the package's script directly when that is exactly equivalent.
pub(crate) fn run_package_script(
    f: &mut Fields<'_>,
    cmd: &mut Command,
    wait_ready: bool,
    port: Option<u16>,
    cwd: &Path,
    search: &SearchPath,
    env: &mut BTreeMap<String, String>,
) {
    if let Some(l) = cmd.launcher
        && (wait_ready || port.is_some())
    {
        match resolve::resolve_package_script(l, &cmd.args, cwd, search) {
            Ok(pkg) => {
                let o = f.origin_of("script");
                f.report.warn(
                    WarningKind::PackageScript,
                    o,
                    format!(
                        "`{l} {}` runs package.json's `{}` directly (`{}`), so the app itself holds its socket and IPC channel",
                        cmd.args.join(" "),
                        pkg.name,
                        pkg.command
                    ),
                );
                env.entry("npm_lifecycle_event".into())
                    .or_insert_with(|| pkg.name.clone());
                if let Some(n) = &pkg.package_name {
                    env.entry("npm_package_name".into())
                        .or_insert_with(|| n.clone());
                }
                cmd.path_prepend.push(pkg.bin_dir.clone());
                cmd.script = PathBuf::from(pkg.argv.get(1).unwrap_or(&pkg.argv[0]));
                cmd.interpreter = if pkg.argv.len() > 1
                    && resolve::kind_of(Path::new(&pkg.argv[0])) == InterpreterKind::Node
                {
                    Interpreter {
                        kind: InterpreterKind::Node,
                        path: Some(PathBuf::from(&pkg.argv[0])),
                    }
                } else {
                    Interpreter {
                        kind: InterpreterKind::None,
                        path: None,
                    }
                };
                cmd.argv = pkg.argv;
                cmd.launcher = None;
            }
            Err(why) if port.is_some() => {
                let o = f.origin_of("script");
                f.report.warn(
                    WarningKind::PackageScript,
                    o,
                    format!("`{l}` stays in front of node ({why}): the app binds its port itself, so a restart briefly refuses connections"),
                );
            }
            Err(_) => {}
        }
    }
    if wait_ready && cmd.launcher.is_some() {
        let o = f.origin_of("wait_ready");
        f.report.warn(
            WarningKind::WaitReadyThroughWrapper,
            o,
            format!(
                "`{}` stands between rgen and node: the preload relays `process.send('ready')` from the app",
                cmd.launcher.unwrap_or_default()
            ),
        );
    }
}

pub(crate) type ResolvedCommand = (PathBuf, Interpreter, Vec<String>, Option<&'static str>);

/// The interpreter and its `node_args`, the script, then the app's `args`.
pub(crate) fn resolved(
    script: PathBuf,
    interpreter: Option<PathBuf>,
    node_args: &[String],
    args: &[String],
) -> ResolvedCommand {
    let kind = interpreter
        .as_deref()
        .map(resolve::kind_of)
        .unwrap_or(InterpreterKind::None);
    let mut argv = Vec::new();
    if let Some(interp) = &interpreter {
        argv.push(interp.to_string_lossy().into_owned());
        argv.extend(node_args.iter().cloned());
    }
    argv.push(script.to_string_lossy().into_owned());
    argv.extend(args.iter().cloned());
    let launcher = resolve::launcher_name(&script);
    (
        script,
        Interpreter {
            kind,
            path: interpreter,
        },
        argv,
        launcher,
    )
}

/// Where programs are looked for: this machine's PATH, or (`elsewhere`) nowhere, for another.
struct Lookup<'a> {
    search: &'a SearchPath,
    elsewhere: Option<&'a mut Unchecked>,
}

/// `script` + `interpreter` + `node_args` + `args` → an absolute argv. `None` after reporting why.
fn resolve_command(
    f: &mut Fields<'_>,
    script_text: &str,
    cwd: &Path,
    args: &mut Vec<String>,
    node_args: &[String],
    interpreter_name: Option<&str>,
    lookup: Lookup<'_>,
) -> Option<ResolvedCommand> {
    let Lookup { search, elsewhere } = lookup;
    let script_text = script_text.to_string();
    if script_text == "serve" {
        // PM2 replaces it with its own static server whatever `serve` exists (lib/API.js).
        f.fail(
            "script",
            "`script: serve` is PM2's built-in static file server (pm2 serve, configured by PM2_SERVE_*), which rgen does not provide".into(),
            Some(crate::load::SERVE_HINT.into()),
        );
        return None;
    }
    if script_text.contains(' ') && !Path::new(&script_text).exists() {
        // PM2: a command line runs as `bash -c "<script>"` and replaces `args`.
        if !args.is_empty() {
            let o = f.origin_of("args");
            f.report.warn(
                WarningKind::IgnoredWithCommandLine,
                o,
                "`args` is ignored because `script` is a command line run with `bash -c` (as in PM2)",
            );
        }
        let shell = match elsewhere {
            // Where every Linux and macOS machine has it (merged /usr or not).
            Some(_) => Some(PathBuf::from("/bin/bash")),
            None => search.find("bash").or_else(|| search.find("sh")),
        };
        let Some(shell) = shell else {
            f.fail(
                "script",
                "`script` is a command line, but neither bash nor sh is on PATH".into(),
                None,
            );
            return None;
        };
        *args = vec!["-c".into(), script_text.clone()];
        let argv = std::iter::once(shell.to_string_lossy().into_owned())
            .chain(args.iter().cloned())
            .collect();
        Some((
            shell.clone(),
            Interpreter {
                kind: InterpreterKind::None,
                path: None,
            },
            argv,
            None,
        ))
    } else if let Some(unchecked) = elsewhere {
        elsewhere::resolve_command(
            f,
            &script_text,
            cwd,
            args,
            node_args,
            interpreter_name,
            unchecked,
        )
    } else {
        let explicit = match interpreter_name {
            None | Some("") => None,
            Some("none") => Some(None),
            Some(name) => {
                match resolve::resolve_interpreter(name, cwd, search) {
                    Ok(p) => Some(Some(p)),
                    Err(e) => {
                        f.fail(
                        "exec_interpreter",
                        format!("interpreter not found: {e}"),
                        Some("give an absolute path, a path relative to `cwd`, or a command on PATH".into()),
                    );
                        return None;
                    }
                }
            }
        };
        let interp_dir = explicit
            .as_ref()
            .and_then(|p| p.as_ref())
            .and_then(|p| p.parent().map(Path::to_path_buf));
        let script = match resolve::resolve_script(&script_text, cwd, interp_dir.as_deref(), search)
        {
            Ok(s) => s,
            Err(e) => {
                f.fail(
                    "script",
                    e,
                    Some("rgen looks in `cwd`, then next to the interpreter, then on PATH".into()),
                );
                return None;
            }
        };
        let interpreter_path = match explicit {
            Some(p) => p,
            None => {
                let ext = script
                    .extension()
                    .map(|e| e.to_string_lossy().to_ascii_lowercase());
                match ext.as_deref().and_then(resolve::interpreter_for_extension) {
                    Some(name) => {
                        let found = if name == "python" {
                            search.find("python").or_else(|| search.find("python3"))
                        } else {
                            search.find(name)
                        };
                        match found {
                            Some(p) => Some(p),
                            None => {
                                f.fail(
                                    "script",
                                    format!(
                                        "`{}` needs `{name}`, which is not on PATH",
                                        script.display()
                                    ),
                                    Some(
                                        "install it, or set `interpreter` to its absolute path"
                                            .into(),
                                    ),
                                );
                                return None;
                            }
                        }
                    }
                    None => match resolve::file_nature(&script) {
                        FileNature::Binary => None,
                        FileNature::OtherShebang(line) => {
                            let o = f.origin_of("script");
                            f.report.warn(
                                WarningKind::InterpreterFromShebang,
                                o,
                                format!("`{}` starts with `#!{line}`: it runs as that says (PM2 would run it with node)", script.display()),
                            );
                            None
                        }
                        FileNature::NodeShebang | FileNature::Text => match search.find("node") {
                            Some(node) => Some(node),
                            None => {
                                f.fail(
                                    "script",
                                    format!(
                                        "`{}` is a Node.js script, but `node` is not on PATH",
                                        script.display()
                                    ),
                                    Some("install node, or set `interpreter`".into()),
                                );
                                return None;
                            }
                        },
                    },
                }
            }
        };
        if interpreter_path.is_none() && !resolve::is_executable(&script) {
            f.fail(
                "script",
                format!(
                    "{} is not executable and no interpreter is set",
                    script.display()
                ),
                Some(format!(
                    "`chmod +x {}`, or set `interpreter`",
                    script.display()
                )),
            );
            return None;
        }
        Some(resolved(script, interpreter_path, node_args, args))
    }
}
