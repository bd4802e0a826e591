//! Every rendered file of every fixture and example, for every target, compared whole.
//! A missing or changed snapshot fails (CI runs with INSTA_UPDATE=no).

use crate::support::{TARGETS, fixtures, rgen, run, settings};

#[test]
fn rendered_files_match_snapshots() {
    for (name, file) in fixtures() {
        for (target, flags) in TARGETS {
            let out = run(rgen()
                .arg("render")
                .arg(&file)
                .args(*flags)
                .args(env_flags(&name)));
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
