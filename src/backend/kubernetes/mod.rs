//! Kubernetes: the same ecosystem compiled into manifests for a cluster. rgen only writes them
//! — `kubectl apply -k DIR` hands them to the cluster — so this backend is a [`Renderer`] and
//! nothing else: [`crate::backend::connect`] refuses, since rgen does not manage clusters.
//!
//! Every object is a typed value of `k8s-openapi` (Kubernetes 1.33's API) serialised to YAML,
//! never text. Per app: a Deployment (a Job or CronJob with `autorestart: false`), a Service
//! when it has a port, a ConfigMap and a Secret for its env, a CronJob with its RBAC for
//! `cron_restart`; for the group a `kustomization.yaml`, one overlay per `env_<name>`, and on
//! request a Containerfile. Each container runs `rgen-shim` as PID 1 (the `pm2-runtime` role):
//! it forwards signals, reaps zombies, stops the app with SIGINT then SIGKILL, restarts it by
//! PM2's rules and creates the file the readiness probe looks for.

mod containerfile;
mod cron;
mod names;
mod objects;
mod overlays;
mod paths;
mod render;

use std::path::{Path, PathBuf};

use crate::apply::changes::ChangeSet;
use crate::apply::inventory::{Existing, ReadBack};
use crate::backend::{RenderError, Rendered, Renderer};
use crate::plan::Plan;
use crate::target::{Backend, Target};

/// The pure half; there is no other.
pub struct Kubernetes {
    target: Target,
}

impl Kubernetes {
    pub fn new(target: Target) -> Kubernetes {
        Kubernetes { target }
    }
}

/// What `rgen install|status|start|…` say with `--kubernetes`.
pub fn no_manager(target: &Target) -> anyhow::Error {
    let dir = target
        .kubernetes
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("DIR"));
    anyhow::anyhow!(
        "rgen does not manage clusters: write the manifests with `rgen render --kubernetes --out {dir}`, apply them with `kubectl apply -k {dir}` (an environment: `kubectl apply -k {dir}/overlays/NAME`), and see them with `kubectl get all -l {label}=GROUP`",
        dir = dir.display(),
        label = names::GROUP_LABEL
    )
}

impl ReadBack for Kubernetes {
    /// The cluster, not a directory, holds what was applied.
    fn read_back(&self, _name: &str, _path: &Path, _bytes: &[u8]) -> Existing {
        Existing::Ignored
    }
}

impl Renderer for Kubernetes {
    fn backend(&self) -> Backend {
        Backend::Kubernetes
    }

    fn describe(&self) -> String {
        format!("Kubernetes manifests (API {})", objects::API_VERSION)
    }

    /// `--out`, or a placeholder for the printed file names.
    fn manager_dir(&self) -> PathBuf {
        self.target
            .kubernetes
            .out
            .clone()
            .unwrap_or_else(|| PathBuf::from("kubernetes"))
    }

    fn installed_dir(&self) -> anyhow::Result<PathBuf> {
        Err(no_manager(&self.target))
    }

    fn render(&self, plan: &Plan) -> Result<Rendered, RenderError> {
        render::render(plan)
    }

    fn install_actions(&self, _plan: &Plan, _changes: &ChangeSet) -> Vec<String> {
        vec![no_manager(&self.target).to_string()]
    }
}
