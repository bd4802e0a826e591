//! What PM2 takes from the shell `pm2 start` runs in, and a service does not: the working
//! directory (PM2 resolves relative paths against it; rgen against the ecosystem file's
//! directory) and the environment (PM2 passes all of it to every app). rgen keeps its own rules
//! and says where they differ; `--keep-env NAME` copies a variable in.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read as _;
use std::path::{Path, PathBuf};

use crate::diag::{Origin, Problems, WarningKind};
use crate::load::{Format, RawEcosystem};
use crate::model::ModelOptions;
use crate::model::fields::Fields;
use crate::model::resolve::{self, InterpreterKind};

/// Variables everyone's shell sets that say nothing about the app, or that the manager gives a
/// service itself (`PATH`, `HOME`, `USER`, `LANG`).
const SESSION_VARS: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "LANG",
    "LANGUAGE",
    "TERM",
    "PWD",
    "OLDPWD",
    "SHLVL",
    "_",
    "MAIL",
    "DISPLAY",
    "COLORTERM",
    "HOSTNAME",
    "TMPDIR",
];
const SESSION_PREFIXES: &[&str] = &["LC_", "SSH_", "XDG_", "TMUX", "npm_", "PM2_", "RGEN_"];

/// Variables apps commonly take from the shell that started them (`NODE_ENV=production pm2
/// start …`): worth a warning even when the script does not visibly read them.
const WELL_KNOWN: &[&str] = &["NODE_ENV", "PORT", "HOST", "DATABASE_URL"];

/// How much of a script is read to find the variables it reads.
const SCAN_BYTES: u64 = 512 << 10;

/// `--keep-env` names with their values in rgen's environment; a name not set there is a
/// warning, not an error (the same command line can serve several machines).
pub(crate) fn kept_env(
    opts: &ModelOptions,
    origin: &Origin,
    report: &mut Problems,
) -> BTreeMap<String, String> {
    let mut kept = BTreeMap::new();
    for name in &opts.keep_env {
        match opts.shell_env.get(name) {
            Some(value) => {
                kept.insert(name.clone(), value.clone());
            }
            None => report.warn(
                WarningKind::EnvNotInherited,
                origin.clone(),
                format!("`--keep-env {name}`: `{name}` is not set in rgen's environment, so the apps do not get it"),
            ),
        }
    }
    kept
}

/// Warns about variables set in rgen's environment that the app reads (or commonly reads) and
/// that its service will not have.
pub(crate) fn not_inherited(
    f: &mut Fields<'_>,
    script: &Path,
    kind: InterpreterKind,
    env: &BTreeMap<String, String>,
    opts: &ModelOptions,
) {
    if opts.shell_env.is_empty() {
        return;
    }
    let read = names_read_by(script, kind);
    let missing: Vec<&str> = WELL_KNOWN
        .iter()
        .copied()
        .chain(read.iter().map(String::as_str))
        .filter(|n| opts.shell_env.contains_key(*n) && !env.contains_key(*n))
        .filter(|n| !SESSION_VARS.contains(n) && !SESSION_PREFIXES.iter().any(|p| n.starts_with(p)))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if missing.is_empty() {
        return;
    }
    let listed = missing
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let script_name = script
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let seen: Vec<String> = missing
        .iter()
        .filter(|n| read.contains(**n))
        .map(|n| format!("`{n}`"))
        .collect();
    let evidence = match seen.len() {
        0 => String::new(),
        n if n == missing.len() && n == 1 => format!(" ({script_name} reads it)"),
        n if n == missing.len() => format!(" ({script_name} reads them)"),
        _ => format!(" ({script_name} reads {})", seen.join(", ")),
    };
    let keep = missing
        .iter()
        .map(|n| format!("--keep-env {n}"))
        .collect::<Vec<_>>()
        .join(" ");
    let o = f.origin_of("env");
    f.report.warn(
        WarningKind::EnvNotInherited,
        o,
        format!("{listed} {} set in this shell{evidence}, but a service does not inherit the shell's environment as PM2's apps do: add {} to `env`, or pass `{keep}`",
            if missing.len() == 1 { "is" } else { "are" },
            if missing.len() == 1 { "it" } else { "them" }),
    );
}

/// Environment variable names a script's source visibly reads: `process.env.X`,
/// `process.env['X']` (JavaScript), `os.environ['X']`, `os.environ.get('X')`, `getenv('X')`
/// (Python, PHP), `ENV['X']`, `ENV.fetch('X')` (Ruby). A heuristic over the first 512 KiB.
fn names_read_by(script: &Path, kind: InterpreterKind) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    if kind == InterpreterKind::None && resolve::file_nature(script) == resolve::FileNature::Binary
    {
        return names;
    }
    let Ok(file) = std::fs::File::open(script) else {
        return names;
    };
    if !file.metadata().is_ok_and(|m| m.is_file()) {
        return names;
    }
    let mut bytes = Vec::new();
    if file.take(SCAN_BYTES).read_to_end(&mut bytes).is_err() {
        return names;
    }
    let text = String::from_utf8_lossy(&bytes);
    for marker in ["process.env", "environ", "getenv(", "ENV"] {
        let mut rest = text.as_ref();
        while let Some(at) = rest.find(marker) {
            rest = &rest[at + marker.len()..];
            let after = rest
                .strip_prefix(".get(")
                .or_else(|| rest.strip_prefix(".fetch("))
                .unwrap_or(rest);
            if let Some(name) = accessed_name(after, marker == "getenv(") {
                names.insert(name);
            }
        }
    }
    names
}

/// The name in `.NAME`, `['NAME']`, `("NAME"` right after an environment object.
fn accessed_name(text: &str, in_call: bool) -> Option<String> {
    let ident = |s: &str| -> Option<String> {
        let end = s
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(s.len());
        let name = &s[..end];
        (!name.is_empty() && !name.starts_with(|c: char| c.is_ascii_digit()))
            .then(|| name.to_string())
    };
    let quoted = |s: &str| -> Option<String> {
        let quote = s.chars().next().filter(|c| matches!(c, '\'' | '"' | '`'))?;
        let inner = &s[1..];
        let end = inner.find(quote)?;
        let name = ident(&inner[..end])?;
        (name.len() == end).then_some(name)
    };
    if let Some(rest) = text.strip_prefix('.') {
        return ident(rest);
    }
    if let Some(rest) = text.strip_prefix('[') {
        return quoted(rest.trim_start());
    }
    if in_call {
        return quoted(text.trim_start());
    }
    text.strip_prefix('(').and_then(|r| quoted(r.trim_start()))
}

/// An app whose paths rgen resolves against the file's directory where PM2, started from
/// `shell_cwd`, would resolve them against that.
pub(crate) struct RelativeUse {
    pub app: String,
    /// The script PM2 would run instead, when it exists too.
    pub other_script: Option<PathBuf>,
}

/// `None` when PM2 and rgen agree: rgen runs in the file's directory, or the app's `cwd` is
/// absolute (then every relative path starts there for both).
pub(crate) fn relative_use(
    f: &Fields<'_>,
    name: &str,
    raw: &RawEcosystem,
    script_text: &str,
    script: &Path,
    opts: &ModelOptions,
) -> Option<RelativeUse> {
    let shell = opts.shell_cwd.as_ref()?;
    // rgen.toml is rgen's own: its paths start at the file by definition.
    if raw.format == Format::RgenToml {
        return None;
    }
    let file_dir = raw.dir();
    let canonical = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    if canonical(shell) == canonical(file_dir) {
        return None;
    }
    let written_cwd = f.entry("cwd").and_then(|e| e.value.as_str()).unwrap_or("");
    let written_cwd = resolve::expand_home(written_cwd);
    if Path::new(&written_cwd).is_absolute() {
        return None;
    }
    let pm2_cwd = resolve::normalize(&shell.join(&written_cwd));
    let pm2_script = resolve::normalize(&pm2_cwd.join(resolve::expand_home(script_text)));
    let other_script =
        (!Path::new(script_text).is_absolute() && pm2_script != script && pm2_script.is_file())
            .then_some(pm2_script);
    Some(RelativeUse {
        app: name.to_string(),
        other_script,
    })
}

/// One warning for the file: which apps, the two directories, and any script PM2 would run
/// in place of rgen's.
pub(crate) fn warn_relative(
    uses: &[RelativeUse],
    raw: &RawEcosystem,
    opts: &ModelOptions,
    origin: &Origin,
    report: &mut Problems,
) {
    let manager = if raw.format == Format::Forever {
        "Forever"
    } else {
        "PM2"
    };
    let (Some(first), Some(shell)) = (uses.first(), &opts.shell_cwd) else {
        return;
    };
    let apps = if uses.len() == 1 {
        format!("`{}`", first.app)
    } else {
        format!("{} apps", uses.len())
    };
    let mut message = format!(
        "{apps}: relative paths and the default working directory start at the ecosystem file's directory {}; {manager}, started from this directory ({}), would start them here",
        raw.dir().display(),
        shell.display(),
    );
    for u in uses {
        if let Some(other) = &u.other_script {
            message.push_str(&format!(
                "; {manager} started here would run {} for `{}`",
                other.display(),
                u.app
            ));
        }
    }
    let origin = if uses.len() == 1 {
        origin.with_app(&first.app)
    } else {
        origin.clone()
    };
    report.warn(WarningKind::RelativeToFile, origin, message);
}
