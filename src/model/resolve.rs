//! Turning PM2's `script` + `interpreter` into an absolute argv, the way PM2 does
//! (`Common.prepareAppConf`, `Common.sink.resolveInterpreter`), with two deliberate additions:
//! a bare script name is also looked up next to an explicit interpreter (a venv's `bin/`), and an
//! extension-less text script with a `#!` line for something other than node runs as its `#!` says.

use std::io::Read as _;
use std::path::{Path, PathBuf};

/// What runs the script.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InterpreterKind {
    /// The script is executed directly (`interpreter: 'none'`, binaries, shebang scripts).
    None,
    Node,
    Bun,
    Python,
    Bash,
    Other,
}

#[derive(Clone, Debug)]
pub struct Interpreter {
    pub kind: InterpreterKind,
    /// Absolute path; `None` when the script runs directly.
    pub path: Option<PathBuf>,
}

/// PM2's extension table (`lib/API/interpreter.json`).
pub fn interpreter_for_extension(ext: &str) -> Option<&'static str> {
    Some(match ext {
        "sh" => "bash",
        "py" => "python",
        "rb" => "ruby",
        "php" => "php",
        "pl" => "perl",
        "js" => "node",
        "coffee" => "coffee",
        "ls" => "lsc",
        "ts" | "tsx" => "bun",
        _ => return None,
    })
}

pub fn kind_of(interpreter: &Path) -> InterpreterKind {
    let base = interpreter
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    // PM2's own tests: `node`, anything ending in `node` (e.g. `nodejs`), same for bun.
    if base.ends_with("node") {
        InterpreterKind::Node
    } else if base.ends_with("bun") {
        InterpreterKind::Bun
    } else if base.contains("python") {
        InterpreterKind::Python
    } else if base == "bash" || base == "sh" {
        InterpreterKind::Bash
    } else {
        InterpreterKind::Other
    }
}

/// Where names are looked up. Built once from `PATH` so every app of a file sees the same one.
#[derive(Clone, Debug)]
pub struct SearchPath {
    dirs: Vec<PathBuf>,
}

impl SearchPath {
    pub fn from_env() -> Self {
        let dirs = std::env::var_os("PATH")
            .map(|p| {
                std::env::split_paths(&p)
                    .filter(|d| d.is_absolute())
                    .collect()
            })
            .unwrap_or_default();
        SearchPath { dirs }
    }

    pub fn new(dirs: Vec<PathBuf>) -> Self {
        SearchPath { dirs }
    }

    /// `which(1)`: the first executable file named `name` in the search path.
    pub fn find(&self, name: &str) -> Option<PathBuf> {
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
        which::which_in(name, Some(std::env::join_paths(&self.dirs).ok()?), cwd).ok()
    }

    pub fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }
}

/// Resolves an interpreter name or path: absolute stays, `./x` is relative to the app's cwd,
/// `node@18.17.0` is an nvm install, anything else is looked up on the search path.
pub fn resolve_interpreter(name: &str, cwd: &Path, search: &SearchPath) -> Result<PathBuf, String> {
    if let Some(version) = name.strip_prefix("node@") {
        let nvm = std::env::var_os("NVM_DIR").ok_or_else(|| {
            format!("`{name}` names an nvm-installed node, but NVM_DIR is not set")
        })?;
        let path = Path::new(&nvm).join(format!("versions/node/v{version}/bin/node"));
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!(
                "{} does not exist; run `nvm install {version}` first",
                path.display()
            ))
        };
    }
    let path = Path::new(name);
    if path.is_absolute() {
        return if is_executable(path) {
            Ok(path.to_path_buf())
        } else {
            Err(format!("{} is not an executable file", path.display()))
        };
    }
    if name.contains('/') {
        let joined = cwd.join(path);
        return if is_executable(&joined) {
            Ok(normalize(&joined))
        } else {
            Err(format!("{} is not an executable file", joined.display()))
        };
    }
    search
        .find(name)
        .ok_or_else(|| format!("`{name}` is not on PATH"))
}

/// PM2: the script relative to cwd if that exists, else `which(script)`. rgen also looks next to an
/// explicit interpreter first, so `script: 'uvicorn'` with a venv's python finds the venv's uvicorn.
pub fn resolve_script(
    script: &str,
    cwd: &Path,
    interpreter_dir: Option<&Path>,
    search: &SearchPath,
) -> Result<PathBuf, String> {
    let expanded = expand_home(script);
    let candidate = cwd.join(&expanded);
    if candidate.exists() {
        return Ok(normalize(&candidate));
    }
    if !expanded.contains('/') {
        if let Some(dir) = interpreter_dir {
            let beside = dir.join(&expanded);
            if beside.is_file() {
                return Ok(beside);
            }
        }
        if let Some(found) = search.find(&expanded) {
            return Ok(found);
        }
    }
    Err(format!(
        "script not found: {} (nor `{script}` on PATH)",
        candidate.display()
    ))
}

pub fn expand_home(path: &str) -> String {
    if let Some(rest) = path.strip_prefix("~/")
        && let Some(home) = std::env::var_os("HOME")
    {
        return Path::new(&home).join(rest).to_string_lossy().into_owned();
    }
    path.to_string()
}

/// Lexically removes `.` and `..` so units show clean absolute paths (symlinks are kept: a venv's
/// `bin/python` must stay the venv's, not the system python it links to).
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for comp in path.components() {
        match comp {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

pub fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    path.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// What the first bytes of an extension-less script say about how to run it.
#[derive(Debug, PartialEq, Eq)]
pub enum FileNature {
    Binary,
    /// Text with a `#!` line naming node (`#!/usr/bin/env node`).
    NodeShebang,
    /// Text with a `#!` line for another interpreter.
    OtherShebang(String),
    /// Text without `#!`: PM2 runs it with node.
    Text,
}

/// PM2's `isbinaryfile` heuristic over the first 512 bytes (NUL bytes or too many control bytes).
pub fn file_nature(path: &Path) -> FileNature {
    let mut buf = [0u8; 512];
    let n = std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut buf))
        .unwrap_or(0);
    let bytes = &buf[..n];
    if bytes.is_empty() {
        return FileNature::Text;
    }
    if bytes.starts_with(&[0xEF, 0xBB, 0xBF]) {
        return FileNature::Text;
    }
    let suspicious = bytes
        .iter()
        .filter(|&&b| b == 0 || (b < 7) || (b > 14 && b < 32))
        .count();
    if bytes.contains(&0) || suspicious * 10 > bytes.len() {
        return FileNature::Binary;
    }
    if let Some(rest) = bytes.strip_prefix(b"#!") {
        let line = String::from_utf8_lossy(rest.split(|&b| b == b'\n').next().unwrap_or_default())
            .trim()
            .to_string();
        let mut words = line.split_whitespace();
        let first = words.next().unwrap_or_default();
        let program = if first.ends_with("/env") {
            words.find(|w| !w.starts_with('-')).unwrap_or_default()
        } else {
            first
        };
        if Path::new(program)
            .file_name()
            .is_some_and(|b| kind_of(Path::new(b)) == InterpreterKind::Node)
        {
            return FileNature::NodeShebang;
        }
        return FileNature::OtherShebang(line);
    }
    FileNature::Text
}

/// npm-style launchers: node programs that start the real app as a grandchild.
pub fn launcher_name(script: &Path) -> Option<&'static str> {
    let base = script.file_name()?.to_string_lossy();
    ["npm", "npx", "yarn", "pnpm"].into_iter().find(|l| {
        base == *l
            || base
                .strip_suffix(".js")
                .or_else(|| base.strip_suffix("-cli.js"))
                == Some(l)
    })
}

/// Paths under nvm/fnm/volta version directories change when node is upgraded.
pub fn is_versioned_node_path(path: &Path) -> bool {
    let s = path.to_string_lossy();
    s.contains("/.nvm/versions/")
        || s.contains("/fnm/node-versions/")
        || s.contains("/.volta/tools/image/")
}

/// What `npm start` (or `yarn start`, `npm run X`, …) would run, resolved so node can be started
/// directly. A package manager in between closes the listening socket and the IPC channel before
/// the real app starts (node marks inherited descriptors close-on-exec), so a socket held by the OS
/// or `wait_ready` need the app itself in front.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackageScript {
    /// `start`, or the name after `run`.
    pub name: String,
    /// The script line from package.json.
    pub command: String,
    /// The app's argv: an absolute program, then its arguments.
    pub argv: Vec<String>,
    /// `node_modules/.bin`, which npm puts first on PATH.
    pub bin_dir: PathBuf,
    pub package_name: Option<String>,
}

/// `None` with the reason when the script cannot be run without the package manager: lifecycle
/// hooks (`prestart`), shell syntax, or a program that cannot be found.
pub fn resolve_package_script(
    launcher: &str,
    args: &[String],
    cwd: &Path,
    search: &SearchPath,
) -> Result<PackageScript, String> {
    let name = match (launcher, args) {
        (_, [one]) if one == "start" => "start".to_string(),
        ("npm" | "pnpm", [run, name]) if run == "run" || run == "run-script" => name.clone(),
        ("yarn", [name]) => name.clone(),
        ("yarn", [run, name]) if run == "run" => name.clone(),
        _ => {
            return Err(format!(
                "`{launcher} {}` is not a plain `start`/`run <script>`",
                args.join(" ")
            ));
        }
    };
    let manifest = cwd.join("package.json");
    let text = std::fs::read_to_string(&manifest)
        .map_err(|e| format!("cannot read {}: {e}", manifest.display()))?;
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", manifest.display()))?;
    let scripts = json.get("scripts").and_then(|s| s.as_object());
    let command = scripts
        .and_then(|s| s.get(&name))
        .and_then(|c| c.as_str())
        .ok_or_else(|| format!("package.json has no `{name}` script"))?
        .to_string();
    for hook in [format!("pre{name}"), format!("post{name}")] {
        if scripts.is_some_and(|s| s.contains_key(&hook)) {
            return Err(format!(
                "package.json has a `{hook}` hook, which only {launcher} runs"
            ));
        }
    }
    if command
        .chars()
        .any(|c| "&|;<>$`()*?[]{}~\\\"'\n".contains(c))
    {
        return Err(format!("the `{name}` script `{command}` needs a shell"));
    }
    let words: Vec<String> = command.split_whitespace().map(str::to_string).collect();
    let Some((program, rest)) = words.split_first() else {
        return Err(format!("the `{name}` script is empty"));
    };
    let bin_dir = cwd.join("node_modules/.bin");
    let node = || {
        search
            .find("node")
            .ok_or_else(|| "`node` is not on PATH".to_string())
    };
    let mut argv = Vec::new();
    if program == "node" {
        argv.push(node()?.to_string_lossy().into_owned());
        argv.extend(rest.iter().cloned());
    } else {
        let local = bin_dir.join(program);
        let path = if local.exists() {
            std::fs::canonicalize(&local).map_err(|e| format!("{}: {e}", local.display()))?
        } else {
            search
                .find(program)
                .ok_or_else(|| format!("`{program}` is neither in node_modules/.bin nor on PATH"))?
        };
        match file_nature(&path) {
            FileNature::NodeShebang | FileNature::Text => {
                argv.push(node()?.to_string_lossy().into_owned());
                argv.push(path.to_string_lossy().into_owned());
            }
            _ => argv.push(path.to_string_lossy().into_owned()),
        }
        argv.extend(rest.iter().cloned());
    }
    Ok(PackageScript {
        name,
        command,
        argv,
        bin_dir,
        package_name: json
            .get("name")
            .and_then(|n| n.as_str())
            .map(str::to_string),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn kinds() {
        assert_eq!(kind_of(Path::new("/usr/bin/node")), InterpreterKind::Node);
        assert_eq!(kind_of(Path::new("/opt/n/bin/node")), InterpreterKind::Node);
        assert_eq!(
            kind_of(Path::new("/x/.venv/bin/python")),
            InterpreterKind::Python
        );
        assert_eq!(
            kind_of(Path::new("/usr/bin/python3.11")),
            InterpreterKind::Python
        );
        assert_eq!(kind_of(Path::new("/bin/bash")), InterpreterKind::Bash);
        assert_eq!(kind_of(Path::new("/usr/bin/ruby")), InterpreterKind::Other);
    }

    #[test]
    fn script_next_to_interpreter_wins_over_path() {
        let tmp = tempfile::tempdir().unwrap();
        let venv_bin = tmp.path().join(".venv/bin");
        let elsewhere = tmp.path().join("usr/bin");
        for dir in [&venv_bin, &elsewhere] {
            std::fs::create_dir_all(dir).unwrap();
            let f = dir.join("uvicorn");
            std::fs::write(&f, "#!/usr/bin/env python\n").unwrap();
            std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let search = SearchPath::new(vec![elsewhere.clone()]);
        let found = resolve_script("uvicorn", tmp.path(), Some(&venv_bin), &search).unwrap();
        assert_eq!(found, venv_bin.join("uvicorn"));
        let found = resolve_script("uvicorn", tmp.path(), None, &search).unwrap();
        assert_eq!(found, elsewhere.join("uvicorn"));
        assert!(resolve_script("nope", tmp.path(), None, &search).is_err());
    }

    #[test]
    fn natures() {
        let tmp = tempfile::tempdir().unwrap();
        let write = |name: &str, bytes: &[u8]| {
            let p = tmp.path().join(name);
            std::fs::write(&p, bytes).unwrap();
            p
        };
        assert_eq!(
            file_nature(&write("a", b"#!/usr/bin/env node\nx")),
            FileNature::NodeShebang
        );
        assert_eq!(
            file_nature(&write("b", b"#!/bin/bash -e\necho")),
            FileNature::OtherShebang("/bin/bash -e".into())
        );
        assert_eq!(
            file_nature(&write("c", b"\x7fELF\x02\x01\x01\x00\x00")),
            FileNature::Binary
        );
        assert_eq!(
            file_nature(&write("d", b"console.log(1)")),
            FileNature::Text
        );
    }

    #[test]
    fn package_scripts() {
        let tmp = tempfile::tempdir().unwrap();
        let bin = tmp.path().join("node_modules/.bin");
        std::fs::create_dir_all(tmp.path().join("node_modules/next/dist/bin")).unwrap();
        std::fs::create_dir_all(&bin).unwrap();
        let next = tmp.path().join("node_modules/next/dist/bin/next");
        std::fs::write(&next, "#!/usr/bin/env node\n").unwrap();
        std::os::unix::fs::symlink("../next/dist/bin/next", bin.join("next")).unwrap();
        let node_dir = tmp.path().join("usr/bin");
        std::fs::create_dir_all(&node_dir).unwrap();
        let node = node_dir.join("node");
        std::fs::write(&node, "").unwrap();
        std::fs::set_permissions(&node, std::fs::Permissions::from_mode(0o755)).unwrap();
        let search = SearchPath::new(vec![node_dir.clone()]);
        let write = |scripts: &str| {
            std::fs::write(
                tmp.path().join("package.json"),
                format!(r#"{{"name":"web","scripts":{{{scripts}}}}}"#),
            )
            .unwrap()
        };

        write(r#""start":"next start -p 3030""#);
        let s = resolve_package_script("npm", &["start".into()], tmp.path(), &search).unwrap();
        let real_next = std::fs::canonicalize(&next).unwrap();
        assert_eq!(
            s.argv,
            [
                node.to_string_lossy().as_ref(),
                real_next.to_string_lossy().as_ref(),
                "start",
                "-p",
                "3030"
            ]
        );

        write(r#""serve":"node server.js""#);
        let s = resolve_package_script("npm", &["run".into(), "serve".into()], tmp.path(), &search)
            .unwrap();
        assert_eq!(s.argv, [node.to_string_lossy().as_ref(), "server.js"]);

        write(r#""start":"next build && next start""#);
        assert!(
            resolve_package_script("npm", &["start".into()], tmp.path(), &search)
                .unwrap_err()
                .contains("shell")
        );
        write(r#""prestart":"x","start":"node a.js""#);
        assert!(
            resolve_package_script("npm", &["start".into()], tmp.path(), &search)
                .unwrap_err()
                .contains("prestart")
        );
    }

    #[test]
    fn normalizes_dots() {
        assert_eq!(
            normalize(Path::new("/a/b/../logs/./x.log")),
            PathBuf::from("/a/logs/x.log")
        );
    }
}
