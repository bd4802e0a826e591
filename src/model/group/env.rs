//! Group `env`: the environment PM2 would give the app — (`--keep-env`) < `env` <
//! `deploy.<env>.env` < `env_<env>` — then `port`, and PM2's `PYTHONUNBUFFERED` for Python.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::diag::{Origin, Problems, WarningKind};
use crate::load::kind;
use crate::load::{Canonical, RawEcosystem};
use crate::model::fields::{Fields, scalar_to_string};
use crate::model::text::{Shape, problem};

/// The merged env layers, and the port the app listens on (`port`, else `env.PORT`).
pub(crate) fn read(
    f: &mut Fields<'_>,
    raw: &RawEcosystem,
    env_name: Option<&str>,
    kept: &BTreeMap<String, String>,
) -> (BTreeMap<String, String>, Option<u16>) {
    let file_origin = Origin::file(&raw.file);
    let app = f.raw;
    let origin = f.origin.clone();
    // PM2's lowest layer is its own environment; rgen's is what `--keep-env` names from it.
    let mut env = kept.clone();
    if let Some(e) = f.entry("env").map(|e| e.value.clone()) {
        let o = f.origin_of("env");
        env_object(f, &e, o, &mut env);
    }
    // PM2 assigns `deploy.<env>.env` over `env` (lib/Common.js mergeEnvironmentVariables: its
    // "least priority" comment notwithstanding, `env` is the object it assigns into).
    if let Some(env_name) = env_name
        && let Some(Value::Object(d)) = raw.deploy.get(env_name)
        && let Some(deploy_env) = d.get("env")
    {
        let key = format!("deploy.{env_name}.env");
        let mut deployed = BTreeMap::new();
        env_object(
            f,
            &deploy_env.clone(),
            file_origin.with_key(&key),
            &mut deployed,
        );
        for (name, value) in deployed {
            if let Some(old) = env.get(&name).filter(|old| **old != value) {
                let o = f.origin_of("env");
                f.report.warn(
                    WarningKind::DeployEnvWins,
                    o,
                    format!("`env` and `{key}` both set `{name}` ({old:?} and {value:?}): `{key}` wins, as in PM2"),
                );
            }
            env.insert(name, value);
        }
    }
    if let Some(env_name) = env_name
        && let Some(overlay) = app
            .entries
            .iter()
            .find(|e| matches!(&e.canonical, Canonical::EnvOverlay(n) if n == env_name))
    {
        let o = origin.with_key(app.key_path(&overlay.written));
        env_object(f, &overlay.value.clone(), o, &mut env);
    }
    let port = match f.number("port") {
        Some(p) if (1.0..=65535.0).contains(&p) && p.fract() == 0.0 => Some(p as u16),
        Some(p) => {
            f.fail(
                "port",
                format!("`port` must be a TCP port (1-65535), not {p}"),
                None,
            );
            None
        }
        None => None,
    };
    if let Some(p) = port {
        env.insert("PORT".into(), p.to_string());
    }
    let port = port.or_else(|| env.get("PORT").and_then(|p| p.parse().ok()));
    (env, port)
}

/// Every environment the app can be started in (`env_<name>` on it, `deploy.<name>.env`), each
/// as what `--env <name>` adds to or changes in `base` (the env without `--env`). For backends
/// that write all environments at once (Kubernetes overlays).
pub(crate) fn environments(
    f: &mut Fields<'_>,
    raw: &RawEcosystem,
    base: &BTreeMap<String, String>,
) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut names: BTreeSet<String> = f
        .raw
        .entries
        .iter()
        .filter_map(|e| match &e.canonical {
            Canonical::EnvOverlay(n) => Some(n.clone()),
            _ => None,
        })
        .collect();
    names.extend(
        raw.deploy
            .iter()
            .filter(|(_, d)| d.get("env").is_some())
            .map(|(n, _)| n.clone()),
    );
    let mut out = BTreeMap::new();
    for name in names {
        // The base env's own problems are reported already; only the overlay's are new.
        let mut scratch = Problems::default();
        let mut fields = Fields {
            raw: f.raw,
            origin: f.origin.clone(),
            report: &mut scratch,
        };
        // What `--keep-env` copies is in the base already, and an overlay holds only changes.
        let (env, _) = read(&mut fields, raw, Some(&name), &BTreeMap::new());
        for e in scratch.errors {
            if !f.report.errors.contains(&e) {
                f.report.errors.push(e);
            }
        }
        let delta: BTreeMap<String, String> = env
            .into_iter()
            .filter(|(k, v)| base.get(k) != Some(v))
            .collect();
        if !delta.is_empty() {
            out.insert(name, delta);
        }
    }
    out
}

fn env_object(
    fields: &mut Fields<'_>,
    value: &Value,
    key_origin: Origin,
    into: &mut BTreeMap<String, String>,
) {
    match value {
        Value::Null => {}
        Value::Object(map) => {
            for (k, v) in map {
                if k.is_empty() || k.contains('=') || k.chars().any(|c| c.is_control()) {
                    fields
                        .report
                        .error(
                            key_origin.clone(),
                            format!("`{k}` cannot be an environment variable name"),
                        )
                        .hint("names must not be empty or contain `=` or control characters");
                    continue;
                }
                // PM2 JSON-stringifies nested objects.
                let value = scalar_to_string(v);
                if let Some((why, hint)) = problem(&format!("{k}={value}"), Shape::Arg) {
                    fields
                        .report
                        .error(key_origin.clone(), format!("the value of `{k}` {why}"))
                        .hint(hint);
                    continue;
                }
                into.insert(k.clone(), value);
            }
        }
        other => {
            fields.report.error(
                key_origin,
                format!(
                    "an env block must be an object of NAME: value, not {}",
                    kind(other)
                ),
            );
        }
    }
}
