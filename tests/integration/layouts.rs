//! Every layout and format PM2 and Forever accept loads, with the apps it should have.

use crate::support::{fixtures, rgen, run};

fn app_names(fixture: &str) -> Vec<String> {
    let (_, file) = fixtures()
        .into_iter()
        .find(|(n, _)| n == fixture)
        .expect("fixture exists");
    let out = run(rgen()
        .arg("check")
        .arg(&file)
        .args(["--systemd", "--system"]));
    assert_eq!(out.code, 0, "{fixture}: {}", out.stderr);
    out.stdout
        .lines()
        .skip(1)
        // Each app's line is followed by an indented line about its logs.
        .filter(|l| !l.starts_with("    "))
        .map(|l| {
            l.trim()
                .split([':', ' '])
                .next()
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

#[test]
fn pm2_layouts_and_formats() {
    assert_eq!(app_names("layout-bare-array"), ["web", "worker"]);
    assert_eq!(app_names("layout-single-app"), ["single"]);
    assert_eq!(app_names("layout-pm2-key"), ["legacy"]);
    assert_eq!(app_names("layout-lenient"), ["lenient"]);
    assert_eq!(app_names("layout-yaml"), ["yaml-app", "yaml-worker"]);
    assert_eq!(app_names("layout-cjs"), ["cjs-app"]);
    assert_eq!(app_names("layout-mjs"), ["mjs-app"]);
    assert_eq!(app_names("layout-toml"), ["toml-app"]);
    assert_eq!(
        app_names("example-azak"),
        ["azak-backend", "azak-frontend", "azak-ngrok"]
    );
}

#[test]
fn forever_files() {
    assert_eq!(app_names("layout-forever-array"), ["alpha", "beta"]);
    assert_eq!(app_names("example-forever"), ["my-app"]);
}

#[test]
fn discovery_order() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("app.js"), "").unwrap();
    std::fs::write(
        tmp.path().join("ecosystem.json"),
        r#"{"apps":[{"name":"from-json","script":"app.js"}]}"#,
    )
    .unwrap();
    std::fs::write(
        tmp.path().join("ecosystem.config.js"),
        "module.exports = { apps: [{ name: 'from-js', script: 'app.js' }] };",
    )
    .unwrap();
    let out = run(rgen()
        .args(["check", "--systemd", "--user"])
        .current_dir(tmp.path()));
    assert!(
        out.stdout.contains("from-js"),
        "ecosystem.config.js wins over ecosystem.json: {}",
        out.stdout
    );
    std::fs::write(
        tmp.path().join("rgen.toml"),
        "[[apps]]\nname = \"from-toml\"\nscript = \"app.js\"\n",
    )
    .unwrap();
    let out = run(rgen()
        .args(["check", "--systemd", "--user"])
        .current_dir(tmp.path()));
    assert!(
        out.stdout.contains("from-toml"),
        "rgen.toml wins: {}",
        out.stdout
    );
}
