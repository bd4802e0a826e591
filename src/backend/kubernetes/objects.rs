//! The Kubernetes objects, as `k8s-openapi`'s typed values, and their YAML. Every manifest rgen
//! writes goes through [`document`]: a typed value serialised by serde, never a text template.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Container, EmptyDirVolumeSource, ExecAction, PodSpec, PodTemplateSpec, Probe, Volume,
    VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;

use crate::backend::RenderError;
use crate::diag::Origin;
use crate::target::{KUBERNETES_READY_FILE, KUBERNETES_RUN_DIR};

/// The API the objects are typed against (`k8s-openapi`'s `v1_33` feature); the tests validate
/// them against older and newer schemas too.
pub const API_VERSION: &str = "1.33";

/// Where `kubectl rollout restart` comes from for `cron_restart`: the Kubernetes project's own
/// kubectl image (published since 1.28), whose entrypoint is kubectl.
pub const KUBECTL_IMAGE: &str = "registry.k8s.io/kubectl:v1.33.0";

/// The `emptyDir` holding the shim's ready file.
const RUN_VOLUME: &str = "rgen-run";

/// Seconds between readiness probes. Each probe forks `test` in the container, so not faster.
const READINESS_PERIOD_S: i32 = 2;

pub fn meta(
    name: &str,
    namespace: Option<&str>,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_string()),
        namespace: namespace.map(str::to_string),
        labels: (!labels.is_empty()).then_some(labels),
        annotations: (!annotations.is_empty()).then_some(annotations),
        ..ObjectMeta::default()
    }
}

/// `bytes` as a memory quantity, in the largest binary unit that divides it.
pub fn memory(bytes: u64) -> Quantity {
    for (suffix, unit) in [("Gi", 1u64 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10)] {
        if bytes >= unit && bytes.is_multiple_of(unit) {
            return Quantity(format!("{}{suffix}", bytes / unit));
        }
    }
    Quantity(bytes.to_string())
}

/// Ready when the shim says so: it creates the file when PM2 would call the app online (at
/// spawn, on `process.send('ready')` with `wait_ready`, or after `listen_timeout`) and removes
/// it while the app is down, so a pod whose app is restarting leaves the Service.
pub fn readiness_probe() -> Probe {
    Probe {
        exec: Some(ExecAction {
            command: Some(vec![
                "test".into(),
                "-f".into(),
                KUBERNETES_READY_FILE.into(),
            ]),
        }),
        period_seconds: Some(READINESS_PERIOD_S),
        failure_threshold: Some(1),
        ..Probe::default()
    }
}

pub fn run_volume_mount() -> VolumeMount {
    VolumeMount {
        name: RUN_VOLUME.into(),
        mount_path: KUBERNETES_RUN_DIR.into(),
        ..VolumeMount::default()
    }
}

pub fn run_volume() -> Volume {
    Volume {
        name: RUN_VOLUME.into(),
        empty_dir: Some(EmptyDirVolumeSource {
            medium: Some("Memory".into()),
            size_limit: Some(Quantity("1Mi".into())),
        }),
        ..Volume::default()
    }
}

/// A pod running one container, with the run volume when the container mounts it.
pub fn pod(
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
    spec: PodSpec,
) -> PodTemplateSpec {
    PodTemplateSpec {
        metadata: Some(meta_without_name(labels, annotations)),
        spec: Some(spec),
    }
}

fn meta_without_name(
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
) -> ObjectMeta {
    ObjectMeta {
        labels: (!labels.is_empty()).then_some(labels),
        annotations: (!annotations.is_empty()).then_some(annotations),
        ..ObjectMeta::default()
    }
}

pub fn pod_spec(container: Container, restart_policy: Option<&str>) -> PodSpec {
    let mounts_run = container
        .volume_mounts
        .iter()
        .flatten()
        .any(|m| m.name == RUN_VOLUME);
    PodSpec {
        containers: vec![container],
        restart_policy: restart_policy.map(str::to_string),
        volumes: mounts_run.then(|| vec![run_volume()]),
        ..PodSpec::default()
    }
}

/// One YAML document, with the `---` that separates it from the next.
pub fn document<T: Serialize>(value: &T, origin: &Origin) -> Result<String, RenderError> {
    Ok(format!("---\n{}", plain_document(value, origin)?))
}

/// A file holding one document (a `kustomization.yaml`).
pub fn plain_document<T: Serialize>(value: &T, origin: &Origin) -> Result<String, RenderError> {
    serde_norway::to_string(value).map_err(|e| RenderError {
        origin: Some(origin.clone()),
        message: format!("cannot write a Kubernetes object (a bug in rgen): {e}"),
        hint: None,
    })
}

/// kustomize's `kustomization.yaml`, which k8s-openapi does not type (it is not an API object).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Kustomization {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub resources: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub patches: Vec<Patch>,
}

/// A patch file (strategic merge), or an inline JSON patch for one object.
#[derive(Serialize)]
pub struct Patch {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<PatchTarget>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patch: Option<String>,
}

#[derive(Serialize)]
pub struct PatchTarget {
    pub kind: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

impl Patch {
    pub fn file(path: String) -> Patch {
        Patch {
            path: Some(path),
            target: None,
            patch: None,
        }
    }

    pub fn json(kind: &str, name: &str, namespace: Option<&str>, patch: &str) -> Patch {
        Patch {
            path: None,
            target: Some(PatchTarget {
                kind: kind.into(),
                name: name.into(),
                namespace: namespace.map(str::to_string),
            }),
            patch: Some(patch.into()),
        }
    }
}

impl Kustomization {
    pub fn new(resources: Vec<String>, patches: Vec<Patch>) -> Kustomization {
        Kustomization {
            api_version: "kustomize.config.k8s.io/v1beta1",
            kind: "Kustomization",
            resources,
            patches,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_in_binary_units() {
        assert_eq!(memory(2 << 30).0, "2Gi");
        assert_eq!(memory(300 << 20).0, "300Mi");
        assert_eq!(memory(1536 << 20).0, "1536Mi");
        assert_eq!(memory(1000).0, "1000");
    }
}
