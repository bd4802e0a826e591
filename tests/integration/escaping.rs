//! Arbitrary argv and env values render into units systemd parses without a single warning.
//! (That they reach the process byte for byte is proven against a running systemd in
//! `tests/systemd`.)

use proptest::prelude::*;

use crate::support::{rgen, run};
use crate::verify::verify;

#[test]
fn random_argv_and_env_render_clean_units() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("app.js"), "").unwrap();
    // Printable text plus the characters systemd treats specially.
    let pattern = "[ -~\t\n\u{e9}\u{65e5}\u{1f600}%$;\\\\\"']{0,16}";
    let word = || proptest::string::string_regex(pattern).unwrap();
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 40,
        ..ProptestConfig::default()
    });
    runner
        .run(&(prop::collection::vec(word(), 0..5), word()), |(args, value)| {
            let eco = serde_json::json!({"apps": [{"name": "p", "script": "app.js", "args": args, "env": {"V": value}}]});
            std::fs::write(tmp.path().join("ecosystem.json"), eco.to_string()).unwrap();
            let out_dir = tmp.path().join("out");
            let _ = std::fs::remove_dir_all(&out_dir);
            let out = run(rgen().args(["render", "--systemd", "--system", "--out"]).arg(&out_dir).current_dir(tmp.path()));
            prop_assert_eq!(out.code, 0, "{}", out.stderr);
            let stderr = verify(&out_dir, false);
            prop_assert!(stderr.is_empty(), "systemd complained: {}", stderr);
            Ok(())
        })
        .unwrap();
}
