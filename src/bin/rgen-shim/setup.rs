//! Everything the shim prepares once, from its options: the app's environment, its listening
//! sockets, the Node preload and its FIFO, the log files; and, for each run of the app, the
//! exact descriptors and variables it starts with.

use std::ffi::OsString;
use std::io;
use std::os::fd::{OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;
use std::time::Duration;

use crate::child::{Env, Spawn};
use crate::cli::Options;
use crate::clock;
use crate::ipc::Ipc;
use crate::listen::Sockets;
use crate::logs::Logs;
use crate::rotate::{self, Rotator};
use crate::rundir::{self, Fifo, RunDir};
use crate::shim_protocol::{env, fd, preload};

pub struct Prepared {
    /// The app's environment, the same for every run.
    env: Env,
    sockets: Option<Sockets>,
    /// Keep the sockets across runs (`--autorestart`): connections wait in the backlog while
    /// the app restarts instead of being refused.
    keep_sockets: bool,
    ipc: bool,
    pub fifo: Option<Fifo>,
    /// Holds the preload file; removed on drop.
    _rundir: Option<RunDir>,
    pub logs: Option<Logs>,
}

/// What went wrong, for the one-line message before exit.
pub struct SetupError {
    pub what: &'static str,
    pub err: io::Error,
}

fn failed(what: &'static str) -> impl FnOnce(io::Error) -> SetupError {
    move |err| SetupError { what, err }
}

/// Variables the shim sets for the app or reads for itself; never inherited from its own
/// environment.
const PRIVATE_ENV: [&str; 13] = [
    env::LISTEN_FDS,
    env::LISTEN_PID,
    env::LISTEN_FDNAMES,
    env::LISTEN_PIDFDID,
    env::NODE_CHANNEL_FD,
    env::NODE_CHANNEL_SERIALIZATION_MODE,
    env::RGEN_LISTEN_FD,
    env::RGEN_LISTEN_PORT,
    env::RGEN_SHIM_FIFO,
    env::RGEN_SHIM_READY_ON,
    env::RGEN_SHIM_BACKOFF_RESET_MS,
    env::RGEN_SHIM_BACKOFF_CAP_MS,
    env::RGEN_SHIM_NO_PDEATHSIG,
];

pub fn rotation_policy(o: &Options) -> rotate::Policy {
    rotate::Policy {
        max_size: o.log_max_size,
        retain: o.log_retain,
        compress: o.log_compress,
        date_format: clock::parse_format(&o.log_rotate_date_format),
        cron: o.log_rotate_interval.clone(),
        worker_interval: o.log_worker_interval,
    }
}

pub fn prepare(o: &Options, inherited: Option<Sockets>) -> Result<Prepared, SetupError> {
    // --listen replaces any inherited sockets: one port, one socket, fd 3.
    let sockets = match o.listen {
        Some(addr) => Some(crate::listen::bind(addr).map_err(failed("cannot listen"))?),
        None => inherited,
    };
    let mut cenv = Env::inherit();
    for k in PRIVATE_ENV {
        cenv.remove(k);
    }
    if let Some(s) = &sockets {
        cenv.set(env::LISTEN_FDS, s.fds.len().to_string());
        if let Some(names) = &s.names {
            cenv.set(env::LISTEN_FDNAMES, names.clone());
        }
        cenv.set(env::RGEN_LISTEN_FD, fd::LISTEN_FDS_START.to_string());
        if let Some(port) = s.port {
            cenv.set(env::RGEN_LISTEN_PORT, port.to_string());
        }
    }
    if let Some(n) = o.instance {
        cenv.set(&o.instance_var, n.to_string());
        if let Some(var) = &o.increment_var {
            // PM2: `Number(env[increment_var]) || 0`, plus the instance number.
            let base = cenv
                .get(var)
                .and_then(|v| v.to_str())
                .and_then(|v| v.trim().parse::<i64>().ok())
                .unwrap_or(0);
            cenv.set(var, base.saturating_add(n as i64).to_string());
        }
    }
    let (rundir, fifo) = if o.node_preload {
        prepare_preload(o, &mut cenv).map_err(failed("cannot prepare the Node preload"))?
    } else {
        (None, None)
    };
    let logs = Logs::open(o, Rotator::new(rotation_policy(o)))
        .map_err(failed("cannot open the log files"))?;
    Ok(Prepared {
        env: cenv,
        sockets,
        keep_sockets: o.autorestart,
        ipc: o.ipc,
        fifo,
        _rundir: rundir,
        logs,
    })
}

fn prepare_preload(o: &Options, cenv: &mut Env) -> io::Result<(Option<RunDir>, Option<Fifo>)> {
    let base = rundir::runtime_base()?;
    let rd = RunDir::create(&base)?;
    let preload_path = rd.write_preload()?;
    let ready_on = if o.wait_ready {
        Some(preload::READY)
    } else if o.ready_on_listen {
        Some(preload::LISTENING)
    } else {
        None
    };
    let opts = cenv.get(env::NODE_OPTIONS).map(|v| v.to_owned());
    cenv.set(env::NODE_OPTIONS, node_options(opts, &preload_path));
    let mut fifo = None;
    if let Some(kind) = ready_on {
        let f = rd.make_fifo()?;
        cenv.set(env::RGEN_SHIM_FIFO, f.path.clone());
        cenv.set(env::RGEN_SHIM_READY_ON, kind);
        fifo = Some(f);
    }
    Ok((Some(rd), fifo))
}

impl Prepared {
    /// The spawn for one run, and the shim's end of its IPC channel.
    pub fn spawn_for_run(&mut self, o: &Options) -> io::Result<(Spawn, Option<Ipc>)> {
        let mut fds: Vec<(OwnedFd, RawFd)> = Vec::new();
        let mut next_fd = fd::LISTEN_FDS_START;
        let listen_pid = self.sockets.is_some();
        if let Some(s) = &mut self.sockets {
            let socks: Vec<OwnedFd> = if self.keep_sockets {
                s.fds
                    .iter()
                    .map(|f| f.try_clone())
                    .collect::<io::Result<_>>()?
            } else {
                std::mem::take(&mut s.fds)
            };
            for sock in socks {
                fds.push((sock, next_fd));
                next_fd += 1;
            }
        }
        let mut env = self.env.clone();
        let mut ipc = None;
        if self.ipc {
            let (ours, theirs) = Ipc::pair()?;
            // Above the sockets: both conventions start at 3 (anchors.md §4b).
            fds.push((theirs, next_fd));
            env.set(env::NODE_CHANNEL_FD, next_fd.to_string());
            env.set(env::NODE_CHANNEL_SERIALIZATION_MODE, "json");
            ipc = Some(ours);
        }
        if let Some(logs) = &self.logs {
            fds.extend(logs.child_ends()?);
        }
        let spawn = Spawn {
            program: o.program.clone(),
            args: o.args.clone(),
            env,
            listen_pid,
            fds,
            parent_death_signal: std::env::var_os(env::RGEN_SHIM_NO_PDEATHSIG).is_none(),
        };
        Ok((spawn, ipc))
    }
}

/// `<name>` or `<name>-<instance>`, made safe as a file name.
pub fn state_stem(o: &Options) -> String {
    let mut stem: String = o
        .name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.@".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if stem.starts_with('.') {
        stem.insert(0, '_');
    }
    if let Some(n) = o.instance {
        stem.push_str(&format!("-{n}"));
    }
    stem
}

/// Appends `--require <path>` to NODE_OPTIONS, quoting the path by Node's NODE_OPTIONS rules
/// (double quotes; backslash escapes inside them) when it has a space, quote or backslash.
fn node_options(existing: Option<OsString>, preload: &Path) -> OsString {
    let raw = preload.as_os_str().as_bytes();
    let mut arg = Vec::with_capacity(raw.len() + 2);
    if raw.iter().any(|&b| b == b' ' || b == b'"' || b == b'\\') {
        arg.push(b'"');
        for &b in raw {
            if b == b'"' || b == b'\\' {
                arg.push(b'\\');
            }
            arg.push(b);
        }
        arg.push(b'"');
    } else {
        arg.extend_from_slice(raw);
    }
    let mut out = existing.map(OsString::into_vec).unwrap_or_default();
    if !out.is_empty() && !out.ends_with(b" ") {
        out.push(b' ');
    }
    out.extend_from_slice(b"--require ");
    out.extend_from_slice(&arg);
    OsString::from_vec(out)
}

pub fn poll_ms(d: Duration) -> libc::c_int {
    // Round up: waking a hair early would just spin once more.
    let ms = d.as_nanos().div_ceil(1_000_000);
    libc::c_int::try_from(ms).unwrap_or(libc::c_int::MAX)
}
