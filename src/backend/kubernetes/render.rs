//! `Plan` → manifests. Pure. One `<app>.yaml` per app (its ConfigMap, workload, Service and
//! `cron_restart` objects), `<app>-secret.yaml` (mode 0600) for its secret-looking variables,
//! a `kustomization.yaml` listing them, and on request a Containerfile.
//!
//! The workload follows `autorestart`: a Deployment whose pods the shim keeps running; with
//! `autorestart: false` a Job that runs the app once, or with `cron_restart` too a CronJob that
//! runs it on schedule (PM2's idiom for a cron task). A Deployment rolls one pod at a time,
//! starting the new one before stopping an old one (`rgen reload`'s order), and its pods are
//! ready only once the shim created its ready file.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment,
};
use k8s_openapi::api::batch::v1::{CronJob, CronJobSpec, Job, JobSpec, JobTemplateSpec};
use k8s_openapi::api::core::v1::{
    ConfigMap, ConfigMapEnvSource, Container, ContainerPort, EnvFromSource, PodSecurityContext,
    ResourceRequirements, Secret, SecretEnvSource, Service, ServiceAccount, ServicePort,
    ServiceSpec as ServiceObjectSpec,
};
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use sha2::{Digest as _, Sha256};

use super::objects::{self, Kustomization, document, meta};
use super::paths::ImagePaths;
use super::{containerfile, cron, names, overlays};
use crate::apply::RenderedFile;
use crate::backend::{HEADER_PREFIX, RenderError, Rendered, shim_args};
use crate::diag::{Origin, Warning, WarningKind};
use crate::observe::secrets::looks_secret;
use crate::plan::{Plan, RestartMode, ServiceSpec};

/// Everything rendered for one app that the group's files need.
pub(super) struct AppOutput {
    pub files: Vec<RenderedFile>,
    /// The app's object name.
    pub name: String,
    /// `Deployment`, `Job` or `CronJob`.
    pub kind: &'static str,
    pub env: Env,
    /// Per `env_<name>`: what that environment adds or changes, split as the base env is.
    pub overlays: BTreeMap<String, Env>,
    /// The container's command, for the Containerfile's `CMD`.
    pub command: Vec<String>,
    /// Programs looked up on the image's PATH.
    pub programs: BTreeSet<String>,
}

pub fn render(plan: &Plan) -> Result<Rendered, RenderError> {
    if let Some(namespace) = &plan.target.kubernetes.namespace
        && names::object_name(namespace).as_ref() != Some(namespace)
    {
        return Err(RenderError {
            origin: None,
            message: format!(
                "`--namespace {namespace}` is not a Kubernetes namespace name: use lower-case letters, digits and `-`, starting with a letter"
            ),
            hint: None,
        });
    }
    let paths = ImagePaths::new(&plan.source);
    let mut warnings = Vec::new();
    let mut apps = Vec::new();
    for spec in &plan.services {
        apps.push(app(plan, spec, &paths, &mut warnings)?);
    }
    // kustomize refuses an overlay inside its base, so with environments the base moves to
    // `base/` and the top directory's kustomization points at it.
    let layered = apps.iter().any(|a| !a.overlays.is_empty());
    let base_dir = if layered { overlays::BASE_DIR } else { "" };
    let mut files: Vec<RenderedFile> = apps.iter().flat_map(|a| a.files.clone()).collect();
    let resources: Vec<String> = files.iter().map(|f| f.name.clone()).collect();
    for file in &mut files {
        file.name = format!("{base_dir}{}", file.name);
    }
    files.push(kustomization(
        plan,
        format!("{base_dir}kustomization.yaml"),
        Kustomization::new(resources, Vec::new()),
    )?);
    if layered {
        files.push(kustomization(
            plan,
            "kustomization.yaml".into(),
            Kustomization::new(
                vec![overlays::BASE_DIR.trim_end_matches('/').into()],
                Vec::new(),
            ),
        )?);
    }
    files.extend(overlays::render(plan, &apps)?);
    if plan.target.kubernetes.containerfile {
        files.push(RenderedFile::public(
            "Containerfile".into(),
            None,
            containerfile::render(plan, &apps, &image(plan)),
        ));
    }
    Ok(Rendered { files, warnings })
}

pub(super) fn kustomization(
    plan: &Plan,
    name: String,
    kustomization: Kustomization,
) -> Result<RenderedFile, RenderError> {
    let yaml = objects::plain_document(&kustomization, &Origin::file(&plan.source))?;
    Ok(RenderedFile::public(name, None, with_header(plan, yaml)))
}

/// The image the containers run: `--image`, else the tag the Containerfile's build line gives.
pub(super) fn image(plan: &Plan) -> String {
    plan.target.kubernetes.image.clone().unwrap_or_else(|| {
        format!(
            "{}:latest",
            names::object_name(&plan.group).unwrap_or_else(|| "rgen-app".into())
        )
    })
}

pub(super) fn with_header(plan: &Plan, yaml: String) -> String {
    format!(
        "# {HEADER_PREFIX}{}.\n# `rgen render --kubernetes` writes it again from the ecosystem file.\n{yaml}",
        plan.source.display()
    )
}

fn refuse(origin: Origin, message: impl Into<String>, hint: impl Into<String>) -> RenderError {
    RenderError {
        origin: Some(origin),
        message: message.into(),
        hint: Some(hint.into()),
    }
}

/// One app's names, labels and where it sits.
pub(super) struct Names<'a> {
    pub plan: &'a Plan,
    pub spec: &'a ServiceSpec,
    /// The app's object name (a DNS label).
    pub name: String,
    pub namespace: Option<&'a str>,
}

impl Names<'_> {
    fn labels(&self, role: &str) -> BTreeMap<String, String> {
        names::labels(&self.name, &self.plan.group, &self.spec.namespace, role)
    }

    fn selector(&self) -> BTreeMap<String, String> {
        names::selector(&self.name, &self.plan.group)
    }

    fn annotations(&self) -> BTreeMap<String, String> {
        let file = self
            .plan
            .source
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        BTreeMap::from([(names::SOURCE_ANNOTATION.to_string(), file)])
    }

    fn meta(&self, name: &str, role: &str) -> ObjectMeta {
        meta(name, self.namespace, self.labels(role), self.annotations())
    }
}

fn app(
    plan: &Plan,
    spec: &ServiceSpec,
    paths: &ImagePaths,
    warnings: &mut Vec<Warning>,
) -> Result<AppOutput, RenderError> {
    let name = names::object_name(&spec.unit).ok_or_else(|| {
        refuse(
            spec.origin_of("name"),
            format!("`{}` leaves nothing of a Kubernetes name", spec.app),
            "Kubernetes names are lower-case letters, digits and `-`; rename the app",
        )
    })?;
    let n = Names {
        plan,
        spec,
        name,
        namespace: plan.target.kubernetes.namespace.as_deref(),
    };
    let replicas = replicas(plan, spec, warnings)?;
    let env = Env::of(plan, spec, paths)?;
    let mut overlays = BTreeMap::new();
    for (environment, vars) in &spec.env_overlays {
        overlays.insert(
            environment.clone(),
            env.overlay(plan, spec, paths, vars, warnings)?,
        );
    }
    let (container, programs) = container(&n, paths, &env, &overlays, warnings)?;
    let command = container.command.clone().unwrap_or_default();
    let port = port(spec);
    let mut docs = Vec::new();
    if !env.plain.is_empty() {
        docs.push(document(&config_map(&n, env.plain.clone()), &spec.origin)?);
    }
    let pod_annotations = BTreeMap::from([(
        names::ENV_HASH_ANNOTATION.to_string(),
        env.digest(&Env::default()),
    )]);
    docs.push(workload(
        &n,
        container,
        replicas,
        pod_annotations,
        warnings,
    )?);
    if let Some(port) = port {
        docs.push(document(&service(&n, port), &spec.origin)?);
    }
    if spec.restart.mode == RestartMode::Always && spec.cron.is_some() {
        docs.extend(cron_restart(&n, warnings)?);
    }
    let mut files = vec![RenderedFile::public(
        format!("{}.yaml", n.name),
        Some(&spec.app),
        with_header(plan, docs.concat()),
    )];
    if !env.secret.is_empty() {
        files.push(RenderedFile::secret(
            format!("{}-secret.yaml", n.name),
            Some(&spec.app),
            with_header(
                plan,
                document(&secret(&n, env.secret.clone()), &spec.origin)?,
            ),
        ));
    }
    Ok(AppOutput {
        files,
        kind: workload_kind(spec),
        name: n.name,
        env,
        overlays,
        command,
        programs,
    })
}

/// The replica count; `max` and negative counts only against `--cpus-per-node`.
fn replicas(
    plan: &Plan,
    spec: &ServiceSpec,
    warnings: &mut Vec<Warning>,
) -> Result<i32, RenderError> {
    let Some(instances) = &spec.instances else {
        return Ok(1);
    };
    let relative = instances.requested == "max" || instances.requested.starts_with('-');
    if relative && plan.target.kubernetes.cpus_per_node.is_none() {
        return Err(refuse(
            spec.origin_of("instances"),
            format!(
                "`instances: {}` counts this machine's CPUs, but the pods run on the cluster's nodes",
                instances.requested
            ),
            "pass `--cpus-per-node N` (the CPUs of one node) to resolve it, or write a number of instances",
        ));
    }
    if instances.count > 1 {
        warnings.push(Warning {
            kind: WarningKind::ReplicasUnnumbered,
            origin: spec.origin_of("instances"),
            message: format!(
                "`instance_var`/`increment_var`: `{}` runs {} replicas with no instance number: each sees `{}=0`",
                spec.app,
                instances.count,
                instance_var(spec)
            ),
        });
    }
    i32::try_from(instances.count).map_err(|_| {
        refuse(
            spec.origin_of("instances"),
            format!(
                "{} instances is more than Kubernetes counts",
                instances.count
            ),
            "write a smaller number",
        )
    })
}

fn instance_var(spec: &ServiceSpec) -> String {
    spec.env
        .iter()
        .find(|(_, v)| v.0 == [crate::plan::Part::Instance])
        .map(|(k, _)| k.clone())
        .unwrap_or_else(|| "NODE_APP_INSTANCE".into())
}

/// The port the app listens on (`port`, else `env.PORT`, as the model read it).
fn port(spec: &ServiceSpec) -> Option<u16> {
    spec.env
        .get("PORT")
        .and_then(|w| w.as_text())
        .and_then(|p| p.parse().ok())
        .filter(|&p| p > 0)
}

/// The app's environment as the container sees it: a ConfigMap's worth, and a Secret's of the
/// variables that look secret (names like `*_TOKEN`, URLs with credentials).
#[derive(Clone, Debug, Default)]
pub(super) struct Env {
    pub plain: BTreeMap<String, String>,
    pub secret: BTreeMap<String, String>,
}

impl Env {
    fn of(plan: &Plan, spec: &ServiceSpec, paths: &ImagePaths) -> Result<Env, RenderError> {
        let mut env = Env::default();
        for (key, word) in &spec.env {
            if let Some(value) = env_value(plan, spec, paths, key, word)? {
                if looks_secret(key, &value) {
                    env.secret.insert(key.clone(), value);
                } else {
                    env.plain.insert(key.clone(), value);
                }
            }
        }
        Ok(env)
    }

    /// An environment's changes, each kept where the base env has the variable, so one
    /// source holds it whichever overlay is applied.
    fn overlay(
        &self,
        plan: &Plan,
        spec: &ServiceSpec,
        paths: &ImagePaths,
        vars: &BTreeMap<String, crate::plan::Word>,
        warnings: &mut Vec<Warning>,
    ) -> Result<Env, RenderError> {
        let mut env = Env::default();
        for (key, word) in vars {
            let Some(value) = env_value(plan, spec, paths, key, word)? else {
                continue;
            };
            if key == "PORT" {
                warnings.push(Warning {
                    kind: WarningKind::OverlayPort,
                    origin: spec.origin_of("env"),
                    message: format!(
                        "an environment of `{}` sets PORT={value}: its overlay changes the variable, the Service keeps port {}",
                        spec.app,
                        port(spec).map(|p| p.to_string()).unwrap_or_else(|| "none".into())
                    ),
                });
            }
            let secret = !self.plain.contains_key(key)
                && (self.secret.contains_key(key) || looks_secret(key, &value));
            if secret {
                env.secret.insert(key.clone(), value);
            } else {
                env.plain.insert(key.clone(), value);
            }
        }
        Ok(env)
    }

    /// Changes whenever a plain value or the set of variables does, so the pods roll when
    /// the env changes (Kubernetes does not restart pods when their `envFrom` sources change).
    /// Secret values stay out of it: anyone who can read the Deployment could test guesses of
    /// a weak password against the digest. `over`: an overlay's changes.
    pub fn digest(&self, over: &Env) -> String {
        let mut plain: BTreeMap<&String, &String> = self.plain.iter().collect();
        plain.extend(over.plain.iter());
        let secret_names: BTreeSet<&String> =
            self.secret.keys().chain(over.secret.keys()).collect();
        let mut hash = Sha256::new();
        for (k, v) in plain {
            hash.update(k.as_bytes());
            hash.update([0]);
            hash.update(v.as_bytes());
            hash.update([0]);
        }
        for k in secret_names {
            hash.update(k.as_bytes());
            hash.update([1]);
        }
        hash.finalize()
            .iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// A variable's value in the container; `None` for a PATH that needs nothing of the app's.
fn env_value(
    plan: &Plan,
    spec: &ServiceSpec,
    paths: &ImagePaths,
    key: &str,
    word: &crate::plan::Word,
) -> Result<Option<String>, RenderError> {
    if !names::is_env_key(key) {
        return Err(refuse(
            spec.origin_of("env"),
            format!("Kubernetes cannot pass the environment variable `{key}`"),
            "ConfigMap and Secret keys are letters, digits, `-`, `_` and `.`; rename it",
        ));
    }
    // One pod template serves every replica: instance parts are 0 (see `replicas`).
    let value = word.for_instance(Some(0));
    Ok(if key == "PATH" {
        paths.path_variable(&value, plan.target.capabilities().base_path)
    } else {
        Some(paths.value(&value))
    })
}

fn workload_kind(spec: &ServiceSpec) -> &'static str {
    match (&spec.restart.mode, &spec.cron) {
        (RestartMode::Always, _) => "Deployment",
        (RestartMode::Never, None) => "Job",
        (RestartMode::Never, Some(_)) => "CronJob",
    }
}

fn container(
    n: &Names<'_>,
    paths: &ImagePaths,
    env: &Env,
    overlays: &BTreeMap<String, Env>,
    warnings: &mut Vec<Warning>,
) -> Result<(Container, BTreeSet<String>), RenderError> {
    let spec = n.spec;
    let argv: Vec<String> = spec.argv.iter().map(|w| w.for_instance(Some(0))).collect();
    let (options, app_command) = shim_args::split(&argv);
    let Some((program, args)) = app_command.split_first() else {
        return Err(refuse(
            spec.origin_of("script"),
            "no command to run (a bug in rgen: Kubernetes apps always run behind rgen-shim)",
            "report it with the ecosystem file",
        ));
    };
    let mut command = vec![argv[0].clone()];
    command.extend(options.iter().cloned());
    command.push(crate::shim_protocol::END_OF_OPTIONS.into());
    let image_program = paths.program(program);
    let mut programs = BTreeSet::new();
    let mut notes = Vec::new();
    // A venv in the directory still runs the image's python (its `python` is a link to it).
    let base_name = std::path::Path::new(program)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if image_program.len() == 1 && base_name.starts_with("python") {
        programs.insert("python3".to_string());
    }
    if image_program.len() == 2 {
        programs.insert(image_program[1].clone());
        notes.push(format!(
            "runs `{}` from the image's PATH (here: {program})",
            image_program[1]
        ));
    }
    command.extend(image_program);
    command.extend(args.iter().map(|a| paths.value(a)));
    let kept: Vec<&String> = args.iter().filter(|a| paths.outside(a)).collect();
    if !kept.is_empty() {
        notes.push(format!(
            "keeps {} as written",
            kept.iter()
                .map(|a| format!("`{a}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let cwd = spec.cwd.to_string_lossy().into_owned();
    let working_dir = paths.in_image(&cwd).unwrap_or_else(|| {
        notes.push(format!("works in `{cwd}`, outside the image's /app"));
        cwd.clone()
    });
    if !notes.is_empty() {
        warnings.push(Warning {
            kind: WarningKind::ContainerPaths,
            origin: spec.origin_of("script"),
            message: format!(
                "`script`/`exec_interpreter`: in its container `{}` {}",
                spec.app,
                notes.join("; ")
            ),
        });
    }
    // A source only an overlay creates is optional in the base.
    let overlay_plain = overlays.values().any(|o| !o.plain.is_empty());
    let overlay_secret = overlays.values().any(|o| !o.secret.is_empty());
    let optional = |in_base: bool| (!in_base).then_some(true);
    let env_from: Vec<EnvFromSource> = [
        (!env.plain.is_empty() || overlay_plain).then(|| EnvFromSource {
            config_map_ref: Some(ConfigMapEnvSource {
                name: names::env_name(&n.name),
                optional: optional(!env.plain.is_empty()),
            }),
            ..EnvFromSource::default()
        }),
        (!env.secret.is_empty() || overlay_secret).then(|| EnvFromSource {
            secret_ref: Some(SecretEnvSource {
                name: names::env_name(&n.name),
                optional: optional(!env.secret.is_empty()),
            }),
            ..EnvFromSource::default()
        }),
    ]
    .into_iter()
    .flatten()
    .collect();
    let explicit_image = n.plan.target.kubernetes.image.is_some();
    Ok((
        Container {
            name: n.name.clone(),
            image: Some(image(n.plan)),
            // The placeholder image is built on the node's side (`kind load`, a local registry).
            image_pull_policy: (!explicit_image).then(|| "IfNotPresent".into()),
            command: Some(command),
            working_dir: Some(working_dir),
            env_from: (!env_from.is_empty()).then_some(env_from),
            ports: port(spec).map(|p| {
                vec![ContainerPort {
                    container_port: i32::from(p),
                    protocol: Some("TCP".into()),
                    ..ContainerPort::default()
                }]
            }),
            readiness_probe: Some(objects::readiness_probe()),
            resources: spec.memory_max.map(|bytes| ResourceRequirements {
                limits: Some(BTreeMap::from([(
                    "memory".to_string(),
                    objects::memory(bytes),
                )])),
                ..ResourceRequirements::default()
            }),
            volume_mounts: Some(vec![objects::run_volume_mount()]),
            ..Container::default()
        },
        programs,
    ))
}

/// `securityContext` from `uid`/`gid`, which a pod can only give as numbers.
fn security_context(spec: &ServiceSpec) -> Result<Option<PodSecurityContext>, RenderError> {
    let number = |value: &Option<String>,
                  key: &str,
                  what: &str|
     -> Result<Option<i64>, RenderError> {
        match value {
            None => Ok(None),
            Some(v) => v.parse::<i64>().map(Some).map_err(|_| {
                refuse(
                    spec.origin_of(key),
                    format!("Kubernetes runs containers as a numeric {what}, and `{v}` is a name"),
                    format!("write the number `{v}` has in the image (`id` inside it), e.g. `{key}: 1000`"),
                )
            }),
        }
    };
    let user = number(&spec.user, "uid", "user id")?;
    let group = number(&spec.group, "gid", "group id")?;
    Ok(
        (user.is_some() || group.is_some()).then(|| PodSecurityContext {
            run_as_user: user,
            run_as_group: group,
            ..PodSecurityContext::default()
        }),
    )
}

/// Deployment, Job or CronJob, as `autorestart` and `cron_restart` say.
fn workload(
    n: &Names<'_>,
    container: Container,
    replicas: i32,
    pod_annotations: BTreeMap<String, String>,
    warnings: &mut Vec<Warning>,
) -> Result<String, RenderError> {
    let spec = n.spec;
    let runs_once = spec.restart.mode == RestartMode::Never;
    let mut pod_spec = objects::pod_spec(container, runs_once.then_some("Never"));
    // The shim gets the stop signal first and SIGKILLs the app after `kill_timeout`; the
    // kubelet's own SIGKILL comes after the margin the plan added.
    pod_spec.termination_grace_period_seconds =
        Some(i64::try_from(spec.stop.timeout_ms.div_ceil(1000)).unwrap_or(i64::MAX));
    pod_spec.security_context = security_context(spec)?;
    let template = objects::pod(n.labels("app"), pod_annotations, pod_spec);
    let suspended = (!spec.autostart).then_some(true);
    if !runs_once {
        let deployment = Deployment {
            metadata: n.meta(&n.name, "app"),
            spec: Some(DeploymentSpec {
                replicas: Some(if spec.autostart { replicas } else { 0 }),
                selector: LabelSelector {
                    match_labels: Some(n.selector()),
                    ..LabelSelector::default()
                },
                strategy: Some(DeploymentStrategy {
                    type_: Some("RollingUpdate".into()),
                    rolling_update: Some(RollingUpdateDeployment {
                        max_surge: Some(IntOrString::Int(1)),
                        max_unavailable: Some(IntOrString::Int(0)),
                    }),
                }),
                template,
                ..DeploymentSpec::default()
            }),
            ..Deployment::default()
        };
        return document(&deployment, &spec.origin);
    }
    let job_spec = JobSpec {
        parallelism: Some(replicas),
        completions: Some(replicas),
        // PM2 leaves an app with `autorestart: false` down after it exits.
        backoff_limit: Some(0),
        template,
        ..JobSpec::default()
    };
    let Some(schedule) = &spec.cron else {
        let job = Job {
            metadata: n.meta(&n.name, "app"),
            spec: Some(JobSpec {
                suspend: suspended,
                ..job_spec
            }),
            ..Job::default()
        };
        return document(&job, &spec.origin);
    };
    check_cronjob_name(n, &n.name)?;
    let cron_job = CronJob {
        metadata: n.meta(&n.name, "app"),
        spec: Some(CronJobSpec {
            schedule: cron_schedule(spec, &schedule.schedule, warnings)?,
            // PM2's cron restart stops a run that is still going and starts a new one.
            concurrency_policy: Some("Replace".into()),
            suspend: suspended,
            job_template: JobTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(n.labels("app")),
                    ..ObjectMeta::default()
                }),
                spec: Some(job_spec),
            },
            ..CronJobSpec::default()
        }),
        ..CronJob::default()
    };
    document(&cron_job, &spec.origin)
}

fn cron_schedule(
    spec: &ServiceSpec,
    schedule: &crate::model::cron::CronSchedule,
    warnings: &mut Vec<Warning>,
) -> Result<String, RenderError> {
    if let Some(limit) = cron::limits(schedule) {
        warnings.push(Warning {
            kind: WarningKind::KubernetesCron,
            origin: spec.origin_of("cron_restart"),
            message: limit,
        });
    }
    cron::schedule(schedule).map_err(|why| {
        refuse(
            spec.origin_of("cron_restart"),
            why,
            "write the days explicitly (`0 0 28-31 * *` runs on each of the last days), or restart from a schedule of your own",
        )
    })
}

fn check_cronjob_name(n: &Names<'_>, name: &str) -> Result<(), RenderError> {
    if name.len() > names::CRONJOB_NAME_MAX {
        return Err(refuse(
            n.spec.origin_of("name"),
            format!(
                "the CronJob `{name}` would have {} characters; Kubernetes allows {}",
                name.len(),
                names::CRONJOB_NAME_MAX
            ),
            "use a shorter app name",
        ));
    }
    Ok(())
}

pub(super) fn config_map(n: &Names<'_>, data: BTreeMap<String, String>) -> ConfigMap {
    ConfigMap {
        metadata: n.meta(&names::env_name(&n.name), "env"),
        data: Some(data),
        ..ConfigMap::default()
    }
}

pub(super) fn secret(n: &Names<'_>, data: BTreeMap<String, String>) -> Secret {
    Secret {
        metadata: n.meta(&names::env_name(&n.name), "env"),
        type_: Some("Opaque".into()),
        string_data: Some(data),
        ..Secret::default()
    }
}

/// The port, spread over the app's pods; in cluster mode this is what shares it.
fn service(n: &Names<'_>, port: u16) -> Service {
    Service {
        metadata: n.meta(&n.name, "app"),
        spec: Some(ServiceObjectSpec {
            selector: Some(n.selector()),
            ports: Some(vec![ServicePort {
                port: i32::from(port),
                target_port: Some(IntOrString::Int(i32::from(port))),
                protocol: Some("TCP".into()),
                ..ServicePort::default()
            }]),
            ..ServiceObjectSpec::default()
        }),
        ..Service::default()
    }
}

/// `cron_restart` of a Deployment: what Kubernetes can do is roll it (`kubectl rollout
/// restart`: new pods, ready before the old ones stop), from a CronJob whose ServiceAccount may
/// read and patch this one Deployment and nothing else.
fn cron_restart(n: &Names<'_>, warnings: &mut Vec<Warning>) -> Result<Vec<String>, RenderError> {
    let spec = n.spec;
    let name = names::cron_restart_name(&n.name);
    check_cronjob_name(n, &name)?;
    let Some(schedule) = &spec.cron else {
        return Ok(Vec::new());
    };
    let schedule = cron_schedule(spec, &schedule.schedule, warnings)?;
    let role = "cron-restart";
    let account = ServiceAccount {
        metadata: n.meta(&name, role),
        ..ServiceAccount::default()
    };
    let rbac_role = Role {
        metadata: n.meta(&name, role),
        rules: Some(vec![PolicyRule {
            api_groups: Some(vec!["apps".into()]),
            resources: Some(vec!["deployments".into()]),
            resource_names: Some(vec![n.name.clone()]),
            verbs: vec!["get".into(), "patch".into()],
            ..PolicyRule::default()
        }]),
    };
    let binding = RoleBinding {
        metadata: n.meta(&name, role),
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "Role".into(),
            name: name.clone(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name: name.clone(),
            namespace: n.namespace.map(str::to_string),
            ..Subject::default()
        }]),
    };
    let mut pod_spec = objects::pod_spec(
        Container {
            name: "kubectl".into(),
            image: Some(objects::KUBECTL_IMAGE.into()),
            args: Some(vec![
                "rollout".into(),
                "restart".into(),
                format!("deployment/{}", n.name),
            ]),
            ..Container::default()
        },
        Some("Never"),
    );
    pod_spec.service_account_name = Some(name.clone());
    let cron_job = CronJob {
        metadata: n.meta(&name, role),
        spec: Some(CronJobSpec {
            schedule,
            concurrency_policy: Some("Forbid".into()),
            job_template: JobTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(n.labels(role)),
                    ..ObjectMeta::default()
                }),
                spec: Some(JobSpec {
                    backoff_limit: Some(2),
                    template: objects::pod(n.labels(role), BTreeMap::new(), pod_spec),
                    ..JobSpec::default()
                }),
            },
            ..CronJobSpec::default()
        }),
        ..CronJob::default()
    };
    Ok(vec![
        document(&account, &spec.origin)?,
        document(&rbac_role, &spec.origin)?,
        document(&binding, &spec.origin)?,
        document(&cron_job, &spec.origin)?,
    ])
}
