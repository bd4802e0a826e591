//! `log_rotate` at the command line: pm2-logrotate's settings beside `apps` and in an app, in
//! every format; bad values refused with the file, the app and the key; what `rgen check` says.

use std::path::Path;

use crate::support::{rgen, run, settings};

fn project(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
    std::fs::write(dir.join("app.js"), "setInterval(() => {}, 1000);\n").unwrap();
}

fn transcript(dir: &Path, args: &[&str]) -> (i32, String) {
    let out = run(rgen().args(args).current_dir(dir));
    (
        out.code,
        out.transcript().replace(&*dir.to_string_lossy(), "[TMP]"),
    )
}

#[test]
fn bad_settings_name_the_file_the_app_and_the_key() {
    let tmp = tempfile::tempdir().unwrap();
    project(
        tmp.path(),
        "ecosystem.json",
        r#"{
          "log_rotate": { "max_size": "10mb", "retain": "some", "dateFormat": "MMM Do" },
          "apps": [{
            "name": "api", "script": "app.js", "out_file": "out.log",
            "log_rotate": { "compress": "yes", "rotateInterval": "every night", "workerInterval": 0, "max_sise": 1 }
          }]
        }"#,
    );
    let (code, text) = transcript(tmp.path(), &["check", "--systemd", "--user"]);
    assert_eq!(code, 2, "{text}");
    settings().bind(|| insta::assert_snapshot!("rotation__bad_settings", text));
}

#[test]
fn rgen_toml_takes_a_log_rotate_table_strictly() {
    let tmp = tempfile::tempdir().unwrap();
    project(
        tmp.path(),
        "rgen.toml",
        "[log_rotate]\nmax_size = '1G'\nretain = 'all'\n\n[[apps]]\nname = 'api'\nscript = 'app.js'\nout_file = 'out.log'\n\n[apps.log_rotate]\ncompress = true\n",
    );
    let (code, text) = transcript(tmp.path(), &["check", "--systemd", "--user"]);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("logs: rotated by rgen-shim at 1G, all kept, gzip (log_rotate)"),
        "{text}"
    );
    let (_, rendered) = transcript(tmp.path(), &["render", "--systemd", "--user"]);
    assert!(
        rendered.contains(r#""--log-max-size" "1G" "--log-retain" "all" "--log-compress""#),
        "{rendered}"
    );

    project(
        tmp.path(),
        "rgen.toml",
        "[log_rotate]\ndate_format = 'YYYY'\n\n[[apps]]\nname = 'api'\nscript = 'app.js'\n",
    );
    let (code, text) = transcript(tmp.path(), &["check", "--systemd", "--user"]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("log_rotate.date_format"), "{text}");
    assert!(text.contains("did you mean `dateFormat`?"), "{text}");

    project(
        tmp.path(),
        "rgen.toml",
        "[logRotate]\nretain = 3\n\n[[apps]]\nname = 'api'\nscript = 'app.js'\n",
    );
    let (code, text) = transcript(tmp.path(), &["check", "--systemd", "--user"]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("write `[log_rotate]`"), "{text}");
}

#[test]
fn check_says_how_each_app_is_rotated() {
    let tmp = tempfile::tempdir().unwrap();
    project(
        tmp.path(),
        "ecosystem.config.js",
        "module.exports = { apps: [\n\
           { name: 'files', script: 'app.js', out_file: 'out.log' },\n\
           { name: 'whole', script: 'app.js', out_file: 'whole.log', logRotate: false },\n\
           { name: 'daily', script: 'app.js', out_file: 'daily.log', log_rotate: { rotateInterval: '0 0 * * *', max_size: false, retain: 0 } },\n\
           { name: 'journal', script: 'app.js' },\n\
           { name: 'quiet', script: 'app.js', disable_logs: true },\n\
         ] };\n",
    );
    let (code, text) = transcript(tmp.path(), &["check", "--systemd", "--user"]);
    assert_eq!(code, 0, "{text}");
    settings().bind(|| insta::assert_snapshot!("rotation__check", text));
}
