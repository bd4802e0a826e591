//! The README's tables are generated from the code; this keeps them true.

use crate::support::repo;

fn section<'a>(readme: &'a str, name: &str) -> &'a str {
    let start_marker = format!("<!-- {name}:start -->");
    let end_marker = format!("<!-- {name}:end -->");
    let start = readme
        .find(&start_marker)
        .unwrap_or_else(|| panic!("README lacks {start_marker}"))
        + start_marker.len();
    let end = readme
        .find(&end_marker)
        .unwrap_or_else(|| panic!("README lacks {end_marker}"));
    readme[start..end].trim()
}

/// Compares a generated section; with `RGEN_BLESS_README=1` rewrites it instead.
fn check_section(name: &str, expected: &str) {
    let path = repo().join("README.md");
    let readme = std::fs::read_to_string(&path).unwrap();
    let current = section(&readme, name);
    if current == expected.trim() {
        return;
    }
    if std::env::var_os("RGEN_BLESS_README").is_some() {
        let updated = readme.replacen(current, expected.trim(), 1);
        std::fs::write(&path, updated).unwrap();
        return;
    }
    panic!(
        "README's `{name}` section is stale; run `RGEN_BLESS_README=1 cargo test --test integration readme`"
    );
}

#[test]
fn key_table_is_current() {
    check_section("keys", &rgen::keys::markdown_table());
}

#[test]
fn warning_table_is_current() {
    check_section("warnings", &rgen::diag::markdown_table());
}

#[test]
fn ci_runs_the_readme_test_command() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let ci = std::fs::read_to_string(repo().join(".ci/run")).unwrap();
    let command = section(&readme, "test-command");
    let command = command
        .trim_start_matches("```sh")
        .trim_end_matches("```")
        .trim();
    assert!(
        ci.lines().any(|l| l.trim() == command),
        ".ci/run must run `{command}` exactly"
    );
}
