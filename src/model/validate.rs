//! Validation: `RawEcosystem` → `Ecosystem`. Selects the apps (`--only`), reads each through the
//! key groups' readers (`group/`) in dependency order, and checks what spans apps (names that
//! collide as units). Every problem of the file is collected before failing.

use std::collections::BTreeMap;

use serde_json::Value;

use super::fields::Fields;
use super::group::elsewhere::Unchecked;
use super::group::identity::{default_group, raw_name, sanitize_name};
use super::group::{
    command, env, hardening, identity, instances, logs, memory, restart, rotation, schedule, shell,
    stop, user,
};
use super::resolve::InterpreterKind;
use super::{App, Ecosystem, ModelOptions};
use crate::diag::{BadInput, Origin, Problems, Warning, WarningKind};
use crate::keys::Support;
use crate::load::{Canonical, Format, RawApp, RawEcosystem};

pub fn validate(
    raw: &RawEcosystem,
    opts: &ModelOptions,
) -> Result<(Ecosystem, Vec<Warning>), BadInput> {
    let mut report = Problems::default();
    let origin = Origin::file(&raw.file);

    let mut selected: Vec<&RawApp> = Vec::new();
    let mut all_names = Vec::new();
    for app in &raw.apps {
        let name = raw_name(app);
        all_names.push(name.clone());
        if opts.only.is_empty()
            || name
                .as_ref()
                .is_some_and(|n| opts.only.iter().any(|o| o == n))
        {
            selected.push(app);
        }
    }
    for wanted in &opts.only {
        if !all_names.iter().flatten().any(|n| n == wanted) {
            let known: Vec<String> = all_names
                .iter()
                .flatten()
                .map(|n| format!("`{n}`"))
                .collect();
            report
                .error(
                    origin.clone(),
                    format!("`--only {wanted}`: no app has that name"),
                )
                .hint(format!("the file defines {}", known.join(", ")));
        }
    }
    let deploy_env = |env: &str| {
        raw.deploy
            .get(env)
            .is_some_and(|d| d.get("env").is_some_and(|e| !e.is_null()))
    };
    if let Some(env) = &opts.env_name
        && !deploy_env(env)
        && !raw.apps.iter().any(|a| {
            a.entries
                .iter()
                .any(|e| matches!(&e.canonical, Canonical::EnvOverlay(n) if n == env))
        })
    {
        report.warn(
            WarningKind::EnvNotDefined,
            origin.clone(),
            format!("`--env {env}` was given but no app defines `env_{env}`; apps get `env` only"),
        );
    }

    // Beside `apps`: read once, for every app.
    let strict = raw.format == Format::RgenToml;
    let file_rotation = raw.log_rotate.as_ref().map(|(written, value)| {
        rotation::read_file_level(written, value, &origin, strict, &mut report)
    });
    // PM2 runs every app of a name (a name addresses them all): the second `echo` becomes
    // `echo-2`, numbered over the whole file so `--only` does not renumber them.
    let final_name = |app: &RawApp| {
        let name = raw_name(app)?;
        Some(match (app.get("append_env_to_name"), &opts.env_name) {
            (Some(e), Some(env)) if e.value == Value::Bool(true) => format!("{name}-{env}"),
            _ => name,
        })
    };
    let mut ordinals: BTreeMap<usize, usize> = BTreeMap::new();
    let mut named: BTreeMap<String, usize> = BTreeMap::new();
    for app in &raw.apps {
        if let Some(name) = final_name(app) {
            let n = named.entry(name).or_default();
            *n += 1;
            ordinals.insert(app.index, *n);
        }
    }

    let kept = shell::kept_env(opts, &origin, &mut report);
    let mut relative = Vec::new();
    let mut apps = Vec::new();
    for app in &selected {
        let ordinal = ordinals.get(&app.index).copied().unwrap_or(1);
        let shell = Shell {
            kept: &kept,
            relative: &mut relative,
        };
        if let Some(app) = validate_app(
            raw,
            app,
            ordinal,
            opts,
            shell,
            file_rotation.as_ref(),
            &mut report,
        ) {
            apps.push(app);
        }
    }
    shell::warn_relative(&relative, raw, opts, &origin, &mut report);

    // Names are compared as units, so `my app` and `my-app` collide too. Checked on the raw
    // names so the error shows even when one of the apps has other problems.
    let mut seen: BTreeMap<String, (usize, String)> = BTreeMap::new();
    for app in &selected {
        let Some(name) = final_name(app) else {
            continue;
        };
        let unit = unit_name(&name, ordinals.get(&app.index).copied().unwrap_or(1));
        if let Some((_, first)) = seen.get(&unit) {
            let written = app
                .get("name")
                .map(|e| e.written.as_str())
                .unwrap_or("name");
            report
                .error(
                    origin.with_app(&name).with_key(app.key_path(written)),
                    format!("`{first}` and `{name}` both become the unit name `{unit}`"),
                )
                .hint("each app needs its own unit file: give it a distinct `name`");
        } else {
            seen.insert(unit, (app.index, name));
        }
    }

    let group = match &opts.group {
        Some(g) => sanitize_name(g),
        None => default_group(&raw.file),
    };
    let (apps, warnings) = report.finish(apps)?;
    Ok((
        Ecosystem {
            file: raw.file.clone(),
            format: raw.format,
            group,
            env_name: opts.env_name.clone(),
            source_hash: raw.source_hash.clone(),
            apps,
        },
        warnings,
    ))
}

/// The unit name of the `ordinal`-th app called `name` (1 for the first).
fn unit_name(name: &str, ordinal: usize) -> String {
    match ordinal {
        1 => sanitize_name(name),
        n => format!("{}-{n}", sanitize_name(name)),
    }
}

/// What the shell rgen runs in gives every app, and what it collects about them.
struct Shell<'a> {
    kept: &'a BTreeMap<String, String>,
    relative: &'a mut Vec<shell::RelativeUse>,
}

fn validate_app(
    raw: &RawEcosystem,
    app: &RawApp,
    ordinal: usize,
    opts: &ModelOptions,
    shell: Shell<'_>,
    file_rotation: Option<&rotation::Layer>,
    report: &mut Problems,
) -> Option<App> {
    let file_origin = Origin::file(&raw.file);
    let origin = match raw_name(app) {
        Some(n) => file_origin.with_app(n),
        None => file_origin.clone(),
    };
    let errors_before = report.errors.len();
    let mut f = Fields {
        raw: app,
        origin,
        report,
    };
    let env_name = opts.env_name.as_deref();
    let script_text = command::script_text(&mut f)?;
    let id = identity::read(&mut f, &script_text, env_name, &file_origin)?;
    let id = identity::Identity {
        unit: unit_name(&id.name, ordinal),
        ..id
    };
    if ordinal > 1 {
        let o = f.origin_of("name");
        f.report.warn(
            WarningKind::DuplicateName,
            o,
            format!(
                "another app is named `{}` too: both run, as in PM2; this one is installed as `{}`, and `rgen restart {}` (or stop, logs, …) acts on both",
                id.name, id.unit, id.name
            ),
        );
    }
    let origin = f.origin.clone();
    let mut unchecked = opts.for_other_host.then(Unchecked::default);
    let cwd = command::cwd(&mut f, raw.dir(), unchecked.as_mut());
    let (mut env, port) = env::read(&mut f, raw, env_name, shell.kept);
    let env_overlays = if env_name.is_none() {
        env::environments(&mut f, raw, &env)
    } else {
        BTreeMap::new()
    };
    let mut cmd = command::read(&mut f, &script_text, &cwd, &opts.search, unchecked.as_mut());
    if let Some(note) = unchecked.as_ref().and_then(Unchecked::note) {
        let o = f.origin_of("script");
        f.report.warn(WarningKind::ForOtherHost, o, note);
    }
    if cmd.interpreter.kind == InterpreterKind::Python {
        env.entry("PYTHONUNBUFFERED".into())
            .or_insert_with(|| "1".into());
    }
    let inst = instances::read(&mut f, cmd.interpreter.kind, cmd.launcher, port);
    let restart = restart::read(&mut f, raw.format);
    let max_memory_bytes = memory::read(&mut f);
    let mut logs = logs::read(&mut f, &cwd, &inst.instances, inst.mode);
    logs.rotation = rotation::read(&mut f, file_rotation, raw.format == Format::RgenToml);
    let stop = stop::read(&mut f);
    let (wait_ready, listen_timeout_ms) = stop::readiness(&mut f);
    command::run_package_script(
        &mut f,
        &mut cmd,
        wait_ready,
        port,
        &cwd,
        &opts.search,
        &mut env,
    );
    shell::not_inherited(&mut f, &cmd.script, cmd.interpreter.kind, &env, opts);
    if let Some(used) = shell::relative_use(&f, &id.name, raw, &script_text, &cmd.script, opts) {
        shell.relative.push(used);
    }
    let cron_restart = schedule::cron_restart(&mut f);
    let watch = schedule::watch(&mut f, &cwd);
    let (user, group) = user::read(&mut f);
    let autostart = user::autostart(&mut f);
    let hardening = hardening::read(&mut f);

    let mut keys_used = Vec::new();
    for entry in &app.entries {
        if let Canonical::Key(spec) = entry.canonical {
            // `watch: false`, `instances: null`: a key set to "off" maps to nothing to warn about.
            if entry.value.is_null() || entry.value == Value::Bool(false) {
                continue;
            }
            let o = origin.with_key(app.key_path(&entry.written));
            if spec.systemd.support == Support::Unsupported
                && spec.launchd.support == Support::Unsupported
            {
                f.report.warn(
                    WarningKind::Unsupported,
                    o.clone(),
                    format!("`{}` is ignored: {}", entry.written, spec.systemd.text),
                );
            }
            keys_used.push((spec, o));
        }
    }

    if f.report.errors.len() > errors_before {
        return None;
    }
    Some(App {
        index: app.index,
        path: app.path.clone(),
        name: id.name,
        unit: id.unit,
        namespace: id.namespace,
        origin,
        cwd,
        script: cmd.script,
        interpreter: cmd.interpreter,
        launcher: cmd.launcher,
        argv: cmd.argv,
        env,
        env_overlays,
        user,
        group,
        autostart,
        restart,
        max_memory_bytes,
        logs,
        stop,
        wait_ready,
        listen_timeout_ms,
        mode: inst.mode,
        instances: inst.instances,
        instance_var: inst.instance_var,
        increment_var: inst.increment_var,
        port,
        cron_restart,
        watch,
        path_prepend: cmd.path_prepend,
        definition: crate::load::adhoc::definition_of(raw, app),
        hardening,
        keys_used,
    })
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;
    use std::path::{Path, PathBuf};

    use super::*;
    use crate::model::resolve::SearchPath;

    /// A project folder with the given files and a `node` of its own on the search path.
    struct Project {
        dir: tempfile::TempDir,
    }

    impl Project {
        fn new(files: &[(&str, &str)]) -> Project {
            let dir = tempfile::tempdir().unwrap();
            let bin = dir.path().join("bin");
            std::fs::create_dir_all(&bin).unwrap();
            std::fs::write(bin.join("node"), "").unwrap();
            std::fs::set_permissions(bin.join("node"), std::fs::Permissions::from_mode(0o755))
                .unwrap();
            for (name, text) in files {
                let path = dir.path().join("app").join(name);
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(path, text).unwrap();
            }
            Project { dir }
        }

        fn app_dir(&self) -> PathBuf {
            self.dir.path().join("app")
        }

        fn opts(&self) -> ModelOptions {
            ModelOptions {
                search: SearchPath::new(vec![self.dir.path().join("bin")]),
                shell_cwd: Some(self.app_dir()),
                ..ModelOptions::default()
            }
        }

        fn validate(
            &self,
            file: &str,
            opts: &ModelOptions,
        ) -> Result<(Ecosystem, Vec<Warning>), BadInput> {
            let (raw, _) = crate::load::load(&self.app_dir().join(file), None)?;
            validate(&raw, opts)
        }
    }

    fn kinds(warnings: &[Warning]) -> Vec<WarningKind> {
        warnings.iter().map(|w| w.kind).collect()
    }

    #[test]
    fn apps_of_one_name_all_run_under_numbered_units() {
        let p = Project::new(&[
            ("a.js", ""),
            (
                "e.json",
                r#"[{"name":"echo","script":"a.js"},{"name":"echo","script":"a.js"},{"name":"echo","script":"a.js"}]"#,
            ),
        ]);
        let (eco, warnings) = p.validate("e.json", &p.opts()).unwrap();
        let units: Vec<(&str, &str)> = eco
            .apps
            .iter()
            .map(|a| (a.name.as_str(), a.unit.as_str()))
            .collect();
        assert_eq!(
            units,
            [("echo", "echo"), ("echo", "echo-2"), ("echo", "echo-3")]
        );
        assert_eq!(
            kinds(&warnings),
            [WarningKind::DuplicateName, WarningKind::DuplicateName]
        );
        // --only keeps the numbers the whole file gives.
        let opts = ModelOptions {
            only: vec!["echo".into()],
            ..p.opts()
        };
        assert_eq!(
            p.validate("e.json", &opts).unwrap().0.apps[2].unit,
            "echo-3"
        );
    }

    #[test]
    fn different_names_of_one_unit_are_still_an_error() {
        let p = Project::new(&[
            ("a.js", ""),
            (
                "e.json",
                r#"[{"name":"my app","script":"a.js"},{"name":"my-app","script":"a.js"}]"#,
            ),
        ]);
        let e = p.validate("e.json", &p.opts()).unwrap_err();
        assert!(
            e.errors[0]
                .message
                .contains("both become the unit name `my-app`")
        );
    }

    #[test]
    fn command_lines_are_named_as_pm2_names_them() {
        let p = Project::new(&[("e.json", r#"[{"script":"python3 -m http.server 8099"}]"#)]);
        let mut opts = p.opts();
        opts.search = SearchPath::new(vec![PathBuf::from("/usr/bin"), PathBuf::from("/bin")]);
        let (eco, _) = p.validate("e.json", &opts).unwrap();
        assert_eq!(eco.apps[0].name, "python3 -m http");
    }

    #[test]
    fn deploy_env_sits_between_env_and_env_overlay() {
        let p = Project::new(&[
            ("a.js", ""),
            (
                "e.json",
                r#"{"apps":[{"name":"a","script":"a.js","env":{"X":"env","Y":"env"},"env_production":{"Z":"overlay"}}],
                    "deploy":{"production":{"env":{"X":"deploy","Z":"deploy","W":"deploy"}}}}"#,
            ),
        ]);
        let opts = ModelOptions {
            env_name: Some("production".into()),
            ..p.opts()
        };
        let (eco, warnings) = p.validate("e.json", &opts).unwrap();
        let env = &eco.apps[0].env;
        assert_eq!(env["X"], "deploy");
        assert_eq!(env["Y"], "env");
        assert_eq!(env["Z"], "overlay");
        assert_eq!(env["W"], "deploy");
        assert_eq!(kinds(&warnings), [WarningKind::DeployEnvWins]);
        // deploy.<env>.env alone defines the environment: no env-not-defined.
        let p = Project::new(&[
            ("a.js", ""),
            (
                "e.json",
                r#"{"apps":[{"name":"a","script":"a.js"}],"deploy":{"staging":{"env":{"A":"1"}}}}"#,
            ),
        ]);
        let opts = ModelOptions {
            env_name: Some("staging".into()),
            ..p.opts()
        };
        let (eco, warnings) = p.validate("e.json", &opts).unwrap();
        assert_eq!(eco.apps[0].env["A"], "1");
        assert!(warnings.is_empty(), "{warnings:?}");
    }

    fn watched(p: &Project, watch: &str, ignore: &str) -> (Vec<String>, Vec<Warning>) {
        let file =
            format!(r#"[{{"name":"w","script":"a.js","watch":{watch},"ignore_watch":{ignore}}}]"#);
        std::fs::write(p.app_dir().join("w.json"), file).unwrap();
        let (eco, warnings) = p.validate("w.json", &p.opts()).unwrap();
        let base = p.app_dir();
        let dirs = eco.apps[0]
            .watch
            .as_ref()
            .unwrap()
            .dirs
            .iter()
            .map(|d| {
                d.strip_prefix(&base)
                    .unwrap_or(Path::new("?"))
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        (dirs, warnings)
    }

    #[test]
    fn watch_patterns_become_what_a_path_unit_can_watch() {
        let p = Project::new(&[
            ("a.js", ""),
            ("client/src/x.js", ""),
            ("client/src/deep/y.js", ""),
            ("client/img/z.png", ""),
            ("logs/a.log", ""),
            ("node_modules/m/i.js", ""),
        ]);
        let (dirs, _) = watched(&p, r#"["**"]"#, r#"["logs", "client/img"]"#);
        assert_eq!(dirs, ["", "client", "client/src", "client/src/deep"]);
        let (dirs, _) = watched(&p, r#"["client/src/*.js"]"#, "[]");
        assert_eq!(
            dirs,
            ["client/src"],
            "a glob without ** stays in its directory"
        );
        let (dirs, warnings) = watched(&p, r#"["server"]"#, "[]");
        assert_eq!(dirs, ["server"], "a missing path is watched for appearing");
        assert_eq!(kinds(&warnings), [WarningKind::WatchIsStatic]);
        let (dirs, warnings) = watched(&p, r#""true""#, "[]");
        assert_eq!(dirs, ["true"]);
        assert!(kinds(&warnings).contains(&WarningKind::WatchStringIsPath));
        let (dirs, _) = watched(&p, "[]", r#"["**/deep", "/client/"]"#);
        assert_eq!(dirs, ["", "logs"], "an empty list is the cwd");
    }

    #[test]
    fn for_another_machine_missing_paths_are_notes() {
        let p = Project::new(&[(
            "e.json",
            r#"[{"name":"api","script":"index.js","cwd":"/srv/nonexistent/api"},
                {"name":"ts","script":"ts-node","args":"src/main.ts"}]"#,
        )]);
        assert!(p.validate("e.json", &p.opts()).is_err());
        let opts = ModelOptions {
            for_other_host: true,
            ..p.opts()
        };
        let (eco, warnings) = p.validate("e.json", &opts).unwrap();
        assert_eq!(
            eco.apps[0].argv,
            ["/usr/bin/node", "/srv/nonexistent/api/index.js"]
        );
        assert_eq!(eco.apps[0].cwd, PathBuf::from("/srv/nonexistent/api"));
        assert_eq!(eco.apps[1].argv[0], "/usr/bin/ts-node");
        assert!(kinds(&warnings).contains(&WarningKind::ForOtherHost));
    }

    #[test]
    fn the_shell_environment_is_kept_only_when_asked() {
        let p = Project::new(&[
            (
                "a.js",
                "console.log(process.env.API_KEY, process.env['OTHER'])",
            ),
            (
                "e.json",
                r#"[{"name":"a","script":"a.js","env":{"OTHER":"x"}}]"#,
            ),
        ]);
        let shell_env = [("API_KEY", "k"), ("OTHER", "o"), ("HOME", "/root")]
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .into();
        let opts = ModelOptions {
            shell_env,
            ..p.opts()
        };
        let (eco, warnings) = p.validate("e.json", &opts).unwrap();
        assert!(!eco.apps[0].env.contains_key("API_KEY"));
        assert_eq!(kinds(&warnings), [WarningKind::EnvNotInherited]);
        assert!(warnings[0].message.contains("`API_KEY`"));
        assert!(!warnings[0].message.contains("OTHER"));
        let opts = ModelOptions {
            keep_env: vec!["API_KEY".into(), "OTHER".into()],
            ..opts
        };
        let (eco, warnings) = p.validate("e.json", &opts).unwrap();
        assert_eq!(eco.apps[0].env["API_KEY"], "k");
        assert_eq!(
            eco.apps[0].env["OTHER"], "x",
            "the file's env wins over the shell's"
        );
        assert!(warnings.is_empty(), "{warnings:?}");
    }

    #[test]
    fn running_elsewhere_than_the_file_is_said_once() {
        let p = Project::new(&[
            ("conf/a.js", ""),
            ("a.js", ""),
            ("conf/e.json", r#"[{"name":"a","script":"a.js"}]"#),
        ]);
        let (_, warnings) = p.validate("conf/e.json", &p.opts()).unwrap();
        assert_eq!(kinds(&warnings), [WarningKind::RelativeToFile]);
        assert!(
            warnings[0].message.contains("would run"),
            "{}",
            warnings[0].message
        );
        let opts = ModelOptions {
            shell_cwd: Some(p.app_dir().join("conf")),
            ..p.opts()
        };
        assert!(p.validate("conf/e.json", &opts).unwrap().1.is_empty());
    }
}
