//! `env_<name>` as kustomize overlays: without `--env`, each environment the apps define gets
//! `overlays/<name>/`, whose `kustomization.yaml` takes the base (`base/`) and changes only the
//! apps' ConfigMap and Secret to what `--env <name>` would give, and the pod template's env
//! digest so the pods roll. `kubectl apply -k DIR/overlays/production` deploys that
//! environment. With `--env`, the chosen environment is merged into the base and there are
//! no overlays, as on systemd and launchd.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use serde::Serialize;

use super::names;
use super::objects::{Kustomization, Patch, document, meta};
use super::render::{AppOutput, Names, config_map, kustomization, secret, with_header};
use crate::apply::RenderedFile;
use crate::backend::RenderError;
use crate::plan::Plan;

/// Where the base goes when there are overlays.
pub(super) const BASE_DIR: &str = "base/";

pub(super) fn render(plan: &Plan, apps: &[AppOutput]) -> Result<Vec<RenderedFile>, RenderError> {
    let environments: BTreeSet<&String> = apps.iter().flat_map(|a| a.overlays.keys()).collect();
    let mut files = Vec::new();
    for environment in environments {
        files.extend(overlay(plan, apps, environment)?);
    }
    Ok(files)
}

fn overlay(
    plan: &Plan,
    apps: &[AppOutput],
    environment: &str,
) -> Result<Vec<RenderedFile>, RenderError> {
    let dir = format!("overlays/{environment}");
    let mut files = Vec::new();
    let mut resources = vec![format!("../../{}", BASE_DIR.trim_end_matches('/'))];
    let mut patches = Vec::new();
    for (app, spec) in apps.iter().zip(&plan.services) {
        let Some(changes) = app.overlays.get(environment) else {
            continue;
        };
        if !safe_dir_name(environment) {
            return Err(RenderError {
                origin: Some(spec.origin_of(&format!("env_{environment}"))),
                message: format!(
                    "the environment `{environment}` cannot name a kustomize overlay directory"
                ),
                hint: Some(
                    "use letters, digits, `-`, `_` and `.` in `env_<name>`, or render it with `--env`"
                        .into(),
                ),
            });
        }
        let n = Names {
            plan,
            spec,
            name: app.name.clone(),
            namespace: plan.target.kubernetes.namespace.as_deref(),
        };
        let env_name = names::env_name(&app.name);
        if !changes.plain.is_empty() {
            let file = format!("{}-env.yaml", app.name);
            // A patch changes what the base has; a ConfigMap the base lacks is a new resource.
            let object = if app.env.plain.is_empty() {
                resources.push(file.clone());
                config_map(&n, changes.plain.clone())
            } else {
                patches.push(Patch::file(file.clone()));
                ConfigMap {
                    metadata: meta(&env_name, n.namespace, BTreeMap::new(), BTreeMap::new()),
                    data: Some(changes.plain.clone()),
                    ..ConfigMap::default()
                }
            };
            files.push(RenderedFile::public(
                format!("{dir}/{file}"),
                Some(&spec.app),
                with_header(plan, document(&object, &spec.origin)?),
            ));
        }
        if !changes.secret.is_empty() {
            let file = format!("{}-secret.yaml", app.name);
            let object = if app.env.secret.is_empty() {
                resources.push(file.clone());
                secret(&n, changes.secret.clone())
            } else {
                patches.push(Patch::file(file.clone()));
                Secret {
                    metadata: meta(&env_name, n.namespace, BTreeMap::new(), BTreeMap::new()),
                    string_data: Some(changes.secret.clone()),
                    ..Secret::default()
                }
            };
            files.push(RenderedFile::secret(
                format!("{dir}/{file}"),
                Some(&spec.app),
                with_header(plan, document(&object, &spec.origin)?),
            ));
        }
        patches.push(Patch::json(
            app.kind,
            &app.name,
            n.namespace,
            &digest_patch(app.kind, &app.env.digest(changes)),
        ));
    }
    files.push(kustomization(
        plan,
        format!("{dir}/kustomization.yaml"),
        Kustomization::new(resources, patches),
    )?);
    Ok(files)
}

/// A JSON patch (RFC 6902) replacing the pod template's env digest.
fn digest_patch(kind: &str, digest: &str) -> String {
    #[derive(Serialize)]
    struct Operation<'a> {
        op: &'static str,
        path: String,
        value: &'a str,
    }
    let template = match kind {
        "CronJob" => "/spec/jobTemplate/spec/template",
        _ => "/spec/template",
    };
    // `/` in a key is `~1` in a JSON pointer.
    let key = names::ENV_HASH_ANNOTATION
        .replace('~', "~0")
        .replace('/', "~1");
    let ops = [Operation {
        op: "replace",
        path: format!("{template}/metadata/annotations/{key}"),
        value: digest,
    }];
    serde_json::to_string(&ops).unwrap_or_default()
}

fn safe_dir_name(name: &str) -> bool {
    name != "."
        && name != ".."
        && !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}
