//! Group `instances`: `instances` (`max`, negative counts), `exec_mode` as PM2 infers it,
//! `instance_var`, `increment_var`; cluster mode warnings about the shared port.

use serde_json::Value;

use crate::diag::WarningKind;
use crate::model::fields::Fields;
use crate::model::resolve::InterpreterKind;
use crate::model::{ExecMode, InstanceCount};
use crate::shim_protocol::default;

/// The most instances of one app: each is a unit, and far beyond a machine's cores they only
/// cost memory.
pub const MAX_INSTANCES: u32 = 1024;

pub(crate) struct Instances {
    pub mode: ExecMode,
    pub instances: InstanceCount,
    pub instance_var: String,
    pub increment_var: Option<String>,
}

pub(crate) fn read(
    f: &mut Fields<'_>,
    interpreter: InterpreterKind,
    launcher: Option<&str>,
    port: Option<u16>,
) -> Instances {
    let instances = match f.entry("instances").map(|e| e.value.clone()) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s == "max" => Some(InstanceCount::Max),
        Some(_) => match f.number("instances") {
            Some(n) if n.fract() != 0.0 => {
                f.fail(
                    "instances",
                    format!("`instances` must be a whole number or 'max', not {n}"),
                    None,
                );
                None
            }
            Some(0.0) => Some(InstanceCount::Max),
            Some(n) if n < 0.0 => Some(InstanceCount::CpusMinus((-n) as u32)),
            Some(n) if n > f64::from(MAX_INSTANCES) => {
                f.fail(
                    "instances",
                    format!(
                        "`instances` is {n}, more than rgen runs for one app ({MAX_INSTANCES})"
                    ),
                    Some("use `max` for one per CPU".into()),
                );
                None
            }
            Some(n) => Some(InstanceCount::Fixed(n as u32)),
            None => None,
        },
    };
    let mode = match f.string("exec_mode").as_deref() {
        Some("cluster") | Some("cluster_mode") => ExecMode::Cluster,
        Some("fork") | Some("fork_mode") => ExecMode::Fork,
        Some(other) => {
            f.fail(
                "exec_mode",
                format!("`exec_mode` must be \"cluster\" or \"fork\" (optionally with `_mode`), not {other:?}"),
                None,
            );
            ExecMode::Fork
        }
        // PM2 `determineExecMode`: instances + a node/bun interpreter mean cluster.
        None if instances.is_some()
            && matches!(interpreter, InterpreterKind::Node | InterpreterKind::Bun) =>
        {
            ExecMode::Cluster
        }
        None => ExecMode::Fork,
    };
    let mode = if f.boolean("execute_command") == Some(true) {
        ExecMode::Fork
    } else {
        mode
    };
    let instances = instances.unwrap_or(InstanceCount::Fixed(1));
    if mode == ExecMode::Cluster {
        if port.is_none() {
            let o = f.origin_of("exec_mode");
            f.report.warn(
                WarningKind::ClusterWithoutPort,
                o,
                "cluster mode without `port` or `env.PORT`: the instances cannot share a listening socket",
            );
        } else if !matches!(interpreter, InterpreterKind::Node | InterpreterKind::Bun)
            && launcher.is_none()
        {
            let o = f.origin_of("exec_mode");
            f.report.warn(
                WarningKind::ClusterNeedsFd,
                o,
                "cluster mode for a non-Node app: it must take its socket from fd 3 (uvicorn `--fd 3`, gunicorn)",
            );
        }
    }
    let instance_var = f
        .string("instance_var")
        .unwrap_or_else(|| default::INSTANCE_VAR.into());
    let increment_var = f.string("increment_var");
    Instances {
        mode,
        instances,
        instance_var,
        increment_var,
    }
}
