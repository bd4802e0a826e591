//! `ServiceSpec` → unit files, through the askama templates in `templates/systemd/`. The templates
//! only place values; every value is escaped here by `escape`. Pure.

use askama::Template;

use super::{calendar, envfile, escape, names};
use crate::apply::RenderedFile;
use crate::apply::inventory::{Role, Trigger};
use crate::backend::{MARKER_PREFIX, RenderError, header_lines};
use crate::plan::{LogDest, Plan, Readiness, RestartMode, Sandbox, ServiceSpec, Word};
use crate::target::{Backend, Sandboxing, Scope};

#[derive(Template)]
#[template(path = "systemd/app.service", escape = "none")]
struct ServiceUnit {
    header: String,
    description: String,
    source_path: String,
    group_target: String,
    after: Vec<String>,
    requires: Vec<String>,
    start_limit_interval: String,
    start_limit_burst: Option<u32>,
    markers: Vec<(String, String)>,
    service_type: &'static str,
    notify_access: Option<&'static str>,
    exec_start: String,
    working_directory: String,
    environment_file: Option<String>,
    environment: Vec<String>,
    user: Option<String>,
    group: Option<String>,
    sockets: Option<String>,
    restart: &'static str,
    restart_sec: String,
    restart_steps: Option<u32>,
    restart_max_delay: Option<String>,
    restart_prevent: Option<String>,
    timeout_start: Option<String>,
    kill_signal: String,
    kill_mode: &'static str,
    timeout_stop: String,
    memory_max: Option<String>,
    standard_output: Option<String>,
    standard_error: Option<String>,
    syslog_identifier: String,
    /// The strict hardening profile's directives, in order.
    sandbox: Vec<(&'static str, String)>,
}

#[derive(Template)]
#[template(path = "systemd/app.socket", escape = "none")]
struct SocketUnit {
    header: String,
    description: String,
    source_path: String,
    group_target: String,
    markers: Vec<(String, String)>,
    listen: String,
    service: String,
}

#[derive(Template)]
#[template(path = "systemd/group.target", escape = "none")]
struct GroupTarget {
    header: String,
    description: String,
    source_path: String,
    markers: Vec<(String, String)>,
    wanted_by: &'static str,
}

#[derive(Template)]
#[template(path = "systemd/trigger.timer", escape = "none")]
struct TimerUnit {
    header: String,
    description: String,
    source_path: String,
    group_target: String,
    markers: Vec<(String, String)>,
    on_calendar: Vec<String>,
}

#[derive(Template)]
#[template(path = "systemd/trigger.path", escape = "none")]
struct PathUnit {
    header: String,
    description: String,
    source_path: String,
    group_target: String,
    markers: Vec<(String, String)>,
    paths: Vec<String>,
}

#[derive(Template)]
#[template(path = "systemd/restart.service", escape = "none")]
struct RestartUnit {
    header: String,
    description: String,
    source_path: String,
    markers: Vec<(String, String)>,
    delay: Option<String>,
    exec_start: String,
}

/// A template rendered into a file (askama drops the template's final newline; units end with one).
fn rendered(
    name: String,
    app: Option<&str>,
    template: &impl Template,
) -> Result<RenderedFile, RenderError> {
    Ok(RenderedFile::public(
        name,
        app,
        template.render().map_err(RenderError::template)? + "\n",
    ))
}

fn service_file_name(spec: &ServiceSpec) -> String {
    names::service_file(&spec.unit, spec.instances.is_some())
}

fn service_units(spec: &ServiceSpec) -> Vec<String> {
    names::runtime_services(
        &service_file_name(spec),
        spec.instances.as_ref().map(|i| i.count),
    )
}

/// The key a value rendered as `what` comes from, for the error's origin.
fn key_of(what: &str) -> Option<&'static str> {
    Some(match what {
        "the app name" | "the description" | "the name" => "name",
        "the namespace" => "namespace",
        "the working directory" => "cwd",
        "the user" => "uid",
        "the group" => "gid",
        "the out_file" => "out_file",
        "the error_file" => "error_file",
        "a watched path" => "watch",
        "a program" => "script",
        _ => return None,
    })
}

fn unwritable(what: &str, shown: &str, spec: Option<&ServiceSpec>) -> RenderError {
    RenderError {
        origin: spec.map(|s| match key_of(what) {
            Some(key) => s.origin_of(key),
            None => s.origin.clone(),
        }),
        message: format!(
            "{what} {shown:?} has a control character, surrounding spaces or a trailing backslash, which a unit file line cannot hold"
        ),
        hint: Some("remove them from the value".into()),
    }
}

fn lit(text: &str, what: &str, spec: Option<&ServiceSpec>) -> Result<String, RenderError> {
    escape::literal_text(text).ok_or_else(|| unwritable(what, text, spec))
}

fn lit_word(word: &Word, what: &str, spec: &ServiceSpec) -> Result<String, RenderError> {
    escape::literal(word).ok_or_else(|| unwritable(what, &word.for_instance(None), Some(spec)))
}

fn markers(
    plan: &Plan,
    spec: Option<&ServiceSpec>,
    role: Role,
) -> Result<Vec<(String, String)>, RenderError> {
    let mut out = vec![(
        format!("{MARKER_PREFIX}Role"),
        super::readback::role_word(role).to_string(),
    )];
    if let Some(spec) = spec {
        out.push((
            format!("{MARKER_PREFIX}App"),
            lit(&spec.app, "the app name", Some(spec))?,
        ));
    }
    out.push((format!("{MARKER_PREFIX}Group"), plan.group.clone()));
    if let Some(env) = &plan.env_name {
        out.push((
            format!("{MARKER_PREFIX}Env"),
            lit(env, "the env name", spec)?,
        ));
    }
    if let Some(spec) = spec {
        if spec.namespace != "default" {
            out.push((
                format!("{MARKER_PREFIX}Namespace"),
                lit(&spec.namespace, "the namespace", Some(spec))?,
            ));
        }
        if let Some(i) = &spec.instances {
            out.push((format!("{MARKER_PREFIX}Instances"), i.count.to_string()));
        }
        if let Some(definition) = &spec.definition {
            out.push((
                format!("{MARKER_PREFIX}Definition"),
                lit(definition, "the app's definition", Some(spec))?,
            ));
        }
    }
    Ok(out)
}

/// An app's environment file and where its unit finds it.
struct EnvFile {
    path: String,
    file: RenderedFile,
}

fn environment_file(plan: &Plan, spec: &ServiceSpec) -> Result<Option<EnvFile>, RenderError> {
    let vars: Vec<(&str, &str)> = spec
        .env
        .iter()
        .filter_map(|(k, v)| v.as_text().map(|t| (k.as_str(), t)))
        .collect();
    if vars.is_empty() {
        return Ok(None);
    }
    let name = names::env_file(&spec.unit);
    let mut file_markers = markers(plan, Some(spec), Role::Environment)?;
    file_markers.retain(|(k, _)| !k.ends_with("Instances"));
    let contents = envfile::render(&header_lines(&plan.source), &file_markers, &vars);
    let path = super::unit_dir(&plan.target).join(&name);
    Ok(Some(EnvFile {
        path: path.to_string_lossy().into_owned(),
        file: RenderedFile::secret(name, Some(&spec.app), contents),
    }))
}

/// systemd refuses to load a unit with a line of 1 MiB or more (`LONG_LINE_MAX`).
const LONG_LINE_MAX: usize = 1 << 20;

/// A line systemd would refuse, attributed to the key that made it long.
fn check_lines(file: &RenderedFile, spec: &ServiceSpec) -> Result<(), RenderError> {
    let Some(line) = file.contents.lines().find(|l| l.len() >= LONG_LINE_MAX) else {
        return Ok(());
    };
    let key = if line.starts_with("ExecStart=") {
        "args"
    } else if line.starts_with("Environment=") {
        "env"
    } else {
        "name"
    };
    Err(RenderError {
        origin: Some(spec.origin_of(key)),
        message: format!(
            "{} would hold a line of {} bytes; systemd refuses unit lines of 1 MiB or more",
            file.name,
            line.len()
        ),
        hint: Some("pass large data in a file rather than on the command line".into()),
    })
}

/// The strict hardening profile (`hardening: 'strict'`). Each directive is one the app keeps
/// working under: Node's JIT needs writable executable memory (so no `MemoryDenyWriteExecute=`),
/// `os.cpus()` reads /proc/stat (so no `ProcSubset=pid`), apps talk to any address (so no
/// `PrivateNetwork=`, `IPAddressDeny=`), and apps of one user may share IPC objects (so no
/// `RemoveIPC=`). `PrivateUsers=` is left out too: it would take the capabilities rgen keeps for
/// a low port and hide other users' files' owners.
fn sandbox_directives(
    sandbox: &Sandbox,
    spec: &ServiceSpec,
) -> Result<Vec<(&'static str, String)>, RenderError> {
    let mut out: Vec<(&'static str, String)> = Vec::new();
    let mut set = |key: &'static str, value: &str| out.push((key, value.to_string()));
    if sandbox.extent == Sandboxing::Full {
        // Read-only everywhere but where the app writes; bound rather than `ReadWritePaths=`
        // because an app under /tmp or /var/tmp would otherwise vanish behind `PrivateTmp=`.
        set("ProtectSystem", "strict");
        set("ProtectHome", "read-only");
        for dir in &sandbox.writable {
            let shown = dir.to_string_lossy();
            let what = if dir == &spec.cwd {
                "the working directory"
            } else {
                "a log directory"
            };
            let bound =
                escape::bind_path(&shown).ok_or_else(|| unwritable(what, &shown, Some(spec)))?;
            set("BindPaths", &bound);
        }
        for file in &sandbox.readable {
            let shown = file.to_string_lossy();
            // `-`: a path only named on the command line may not exist; that is the app's
            // business, not a reason for the unit to fail.
            let bound = escape::bind_path(&format!("-{shown}"))
                .ok_or_else(|| unwritable("a program", &shown, Some(spec)))?;
            set("BindReadOnlyPaths", &bound);
        }
        set("PrivateTmp", "yes");
        set("PrivateDevices", "yes");
        set("PrivateMounts", "yes");
        if sandbox.shim_runtime_dir {
            // The shim's backoff state must outlive a restart; the private /tmp does not.
            set("RuntimeDirectory", "rgen/%N");
            set("RuntimeDirectoryMode", "0700");
            set("RuntimeDirectoryPreserve", "restart");
        }
        set("ProtectKernelTunables", "yes");
        set("ProtectKernelModules", "yes");
        set("ProtectKernelLogs", "yes");
        set("ProtectControlGroups", "yes");
        set("ProtectClock", "yes");
        set("ProtectHostname", "yes");
        set("ProtectProc", "invisible");
        if sandbox.binds_low_port {
            set("CapabilityBoundingSet", "CAP_NET_BIND_SERVICE");
            set("AmbientCapabilities", "CAP_NET_BIND_SERVICE");
        } else {
            set("CapabilityBoundingSet", "");
        }
    }
    // Seccomp and no_new_privs need no privileges: a user manager applies these too.
    set("NoNewPrivileges", "yes");
    set("RestrictNamespaces", "yes");
    set("RestrictRealtime", "yes");
    set("RestrictSUIDSGID", "yes");
    set("LockPersonality", "yes");
    // Netlink: `os.networkInterfaces()` and getifaddrs(3).
    set(
        "RestrictAddressFamilies",
        "AF_UNIX AF_INET AF_INET6 AF_NETLINK",
    );
    set("SystemCallArchitectures", "native");
    set("SystemCallFilter", "@system-service");
    set("SystemCallFilter", "~@privileged @resources");
    // A filtered call fails instead of killing the app with SIGSYS.
    set("SystemCallErrorNumber", "EPERM");
    set("UMask", "0027");
    Ok(out)
}

pub fn render(plan: &Plan) -> Result<Vec<RenderedFile>, RenderError> {
    debug_assert_eq!(plan.target.backend, Backend::Systemd);
    let source = lit(&plan.source.to_string_lossy(), "the ecosystem path", None)?;
    let header = header_lines(&plan.source)
        .iter()
        .map(|l| format!("# {l}"))
        .collect::<Vec<_>>()
        .join("\n");
    let group_target = names::group_target(&plan.group);
    let mut files = Vec::new();

    let mut target_markers = markers(plan, None, Role::Group)?;
    target_markers.push((
        format!("{MARKER_PREFIX}SourceHash"),
        plan.source_hash.clone(),
    ));
    // Installed with `--hardening strict`: `status` compiles the file again the same way.
    if plan.target.strict_hardening {
        target_markers.push((format!("{MARKER_PREFIX}Hardening"), "strict".into()));
    }
    files.push(rendered(
        group_target.clone(),
        None,
        &GroupTarget {
            header: header.clone(),
            description: lit(
                &format!("Apps of {} (rgen)", plan.group),
                "the description",
                None,
            )?,
            source_path: source.clone(),
            markers: target_markers,
            wanted_by: match plan.target.scope {
                Scope::System => "multi-user.target",
                Scope::User => "default.target",
            },
        },
    )?);

    for spec in &plan.services {
        let app_files = render_app(plan, spec, &header, &source, &group_target)?;
        for f in &app_files {
            check_lines(f, spec)?;
        }
        files.extend(app_files);
    }
    Ok(files)
}

fn render_app(
    plan: &Plan,
    spec: &ServiceSpec,
    header: &str,
    source: &str,
    group_target: &str,
) -> Result<Vec<RenderedFile>, RenderError> {
    let mut files = Vec::new();
    let app_markers = markers(plan, Some(spec), Role::App)?;
    let env_file = environment_file(plan, spec)?;
    let service_name = service_file_name(spec);
    let socket = spec.socket.as_ref().map(|_| names::socket(&spec.unit));

    let mut after = Vec::new();
    let mut requires = Vec::new();
    if plan.target.scope == Scope::System {
        after.push("network.target".to_string());
    }
    if let Some(s) = &socket {
        after.push(s.clone());
        requires.push(s.clone());
    }

    let log = |dest: &LogDest, what: &str| -> Result<Option<String>, RenderError> {
        Ok(match dest {
            LogDest::Journal => None,
            LogDest::Null => Some("null".into()),
            LogDest::File(w) => Some(format!("append:{}", lit_word(w, what, spec)?)),
        })
    };
    let restart = &spec.restart;
    let native_backoff = restart.backoff.as_ref().filter(|b| !b.via_shim);
    let unit = ServiceUnit {
        header: header.to_string(),
        description: lit(&spec.description, "the description", Some(spec))?,
        source_path: source.to_string(),
        group_target: group_target.to_string(),
        after,
        requires,
        start_limit_interval: restart
            .start_limit
            .map(|(interval, _)| escape::timespan_ms(interval))
            .unwrap_or_else(|| "0".into()),
        start_limit_burst: restart.start_limit.map(|(_, burst)| burst),
        markers: app_markers,
        service_type: match spec.readiness {
            Readiness::Started => "exec",
            Readiness::Notify { .. } => "notify",
        },
        // The shim (the main process) is the one that reports readiness; strict units take
        // notifications from it alone.
        notify_access: matches!(spec.readiness, Readiness::Notify { .. }).then_some(
            if spec.sandbox.is_some() {
                "main"
            } else {
                "all"
            },
        ),
        exec_start: escape::exec_line(&spec.argv),
        working_directory: lit(
            &spec.cwd.to_string_lossy(),
            "the working directory",
            Some(spec),
        )?,
        environment_file: env_file
            .as_ref()
            .map(|f| lit(&f.path, "the environment file", Some(spec)))
            .transpose()?,
        // Only what differs per instance stays in the unit (env files know no `%i`).
        environment: spec
            .env
            .iter()
            .filter(|(_, v)| v.as_text().is_none())
            .map(|(k, v)| escape::env_assignment(k, v))
            .collect(),
        user: spec
            .user
            .as_deref()
            .map(|u| lit(u, "the user", Some(spec)))
            .transpose()?,
        group: spec
            .group
            .as_deref()
            .map(|g| lit(g, "the group", Some(spec)))
            .transpose()?,
        sockets: socket.clone(),
        restart: match restart.mode {
            RestartMode::Always => "always",
            RestartMode::Never => "no",
        },
        restart_sec: escape::timespan_ms(match native_backoff {
            Some(b) => b.initial_ms,
            None => restart.delay_ms,
        }),
        restart_steps: native_backoff.map(|b| b.steps),
        restart_max_delay: native_backoff.map(|b| escape::timespan_ms(b.max_ms)),
        restart_prevent: (!restart.prevent_exit_codes.is_empty()).then(|| {
            restart
                .prevent_exit_codes
                .iter()
                .map(|c| c.to_string())
                .collect::<Vec<_>>()
                .join(" ")
        }),
        timeout_start: match spec.readiness {
            Readiness::Notify { timeout_ms } => Some(escape::timespan_ms(timeout_ms)),
            Readiness::Started => None,
        },
        kill_signal: spec.stop.signal.clone(),
        kill_mode: if spec.stop.tree {
            "control-group"
        } else {
            "mixed"
        },
        timeout_stop: escape::timespan_ms(spec.stop.timeout_ms),
        memory_max: spec.memory_max.map(escape::bytes),
        standard_output: log(&spec.logs.stdout, "the out_file")?,
        standard_error: log(&spec.logs.stderr, "the error_file")?,
        syslog_identifier: lit(&spec.unit, "the name", Some(spec))?,
        sandbox: match &spec.sandbox {
            Some(sandbox) => sandbox_directives(sandbox, spec)?,
            None => Vec::new(),
        },
    };
    files.push(rendered(service_name, Some(&spec.app), &unit)?);
    if let Some(f) = env_file {
        files.push(f.file);
    }

    if let (Some(name), Some(sock)) = (&socket, &spec.socket) {
        let first = service_units(spec).into_iter().next().unwrap_or_default();
        files.push(rendered(
            name.clone(),
            Some(&spec.app),
            &SocketUnit {
                header: header.to_string(),
                description: lit(
                    &format!("Listening socket of {}", spec.description),
                    "the description",
                    Some(spec),
                )?,
                source_path: source.to_string(),
                group_target: group_target.to_string(),
                markers: markers(plan, Some(spec), Role::Socket)?,
                listen: sock.port.to_string(),
                service: first,
            },
        )?);
    }

    let systemctl_restart = |spec: &ServiceSpec| -> Vec<Word> {
        let mut words = vec![Word::text("systemctl")];
        if plan.target.scope == Scope::User {
            words.push(Word::text("--user"));
        }
        words.push(Word::text("restart"));
        words.push(Word::text(names::restart_target(
            &spec.unit,
            spec.instances.is_some(),
        )));
        words
    };

    // The oneshot service a timer or path unit starts: `systemctl restart` of the app.
    let restart_service = |name: String, description: String, delay_ms: u64, trigger: Trigger| {
        rendered(
            name,
            Some(&spec.app),
            &RestartUnit {
                header: header.to_string(),
                description: lit(&description, "the description", Some(spec))?,
                source_path: source.to_string(),
                markers: markers(plan, Some(spec), Role::TriggerAction(trigger))?,
                delay: (delay_ms > 0).then(|| {
                    escape::exec_line(&[
                        Word::text("sleep"),
                        Word::text(format!("{:.3}", delay_ms as f64 / 1000.0)),
                    ])
                }),
                exec_start: escape::exec_line(&systemctl_restart(spec)),
            },
        )
    };

    if let Some(cron) = &spec.cron {
        let timer = names::cron_timer(&spec.unit);
        let service = names::cron_service(&spec.unit);
        let description = format!(
            "Restart {} on `{}` ({})",
            spec.app, cron.schedule.expr, cron.schedule.description
        );
        files.push(rendered(
            timer,
            Some(&spec.app),
            &TimerUnit {
                header: header.to_string(),
                description: lit(&description, "the description", Some(spec))?,
                source_path: source.to_string(),
                group_target: group_target.to_string(),
                markers: markers(plan, Some(spec), Role::Trigger(Trigger::CronRestart))?,
                on_calendar: calendar::on_calendar(&cron.schedule),
            },
        )?);
        files.push(restart_service(
            service,
            format!("Scheduled restart of {}", spec.app),
            0,
            Trigger::CronRestart,
        )?);
    }

    if let Some(watch) = &spec.watch {
        let path = names::watch_path(&spec.unit);
        let service = names::watch_service(&spec.unit);
        let paths = watch
            .dirs
            .iter()
            .map(|d| lit(&d.to_string_lossy(), "a watched path", Some(spec)))
            .collect::<Result<Vec<_>, _>>()?;
        files.push(rendered(
            path,
            Some(&spec.app),
            &PathUnit {
                header: header.to_string(),
                description: lit(
                    &format!("Restart {} when its files change", spec.app),
                    "the description",
                    Some(spec),
                )?,
                source_path: source.to_string(),
                group_target: group_target.to_string(),
                markers: markers(plan, Some(spec), Role::Trigger(Trigger::Watch))?,
                paths,
            },
        )?);
        files.push(restart_service(
            service,
            format!("Restart {} after a file change", spec.app),
            watch.delay_ms,
            Trigger::Watch,
        )?);
    }
    Ok(files)
}
