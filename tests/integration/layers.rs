//! The crate's layering, checked on the sources: every `crate::` path in a module must point
//! down the pipeline (README "How it works"), and the pure stages must stay pure.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::support::repo;

/// Which top-level modules each module may use. Anything else is a layering error; keeping this
/// table small is the point.
const ALLOWED: &[(&str, &[&str])] = &[
    ("diag", &[]),
    ("target", &[]),
    ("shim_protocol", &[]),
    ("cli", &[]),
    // Spreading many small reads over the CPUs: a tool of the stages that read the machine.
    ("parallel", &[]),
    ("keys", &["diag", "target"]),
    ("load", &["keys", "diag"]),
    ("model", &["load", "keys", "diag", "shim_protocol"]),
    (
        "plan",
        &["model", "keys", "diag", "target", "shim_protocol"],
    ),
    ("apply", &["plan", "parallel"]),
    ("observe", &["apply", "target"]),
    (
        "backend",
        &[
            "apply",
            "observe",
            "plan",
            "model",
            "diag",
            "target",
            "shim_protocol",
            "parallel",
        ],
    ),
    (
        "settings",
        &[
            "cli",
            "backend",
            "apply",
            "load",
            "target",
            "shim_protocol",
            "parallel",
        ],
    ),
    (
        "commands",
        &[
            "settings", "backend", "apply", "observe", "plan", "model", "load", "keys", "diag",
            "target",
        ],
    ),
];

/// Files that must not touch the filesystem, the environment, processes or the bus.
const PURE: &[&str] = &[
    "src/plan",
    "src/backend/systemd/render.rs",
    "src/backend/systemd/readback.rs",
    "src/backend/systemd/names.rs",
    "src/backend/systemd/unitfile.rs",
    "src/backend/systemd/escape.rs",
    "src/backend/systemd/calendar.rs",
    "src/backend/launchd/render.rs",
    "src/backend/launchd/readback.rs",
    "src/backend/launchd/names.rs",
    "src/backend/launchd/calendar.rs",
    "src/backend/launchd/helper.rs",
    "src/backend/shim_args.rs",
    "src/backend/kubernetes/render.rs",
    "src/backend/kubernetes/names.rs",
    "src/backend/kubernetes/paths.rs",
    "src/backend/kubernetes/cron.rs",
    "src/backend/kubernetes/objects.rs",
    "src/backend/kubernetes/overlays.rs",
    "src/backend/kubernetes/containerfile.rs",
];

const IMPURE: &[&str] = &[
    "std::fs",
    "std::process",
    "std::env",
    "libc::",
    "zbus",
    "Command::new",
    "File::open",
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.filter_map(|e| e.ok()) {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The top-level module a file belongs to (`src/backend/systemd/mod.rs` → `backend`).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_string_lossy();
    if first == "bin" || first == "lib.rs" || first == "main.rs" {
        return None;
    }
    Some(first.trim_end_matches(".rs").to_string())
}

/// Every top-level module a file names through `crate::`, outside comments.
fn uses(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            rest = &rest[i + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                out.insert(name);
            }
        }
        // `use crate::{a, b}` groups.
        if let Some(group) = code.split("crate::{").nth(1) {
            for part in group.split([',', '}']) {
                let name: String = part
                    .trim()
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    out.insert(name);
                }
            }
        }
    }
    out
}

#[test]
fn stages_only_point_down() {
    let src = repo().join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let allowed: BTreeMap<&str, BTreeSet<&str>> = ALLOWED
        .iter()
        .map(|(m, deps)| (*m, deps.iter().copied().collect()))
        .collect();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut wrong = Vec::new();
    for file in &files {
        let Some(module) = module_of(&src, file) else {
            continue;
        };
        let Some(ok) = allowed.get(module.as_str()) else {
            wrong.push(format!(
                "{}: module `{module}` is not in the layering table",
                file.display()
            ));
            continue;
        };
        let text = std::fs::read_to_string(file).unwrap();
        for used in uses(&text) {
            if used == module {
                continue;
            }
            edges
                .entry(module.clone())
                .or_default()
                .insert(used.clone());
            if !ok.contains(used.as_str()) {
                wrong.push(format!(
                    "{}: `{module}` uses `crate::{used}`",
                    file.strip_prefix(repo()).unwrap_or(file).display()
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "layering broken:\n{}", wrong.join("\n"));
    // The table itself must be a DAG.
    fn visit(
        m: &str,
        table: &BTreeMap<&str, BTreeSet<&str>>,
        path: &mut Vec<String>,
    ) -> Result<(), String> {
        if path.iter().any(|p| p == m) {
            return Err(format!("{} → {m}", path.join(" → ")));
        }
        path.push(m.to_string());
        for dep in table.get(m).into_iter().flatten() {
            visit(dep, table, path)?;
        }
        path.pop();
        Ok(())
    }
    for m in allowed.keys() {
        visit(m, &allowed, &mut Vec::new()).unwrap_or_else(|c| panic!("cycle: {c}"));
    }
    // Every allowed edge is used, so the table does not drift into permissiveness.
    let unused: Vec<String> = allowed
        .iter()
        .flat_map(|(m, deps)| deps.iter().map(move |d| (*m, *d)))
        .filter(|(m, d)| !edges.get(*m).is_some_and(|e| e.contains(*d)))
        .map(|(m, d)| format!("{m} → {d}"))
        .collect();
    assert!(
        unused.is_empty(),
        "allowed but unused (drop them from ALLOWED): {}",
        unused.join(", ")
    );
}

#[test]
fn plan_and_render_are_pure() {
    let root = repo();
    let mut files = Vec::new();
    for p in PURE {
        let path = root.join(p);
        if path.is_dir() {
            rust_files(&path, &mut files);
        } else {
            files.push(path);
        }
    }
    let mut wrong = Vec::new();
    for file in &files {
        let text =
            std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        // Tests may read fixtures.
        let code = text.split("#[cfg(test)]").next().unwrap_or(&text);
        for (n, line) in code.lines().enumerate() {
            let line = line.split("//").next().unwrap_or("");
            for needle in IMPURE {
                if line.contains(needle) {
                    wrong.push(format!("{}:{}: {needle}", file.display(), n + 1));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "I/O in a pure stage:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn only_the_target_and_the_backends_name_a_manager() {
    let src = repo().join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let allowed = [
        "src/target.rs",
        "src/settings.rs",
        "src/keys/mod.rs",
        "src/backend/mod.rs",
        "src/backend/systemd/mod.rs",
        "src/backend/launchd/mod.rs",
        "src/backend/systemd/render.rs",
        "src/backend/launchd/render.rs",
        "src/backend/kubernetes/mod.rs",
    ];
    let mut wrong = Vec::new();
    for file in &files {
        let rel = file
            .strip_prefix(repo())
            .unwrap()
            .to_string_lossy()
            .into_owned();
        if allowed.contains(&rel.as_str()) {
            continue;
        }
        let text = std::fs::read_to_string(file).unwrap();
        for (n, line) in text.lines().enumerate() {
            if [
                "Backend::Systemd",
                "Backend::Launchd",
                "Backend::Kubernetes",
            ]
            .iter()
            .any(|b| line.contains(b))
            {
                wrong.push(format!("{rel}:{}", n + 1));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "branching on the manager outside target.rs and backend/: {}",
        wrong.join(", ")
    );
}

#[test]
fn instance_names_and_unit_text_are_read_in_one_place() {
    let src = repo().join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut wrong = Vec::new();
    for file in &files {
        let rel = file
            .strip_prefix(repo())
            .unwrap()
            .to_string_lossy()
            .into_owned();
        // The key table's prose names units for the README.
        if rel.starts_with("src/keys/") {
            continue;
        }
        let text = std::fs::read_to_string(file).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            let names = code.contains("\"@.service\"")
                || code.contains("@0.service")
                || code.contains(".split_once('@')");
            if names && rel != "src/backend/systemd/names.rs" {
                wrong.push(format!("{rel}:{}: instance naming", n + 1));
            }
            let reads_units = ["ExecStart", "StandardError", "StandardOutput", "SourcePath"]
                .iter()
                .any(|k| code.contains(&format!("strip_prefix(\"{k}")));
            if reads_units {
                wrong.push(format!("{rel}:{}: ad-hoc unit-file reading", n + 1));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
