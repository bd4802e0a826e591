//! Setup, spawn, and the single poll() loop that supervises the app until it is gone.

use std::ffi::OsString;
use std::os::fd::{OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::backoff::Backoff;
use crate::child::{Env, Spawn, SpawnError};
use crate::cli::{self, Options, Parsed};
use crate::ipc::Ipc;
use crate::logs::Logs;
use crate::notify::Notifier;
use crate::rundir::{self, Fifo, RunDir};
use crate::shim_protocol::{env, exit, fd, ipc as ipc_msg, preload, status as state};
use crate::signals::{self, Signals};
use crate::status::{LastExit, Snapshot, StatusFile};
use crate::sys::{self, say};
use crate::tree;

/// PM2 `kill_retry_time`: how often to look again for survivors that are not our children.
const TREE_RECHECK: Duration = Duration::from_millis(100);

enum Outcome {
    Exit(i32),
    Signal(libc::c_int),
}

pub fn main() -> ! {
    let argv: Vec<OsString> = std::env::args_os().collect();
    let o = match cli::parse(argv) {
        Ok(Parsed::Run(o)) => o,
        Ok(Parsed::Help) => {
            use std::io::Write;
            let _ = std::io::stdout().write_all(cli::USAGE.as_bytes());
            std::process::exit(0)
        }
        Ok(Parsed::Version) => {
            use std::io::Write;
            let _ = writeln!(std::io::stdout(), "rgen-shim {}", env!("CARGO_PKG_VERSION"));
            std::process::exit(0)
        }
        Err(msg) => {
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "rgen-shim: error: {msg}");
            std::process::exit(exit::USAGE)
        }
    };
    sys::set_name(&o.name);
    // Everything with a destructor (run dir, fds) is dropped when run() returns, before we die.
    match run(*o) {
        Outcome::Exit(code) => std::process::exit(code),
        Outcome::Signal(sig) => signals::die_of(sig),
    }
}

#[derive(Clone, Copy, PartialEq)]
enum StopReason {
    /// SIGTERM/SIGINT from the service manager (or a user).
    Manager,
    /// `--max-memory` exceeded.
    Memory,
}

#[derive(Clone, Copy)]
enum Kill {
    Idle,
    /// The stop signal (or message) went out; SIGKILL at the deadline.
    Signalled(Instant),
    /// SIGKILL went out; stop waiting for non-child survivors at the deadline.
    Killed(Instant),
    /// Past that deadline: nothing left to time.
    GaveUp,
}

struct Supervisor<'a> {
    o: &'a Options,
    signals: Signals,
    notifier: Option<Notifier>,
    status: Option<StatusFile>,
    backoff: Option<Backoff>,
    ipc: Option<Ipc>,
    fifo: Option<Fifo>,
    logs: Option<Logs>,
    pid: libc::pid_t,
    started_unix_ms: u64,
    ready: bool,
    ready_deadline: Option<Instant>,
    stop: Option<StopReason>,
    kill: Kill,
    exit_status: Option<libc::c_int>,
    mem_next: Option<Instant>,
    backoff_reset_at: Option<Instant>,
}

fn run(o: Options) -> Outcome {
    // First of all: adopting fds 3.. is only safe before the shim opens descriptors of its own.
    let inherited = crate::listen::inherited();
    sys::cloexec_inherited_fds();
    let orig_mask = signals::current_mask();
    let signals = match Signals::install() {
        Ok(s) => s,
        Err(e) => return setup_failed("cannot install signal handlers", &e),
    };
    #[cfg(target_os = "linux")]
    // SAFETY: plain prctl. Orphaned descendants of the app are reparented to the shim instead of
    // init, so treekill and the memory watchdog still see them and the shim reaps them.
    unsafe {
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1 as libc::c_ulong);
    }
    let notifier = Notifier::from_env();
    let status = o.status_file.clone().map(StatusFile::load);
    let name = o.name.as_str();

    let backoff = match o.backoff_initial {
        None => None,
        Some(initial) => {
            let dir = match &o.state_dir {
                Some(d) => d.clone(),
                None => match rundir::runtime_base() {
                    Ok(d) => d,
                    Err(e) => return setup_failed("cannot prepare the state directory", &e),
                },
            };
            Some(Backoff::new(dir, &state_stem(&o), initial))
        }
    };
    let delay = backoff.as_ref().map_or(0, Backoff::delay);
    if delay > 0 {
        say!("restarting {name} in {delay}ms (exponential backoff)");
        if let Some(n) = &notifier {
            n.send(&format!(
                "STATUS=restarting {name} in {delay}ms (exponential backoff)"
            ));
        }
        write_status(&status, state::WAITING_RESTART, None, None, false);
        if sleep_unless_stopped(&signals, Duration::from_millis(delay)) {
            // A manual stop resets the backoff, as in PM2.
            if let Some(b) = &backoff {
                b.clear();
            }
            write_status(&status, state::STOPPED, None, None, false);
            return Outcome::Exit(0);
        }
    }

    // --listen replaces any inherited sockets: one port, one socket, fd 3.
    let sockets = match o.listen {
        Some(addr) => match crate::listen::bind(addr) {
            Ok(s) => Some(s),
            Err(e) => return setup_failed(&format!("cannot listen on {addr}"), &e),
        },
        None => inherited,
    };

    let mut cenv = Env::inherit();
    for k in [
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
    ] {
        cenv.remove(k);
    }
    let mut fds: Vec<(OwnedFd, RawFd)> = Vec::new();
    let mut next_fd = fd::LISTEN_FDS_START;
    let listen_pid = sockets.is_some();
    if let Some(s) = sockets {
        cenv.set(env::LISTEN_FDS, s.fds.len().to_string());
        if let Some(names) = s.names {
            cenv.set(env::LISTEN_FDNAMES, names);
        }
        cenv.set(env::RGEN_LISTEN_FD, fd::LISTEN_FDS_START.to_string());
        if let Some(port) = s.port {
            cenv.set(env::RGEN_LISTEN_PORT, port.to_string());
        }
        for sock in s.fds {
            fds.push((sock, next_fd));
            next_fd += 1;
        }
    }

    let mut ipc = None;
    if o.ipc {
        match Ipc::pair() {
            Ok((ours, theirs)) => {
                // Above the sockets: both conventions start at 3 (anchors.md §4b).
                fds.push((theirs, next_fd));
                cenv.set(env::NODE_CHANNEL_FD, next_fd.to_string());
                cenv.set(env::NODE_CHANNEL_SERIALIZATION_MODE, "json");
                ipc = Some(ours);
            }
            Err(e) => return setup_failed("cannot create the IPC channel", &e),
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

    let mut _rundir = None;
    let mut fifo = None;
    if o.node_preload {
        let prepared = rundir::runtime_base().and_then(|base| {
            let rd = RunDir::create(&base)?;
            let preload_path = rd.write_preload()?;
            let ready_on = if o.wait_ready {
                Some(preload::READY)
            } else if o.ready_on_listen {
                Some(preload::LISTENING)
            } else {
                None
            };
            let f = match ready_on {
                Some(_) => Some(rd.make_fifo()?),
                None => None,
            };
            Ok((rd, preload_path, ready_on, f))
        });
        match prepared {
            Ok((rd, preload_path, ready_on, f)) => {
                let mut opts = cenv.get(env::NODE_OPTIONS).map(|v| v.to_owned());
                cenv.set(env::NODE_OPTIONS, node_options(opts.take(), &preload_path));
                if let (Some(kind), Some(f)) = (ready_on, f) {
                    cenv.set(env::RGEN_SHIM_FIFO, f.path.clone());
                    cenv.set(env::RGEN_SHIM_READY_ON, kind);
                    fifo = Some(f);
                }
                _rundir = Some(rd);
            }
            Err(e) => return setup_failed("cannot prepare the Node preload", &e),
        }
    }

    let logs = match Logs::open(&o) {
        Ok(Some((logs, ends))) => {
            if let Some(w) = ends.stdout {
                fds.push((w, 1));
            }
            if let Some(w) = ends.stderr {
                fds.push((w, 2));
            }
            Some(logs)
        }
        Ok(None) => None,
        Err(e) => return setup_failed("cannot open the log files", &e),
    };

    if let Some(b) = &backoff {
        b.record(delay);
    }
    let spawn = Spawn {
        program: o.program.clone(),
        args: o.args.clone(),
        env: cenv,
        listen_pid,
        fds,
    };
    let started = Instant::now();
    let pid = match spawn.run(&orig_mask) {
        Ok(pid) => pid,
        Err(SpawnError::Exec(e)) => {
            say!(
                "cannot execute `{}`: {}",
                Path::new(&o.program).display(),
                sys::err_text(&e)
            );
            let mut status = status;
            if let Some(s) = &mut status {
                s.set_last_exit(LastExit::Code(exit::EXEC_FAILED));
            }
            write_status(&status, state::ERRORED, None, None, false);
            return Outcome::Exit(exit::EXEC_FAILED);
        }
        Err(SpawnError::Setup(e)) => return setup_failed("cannot start the app", &e),
    };

    let mut sup = Supervisor {
        o: &o,
        signals,
        notifier,
        status,
        ipc,
        fifo,
        logs,
        pid,
        started_unix_ms: sys::now_unix_ms(),
        ready: false,
        ready_deadline: None,
        stop: None,
        kill: Kill::Idle,
        exit_status: None,
        mem_next: o.max_memory.map(|_| started + o.memory_poll),
        backoff_reset_at: backoff.as_ref().map(|b| started + b.reset_after),
        backoff,
    };
    if o.wait_ready || o.ready_on_listen {
        sup.ready_deadline = Some(started + o.listen_timeout);
        sup.write_status(state::LAUNCHING);
    } else {
        // The exec succeeded: that is all "online" means without wait_ready.
        sup.declare_ready();
    }
    sup.run()
}

fn setup_failed(what: &str, e: &std::io::Error) -> Outcome {
    say!("{what}: {}", sys::err_text(e));
    Outcome::Exit(exit::SETUP_FAILED)
}

fn write_status(
    status: &Option<StatusFile>,
    state: &'static str,
    pid: Option<libc::pid_t>,
    started: Option<u64>,
    ready: bool,
) {
    if let Some(s) = status {
        s.write(&Snapshot {
            state,
            pid,
            started_at_unix_ms: started,
            ready,
        });
    }
}

/// `<name>` or `<name>-<instance>`, made safe as a file name.
fn state_stem(o: &Options) -> String {
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

/// Backoff sleep; true if a stop signal arrived meanwhile.
fn sleep_unless_stopped(signals: &Signals, d: Duration) -> bool {
    let until = Instant::now() + d;
    loop {
        let now = Instant::now();
        if now >= until {
            return false;
        }
        let mut pfd = libc::pollfd {
            fd: signals.fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        unsafe { libc::poll(&mut pfd, 1, poll_ms(until - now)) };
        if signals
            .drain()
            .iter()
            .any(|&s| s == libc::SIGTERM || s == libc::SIGINT)
        {
            return true;
        }
    }
}

fn poll_ms(d: Duration) -> libc::c_int {
    // Round up: waking a hair early would just spin once more.
    let ms = d.as_nanos().div_ceil(1_000_000);
    libc::c_int::try_from(ms).unwrap_or(libc::c_int::MAX)
}

enum Src {
    Signals,
    Ipc,
    Fifo,
    Log(usize),
}

impl Supervisor<'_> {
    fn run(mut self) -> Outcome {
        let mut pfds: Vec<libc::pollfd> = Vec::with_capacity(6);
        let mut srcs: Vec<Src> = Vec::with_capacity(6);
        loop {
            let now = Instant::now();
            self.on_timers(now);
            if self.exit_status.is_some() && self.tree_settled(now) {
                break;
            }

            pfds.clear();
            srcs.clear();
            let mut watch = |fd: RawFd, src: Src| {
                pfds.push(libc::pollfd {
                    fd,
                    events: libc::POLLIN,
                    revents: 0,
                });
                srcs.push(src);
            };
            watch(self.signals.fd(), Src::Signals);
            if let Some(ipc) = self.ipc.as_ref().filter(|i| i.open) {
                watch(ipc.fd(), Src::Ipc);
            }
            if let Some(f) = &self.fifo {
                watch(f.fd(), Src::Fifo);
            }
            if let Some(logs) = &self.logs {
                for (i, s) in logs.streams.iter().enumerate() {
                    if let Some(fd) = s.fd() {
                        watch(fd, Src::Log(i));
                    }
                }
            }
            let timeout = self
                .next_deadline()
                .map_or(-1, |d| poll_ms(d.saturating_duration_since(Instant::now())));
            // SAFETY: pfds is a valid array of pollfd for its length.
            let n = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, timeout) };
            if n <= 0 {
                continue;
            }
            for (p, src) in pfds.iter().zip(&srcs) {
                if p.revents == 0 {
                    continue;
                }
                match src {
                    Src::Signals => {
                        for sig in self.signals.drain() {
                            self.on_signal(sig);
                        }
                    }
                    Src::Ipc => self.on_ipc(),
                    Src::Fifo => self.on_fifo(),
                    Src::Log(i) => {
                        if let Some(l) = &mut self.logs {
                            // Anything left over is reported again by the next poll().
                            let _ = l.on_readable(*i);
                        }
                    }
                }
            }
        }
        self.finish()
    }

    fn next_deadline(&self) -> Option<Instant> {
        let kill = match self.kill {
            Kill::Idle | Kill::GaveUp => None,
            Kill::Signalled(d) | Kill::Killed(d) => Some(d),
        };
        let recheck = self
            .exit_status
            .is_some()
            .then(|| Instant::now() + TREE_RECHECK);
        [
            self.ready_deadline,
            kill,
            if self.stop.is_none() {
                self.mem_next
            } else {
                None
            },
            self.backoff_reset_at,
            self.logs.as_ref().and_then(Logs::next_deadline),
            recheck,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn on_timers(&mut self, now: Instant) {
        if self.ready_deadline.is_some_and(|d| now >= d) {
            self.ready_deadline = None;
            let what = if self.o.wait_ready {
                "'ready'"
            } else {
                "a listening socket"
            };
            say!(
                "listen_timeout ({} ms) passed without {what}; declaring {} ready as PM2 does",
                self.o.listen_timeout.as_millis(),
                self.o.name
            );
            self.declare_ready();
        }
        if let Kill::Signalled(d) = self.kill
            && now >= d
        {
            if self.exit_status.is_none() {
                say!(
                    "{} still running {}ms after the stop signal; sending SIGKILL",
                    self.o.name,
                    self.o.kill_timeout.as_millis()
                );
            }
            self.signal_app(libc::SIGKILL);
            self.kill = Kill::Killed(now + self.o.kill_timeout);
        }
        if let Kill::Killed(d) = self.kill
            && now >= d
        {
            // Only processes stuck in the kernel survive SIGKILL this long. The main process
            // is still waited for (its status is the shim's); other survivors are not.
            self.kill = Kill::GaveUp;
            say!("some processes of {} could not be killed", self.o.name);
        }
        if self.mem_next.is_some_and(|d| now >= d) && self.stop.is_none() {
            self.mem_next = Some(now + self.o.memory_poll);
            self.check_memory();
        }
        if self.backoff_reset_at.is_some_and(|d| now >= d) {
            self.backoff_reset_at = None;
            if self.exit_status.is_none() {
                // PM2's Worker: up longer than EXP_BACKOFF_RESET_TIMER → prev_restart_delay = 0.
                if let Some(b) = &self.backoff {
                    b.record(0);
                }
            }
        }
        if let Some(l) = &mut self.logs {
            l.on_timer(now);
        }
    }

    /// After the app's main process exited: true once nothing of its tree is left (or we gave up).
    fn tree_settled(&mut self, now: Instant) -> bool {
        if !self.o.treekill || !self.tree_alive() {
            return true;
        }
        match self.kill {
            Kill::Idle => {
                // The app left processes behind. systemd would kill them with the cgroup, but
                // launchd only kills the shim's own process group, so do it here for both.
                say!(
                    "{} exited and left processes behind; stopping them",
                    self.o.name
                );
                self.signal_app(self.o.kill_signal);
                self.kill = Kill::Signalled(now + self.o.kill_timeout);
                false
            }
            Kill::Signalled(_) | Kill::Killed(_) => false,
            Kill::GaveUp => true,
        }
    }

    fn tree_alive(&self) -> bool {
        if sys::alive(-self.pid) {
            return true;
        }
        #[cfg(target_os = "linux")]
        {
            // SAFETY: getpid cannot fail.
            !tree::descendants(unsafe { libc::getpid() }).is_empty()
        }
        #[cfg(not(target_os = "linux"))]
        false
    }

    fn on_signal(&mut self, sig: libc::c_int) {
        match sig {
            libc::SIGCHLD => self.reap(),
            libc::SIGTERM | libc::SIGINT => self.begin_stop(StopReason::Manager),
            s if signals::FORWARDED.contains(&s) && self.exit_status.is_none() => {
                sys::kill(self.pid, s);
            }
            _ => {}
        }
    }

    fn reap(&mut self) {
        loop {
            let mut status = 0;
            // SAFETY: plain syscall. As a subreaper we also collect adopted orphans here.
            let r = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
            if r <= 0 {
                if r < 0
                    && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted
                {
                    continue;
                }
                return;
            }
            if r == self.pid && self.exit_status.is_none() {
                self.on_app_exit(status);
            }
        }
    }

    fn on_app_exit(&mut self, status: libc::c_int) {
        self.exit_status = Some(status);
        self.ready_deadline = None;
        let name = &self.o.name;
        let last = if libc::WIFSIGNALED(status) {
            LastExit::Signal(libc::WTERMSIG(status))
        } else {
            LastExit::Code(libc::WEXITSTATUS(status))
        };
        if self.stop.is_none() {
            match last {
                LastExit::Code(c) => say!("{name} exited with code {c}"),
                LastExit::Signal(s) => say!("{name} was killed by {}", cli::signal_name(s)),
            }
        }
        if let Some(s) = &mut self.status {
            s.set_last_exit(last);
        }
    }

    fn begin_stop(&mut self, reason: StopReason) {
        if let Some(prev) = self.stop {
            // A manager stop during a memory restart turns it into a plain stop.
            if prev == StopReason::Memory && reason == StopReason::Manager {
                self.stop = Some(reason);
            }
            return;
        }
        self.stop = Some(reason);
        self.ready_deadline = None;
        self.write_status(state::STOPPING);
        if reason == StopReason::Manager
            && let Some(n) = &self.notifier
        {
            n.send("STOPPING=1");
        }
        if self.exit_status.is_some() {
            // Already gone; the tree cleanup (if any) is under way.
            return;
        }
        let by_message = self.o.shutdown_with_message
            && self.ipc.as_mut().is_some_and(|i| i.send(ipc_msg::SHUTDOWN));
        if !by_message {
            self.signal_app(self.o.kill_signal);
        }
        self.kill = Kill::Signalled(Instant::now() + self.o.kill_timeout);
    }

    /// treekill: the app's process group, plus (Linux) descendants that left it — PM2's treekill
    /// walks the tree by parent pid regardless of group. Each process gets the signal once: a
    /// second SIGINT makes many Node apps skip their graceful path.
    fn signal_app(&self, sig: libc::c_int) {
        if !self.o.treekill {
            if self.exit_status.is_none() {
                sys::kill(self.pid, sig);
            }
            return;
        }
        sys::kill(-self.pid, sig);
        #[cfg(target_os = "linux")]
        // SAFETY: getpid cannot fail.
        let root = unsafe { libc::getpid() };
        #[cfg(not(target_os = "linux"))]
        let root = self.pid;
        for p in tree::descendants(root) {
            // SAFETY: plain syscall.
            if unsafe { libc::getpgid(p) } != self.pid {
                sys::kill(p, sig);
            }
        }
    }

    fn check_memory(&mut self) {
        let Some(limit) = self.o.max_memory else {
            return;
        };
        if self.exit_status.is_some() {
            return;
        }
        #[cfg(target_os = "linux")]
        // SAFETY: getpid cannot fail.
        let pids = tree::descendants(unsafe { libc::getpid() });
        #[cfg(not(target_os = "linux"))]
        let pids = {
            let mut v = vec![self.pid];
            v.extend(tree::descendants(self.pid));
            v
        };
        let used: u64 = pids.iter().filter_map(|&p| tree::rss_bytes(p)).sum();
        if used > limit {
            say!(
                "{} uses {used} bytes, above max_memory_restart {limit}: restarting",
                self.o.name
            );
            self.begin_stop(StopReason::Memory);
        }
    }

    fn on_ipc(&mut self) {
        let mut ready = false;
        if let Some(ipc) = &mut self.ipc {
            ipc.read(|line| {
                if line.trim_ascii() == ipc_msg::READY.as_bytes() {
                    ready = true;
                }
            });
        }
        if ready && self.o.wait_ready {
            self.declare_ready();
        }
    }

    fn on_fifo(&mut self) {
        let mut ready = false;
        let (wait_ready, on_listen) = (self.o.wait_ready, self.o.ready_on_listen);
        if let Some(f) = &mut self.fifo {
            f.read(|kind| {
                if (wait_ready && kind == preload::READY)
                    || (!wait_ready && on_listen && kind == preload::LISTENING)
                {
                    ready = true;
                }
            });
        }
        if ready {
            self.declare_ready();
        }
    }

    fn declare_ready(&mut self) {
        if self.ready || self.stop.is_some() || self.exit_status.is_some() {
            return;
        }
        self.ready = true;
        self.ready_deadline = None;
        // Status file first: whoever reacts to READY=1 must find it already current.
        self.write_status(state::ONLINE);
        if let Some(n) = &self.notifier {
            n.send(&format!(
                "READY=1\nSTATUS={} online (pid {})",
                self.o.name, self.pid
            ));
        }
    }

    fn write_status(&self, state: &'static str) {
        let running = self.exit_status.is_none();
        write_status(
            &self.status,
            state,
            running.then_some(self.pid),
            Some(self.started_unix_ms),
            self.ready && running,
        );
    }

    fn finish(mut self) -> Outcome {
        if let Some(l) = &mut self.logs {
            l.finish();
        }
        let status = self.exit_status.unwrap_or(0);
        let outcome = match self.stop {
            Some(StopReason::Memory) => Outcome::Exit(exit::MEMORY_RESTART),
            _ if libc::WIFSIGNALED(status) => Outcome::Signal(libc::WTERMSIG(status)),
            _ => Outcome::Exit(libc::WEXITSTATUS(status)),
        };
        // Stopped or restarted on purpose (manager, memory): PM2's resetState clears the backoff.
        // An app that exits on its own keeps it, so the next start waits longer.
        if self.stop.is_some()
            && let Some(b) = &self.backoff
        {
            b.clear();
        }
        let state = match self.stop {
            Some(StopReason::Manager) => state::STOPPED,
            Some(StopReason::Memory) => state::RESTARTING,
            None => state::EXITED,
        };
        self.write_status(state);
        outcome
    }
}
