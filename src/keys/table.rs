//! The rows of the key table, sorted by name (a test checks it). The `env_<name>` pattern is
//! handled by `is_env_overlay`.

use super::{KeyGroup as G, KeySpec, Mapping, ShimNeed as N, Support, When};
use crate::diag::WarningKind as W;

const fn native(text: &'static str) -> Mapping {
    Mapping {
        support: Support::Native,
        text,
    }
}
const fn approx(kind: W, text: &'static str) -> Mapping {
    Mapping {
        support: Support::Approximated(kind, When::Always),
        text,
    }
}
const fn shim(need: N, text: &'static str) -> Mapping {
    Mapping {
        support: Support::Shim(need),
        text,
    }
}
const fn unsupported(why: &'static str) -> Mapping {
    Mapping {
        support: Support::Unsupported,
        text: why,
    }
}

/// A key systemd and launchd carry alike.
const fn key(
    name: &'static str,
    group: G,
    aliases: &'static [&'static str],
    both: Mapping,
    kubernetes: Mapping,
) -> KeySpec {
    KeySpec {
        name,
        group,
        aliases,
        systemd: both,
        launchd: both,
        kubernetes,
    }
}

const fn key2(
    name: &'static str,
    group: G,
    aliases: &'static [&'static str],
    systemd: Mapping,
    launchd: Mapping,
    kubernetes: Mapping,
) -> KeySpec {
    KeySpec {
        name,
        group,
        aliases,
        systemd,
        launchd,
        kubernetes,
    }
}

/// An approximation only some values need; the key's planner warns.
const fn approx_when(kind: W, text: &'static str) -> Mapping {
    Mapping {
        support: Support::Approximated(kind, When::Conditional),
        text,
    }
}

const PM2IO: &str =
    "PM2.io / APM instrumentation of the PM2 daemon; rgen has no daemon to instrument";

pub static KEYS: &[KeySpec] = &[
    key(
        "append_env_to_name",
        G::Identity,
        &[],
        native("with `--env NAME` the app is named `<name>-NAME` (unit and label follow)"),
        native("with `--env NAME` the objects are named `<name>-NAME`"),
    ),
    key(
        "args",
        G::Command,
        &[],
        native("appended to `ExecStart=` / `ProgramArguments`; a string is split like PM2 does"),
        native("appended to the container's `command`, after `rgen-shim … --`"),
    ),
    key(
        "automation",
        G::Ignored,
        &[],
        unsupported(PM2IO),
        unsupported(PM2IO),
    ),
    key2(
        "autorestart",
        G::Restart,
        &[],
        native("`Restart=always` (true) / `Restart=no` (false)"),
        shim(
            N::Restarts,
            "the shim restarts the app as PM2 does (false: `--max-restarts 0`); `KeepAlive` `{SuccessfulExit: false}` restarts only a shim that died",
        ),
        shim(
            N::Restarts,
            "true: the shim restarts the app inside the pod by PM2's rules (`--autorestart`); false: a `Job` that runs it once (`restartPolicy: Never`)",
        ),
    ),
    key2(
        "autostart",
        G::Startup,
        &[],
        native("false: installed but neither enabled nor started"),
        native(
            "false: installed but disabled (`launchctl disable`), so neither install nor a login starts it; `rgen start` enables it",
        ),
        native(
            "false: `replicas: 0` (a `Job` or `CronJob`: `suspend: true`); `kubectl scale --replicas=N` starts it",
        ),
    ),
    key2(
        "cron_restart",
        G::Schedule,
        &["cron"],
        native("`<app>-cron-restart.timer` (`OnCalendar=`) restarting the app"),
        native(
            "a `<label>.cron-restart` job with `StartCalendarInterval` sending the graceful restart signal (`launchctl kill SIGURG`); a time missed asleep fires once at wake",
        ),
        approx(
            W::KubernetesCron,
            "a `<name>-cron-restart` `CronJob` running `kubectl rollout restart` under a ServiceAccount whose Role may patch only this Deployment; with `autorestart: false` a `CronJob` that runs the app itself",
        ),
    ),
    key2(
        "cwd",
        G::Command,
        &[],
        native("`WorkingDirectory=` (absolute; default: the ecosystem file's directory)"),
        native("`WorkingDirectory` (absolute)"),
        native(
            "the container's `workingDir`: the image's `/app` mirrors the ecosystem file's directory",
        ),
    ),
    key(
        "deep_monitoring",
        G::Ignored,
        &[],
        unsupported(PM2IO),
        unsupported(PM2IO),
    ),
    key(
        "disable_logs",
        G::Logs,
        &[],
        native("`StandardOutput=null`, `StandardError=null` / no log paths"),
        native("the shim sends the app's output to `/dev/null`"),
    ),
    key(
        "disable_source_map_support",
        G::Ignored,
        &[],
        unsupported(
            "PM2 injects source-map-support into its own wrapper; add `--enable-source-maps` to `node_args` for Node's built-in support",
        ),
        unsupported(
            "PM2 injects source-map-support into its own wrapper; add `--enable-source-maps` to `node_args` for Node's built-in support",
        ),
    ),
    key(
        "disable_trace",
        G::Ignored,
        &[],
        unsupported(PM2IO),
        unsupported(PM2IO),
    ),
    key2(
        "env",
        G::Env,
        &[],
        native("`Environment=` (one quoted assignment per variable)"),
        native("`EnvironmentVariables`"),
        native(
            "a `<name>-env` ConfigMap (`envFrom`); secret-looking variables in a `<name>-env` Secret",
        ),
    ),
    key2(
        "error_file",
        G::Logs,
        &["error", "err", "err_file", "err_log"],
        native("`StandardError=append:<absolute path>`"),
        native("`StandardErrorPath` (absolute)"),
        approx(
            W::ContainerLogs,
            "not written: Kubernetes collects stderr (`kubectl logs`)",
        ),
    ),
    key(
        "event_loop_inspector",
        G::Ignored,
        &[],
        unsupported(PM2IO),
        unsupported(PM2IO),
    ),
    key2(
        "exec_interpreter",
        G::Command,
        &["interpreter"],
        native("first word of `ExecStart=` (resolved to an absolute path)"),
        native("`ProgramArguments[0]` (resolved to an absolute path)"),
        approx_when(
            W::ContainerPaths,
            "the program the shim runs: under the ecosystem file's directory the image's `/app/…`, elsewhere looked up by name on the image's PATH (`/usr/bin/env node`)",
        ),
    ),
    key2(
        "exec_mode",
        G::Instances,
        &[],
        native("cluster: `<app>@.service` instances sharing `<app>.socket`"),
        approx_when(
            W::LaunchdCluster,
            "cluster with a port is refused (launchd cannot share one port between jobs); without one, instances run side by side",
        ),
        native(
            "cluster: the instances are the Deployment's replicas and the port a `Service` spreading connections over them",
        ),
    ),
    key(
        "execute_command",
        G::Command,
        &[],
        native("forces fork mode, as in PM2"),
        native("forces fork mode, as in PM2"),
    ),
    key2(
        "exp_backoff_restart_delay",
        G::Restart,
        &[],
        approx_when(
            W::BackoffApproximated,
            "`RestartSteps=`/`RestartMaxDelaySec=15s` on systemd ≥ 254; the shim's PM2 curve on older systemd",
        ),
        shim(
            N::Backoff,
            "the shim sleeps PM2's ×1.5 curve (cap 15 s, reset after 30 s up) before starting the app",
        ),
        shim(
            N::Backoff,
            "the shim sleeps PM2's ×1.5 curve inside the pod (cap 15 s, reset after 30 s up)",
        ),
    ),
    key(
        "filter_env",
        G::Env,
        &[],
        native("always true in effect: services never inherit the shell's environment, only `env`"),
        native("always true in effect: the container gets only `env`"),
    ),
    key(
        "force",
        G::Ignored,
        &[],
        unsupported(
            "PM2 uses it to start a duplicate of a running script; a unit is unique by name",
        ),
        unsupported(
            "PM2 uses it to start a duplicate of a running script; a Deployment is unique by name",
        ),
    ),
    key2(
        "gid",
        G::User,
        &[],
        native("`Group=` (system scope only)"),
        native("`GroupName` (system scope only)"),
        native("`securityContext.runAsGroup` (a number; a group name is refused)"),
    ),
    key2(
        "hardening",
        G::Hardening,
        &[],
        native(
            "rgen extension (PM2 ignores it): `'strict'` (or `--hardening strict`) sandboxes the unit (see Hardening): read-only system and home (`ProtectSystem=strict`, `ProtectHome=read-only`), the app's cwd and log directories writable (`BindPaths=`), private /tmp and /dev, no capabilities, system-call filters; a user manager applies only `NoNewPrivileges=` and the filters",
        ),
        approx_when(
            W::HardeningLimited,
            "launchd has no sandboxing a job can ask for; ignored",
        ),
        approx_when(
            W::HardeningLimited,
            "not rendered: a pod's `securityContext` is the cluster's policy to set; ignored",
        ),
    ),
    key2(
        "ignore_watch",
        G::Schedule,
        &[],
        approx(W::WatchIsStatic, "directories matching are not watched"),
        approx(
            W::WatchIsStatic,
            "matching paths are not watched, and a change to only them restarts nothing",
        ),
        unsupported("a container's files come from its image: nothing is watched"),
    ),
    key2(
        "increment_var",
        G::Instances,
        &[],
        shim(
            N::IncrementVar,
            "the shim adds the instance number to the variable",
        ),
        shim(
            N::IncrementVar,
            "the shim adds the instance number to the variable",
        ),
        approx_when(
            W::ReplicasUnnumbered,
            "every replica gets the base value: each pod has its own IP, so all can listen on the same port",
        ),
    ),
    key(
        "install_url",
        G::Ignored,
        &[],
        unsupported("installs PM2 modules; not an app setting"),
        unsupported("installs PM2 modules; not an app setting"),
    ),
    key2(
        "instance_var",
        G::Instances,
        &[],
        native("`Environment=<var>=%i` in `<app>@.service`"),
        native("`EnvironmentVariables` of each instance"),
        approx_when(
            W::ReplicasUnnumbered,
            "0 in every replica: a Deployment's pods have no number",
        ),
    ),
    key2(
        "instances",
        G::Instances,
        &[],
        native(
            "`<app>@0.service` … `<app>@N-1.service` enabled (`max` = CPU count, negative = CPUs − n)",
        ),
        native("one job per instance, `<label>.<i>`"),
        native(
            "the Deployment's `replicas` (`max` and negative counts against `--cpus-per-node`, refused without it)",
        ),
    ),
    key(
        "io",
        G::Ignored,
        &[],
        unsupported(PM2IO),
        unsupported(PM2IO),
    ),
    key2(
        "kill_retry_time",
        G::Stop,
        &[],
        native("not needed: the manager is told when the app exits instead of polling"),
        native("not needed: the shim is told when the app exits instead of polling"),
        native("not needed: the shim is told when the app exits instead of polling"),
    ),
    key2(
        "kill_signal",
        G::Stop,
        &[],
        native(
            "`KillSignal=` (rgen extension, from Forever's `killSignal`; default SIGINT as PM2)",
        ),
        shim(
            N::StopSignal,
            "the shim sends it (launchd only sends SIGTERM)",
        ),
        shim(
            N::StopSignal,
            "the shim sends it when the kubelet sends SIGTERM",
        ),
    ),
    key2(
        "kill_timeout",
        G::Stop,
        &[],
        native("`TimeoutStopSec=` after `KillSignal=SIGINT`, then SIGKILL"),
        shim(
            N::StopSignal,
            "the shim sends SIGINT, SIGKILL after the timeout; `ExitTimeOut` as a backstop",
        ),
        shim(
            N::StopSignal,
            "the shim sends SIGINT, SIGKILL after the timeout; `terminationGracePeriodSeconds` is the timeout plus 2 s",
        ),
    ),
    key2(
        "listen_timeout",
        G::Readiness,
        &[],
        shim(
            N::Readiness,
            "the shim declares the app ready after this long without `ready`, as PM2 does",
        ),
        shim(
            N::Readiness,
            "the shim logs readiness after this long without `ready`",
        ),
        shim(
            N::Readiness,
            "the shim creates the ready file after this long without `ready`, as PM2 declares the app online",
        ),
    ),
    key2(
        "log_date_format",
        G::Logs,
        &[],
        native("the journal timestamps every line; with log files the shim prefixes the date"),
        shim(N::Logs, "the shim prefixes each line with the date"),
        approx(
            W::ContainerLogs,
            "not applied: `kubectl logs --timestamps` prefixes each line with the time it was collected",
        ),
    ),
    key2(
        "log_file",
        G::Logs,
        &["log"],
        approx_when(
            W::LogsCombined,
            "alone: `StandardOutput=`/`StandardError=append:` the same file; with out/err files the shim writes all three",
        ),
        approx_when(
            W::LogsCombined,
            "alone: `StandardOutPath` = `StandardErrorPath`; with out/err files the shim writes all three",
        ),
        approx(
            W::ContainerLogs,
            "not written: Kubernetes collects stdout and stderr (`kubectl logs`)",
        ),
    ),
    key(
        "log_rotate",
        G::Logs,
        &[],
        shim(
            N::Logs,
            "rgen extension; PM2 ignores it. pm2-logrotate's `max_size`, `retain`, `compress`, `dateFormat`, `rotateInterval`, `workerInterval` for this app (beside `apps`: for every app); the shim writes the log files and rotates them by rename, losing no line. Default: at 10M, 30 kept; `false`: never",
        ),
        native(
            "not needed: no log files are written; the kubelet rotates container logs (`containerLogMaxSize`, `containerLogMaxFiles`)",
        ),
    ),
    key(
        "log_type",
        G::Logs,
        &[],
        unsupported(
            "JSON log lines are PM2's format; the journal keeps structured records (`journalctl -o json`)",
        ),
        unsupported(
            "JSON log lines are PM2's format; a cluster's log collector keeps structured records",
        ),
    ),
    key2(
        "max_memory_restart",
        G::Memory,
        &[],
        approx(
            W::MemoryLimitIsHardKill,
            "`MemoryMax=` (binary units); the kernel kills the app at the limit and `Restart=` brings it back",
        ),
        shim(
            N::MemoryWatchdog,
            "the shim polls the app's memory every second and restarts it gracefully past the limit; on macOS the physical footprint (`ri_phys_footprint`: Activity Monitor's Memory, compressed memory included), elsewhere resident size",
        ),
        approx(
            W::MemoryLimitIsHardKill,
            "`resources.limits.memory` (binary units, also the request); the kernel kills the container at the limit and the kubelet starts it again",
        ),
    ),
    key2(
        "max_restarts",
        G::Restart,
        &[],
        approx_when(W::StartLimit, "`StartLimitBurst=` in `[Unit]`"),
        shim(
            N::Restarts,
            "the shim counts unstable restarts as PM2 does and leaves the app `errored` after this many",
        ),
        approx(
            W::ContainerRestarts,
            "the shim counts unstable restarts as PM2 does (`--max-restarts`); once errored it exits, and the kubelet starts the container again after its CrashLoopBackOff",
        ),
    ),
    key2(
        "merge_logs",
        G::Logs,
        &["combine_logs"],
        native("false in cluster mode: one log file per instance, `-<i>` before `.log`"),
        native("false in cluster mode: one log file per instance"),
        native("nothing to merge: every instance writes to its own container's stdout/stderr"),
    ),
    key2(
        "min_uptime",
        G::Restart,
        &[],
        approx_when(
            W::StartLimit,
            "`StartLimitIntervalSec=` = `min_uptime` × `max_restarts`",
        ),
        shim(
            N::Restarts,
            "a run shorter than this is unstable, for the shim's count, as in PM2",
        ),
        approx(
            W::ContainerRestarts,
            "the shim's `--min-uptime` (see `max_restarts`)",
        ),
    ),
    key2(
        "name",
        G::Identity,
        &[],
        native("unit name `<name>.service` (characters outside `A-Za-z0-9_.-` become `-`)"),
        native("`Label` `rgen.<name>`"),
        native(
            "`metadata.name` of the app's objects (lower-case, characters outside `a-z0-9-` become `-`) and label `app.kubernetes.io/name`",
        ),
    ),
    key(
        "name_prefix",
        G::Identity,
        &[],
        unsupported("PM2 only honours it from the command line"),
        unsupported("PM2 only honours it from the command line"),
    ),
    key(
        "namespace",
        G::Identity,
        &[],
        native("recorded in the unit; `rgen start|stop|restart <namespace>` acts on its apps"),
        native("label `rgen/pm2-namespace`; the Kubernetes namespace is `--namespace`"),
    ),
    key2(
        "node_args",
        G::Command,
        &["interpreterArgs", "interpreter_args"],
        native("between the interpreter and the script in `ExecStart=`"),
        native("between the interpreter and the script in `ProgramArguments`"),
        native("between the interpreter and the script in the container's `command`"),
    ),
    key2(
        "out_file",
        G::Logs,
        &["out", "output", "out_log"],
        native("`StandardOutput=append:<absolute path>`"),
        native("`StandardOutPath` (absolute)"),
        approx(
            W::ContainerLogs,
            "not written: Kubernetes collects stdout (`kubectl logs`)",
        ),
    ),
    key(
        "pid_file",
        G::Ignored,
        &["pid"],
        unsupported("the manager tracks the pid: `rgen show` and `rgen status --json` report it"),
        unsupported("the shim is PID 1 and knows the app's pid"),
    ),
    key(
        "pmx",
        G::Ignored,
        &[],
        unsupported(PM2IO),
        unsupported(PM2IO),
    ),
    key2(
        "port",
        G::Instances,
        &[],
        native("`Environment=PORT=`; in cluster mode `<app>.socket` listens on it"),
        native("`EnvironmentVariables` PORT"),
        native("`containerPort`, `PORT` in the ConfigMap, and a `Service` on it"),
    ),
    key(
        "post_update",
        G::Ignored,
        &[],
        unsupported("runs after a PM2.io-triggered git pull; rgen does not pull code"),
        unsupported("runs after a PM2.io-triggered git pull; rgen does not pull code"),
    ),
    key2(
        "restart_delay",
        G::Restart,
        &[],
        native("`RestartSec=`"),
        shim(
            N::Restarts,
            "the shim waits this long after an exit before starting the app again",
        ),
        shim(
            N::Restarts,
            "the shim waits this long after an exit before starting the app again (`--restart-delay`)",
        ),
    ),
    key2(
        "script",
        G::Command,
        &["exec", "cmd", "command"],
        native("`ExecStart=` (resolved: cwd, then next to the interpreter, then PATH)"),
        native("`ProgramArguments` (resolved the same way)"),
        approx_when(
            W::ContainerPaths,
            "after `rgen-shim … --` in the container's `command`; under the ecosystem file's directory it is the image's `/app/…`",
        ),
    ),
    key(
        "shutdown_with_message",
        G::Stop,
        &[],
        shim(
            N::ShutdownMessage,
            "the shim sends `shutdown` over the Node IPC channel instead of a signal",
        ),
        shim(
            N::ShutdownMessage,
            "the shim sends `shutdown` over the Node IPC channel instead of a signal",
        ),
    ),
    key(
        "source_map_support",
        G::Ignored,
        &[],
        unsupported(
            "PM2 injects source-map-support into its own wrapper; add `--enable-source-maps` to `node_args` for Node's built-in support",
        ),
        unsupported(
            "PM2 injects source-map-support into its own wrapper; add `--enable-source-maps` to `node_args` for Node's built-in support",
        ),
    ),
    key2(
        "stop_exit_codes",
        G::Restart,
        &[],
        native("`RestartPreventExitStatus=`"),
        shim(
            N::Restarts,
            "the shim leaves the app down after these exit codes",
        ),
        approx(
            W::ContainerRestarts,
            "the shim leaves the app down (`--stop-exit-codes`) and exits; a Deployment's kubelet starts the container again after its backoff",
        ),
    ),
    key2(
        "time",
        G::Logs,
        &[],
        native(
            "the journal timestamps every line; with log files the shim prefixes `YYYY-MM-DDTHH:mm:ss`",
        ),
        shim(N::Logs, "the shim prefixes `YYYY-MM-DDTHH:mm:ss`"),
        approx(
            W::ContainerLogs,
            "not applied: `kubectl logs --timestamps` prefixes each line with the time it was collected",
        ),
    ),
    key(
        "trace",
        G::Ignored,
        &[],
        unsupported(PM2IO),
        unsupported(PM2IO),
    ),
    key(
        "treekill",
        G::Stop,
        &[],
        native(
            "`KillMode=control-group` (true) / `KillMode=mixed` (false); the shim signals the process group",
        ),
        native("the shim signals the app's process group (false: only its pid)"),
    ),
    key2(
        "uid",
        G::User,
        &["user"],
        native("`User=` (system scope; user scope only as yourself)"),
        native("`UserName` (system scope only), with that user's `HOME`, `USER` and `LOGNAME`"),
        native("`securityContext.runAsUser` (a number; a user name is refused)"),
    ),
    key(
        "username",
        G::User,
        &[],
        native("PM2 fills it in itself; the unit's `User=` says who runs the app"),
        native("PM2 fills it in itself; `securityContext.runAsUser` says who runs the app"),
    ),
    key(
        "v8",
        G::Ignored,
        &[],
        unsupported(PM2IO),
        unsupported(PM2IO),
    ),
    key(
        "vizion",
        G::Ignored,
        &[],
        unsupported("git metadata for the PM2 dashboard"),
        unsupported("git metadata for the PM2 dashboard"),
    ),
    key2(
        "wait_ready",
        G::Readiness,
        &[],
        shim(
            N::Readiness,
            "`Type=notify`; the shim turns `process.send('ready')` into `READY=1`",
        ),
        shim(
            N::Readiness,
            "the shim relays `process.send('ready')` and logs readiness",
        ),
        shim(
            N::Readiness,
            "the shim creates `/run/rgen/ready` on `process.send('ready')`; the readiness probe tests for it",
        ),
    ),
    key2(
        "watch",
        G::Schedule,
        &[],
        approx(
            W::WatchIsStatic,
            "`<app>-watch.path` (`PathChanged=` per directory) restarting the app",
        ),
        approx(
            W::WatchIsStatic,
            "a `<label>.watch` job with `WatchPaths` (the directories) sending the graceful restart signal (`launchctl kill SIGURG`)",
        ),
        unsupported(
            "a container's files come from its image: build and roll out a new image instead of watching",
        ),
    ),
    key2(
        "watch_delay",
        G::Schedule,
        &[],
        approx(
            W::WatchIsStatic,
            "the restart waits this long (`ExecStartPre=` sleep in the watch job)",
        ),
        approx(
            W::WatchIsStatic,
            "the watch job waits this long, then restarts the app once",
        ),
        unsupported("a container's files come from its image: nothing is watched"),
    ),
    key(
        "watch_options",
        G::Schedule,
        &[],
        unsupported("chokidar options have no systemd or launchd equivalent"),
        unsupported("chokidar options have no systemd, launchd or Kubernetes equivalent"),
    ),
    key(
        "windowsHide",
        G::Ignored,
        &[],
        unsupported("Windows only"),
        unsupported("Windows only"),
    ),
    key(
        "write",
        G::Ignored,
        &[],
        unsupported("undocumented PM2 internal"),
        unsupported("undocumented PM2 internal"),
    ),
];
