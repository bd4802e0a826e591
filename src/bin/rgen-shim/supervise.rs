//! The single poll() loop that supervises the app: one run at a time and, with
//! `--autorestart`, the next one after it, by PM2's rules (`restart`). What is prepared once
//! lives in `setup`.

use std::ffi::OsString;
use std::os::fd::RawFd;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::backoff::Backoff;
use crate::child::SpawnError;
use crate::cli::{self, Options, Parsed};
use crate::ipc::Ipc;
use crate::notify::Notifier;
use crate::restart::{self, Decision, Tracker};
use crate::setup::{self, Prepared, poll_ms};
use crate::shim_protocol::{default, env, exit, ipc as ipc_msg, preload, status as state};
use crate::signals::{self, SigSet, Signals};
use crate::status::{LastExit, Snapshot, StatusFile};
use crate::sys::{self, say};
use crate::{pidfile, rundir, shimlog, tree};

/// PM2 `kill_retry_time`: how often to look again for survivors that are not our children.
const TREE_RECHECK: Duration = Duration::from_millis(100);

pub enum Outcome {
    Exit(i32),
    Signal(libc::c_int),
}

pub fn main() -> ! {
    use std::io::Write;
    let argv: Vec<OsString> = std::env::args_os().collect();
    let o = match cli::parse(argv) {
        Ok(Parsed::Run(o)) => o,
        Ok(Parsed::Help) => {
            let _ = std::io::stdout().write_all(cli::USAGE.as_bytes());
            std::process::exit(0)
        }
        Ok(Parsed::Version) => {
            let _ = writeln!(std::io::stdout(), "rgen-shim {}", env!("CARGO_PKG_VERSION"));
            std::process::exit(0)
        }
        Err(msg) => {
            let _ = writeln!(std::io::stderr(), "rgen-shim: error: {msg}");
            std::process::exit(exit::USAGE)
        }
    };
    sys::set_name(&o.name);
    if let Some(path) = &o.shim_log
        && let Err(e) = shimlog::open(path, setup::rotation_policy(&o))
    {
        say!("cannot open the shim log: {}", sys::err_text(&e));
        std::process::exit(exit::SETUP_FAILED)
    }
    // Everything with a destructor (run dir, fds) is dropped when run() returns, before we die.
    let outcome = run(*o);
    shimlog::finish();
    match outcome {
        Outcome::Exit(code) => std::process::exit(code),
        Outcome::Signal(sig) => signals::die_of(sig),
    }
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
    let prep = match setup::prepare(&o, inherited) {
        Ok(p) => p,
        Err(e) => return setup_failed(e.what, &e.err),
    };
    let backoff = match (o.autorestart, o.backoff_initial) {
        (false, Some(initial)) => {
            let dir = match &o.state_dir {
                Some(d) => d.clone(),
                None => match rundir::runtime_base() {
                    Ok(d) => d,
                    Err(e) => return setup_failed("cannot prepare the state directory", &e),
                },
            };
            Some(Backoff::new(dir, &setup::state_stem(&o), initial))
        }
        _ => None,
    };
    let tracker = o.autorestart.then(|| {
        let knob = |name: &str, default: u64| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(default)
        };
        let policy = restart::Policy {
            min_uptime: o.min_uptime,
            max_restarts: o.max_restarts,
            restart_delay: o.restart_delay,
            backoff_initial: o.backoff_initial,
            backoff_cap_ms: knob(env::RGEN_SHIM_BACKOFF_CAP_MS, default::BACKOFF_CAP_MS),
            backoff_reset: Duration::from_millis(knob(
                env::RGEN_SHIM_BACKOFF_RESET_MS,
                default::BACKOFF_RESET_MS,
            )),
            stop_exit_codes: o.stop_exit_codes.clone(),
        };
        Tracker::new(policy, Instant::now())
    });
    let mut sup = Supervisor {
        o: &o,
        signals,
        orig_mask,
        notifier: Notifier::from_env(),
        status: o.status_file.clone().map(StatusFile::load),
        backoff,
        tracker,
        prep,
        run: None,
        waiting: None,
        done: None,
        this_start_delay: 0,
        starts: 0,
    };
    sup.start();
    sup.supervise()
}

fn setup_failed(what: &str, e: &std::io::Error) -> Outcome {
    say!("{what}: {}", sys::err_text(e));
    Outcome::Exit(exit::SETUP_FAILED)
}

#[derive(Clone, Copy, PartialEq)]
enum StopReason {
    /// SIGTERM/SIGINT from the service manager (or a user).
    Manager,
    /// `--max-memory` exceeded.
    Memory,
    /// The restart signal.
    Restart,
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

/// One run of the app, from spawn until nothing of it is left.
struct Run {
    pid: libc::pid_t,
    ipc: Option<Ipc>,
    started: Instant,
    started_unix_ms: u64,
    ready: bool,
    ready_deadline: Option<Instant>,
    stop: Option<StopReason>,
    kill: Kill,
    exit_status: Option<libc::c_int>,
    mem_next: Option<Instant>,
    backoff_reset_at: Option<Instant>,
}

struct Supervisor<'a> {
    o: &'a Options,
    signals: Signals,
    orig_mask: SigSet,
    notifier: Option<Notifier>,
    status: Option<StatusFile>,
    /// Without `--autorestart`: PM2's backoff across shim runs, in a state file.
    backoff: Option<Backoff>,
    /// With `--autorestart`: PM2's restart counters, in memory.
    tracker: Option<Tracker>,
    prep: Prepared,
    run: Option<Run>,
    /// Between runs: when to start the next one.
    waiting: Option<Instant>,
    /// Set once the shim has decided to exit.
    done: Option<Outcome>,
    /// The backoff delay this start waited (recorded in the state file at spawn).
    this_start_delay: u64,
    starts: u64,
}

enum Src {
    Signals,
    Ipc,
    Fifo,
    Log(usize),
}

impl Supervisor<'_> {
    fn start(&mut self) {
        if let Some(p) = &self.o.ready_file {
            let _ = std::fs::remove_file(p);
        }
        if let Some(p) = &self.o.pid_file {
            pidfile::stop_leftover(p, self.o.kill_signal, self.o.kill_timeout, &self.o.name);
        }
        let delay = self.backoff.as_ref().map_or(0, Backoff::delay);
        self.this_start_delay = delay;
        if delay > 0 {
            self.wait_before_start(Duration::from_millis(delay), "exponential backoff");
        } else {
            self.spawn();
        }
    }

    fn wait_before_start(&mut self, delay: Duration, why: &str) {
        let name = &self.o.name;
        let ms = delay.as_millis();
        say!("restarting {name} in {ms}ms ({why})");
        if let Some(n) = &self.notifier {
            n.send(&format!("STATUS=restarting {name} in {ms}ms ({why})"));
        }
        self.waiting = Some(Instant::now() + delay);
        self.write_status(state::WAITING_RESTART);
    }

    fn supervise(mut self) -> Outcome {
        let mut pfds: Vec<libc::pollfd> = Vec::with_capacity(6);
        let mut srcs: Vec<Src> = Vec::with_capacity(6);
        loop {
            let now = Instant::now();
            self.on_timers(now);
            if self.run.as_ref().is_some_and(|r| r.exit_status.is_some()) && self.tree_settled(now)
            {
                self.end_run();
            }
            if let Some(outcome) = self.done.take() {
                return self.finish(outcome);
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
            if let Some(ipc) = self
                .run
                .as_ref()
                .and_then(|r| r.ipc.as_ref())
                .filter(|i| i.open)
            {
                watch(ipc.fd(), Src::Ipc);
            }
            if let Some(f) = &self.prep.fifo {
                watch(f.fd(), Src::Fifo);
            }
            if let Some(logs) = &self.prep.logs {
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
                        if let Some(l) = &mut self.prep.logs {
                            // Anything left over is reported again by the next poll().
                            let _ = l.on_readable(*i);
                        }
                    }
                }
            }
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        let mut deadlines = vec![
            self.waiting,
            self.prep.logs.as_ref().and_then(|l| l.next_deadline()),
            shimlog::next_deadline(),
        ];
        if let Some(r) = &self.run {
            let kill = match r.kill {
                Kill::Idle | Kill::GaveUp => None,
                Kill::Signalled(d) | Kill::Killed(d) => Some(d),
            };
            let recheck = r
                .exit_status
                .is_some()
                .then(|| Instant::now() + TREE_RECHECK);
            let mem = r.mem_next.filter(|_| r.stop.is_none());
            deadlines.extend([r.ready_deadline, kill, mem, r.backoff_reset_at, recheck]);
        }
        deadlines.into_iter().flatten().min()
    }

    fn on_timers(&mut self, mut now: Instant) {
        if self.waiting.is_some_and(|w| now >= w) {
            self.waiting = None;
            self.spawn();
            // The new run's timers count from its start.
            now = Instant::now();
        }
        if let Some(l) = &mut self.prep.logs {
            l.on_timer(now);
        }
        shimlog::on_timer(now);
        let Some(r) = &mut self.run else { return };
        if r.ready_deadline.is_some_and(|d| now >= d) {
            r.ready_deadline = None;
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
        self.on_kill_timers(now);
        let Some(r) = &mut self.run else { return };
        if r.mem_next.is_some_and(|d| now >= d) && r.stop.is_none() {
            r.mem_next = Some(now + self.o.memory_poll);
            self.check_memory();
        }
        let Some(r) = &mut self.run else { return };
        if r.backoff_reset_at.is_some_and(|d| now >= d) {
            r.backoff_reset_at = None;
            if r.exit_status.is_none() {
                // PM2's Worker: up longer than EXP_BACKOFF_RESET_TIMER → prev_restart_delay = 0.
                if let Some(b) = &self.backoff {
                    b.record(0);
                }
            }
        }
    }

    fn on_kill_timers(&mut self, now: Instant) {
        let Some(r) = &mut self.run else { return };
        if let Kill::Signalled(d) = r.kill
            && now >= d
        {
            if r.exit_status.is_none() {
                say!(
                    "{} still running {}ms after the stop signal; sending SIGKILL",
                    self.o.name,
                    self.o.kill_timeout.as_millis()
                );
            }
            r.kill = Kill::Killed(now + self.o.kill_timeout);
            self.signal_app(libc::SIGKILL);
        }
        let Some(r) = &mut self.run else { return };
        if let Kill::Killed(d) = r.kill
            && now >= d
        {
            // Only processes stuck in the kernel survive SIGKILL this long. The main process
            // is still waited for (its status is the shim's); other survivors are not.
            r.kill = Kill::GaveUp;
            say!("some processes of {} could not be killed", self.o.name);
        }
    }

    /// After the app's main process exited: true once nothing of its tree is left (or we gave up).
    fn tree_settled(&mut self, now: Instant) -> bool {
        if !self.o.treekill || !self.tree_alive() {
            return true;
        }
        let Some(r) = &mut self.run else { return true };
        match r.kill {
            Kill::Idle => {
                // The app left processes behind. systemd would kill them with the cgroup, but
                // launchd only kills the shim's own process group, so do it here for both.
                say!(
                    "{} exited and left processes behind; stopping them",
                    self.o.name
                );
                r.kill = Kill::Signalled(now + self.o.kill_timeout);
                self.signal_app(self.o.kill_signal);
                false
            }
            Kill::Signalled(_) | Kill::Killed(_) => false,
            Kill::GaveUp => true,
        }
    }

    fn tree_alive(&self) -> bool {
        let Some(r) = &self.run else { return false };
        if sys::alive(-r.pid) {
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
            libc::SIGTERM | libc::SIGINT => self.stop_requested(),
            signals::RESTART => self.restart_requested(),
            s if signals::FORWARDED.contains(&s) => {
                if let Some(r) = self.run.as_ref().filter(|r| r.exit_status.is_none()) {
                    sys::kill(r.pid, s);
                }
            }
            _ => {}
        }
    }

    fn stop_requested(&mut self) {
        if self.run.is_some() {
            self.begin_stop(StopReason::Manager);
        } else if self.waiting.take().is_some() {
            // A manual stop resets the backoff, as in PM2.
            if let Some(b) = &self.backoff {
                b.clear();
            }
            self.write_status(state::STOPPED);
            self.done = Some(Outcome::Exit(0));
        }
    }

    fn restart_requested(&mut self) {
        say!("restart requested for {}", self.o.name);
        if self.run.is_some() {
            self.begin_stop(StopReason::Restart);
        } else if self.waiting.take().is_some() {
            // PM2 `restartProcessId` → resetState: no more waiting, counters start over.
            if let Some(b) = &self.backoff {
                b.clear();
            }
            self.this_start_delay = 0;
            if let Some(t) = &mut self.tracker {
                t.reset(Instant::now());
            }
            self.spawn();
        }
    }

    fn reap(&mut self) {
        loop {
            let mut status = 0;
            // SAFETY: plain syscall. As a subreaper (or PID 1) we also collect adopted orphans.
            let r = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
            if r <= 0 {
                if r < 0
                    && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted
                {
                    continue;
                }
                return;
            }
            if self
                .run
                .as_ref()
                .is_some_and(|run| run.pid == r && run.exit_status.is_none())
            {
                self.on_app_exit(status);
            }
        }
    }

    fn on_app_exit(&mut self, status: libc::c_int) {
        let Some(r) = &mut self.run else { return };
        r.exit_status = Some(status);
        r.ready_deadline = None;
        let name = &self.o.name;
        let last = last_exit(status);
        if r.stop.is_none() {
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
        let Some(r) = &mut self.run else { return };
        if let Some(prev) = r.stop {
            // A manager stop during a memory restart or a restart turns it into a plain stop.
            if prev != StopReason::Manager && reason == StopReason::Manager {
                r.stop = Some(reason);
            }
            return;
        }
        r.stop = Some(reason);
        r.ready_deadline = None;
        let gone = r.exit_status.is_some();
        self.write_status(if reason == StopReason::Manager {
            state::STOPPING
        } else {
            state::RESTARTING
        });
        if reason == StopReason::Manager
            && let Some(n) = &self.notifier
        {
            n.send("STOPPING=1");
        }
        if gone {
            // Already gone; the tree cleanup (if any) is under way.
            return;
        }
        let Some(r) = &mut self.run else { return };
        let by_message = self.o.shutdown_with_message
            && r.ipc.as_mut().is_some_and(|i| i.send(ipc_msg::SHUTDOWN));
        r.kill = Kill::Signalled(Instant::now() + self.o.kill_timeout);
        if !by_message {
            self.signal_app(self.o.kill_signal);
        }
    }

    /// treekill: the app's process group, plus (Linux) descendants that left it — PM2's treekill
    /// walks the tree by parent pid regardless of group. Each process gets the signal once: a
    /// second SIGINT makes many Node apps skip their graceful path.
    fn signal_app(&self, sig: libc::c_int) {
        let Some(r) = &self.run else { return };
        if !self.o.treekill {
            if r.exit_status.is_none() {
                sys::kill(r.pid, sig);
            }
            return;
        }
        sys::kill(-r.pid, sig);
        #[cfg(target_os = "linux")]
        // SAFETY: getpid cannot fail.
        let root = unsafe { libc::getpid() };
        #[cfg(not(target_os = "linux"))]
        let root = r.pid;
        for p in tree::descendants(root) {
            // SAFETY: plain syscall.
            if unsafe { libc::getpgid(p) } != r.pid {
                sys::kill(p, sig);
            }
        }
    }

    fn check_memory(&mut self) {
        let Some(limit) = self.o.max_memory else {
            return;
        };
        let Some(r) = self.run.as_ref().filter(|r| r.exit_status.is_none()) else {
            return;
        };
        #[cfg(target_os = "linux")]
        // SAFETY: getpid cannot fail.
        let pids = tree::descendants(unsafe { libc::getpid() });
        #[cfg(not(target_os = "linux"))]
        let pids = {
            let mut v = vec![r.pid];
            v.extend(tree::descendants(r.pid));
            v
        };
        #[cfg(target_os = "linux")]
        let _ = r;
        let used: u64 = pids.iter().filter_map(|&p| tree::memory_bytes(p)).sum();
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
        if let Some(ipc) = self.run.as_mut().and_then(|r| r.ipc.as_mut()) {
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
        if let Some(f) = &mut self.prep.fifo {
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
        let Some(r) = &mut self.run else { return };
        if r.ready || r.stop.is_some() || r.exit_status.is_some() {
            return;
        }
        r.ready = true;
        r.ready_deadline = None;
        let pid = r.pid;
        // Status file first: whoever reacts to READY=1 must find it already current.
        self.write_status(state::ONLINE);
        if let Some(p) = &self.o.ready_file
            && let Err(e) = sys::replace_file(p, format!("{pid}\n").as_bytes())
        {
            say!(
                "cannot write ready file `{}`: {}",
                p.display(),
                sys::err_text(&e)
            );
        }
        if let Some(n) = &self.notifier {
            n.send(&format!(
                "READY=1\nSTATUS={} online (pid {pid})",
                self.o.name
            ));
        }
    }

    fn write_status(&self, state: &'static str) {
        let Some(s) = &self.status else { return };
        let run = self.run.as_ref();
        let running = run.is_some_and(|r| r.exit_status.is_none());
        s.write(&Snapshot {
            state,
            pid: run.filter(|_| running).map(|r| r.pid),
            started_at_unix_ms: run.map(|r| r.started_unix_ms),
            ready: running && run.is_some_and(|r| r.ready),
        });
    }

    fn finish(mut self, outcome: Outcome) -> Outcome {
        if let Some(l) = &mut self.prep.logs {
            l.finish();
        }
        outcome
    }
}

/// Starting a run and deciding what follows it.
impl Supervisor<'_> {
    fn spawn(&mut self) {
        if let Some(b) = &self.backoff {
            b.record(self.this_start_delay);
        }
        let o = self.o;
        let (spawn, ipc) = match self.prep.spawn_for_run(o) {
            Ok(s) => s,
            Err(e) => {
                self.done = Some(setup_failed("cannot prepare the app's descriptors", &e));
                return;
            }
        };
        let started = Instant::now();
        let pid = match spawn.run(&self.orig_mask) {
            Ok(pid) => pid,
            Err(SpawnError::Exec(e)) => {
                say!(
                    "cannot execute `{}`: {}",
                    Path::new(&o.program).display(),
                    sys::err_text(&e)
                );
                if let Some(s) = &mut self.status {
                    s.set_last_exit(LastExit::Code(exit::EXEC_FAILED));
                }
                let status = exit::EXEC_FAILED << 8;
                if self.tracker.is_some() {
                    self.after_exit(status, Duration::ZERO);
                } else {
                    self.write_status(state::ERRORED);
                    self.done = Some(Outcome::Exit(exit::EXEC_FAILED));
                }
                return;
            }
            Err(SpawnError::Setup(e)) => {
                self.done = Some(setup_failed("cannot start the app", &e));
                return;
            }
        };
        self.starts += 1;
        if self.starts > 1
            && let Some(s) = &mut self.status
        {
            s.count_restart();
        }
        if let Some(p) = &o.pid_file {
            pidfile::record(p, pid);
        }
        self.run = Some(Run {
            pid,
            ipc,
            started,
            started_unix_ms: sys::now_unix_ms(),
            ready: false,
            ready_deadline: None,
            stop: None,
            kill: Kill::Idle,
            exit_status: None,
            mem_next: o.max_memory.map(|_| started + o.memory_poll),
            backoff_reset_at: self.backoff.as_ref().map(|b| started + b.reset_after),
        });
        if o.wait_ready || o.ready_on_listen {
            if let Some(r) = &mut self.run {
                r.ready_deadline = Some(started + o.listen_timeout);
            }
            self.write_status(state::LAUNCHING);
        } else {
            // The exec succeeded: that is all "online" means without wait_ready.
            self.declare_ready();
        }
    }

    /// The run's main process exited and nothing of its tree is left.
    fn end_run(&mut self) {
        // Its last lines before anything of the next run.
        if let Some(l) = &mut self.prep.logs {
            l.drain();
        }
        if let Some(p) = &self.o.ready_file {
            let _ = std::fs::remove_file(p);
        }
        if let Some(p) = &self.o.pid_file {
            pidfile::clear(p);
        }
        let Some(r) = &self.run else { return };
        let (status, stop, uptime) = (r.exit_status.unwrap_or(0), r.stop, r.started.elapsed());
        // Stopped or restarted on purpose (manager, memory, restart): PM2's resetState clears
        // the backoff. An app that exits on its own keeps it, so the next start waits longer.
        if stop.is_some()
            && let Some(b) = &self.backoff
        {
            b.clear();
        }
        match (stop, self.tracker.is_some()) {
            (Some(StopReason::Manager), _) => {
                self.write_status(state::STOPPED);
                self.done = Some(outcome_of(status));
            }
            (Some(_), false) => {
                self.write_status(state::RESTARTING);
                self.done = Some(Outcome::Exit(exit::RESTART));
            }
            (Some(_), true) => {
                if let Some(t) = &mut self.tracker {
                    t.reset(Instant::now());
                }
                self.run = None;
                self.spawn();
                return;
            }
            (None, false) => {
                self.write_status(state::EXITED);
                self.done = Some(outcome_of(status));
            }
            (None, true) => {
                self.after_exit(status, uptime);
                return;
            }
        }
        self.run = None;
    }

    /// `--autorestart`: the app exited on its own (or could not be executed).
    fn after_exit(&mut self, status: libc::c_int, uptime: Duration) {
        let Some(t) = &mut self.tracker else { return };
        let code = (!libc::WIFSIGNALED(status)).then(|| libc::WEXITSTATUS(status));
        let decision = t.on_exit(&restart::Exit { code, uptime }, Instant::now());
        let unstable = t.unstable_restarts;
        if let Some(s) = &mut self.status {
            s.set_unstable_restarts(unstable);
        }
        let stay_down = match self.o.stay_down_exit_code {
            Some(c) => Outcome::Exit(c),
            None => outcome_of(status),
        };
        match decision {
            Decision::Stay => {
                say!(
                    "{} exited with a stop exit code; not restarting it",
                    self.o.name
                );
                self.write_status(state::EXITED);
                self.run = None;
                self.done = Some(stay_down);
            }
            Decision::Errored => {
                say!(
                    "{} had too many unstable restarts ({}, each up less than {} ms); not restarting it",
                    self.o.name,
                    self.o.max_restarts,
                    self.o.min_uptime.as_millis()
                );
                if let Some(s) = &mut self.status {
                    s.set_unstable_restarts(self.o.max_restarts);
                }
                self.write_status(state::ERRORED);
                self.run = None;
                self.done = Some(stay_down);
            }
            Decision::RestartAfter(d) if d.is_zero() => {
                self.run = None;
                self.spawn();
            }
            Decision::RestartAfter(d) => {
                self.run = None;
                let why = if self.o.backoff_initial.is_some() {
                    "exponential backoff"
                } else {
                    "restart_delay"
                };
                self.wait_before_start(d, why);
            }
        }
    }
}

fn last_exit(status: libc::c_int) -> LastExit {
    if libc::WIFSIGNALED(status) {
        LastExit::Signal(libc::WTERMSIG(status))
    } else {
        LastExit::Code(libc::WEXITSTATUS(status))
    }
}

fn outcome_of(status: libc::c_int) -> Outcome {
    if libc::WIFSIGNALED(status) {
        Outcome::Signal(libc::WTERMSIG(status))
    } else {
        Outcome::Exit(libc::WEXITSTATUS(status))
    }
}
