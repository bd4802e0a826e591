//! Every rendered file of every fixture and example, for every target, compared whole.
//! A missing or changed snapshot fails (CI runs with INSTA_UPDATE=no).

use crate::support::{TARGETS, fixtures, rgen, run, settings};

/// Examples refused on a target (their own directories carry no test files).
const EXAMPLE_ERRORS: &[(&str, &str)] = &[("example-cluster", "launchd-user")];

/// The targets a fixture must be refused on: its `expect.toml` (`errors = [...]`), as Quadlet's
/// test files say `## assert-failed`.
fn expected_errors(name: &str, file: &std::path::Path) -> Vec<String> {
    let mut errors: Vec<String> = EXAMPLE_ERRORS
        .iter()
        .filter(|(n, _)| *n == name)
        .map(|(_, t)| t.to_string())
        .collect();
    if let Some(dir) = file.parent()
        && let Ok(text) = std::fs::read_to_string(dir.join("expect.toml"))
    {
        let expect: toml::Value = toml::from_str(&text).expect("expect.toml");
        errors.extend(
            expect["errors"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|t| t.as_str().map(str::to_string)),
        );
    }
    errors
}

#[test]
fn rendered_files_match_snapshots() {
    for (name, file) in fixtures() {
        let errors = expected_errors(&name, &file);
        for (target, flags) in TARGETS {
            let out = run(rgen()
                .arg("render")
                .arg(&file)
                .args(*flags)
                .args(env_flags(&name)));
            let expected = if errors.iter().any(|e| e == target) {
                2
            } else {
                0
            };
            assert_eq!(
                out.code, expected,
                "{name} on {target}: exit {} (expect.toml says {expected}):\n{}",
                out.code, out.stderr
            );
            settings().bind(|| {
                insta::assert_snapshot!(format!("render__{name}__{target}"), out.transcript())
            });
        }
    }
}

/// systemd ≥ 254 gets native exponential backoff instead of the shim's.
#[test]
fn backoff_is_native_on_systemd_254() {
    for name in ["restart", "example-cluster"] {
        let (_, file) = fixtures()
            .into_iter()
            .find(|(n, _)| n == name)
            .expect("fixture");
        let out = run(rgen().arg("render").arg(&file).args([
            "--systemd",
            "--system",
            "--systemd-version",
            "257",
        ]));
        settings().bind(|| {
            insta::assert_snapshot!(format!("render__{name}__systemd-257"), out.transcript())
        });
    }
}

fn env_flags(name: &str) -> Vec<&'static str> {
    match name {
        "keys-all" | "example-cluster" => vec!["--env", "production"],
        "layout-yaml" => vec!["--env", "staging"],
        _ => vec![],
    }
}

/// Every approximation in the key table is seen by a user: some fixture makes each backend print
/// that key's warning (the snapshots hold rgen's stderr). Every shimmed key names its need in the
/// table's type (`Support::Shim(ShimNeed)`), so that half is checked by the compiler.
#[test]
fn every_approximated_key_has_a_fixture_that_warns() {
    use rgen::keys::{KEYS, Support};
    use rgen::target::Backend;
    let dir = crate::support::repo().join("tests/snapshots");
    let snapshots: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read_to_string(e.path()).unwrap_or_default(),
            )
        })
        .filter(|(n, _)| n.starts_with("render__"))
        .collect();
    let mut missing = Vec::new();
    for spec in KEYS {
        for (backend, suffixes) in [
            (
                Backend::Systemd,
                &[
                    "__systemd-system.snap",
                    "__systemd-user.snap",
                    "__systemd-257.snap",
                ][..],
            ),
            (Backend::Launchd, &["__launchd-user.snap"][..]),
            (Backend::Kubernetes, &["__kubernetes.snap"][..]),
        ] {
            let Support::Approximated(kind, _) = spec.mapping(backend).support else {
                continue;
            };
            let needle = format!("warning[{}]", kind.id());
            let key = format!("`{}", spec.name);
            let seen = snapshots.iter().any(|(name, text)| {
                suffixes.iter().any(|s| name.ends_with(s))
                    && text
                        .lines()
                        .any(|l| l.starts_with(&needle) && l.contains(&key))
            });
            if !seen {
                missing.push(format!("{} on {backend} ({})", spec.name, kind.id()));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "approximations no fixture shows:\n{}",
        missing.join("\n")
    );
}

/// Kubernetes without `--env`: the base and one overlay per environment; and the Containerfile.
#[test]
fn kubernetes_overlays_and_containerfile() {
    for (name, flags) in [
        ("example-cluster", &[][..]),
        ("example-azak", &["--containerfile"][..]),
    ] {
        let (_, file) = fixtures()
            .into_iter()
            .find(|(n, _)| n == name)
            .expect("fixture");
        let out = run(rgen()
            .arg("render")
            .arg(&file)
            .args(["--kubernetes", "--cpus-per-node", "2"])
            .args(flags));
        settings().bind(|| {
            insta::assert_snapshot!(
                format!("render__{name}__kubernetes-all-environments"),
                out.transcript()
            )
        });
    }
}
