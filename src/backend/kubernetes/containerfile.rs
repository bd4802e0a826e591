//! The Containerfile behind `--containerfile`: a PM2 user has a checkout, not an image. Two
//! stages: `rust:alpine` builds `rgen-shim` from rgen's source (static against musl, so it runs
//! on any base image), then the base image gets the shim and the ecosystem's directory at
//! `/app`. rgen's source comes in as the named build context `rgen`, which podman/buildah
//! (`--build-context`) and Docker's BuildKit (`docker buildx build --build-context`) both take.
//!
//! A Containerfile is a list of instructions, not a document with a serialiser: it is built
//! line by line here, and every exec-form array is written by serde_json, so no value is
//! quoted by hand.

use std::collections::BTreeSet;

use super::render::AppOutput;
use crate::backend::HEADER_PREFIX;
use crate::plan::Plan;
use crate::target::{KUBERNETES_APP_DIR, KUBERNETES_SHIM_DIR};

const RUST_IMAGE: &str = "docker.io/library/rust:1-alpine";

/// The base image for the programs the apps run from its PATH: the first rule that matches.
const BASE_IMAGES: &[(&str, &str)] = &[
    ("node", "docker.io/library/node:22-bookworm-slim"),
    ("python", "docker.io/library/python:3.12-slim-bookworm"),
];
const DEFAULT_BASE_IMAGE: &str = "docker.io/library/debian:bookworm-slim";

/// What rgen's build needs of its source tree: the files, then each directory (one COPY
/// each, since a COPY of several directories merges their contents).
const RGEN_FILES: &[&str] = &["Cargo.toml", "Cargo.lock"];
const RGEN_DIRS: &[&str] = &["src", "templates"];

pub(super) fn render(plan: &Plan, apps: &[AppOutput], image: &str) -> String {
    let programs: BTreeSet<&str> = apps
        .iter()
        .flat_map(|a| a.programs.iter().map(String::as_str))
        .collect();
    let base = BASE_IMAGES
        .iter()
        .find(|(program, _)| programs.iter().any(|p| p.starts_with(program)))
        .map(|(_, image)| *image)
        .unwrap_or(DEFAULT_BASE_IMAGE);
    let dir = plan
        .source
        .parent()
        .map(|d| d.display().to_string())
        .unwrap_or_else(|| ".".into());
    let shim = format!("{KUBERNETES_SHIM_DIR}/{}", crate::shim_protocol::BIN);
    let mut lines = vec![
        format!("# {HEADER_PREFIX}{}.", plan.source.display()),
        "# `rgen render --kubernetes --containerfile` writes it again from the ecosystem file."
            .into(),
        "#".into(),
        format!("# The image the manifests run: {dir} at {KUBERNETES_APP_DIR}, and a static"),
        "# rgen-shim as each container's PID 1. Build it from that directory, with a checkout of"
            .into(),
        "# rgen's source as the build context `rgen`:".into(),
        "#".into(),
        format!(
            "#   podman build -f Containerfile --build-context rgen=PATH/TO/rgen -t {image} {dir}"
        ),
        format!(
            "#   docker buildx build -f Containerfile --build-context rgen=PATH/TO/rgen -t {image} {dir}"
        ),
        "#".into(),
    ];
    if programs.is_empty() {
        lines.push("# The apps run only programs of their own directory.".into());
    } else {
        let list: Vec<&str> = programs.iter().copied().collect();
        lines.push(format!(
            "# The apps need these programs in the image, on its PATH: {}.",
            list.join(", ")
        ));
        lines.push(
            "# BASE_IMAGE must provide them (`--build-arg BASE_IMAGE=...` to choose another)."
                .into(),
        );
    }
    lines.push(format!("ARG BASE_IMAGE={base}"));
    lines.push(String::new());
    lines.push(
        "# rgen-shim, linked statically against musl. The first build compiles rgen's".into(),
    );
    lines.push(
        "# dependencies too (a few minutes); the cache mounts keep them for the next.".into(),
    );
    lines.push(format!("FROM {RUST_IMAGE} AS rgen-shim"));
    lines.push("RUN apk add --no-cache musl-dev".into());
    lines.push("WORKDIR /src".into());
    lines.push(format!("COPY --from=rgen {} ./", RGEN_FILES.join(" ")));
    for dir in RGEN_DIRS {
        lines.push(format!("COPY --from=rgen {dir} {dir}"));
    }
    lines.push("RUN --mount=type=cache,target=/usr/local/cargo/registry \\".into());
    lines.push("    --mount=type=cache,target=/src/target \\".into());
    lines.push("    cargo build --release --locked --bin rgen-shim \\".into());
    lines.push(format!(
        "    && cp target/release/{bin} /{bin}",
        bin = crate::shim_protocol::BIN
    ));
    lines.push(String::new());
    lines.push("FROM ${BASE_IMAGE}".into());
    lines.push(format!(
        "COPY --from=rgen-shim /{} {shim}",
        crate::shim_protocol::BIN
    ));
    lines.push(format!("WORKDIR {KUBERNETES_APP_DIR}"));
    lines.push(format!("COPY . {KUBERNETES_APP_DIR}"));
    lines.push(
        "# Install the apps' dependencies here unless the directory holds them built for this"
            .into(),
    );
    lines
        .push("# image (a .venv or node_modules made on another system does not run here):".into());
    lines.push("#   RUN npm ci --omit=dev".into());
    lines.push("#   RUN python3 -m venv .venv && .venv/bin/pip install -r requirements.txt".into());
    lines.push(format!(
        "ENTRYPOINT {}",
        exec_form(std::slice::from_ref(&shim))
    ));
    // The manifests give each container its whole command; this one is for a plain
    // `podman run` of the image.
    if let Some(first) = apps.first()
        && let Some((_, args)) = first.command.split_first()
    {
        lines.push(format!(
            "# `podman run {image}` runs {} as the manifests do.",
            plan.services
                .first()
                .map(|s| s.app.as_str())
                .unwrap_or("the first app")
        ));
        lines.push(format!("CMD {}", exec_form(args)));
    }
    let mut text = lines.join("\n");
    text.push('\n');
    text
}

/// `["a", "b"]`: JSON, which is the exec form's syntax.
fn exec_form(words: &[String]) -> String {
    serde_json::to_string(words).unwrap_or_else(|_| "[]".into())
}
