//! Validation: `RawEcosystem` → `Ecosystem`. Selects the apps (`--only`), reads each through the
//! key groups' readers (`group/`) in dependency order, and checks what spans apps (names that
//! collide as units). Every problem of the file is collected before failing.

use std::collections::BTreeMap;

use serde_json::Value;

use super::fields::Fields;
use super::group::identity::{default_group, raw_name, sanitize_name};
use super::group::{
    command, env, identity, instances, logs, memory, restart, rotation, schedule, stop, user,
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
    if let Some(env) = &opts.env_name
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
    let mut apps = Vec::new();
    for app in &selected {
        if let Some(app) = validate_app(raw, app, opts, file_rotation.as_ref(), &mut report) {
            apps.push(app);
        }
    }

    // Names are compared as units, so `my app` and `my-app` collide too. Checked on the raw
    // names so the error shows even when one of the apps has other problems.
    let mut seen: BTreeMap<String, (usize, String)> = BTreeMap::new();
    for app in &selected {
        let Some(name) = raw_name(app) else { continue };
        let name = match (app.get("append_env_to_name"), &opts.env_name) {
            (Some(e), Some(env)) if e.value == Value::Bool(true) => format!("{name}-{env}"),
            _ => name,
        };
        let unit = sanitize_name(&name);
        if let Some((_, first)) = seen.get(&unit) {
            let written = app
                .get("name")
                .map(|e| e.written.as_str())
                .unwrap_or("name");
            report
                .error(
                    origin.with_app(&name).with_key(app.key_path(written)),
                    if *first == name {
                        format!("two apps are named `{name}`")
                    } else {
                        format!("`{first}` and `{name}` both become the unit name `{unit}`")
                    },
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

fn validate_app(
    raw: &RawEcosystem,
    app: &RawApp,
    opts: &ModelOptions,
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
    let origin = f.origin.clone();
    let cwd = command::cwd(&mut f, raw.dir());
    let (mut env, port) = env::read(&mut f, raw, env_name);
    let mut cmd = command::read(&mut f, &script_text, &cwd, &opts.search);
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
    let cron_restart = schedule::cron_restart(&mut f);
    let watch = schedule::watch(&mut f, &cwd);
    let (user, group) = user::read(&mut f);
    let autostart = user::autostart(&mut f);

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
        keys_used,
    })
}
