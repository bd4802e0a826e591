//! `rgen import --from-installed [APP…]`: the installed files are rgen's only record of what
//! runs, so the ecosystem file that reproduces them is written from them — an app given on the
//! command line from the definition its files carry, an app installed from a file from that
//! file's entry — by the same writer as `--from-pm2`. Rendered again, the written file gives the
//! same files but for rgen's record of where they came from, and installing it takes the apps
//! over in place.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::Result;
use serde_json::Value;

use super::write::{self, OutputFormat};
use crate::apply::inventory::{InstalledApp, Inventory, Marker, Role};
use crate::backend::{self, Renderer};
use crate::commands::{compile, installed};
use crate::diag::{BadInput, Origin};
use crate::load::adhoc::Definition;
use crate::load::pm2dump::{EnvVar, Imported, ImportedApp, Setting};
use crate::load::{self, Canonical};
use crate::model::{self, ModelOptions};
use crate::observe::select::select;
use crate::settings::{ImportSettings, InstalledImportSettings, SourceSettings};
use crate::target::Target;

pub fn run(args: &ImportSettings, s: &InstalledImportSettings) -> Result<i32> {
    let renderer = backend::renderer(&s.target);
    let dir = renderer.installed_dir()?;
    let (inventory, apps) = installed(renderer.as_ref())?;
    let scope = format!("{} {}", s.target.backend, s.target.scope);
    if apps.is_empty() {
        return Err(BadInput::single(
            Origin::file(&dir),
            format!("rgen has installed no app in the {scope} scope"),
            Some(other_scope_hint(&s.target)),
        )
        .into());
    }
    let selected = select(&apps, &s.apps).map_err(|e| {
        BadInput::single(
            Origin::file(&dir),
            e.to_string(),
            Some(format!(
                "`rgen status` lists what is installed; {}",
                other_scope_hint(&s.target)
            )),
        )
    })?;

    let format = OutputFormat::for_output(args.out.as_deref())?;
    let mut imported = Imported {
        file: dir.clone(),
        pm2_home: None,
        pm2_version: None,
        apps: Vec::new(),
        log_rotate: None,
        intro: Some(vec![
            format!(
                "Imported by `rgen import --from-installed` from the {scope} files in {}.",
                dir.display()
            ),
            "Each app as it is installed: an app given on the command line from the definition its files carry, an app installed from a file from that file's entry. Rendered, this file gives the same files but for rgen's record of their source, so `rgen install` of it takes the apps over without restarting them.".into(),
        ]),
        notes: Vec::new(),
        warnings: Vec::new(),
    };
    for app in &selected {
        let marker = app_marker(app);
        let one = match &marker.definition {
            Some(json) => from_command_line(app, marker, json, &s.target, renderer.as_ref())?,
            None => from_file(app, marker, &inventory)?,
        };
        imported.apps.push(one);
    }
    imported
        .notes
        .extend(group_notes(&selected, args.out.as_deref()));

    let (text, mode) = write::render_file(&imported, format)?;
    match &args.out {
        Some(path) => super::pm2::write_new(path, &text, mode, false)?,
        None => print!("{text}"),
    }
    Ok(0)
}

fn other_scope_hint(target: &Target) -> String {
    let other = match target.scope {
        crate::target::Scope::System => "--user",
        crate::target::Scope::User => "--system",
    };
    format!("apps of the other scope are read with {other}")
}

/// The marker of the app's own file (the service, the job), which carries its definition.
fn app_marker(app: &InstalledApp) -> &Marker {
    app.units
        .iter()
        .find(|u| u.role == Role::App)
        .or_else(|| app.units.first())
        .map(|u| &u.marker)
        .expect("an installed app has files")
}

/// An app given on the command line: its recorded flags, and the variables its install took
/// from rgen's environment (`--keep-env`), which the definition leaves out and its environment
/// file holds.
fn from_command_line(
    app: &InstalledApp,
    marker: &Marker,
    json: &str,
    target: &Target,
    renderer: &dyn Renderer,
) -> Result<ImportedApp> {
    let dir = marker.source.parent().unwrap_or(Path::new("/"));
    let def = Definition::from_json(dir, json).ok_or_else(|| {
        BadInput::single(
            app_origin(app, marker),
            "the definition recorded in the app's files cannot be read",
            Some("reinstall the app (`rgen install SCRIPT …`), then import it".into()),
        )
    })?;
    let mut settings = Vec::new();
    let name = def
        .keys
        .iter()
        .find(|(_, k, _)| *k == "name")
        .map(|(_, _, v)| v.clone())
        .unwrap_or_else(|| Value::from(app.name.clone()));
    settings.push(setting("name", name));
    for (_, key, value) in def.keys.iter().filter(|(_, k, _)| *k != "name") {
        settings.push(setting(key, value.clone()));
    }
    let (env, note) = match definition_env(app, &def, target, renderer) {
        Ok(given) => (
            installed_env(app)
                .into_iter()
                .filter(|kv| !given.contains(kv))
                .collect::<Vec<_>>(),
            None,
        ),
        Err(e) => (
            installed_env(app),
            Some(format!(
                "Every variable the installed files hold is written: the definition no longer compiles ({}), so those it gives itself cannot be told from those the install took from rgen's environment.",
                crate::diag::printable(&e.to_string())
            )),
        ),
    };
    let env = env
        .into_iter()
        .map(|(name, value)| EnvVar {
            name,
            value,
            comment: None,
        })
        .collect::<Vec<_>>();
    let mut comments = vec![format!(
        "`{}`: installed from the command line (`rgen install {} …`) in {}.",
        app.name,
        def.keys
            .iter()
            .find(|(_, k, _)| *k == "script")
            .and_then(|(_, _, v)| v.as_str())
            .unwrap_or("SCRIPT"),
        dir.display()
    )];
    if !env.is_empty() {
        comments.push("Its `env` is what the install took from rgen's environment (`--keep-env`): written here, the file no longer depends on the shell it is installed from.".into());
    }
    comments.extend(note);
    Ok(entry(app, comments, settings, env))
}

/// The variables the app's installed files give it, as they are written (the environment file,
/// the unit's or the job's own).
fn installed_env(app: &InstalledApp) -> Vec<(String, String)> {
    let mut seen = BTreeSet::new();
    app.units
        .iter()
        .filter(|u| matches!(u.role, Role::App | Role::Environment))
        .flat_map(|u| u.env.iter().cloned())
        .filter(|kv| seen.insert(kv.clone()))
        .collect()
}

/// The variables the definition alone gives the app, compiled again as it was installed.
fn definition_env(
    app: &InstalledApp,
    def: &Definition,
    target: &Target,
    renderer: &dyn Renderer,
) -> Result<BTreeSet<(String, String)>> {
    let mut target = target.clone();
    target.invoking_user = Some(crate::commands::status::installed_identity(app));
    let source = SourceSettings {
        adhoc: Some(def.clone()),
        group: Some(app.group.clone()),
        ..SourceSettings::default()
    };
    let compiled = compile(&source, &target, renderer)?;
    let mut env = BTreeSet::new();
    for f in compiled
        .files
        .iter()
        .filter(|f| f.app.as_deref() == Some(app.name.as_str()))
    {
        if let crate::apply::inventory::Existing::Ours(u) =
            renderer.read_back(&f.name, Path::new(&f.name), f.contents.as_bytes())
            && matches!(u.role, Role::App | Role::Environment)
        {
            env.extend(u.env.iter().cloned());
        }
    }
    Ok(env)
}

/// An app installed from a file: that file's entry for it, as the file reads now. With
/// `--env NAME` at install, `env_NAME` is merged into `env`, so the written file installs the
/// same without it.
fn from_file(app: &InstalledApp, marker: &Marker, inventory: &Inventory) -> Result<ImportedApp> {
    let source = &marker.source;
    let origin = app_origin(app, marker);
    if !source.is_file() {
        return Err(BadInput::single(
            origin,
            format!(
                "`{}` was installed from {}, which is gone; rgen keeps the definition of apps given on the command line only",
                app.name,
                source.display()
            ),
            Some(format!(
                "restore {} (the file is its record), or `rgen show {}` prints what its files run",
                source.display(),
                app.name
            )),
        )
        .into());
    }
    let (raw, _) = load::load(source, None)?;
    let opts = ModelOptions {
        env_name: marker.env.clone(),
        group: Some(app.group.clone()),
        ..ModelOptions::default()
    };
    let (ecosystem, _) = model::validate(&raw, &opts)?;
    let Some(raw_app) = ecosystem
        .apps
        .iter()
        .find(|a| a.name == app.name)
        .and_then(|a| raw.apps.iter().find(|r| r.index == a.index))
    else {
        return Err(BadInput::single(
            origin,
            format!(
                "{} has no app `{}` any more: it changed since the app was installed",
                source.display(),
                app.name
            ),
            Some(format!(
                "`rgen show {}` prints what its files run",
                app.name
            )),
        )
        .into());
    };

    let mut settings = Vec::new();
    let mut env: Vec<(String, Value)> = Vec::new();
    let mut overlay: Vec<(String, Value)> = Vec::new();
    let mut other_overlays = Vec::new();
    for e in &raw_app.entries {
        match &e.canonical {
            Canonical::Key(spec) if spec.name == "env" => {
                if let Value::Object(map) = &e.value {
                    env.extend(map.iter().map(|(k, v)| (k.clone(), v.clone())));
                }
            }
            // The installed name: `append_env_to_name` has already been applied to it.
            Canonical::Key(spec) if spec.name == "name" => {}
            Canonical::Key(spec) if spec.name == "append_env_to_name" => {}
            Canonical::Key(spec) => settings.push(setting(spec.name, e.value.clone())),
            Canonical::EnvOverlay(name) if marker.env.as_deref() == Some(name) => {
                if let Value::Object(map) = &e.value {
                    overlay.extend(map.iter().map(|(k, v)| (k.clone(), v.clone())));
                }
            }
            Canonical::EnvOverlay(name) => other_overlays.push(format!("env_{name}")),
        }
    }
    settings.insert(0, setting("name", Value::from(app.name.clone())));
    for (k, v) in overlay {
        match env.iter_mut().find(|(name, _)| *name == k) {
            Some(slot) => slot.1 = v,
            None => env.push((k, v)),
        }
    }
    let env = env
        .into_iter()
        .filter_map(|(name, value)| {
            let value = match value {
                Value::String(s) => s,
                Value::Null | Value::Object(_) | Value::Array(_) => return None,
                other => other.to_string(),
            };
            Some(EnvVar {
                name,
                value,
                comment: None,
            })
        })
        .collect();

    let mut comments = vec![format!(
        "`{}`: installed from {} (its entry apps[{}]).",
        app.name,
        source.display(),
        raw_app.index
    )];
    if let Some(name) = &marker.env {
        comments.push(format!(
            "Installed with `--env {name}`: `env_{name}` is merged into `env` (and the name is the one installed)."
        ));
    }
    if !other_overlays.is_empty() {
        comments.push(format!(
            "Not carried (the install did not use them): {}.",
            other_overlays.join(", ")
        ));
    }
    let installed_hash = inventory
        .group_units(&app.group)
        .into_iter()
        .chain(app.units.iter())
        .find_map(|u| u.marker.source_hash.clone());
    if installed_hash.is_some_and(|h| h != raw.source_hash) {
        comments.push(format!(
            "{} changed since it was installed: this is its entry now, which may not be what runs (`rgen status` shows the drift).",
            source.display()
        ));
    }
    Ok(entry(app, comments, settings, env))
}

fn setting(key: &'static str, value: Value) -> Setting {
    Setting {
        key,
        value,
        comment: None,
        disabled: false,
    }
}

fn app_origin(app: &InstalledApp, marker: &Marker) -> Origin {
    let file = app
        .units
        .iter()
        .find(|u| u.role == Role::App)
        .map(|u| u.path.clone())
        .unwrap_or_else(|| marker.source.clone());
    Origin {
        file,
        app: Some(app.name.clone()),
        key: None,
    }
}

/// A file installs as the group named after its directory: when that is not the group the apps
/// are installed as, the file says how to take them over in place.
fn group_notes(apps: &[&InstalledApp], out: Option<&Path>) -> Vec<String> {
    let written_group = out
        .and_then(|p| std::path::absolute(p).ok())
        .map(|p| model::default_group(&p));
    let mut groups: Vec<&str> = apps.iter().map(|a| a.group.as_str()).collect();
    groups.sort();
    groups.dedup();
    groups
        .into_iter()
        .filter(|g| written_group.as_deref() != Some(*g))
        .map(|g| {
            let names: Vec<String> = apps
                .iter()
                .filter(|a| a.group == g)
                .map(|a| format!("`{}`", a.name))
                .collect();
            format!(
                "{} installed as group `{g}`: install this file with `--group {g}` (or from a directory named `{g}`) to take {} over in place.",
                names.join(", "),
                if names.len() == 1 { "it" } else { "them" }
            )
        })
        .collect()
}

/// An installed app's entry in the written file.
fn entry(
    app: &InstalledApp,
    comments: Vec<String>,
    settings: Vec<Setting>,
    env: Vec<EnvVar>,
) -> ImportedApp {
    ImportedApp {
        name: app.name.clone(),
        pm2_name: app.name.clone(),
        namespace: app.namespace().to_string(),
        instances: app.instances().unwrap_or(1) as usize,
        comments,
        settings,
        env,
        dropped: Vec::new(),
        stopped: false,
    }
}
