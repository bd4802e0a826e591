//! The contract between the rgen compiler and `rgen-shim`.
//!
//! The compiler renders `rgen-shim [OPTIONS] -- PROGRAM [ARG...]` from these names and the shim
//! parses the same names, so a rename here breaks both sides at compile time instead of at run
//! time. The shim includes this file with `#[path]` because it must not link the rgen library
//! (std + libc only, ~1 MiB resident), so this file must stay std-only and self-contained.
//!
//! Every option that takes a value takes it as the next argument (`--name api`); `--opt=value`
//! is accepted too. PROGRAM must be an absolute path; it is exec'd directly, never via a shell.

/// The binary's name as installed next to `rgen`.
pub const BIN: &str = "rgen-shim";

/// Separates the shim's options from the app's argv.
pub const END_OF_OPTIONS: &str = "--";

/// Command-line options. Durations are integer milliseconds, sizes integer bytes.
pub mod opt {
    /// `NAME`: app name used in the shim's messages, state file and status file.
    pub const NAME: &str = "--name";
    /// `SIG` (`SIGINT`, `INT` or a number): signal sent to the app to stop it.
    pub const KILL_SIGNAL: &str = "--kill-signal";
    /// `MS`: grace period after the stop signal before SIGKILL.
    pub const KILL_TIMEOUT: &str = "--kill-timeout";
    /// Flag: signal only the app's pid, not its process tree (PM2 `treekill: false`).
    pub const NO_TREEKILL: &str = "--no-treekill";
    /// Flag: stop by writing the IPC message `"shutdown"` (implies `--ipc`).
    pub const SHUTDOWN_WITH_MESSAGE: &str = "--shutdown-with-message";
    /// Flag: give the app a Node IPC channel (`NODE_CHANNEL_FD`).
    pub const IPC: &str = "--ipc";
    /// Flag: READY=1 only after the app sends `'ready'` (implies `--ipc`).
    pub const WAIT_READY: &str = "--wait-ready";
    /// `MS`: how long to wait for `'ready'` / listening before declaring the app ready anyway.
    pub const LISTEN_TIMEOUT: &str = "--listen-timeout";
    /// Flag: READY=1 once a Node process of the app listens (needs `--node-preload`).
    pub const READY_ON_LISTEN: &str = "--ready-on-listen";
    /// `HOST:PORT`: bind a SO_REUSEPORT listening socket and pass it as fd 3.
    pub const LISTEN: &str = "--listen";
    /// Flag: inject the Node preload (listen() redirection, readiness relay) via NODE_OPTIONS.
    pub const NODE_PRELOAD: &str = "--node-preload";
    /// `N`: instance number, exported as `--instance-var`.
    pub const INSTANCE: &str = "--instance";
    /// `NAME`: env var that receives the instance number (default `NODE_APP_INSTANCE`).
    pub const INSTANCE_VAR: &str = "--instance-var";
    /// `VAR`: env var set to (its value in the shim's env, default 0) + instance (needs `--instance`).
    pub const INCREMENT_VAR: &str = "--increment-var";
    /// `MS`: enable PM2 exponential backoff with this first delay.
    pub const BACKOFF_INITIAL: &str = "--backoff-initial";
    /// `DIR`: where the backoff state file lives.
    pub const STATE_DIR: &str = "--state-dir";
    /// `BYTES` (suffix K/M/G = binary multiples accepted): RSS limit of the app's process tree.
    pub const MAX_MEMORY: &str = "--max-memory";
    /// `MS`: memory poll interval.
    pub const MEMORY_POLL_MS: &str = "--memory-poll-ms";
    /// `PATH`: app stdout log file (appended).
    pub const STDOUT: &str = "--stdout";
    /// `PATH`: app stderr log file (appended).
    pub const STDERR: &str = "--stderr";
    /// `PATH`: combined stdout+stderr log file (appended).
    pub const COMBINED: &str = "--combined";
    /// `FMT`: day.js-style timestamp prefix for each log line (`<date>: <line>`, as PM2).
    pub const LOG_DATE_FORMAT: &str = "--log-date-format";
    /// `BYTES`: rotate a log file by rename once it would grow past this size.
    pub const LOG_MAX_SIZE: &str = "--log-max-size";
    /// `N`: rotated files kept per log (`file.1` … `file.N`).
    pub const LOG_KEEP: &str = "--log-keep";
    /// `PATH`: JSON status file, rewritten atomically on every state change.
    pub const STATUS_FILE: &str = "--status-file";
}

/// Defaults the compiler can rely on (it may omit an option whose value equals its default).
pub mod default {
    /// PM2 `PM2_KILL_SIGNAL`.
    pub const KILL_SIGNAL: &str = "SIGINT";
    /// PM2 `kill_timeout`.
    pub const KILL_TIMEOUT_MS: u64 = 1600;
    /// PM2 `GRACEFUL_LISTEN_TIMEOUT`.
    pub const LISTEN_TIMEOUT_MS: u64 = 3000;
    /// PM2 `instance_var`.
    pub const INSTANCE_VAR: &str = "NODE_APP_INSTANCE";
    pub const MEMORY_POLL_MS: u64 = 1000;
    /// pm2-logrotate's `retain` default.
    pub const LOG_KEEP: u32 = 30;
    /// The format PM2 uses for `time: true`.
    pub const PM2_TIME_FORMAT: &str = "YYYY-MM-DDTHH:mm:ss";
    /// Hard-coded in PM2 `God.handleExit`.
    pub const BACKOFF_CAP_MS: u64 = 15000;
    /// PM2 `EXP_BACKOFF_RESET_TIMER`.
    pub const BACKOFF_RESET_MS: u64 = 30000;
    /// Node's default `server.listen()` backlog.
    pub const LISTEN_BACKLOG: i32 = 511;
    /// `LISTEN_FDNAMES` value for a socket made by `--listen`.
    pub const LISTEN_FDNAME: &str = "rgen";
}

/// Environment variables the shim reads or sets.
pub mod env {
    /// sd_notify socket (path, or abstract namespace when it starts with `@`). Passed through to the app.
    pub const NOTIFY_SOCKET: &str = "NOTIFY_SOCKET";
    /// systemd socket activation; rewritten for the app (LISTEN_PID = the app's own pid).
    pub const LISTEN_FDS: &str = "LISTEN_FDS";
    pub const LISTEN_PID: &str = "LISTEN_PID";
    pub const LISTEN_FDNAMES: &str = "LISTEN_FDNAMES";
    /// systemd ≥ 258; names the shim's pidfd, so it is never forwarded.
    pub const LISTEN_PIDFDID: &str = "LISTEN_PIDFDID";
    /// systemd `RuntimeDirectory=`: first choice for the state file and the preload file.
    pub const RUNTIME_DIRECTORY: &str = "RUNTIME_DIRECTORY";
    pub const XDG_RUNTIME_DIR: &str = "XDG_RUNTIME_DIR";
    /// Node IPC channel given to the app with `--ipc`.
    pub const NODE_CHANNEL_FD: &str = "NODE_CHANNEL_FD";
    pub const NODE_CHANNEL_SERIALIZATION_MODE: &str = "NODE_CHANNEL_SERIALIZATION_MODE";
    /// `--node-preload` appends `--require <preload>` to it.
    pub const NODE_OPTIONS: &str = "NODE_OPTIONS";
    /// Set for the app whenever a listening socket is passed: the fd number (always 3).
    pub const RGEN_LISTEN_FD: &str = "RGEN_LISTEN_FD";
    /// TCP port of the passed socket; the preload redirects `listen(<this port>)` to the fd.
    pub const RGEN_LISTEN_PORT: &str = "RGEN_LISTEN_PORT";
    /// FIFO through which the preload reports to the shim (see [`super::preload`]).
    pub const RGEN_SHIM_FIFO: &str = "RGEN_SHIM_FIFO";
    /// What the shim waits for from the preload: [`super::preload::READY`] or [`super::preload::LISTENING`].
    pub const RGEN_SHIM_READY_ON: &str = "RGEN_SHIM_READY_ON";
    /// Hidden test knob: overrides [`super::default::BACKOFF_RESET_MS`]. Never forwarded to the app.
    pub const RGEN_SHIM_BACKOFF_RESET_MS: &str = "RGEN_SHIM_BACKOFF_RESET_MS";
    /// Hidden test knob: overrides [`super::default::BACKOFF_CAP_MS`]. Never forwarded to the app.
    pub const RGEN_SHIM_BACKOFF_CAP_MS: &str = "RGEN_SHIM_BACKOFF_CAP_MS";
}

/// File descriptors in the app.
pub mod fd {
    /// First passed listening socket (`SD_LISTEN_FDS_START`); the IPC channel goes right after the
    /// last one, so it is 3 without sockets and 4 with one socket.
    pub const LISTEN_FDS_START: i32 = 3;
}

/// Messages on the Node IPC channel (`json` serialization: one JSON value per line).
pub mod ipc {
    /// The app's `process.send('ready')`.
    pub const READY: &str = "\"ready\"";
    /// Written by the shim for `--shutdown-with-message` (PM2 `proc.send('shutdown')`).
    pub const SHUTDOWN: &str = "\"shutdown\"";
}

/// Lines the preload writes to `RGEN_SHIM_FIFO`: `<kind> <pid>[ <port>]\n`.
pub mod preload {
    pub const READY: &str = "ready";
    pub const LISTENING: &str = "listening";
}

/// Exit statuses of the shim itself. When the app exits, the shim exits with the app's code, or
/// dies of the app's signal, so these overlap with app codes by design; they matter only for
/// failures that happen before the app runs.
pub mod exit {
    /// Bad command line (`rgen-shim: error: ...`).
    pub const USAGE: i32 = 2;
    /// The shim could not set the app up (socket bind, log file, state dir...).
    pub const SETUP_FAILED: i32 = 1;
    /// `execve` of PROGRAM failed (as a shell reports "command not found").
    pub const EXEC_FAILED: i32 = 127;
    /// `--max-memory` was exceeded and the app was stopped: restart me (`EX_TEMPFAIL`).
    pub const MEMORY_RESTART: i32 = 75;
}

/// Backoff state file, `<state-dir>/<name>[-<instance>].backoff`: one line
/// `prev_restart_delay_ms=<N>` (PM2's `prev_restart_delay`; 0 after a reset).
pub mod backoff {
    pub const FILE_SUFFIX: &str = ".backoff";
    pub const KEY: &str = "prev_restart_delay_ms";
}

/// `--status-file` JSON, one object rewritten atomically (temp + rename) on each change:
/// `{"name":"api","state":"online","pid":123,"started_at_unix_ms":1700000000000,
///   "restarts":2,"last_exit":{"code":1}|{"signal":9}|null,"ready":true}`.
/// `pid` is the app's (null when it is not running); `restarts` counts shim starts since the
/// file was created (delete it to reset, like `pm2 reset`); `last_exit` is the previous run's
/// until this run's app exits.
pub mod status {
    /// Sleeping before the spawn (exponential backoff); PM2 "waiting restart".
    pub const WAITING_RESTART: &str = "waiting-restart";
    /// Spawned, waiting for 'ready' or a listening socket (bounded by --listen-timeout).
    pub const LAUNCHING: &str = "launching";
    pub const ONLINE: &str = "online";
    /// Stop signal or message sent; waiting for the tree to go.
    pub const STOPPING: &str = "stopping";
    /// Stopped by the service manager.
    pub const STOPPED: &str = "stopped";
    /// The app exited on its own (see `last_exit`).
    pub const EXITED: &str = "exited";
    /// Stopped by the memory watchdog; the shim exits with [`super::exit::MEMORY_RESTART`].
    pub const RESTARTING: &str = "restarting";
    /// PROGRAM could not be executed.
    pub const ERRORED: &str = "errored";
}
