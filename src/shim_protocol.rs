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

    // Log files and their rotation: pm2-logrotate's settings (`pm2 set pm2-logrotate:<key>`),
    // applied by the shim to the files it writes (`--stdout`, `--stderr`, `--combined`,
    // `--shim-log`). Rotation is by rename, never copy-and-truncate: the shim holds the only
    // descriptor that writes, so it renames the live file and opens a new one between two
    // writes and loses nothing. The live file always stays at its path (`tail -F` and
    // `rgen logs --follow` keep working). A rotated file is named as pm2-logrotate names it:
    // `<dir>/<stem>__<date>.log` with `<stem>` the live name without its `.log` (a name not
    // ending in `.log` is kept whole), and `_1`, `_2`… before `.log` when one date would repeat.
    // Log files are opened O_APPEND|O_NOFOLLOW|O_CLOEXEC, created 0640; the shim refuses (exit
    // [`super::exit::SETUP_FAILED`], with the reason on its stderr) a path whose last component is
    // a symlink or that is not a regular file, except `/dev/null`, which is written but never
    // rotated. A file emptied in place (`rgen flush`) goes on from its new end.
    //
    // Several shims may write one file (instances with `merge_logs`): each re-checks every
    // second that its descriptor is still the file at the path and follows a rotation another
    // one did; rotations take `flock(LOCK_EX|LOCK_NB)` on the live file, so one shim rotates and
    // the others follow. A rotated file is compressed 2 s after its rename, once every writer
    // has moved on. `max_size` is exact for a file with one writer; with several, a file can
    // outgrow it by what the others wrote in the last second.
    /// `BYTES` (suffix K/M/G accepted, as pm2-logrotate's `max_size`): rotate a log before a
    /// write that would make it larger than this (checked on every write, not on a timer).
    /// pm2-logrotate's default is [`super::default::PM2_LOGROTATE_MAX_SIZE`]; without this
    /// option the shim does not rotate by size.
    pub const LOG_MAX_SIZE: &str = "--log-max-size";
    /// `N` or `all`: rotated files kept per log (pm2-logrotate `retain`); after each rotation
    /// the oldest beyond N are deleted (by the time of their last line). 0 deletes the rotated
    /// file at once. Default [`super::default::LOG_RETAIN`].
    pub const LOG_RETAIN: &str = "--log-retain";
    /// Old name of [`LOG_RETAIN`], still accepted. (Rotated files used to be `file.1`…`file.N`;
    /// they are now named as pm2-logrotate names them.)
    pub const LOG_KEEP: &str = "--log-keep";
    /// Flag: gzip each rotated file to `<name>.log.gz` (pm2-logrotate `compress`), in a helper
    /// thread so writes never wait for it. The archive appears only once complete (written as
    /// `<name>.log.gz.tmp.<pid>`, then renamed); a shim that died mid-way has its leftovers
    /// finished by the next one.
    pub const LOG_COMPRESS: &str = "--log-compress";
    /// `FMT`: day.js/moment tokens for the date in rotated names (pm2-logrotate `dateFormat`,
    /// local time). Default [`super::default::LOG_ROTATE_DATE_FORMAT`].
    pub const LOG_ROTATE_DATE_FORMAT: &str = "--log-rotate-date-format";
    /// `CRON`: also rotate every non-empty log at these times, whatever its size
    /// (pm2-logrotate `rotateInterval`; node-schedule syntax: 5 fields, or 6 with seconds
    /// first; local time). pm2-logrotate's default is
    /// [`super::default::PM2_LOGROTATE_ROTATE_INTERVAL`]; without this option there is no
    /// time-based rotation.
    pub const LOG_ROTATE_INTERVAL: &str = "--log-rotate-interval";
    /// `MS`: pm2-logrotate `workerInterval` (there in seconds). pm2-logrotate checks sizes only
    /// this often; rgen checks them on every write, so here it only bounds how late a
    /// `--log-rotate-interval` rotation can be after the wall clock jumped (a Mac waking from
    /// sleep, an NTP step). Default [`super::default::LOG_WORKER_INTERVAL_MS`].
    pub const LOG_WORKER_INTERVAL: &str = "--log-worker-interval";
    /// `PATH`: the shim writes its own messages (`rgen-shim[NAME]: …`, each line prefixed with
    /// the local time) to this file instead of its stderr, rotated with the same settings as
    /// the app's logs. For launchd, whose `StandardErrorPath` stays open in launchd's hands and
    /// cannot be rotated; errors before the file is open (bad command line) still go to stderr.
    pub const SHIM_LOG: &str = "--shim-log";
    /// `PATH`: JSON status file, rewritten atomically on every state change.
    pub const STATUS_FILE: &str = "--status-file";

    // Restarting in the shim. Without `--autorestart` the shim runs the app once and exits
    // with its status, and the service manager restarts the shim (systemd; launchd
    // `KeepAlive`). With it, the shim restarts the app itself with PM2's rules (lib/God.js
    // `handleExit`), for launchd (no backoff, no restart limit, a 10 s respawn throttle) and
    // for a container's PID 1 (the `pm2-runtime` role).
    /// Flag: restart the app whenever it exits (PM2 `autorestart: true`), until the shim is
    /// stopped (SIGTERM/SIGINT), the app exits with a `--stop-exit-codes` code, or it had
    /// `--max-restarts` unstable restarts (status `errored`). Memory restarts
    /// (`--max-memory`) and [`super::signal::RESTART`] restart it in place.
    pub const AUTORESTART: &str = "--autorestart";
    /// `MS`: PM2 `restart_delay`: sleep this long after the app exits before starting it
    /// again (status `waiting-restart`). `--backoff-initial` replaces it, as in PM2.
    pub const RESTART_DELAY: &str = "--restart-delay";
    /// `MS`: PM2 `min_uptime`: a run shorter than this is unstable. Default
    /// [`super::default::MIN_UPTIME_MS`].
    pub const MIN_UPTIME: &str = "--min-uptime";
    /// `N`: PM2 `max_restarts`. PM2's rule, exactly: an exit counts as an unstable restart if
    /// the run was shorter than `min_uptime` *and* it happened within `min_uptime ×
    /// max_restarts` of the first start (or of the last manual or memory restart); once the
    /// count reaches `max_restarts` the app is left down, status `errored`, and the shim exits
    /// (see `--stay-down-exit-code`). So `0` means "never restart", and a crash loop slower
    /// than that window is restarted forever, as in PM2. Default
    /// [`super::default::MAX_RESTARTS`].
    pub const MAX_RESTARTS: &str = "--max-restarts";
    /// `CODE[,CODE…]`: PM2 `stop_exit_codes`: an exit with one of these leaves the app down
    /// (status `exited`) and the shim exits.
    pub const STOP_EXIT_CODES: &str = "--stop-exit-codes";
    /// `N` (0–255): the shim's exit status when it leaves the app down on its own (errored, or
    /// a `--stop-exit-codes` exit). Default: the app's own status (for a container, so the
    /// orchestrator sees the app's failure). launchd with `KeepAlive {SuccessfulExit: false}`
    /// wants `0` here, so it does not start the shim again.
    pub const STAY_DOWN_EXIT_CODE: &str = "--stay-down-exit-code";
    /// `PATH`: the app's pid (`<pid>\n`) is written here at each start and removed when the
    /// app is gone. At startup, if the file names an app that is still running (the previous
    /// shim was SIGKILLed — on macOS nothing else takes its app down), that app's process
    /// group is stopped (stop signal, SIGKILL after `--kill-timeout`) before the new app
    /// starts. A pid is trusted only if the file was written after boot and the process with
    /// that pid (if any) started before the file was written.
    pub const PID_FILE: &str = "--pid-file";
    /// `PATH`: created (containing the app's pid) when the app is declared ready (when READY=1
    /// would be sent), removed when it stops or exits, and at startup. For a container
    /// readiness probe: `test -f PATH`.
    pub const READY_FILE: &str = "--ready-file";
}

/// Signals the shim gives a meaning of its own. Sent to the shim's pid (`launchctl kill SIG
/// <domain>/<label>`, `kill`, `docker kill -s`).
pub mod signal {
    /// Graceful restart: the stop signal (or message) to the app's process group, SIGKILL after
    /// `--kill-timeout`, then a new app as soon as the old one is gone — never both at once.
    /// With `--autorestart` the shim restarts it in place, resetting PM2's restart counters and
    /// backoff (PM2 `resetState`); without, it exits with [`super::exit::RESTART`] for the
    /// manager to start it again. Use it instead of `launchctl kickstart -k`, which SIGKILLs the
    /// shim. SIGURG because its default action is to be ignored: sent to a process without a
    /// handler it does nothing, so it can never kill anything by mistake.
    pub const RESTART: &str = "SIGURG";
    /// Stop the app PM2-style and exit: SIGTERM (what launchd, systemd, Docker and Kubernetes
    /// send) and SIGINT.
    pub const STOP: [&str; 2] = ["SIGTERM", "SIGINT"];
    /// Passed on to the app (its process, not its group): SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2,
    /// SIGWINCH.
    pub const FORWARDED: [&str; 5] = ["SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGWINCH"];
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
    /// pm2-logrotate's `retain` default (its package.json `config`).
    pub const LOG_RETAIN: u32 = 30;
    /// pm2-logrotate's `max_size` default, 10M, for the compiler to pass.
    pub const PM2_LOGROTATE_MAX_SIZE: u64 = 10 << 20;
    /// pm2-logrotate's `rotateInterval` default (daily at midnight), for the compiler to pass.
    pub const PM2_LOGROTATE_ROTATE_INTERVAL: &str = "0 0 * * *";
    /// pm2-logrotate's `dateFormat` default.
    pub const LOG_ROTATE_DATE_FORMAT: &str = "YYYY-MM-DD_HH-mm-ss";
    /// pm2-logrotate's `workerInterval` default (30 s).
    pub const LOG_WORKER_INTERVAL_MS: u64 = 30000;
    /// PM2 `min_uptime` default (lib/God.js handleExit).
    pub const MIN_UPTIME_MS: u64 = 1000;
    /// PM2 `max_restarts` default (lib/God.js handleExit).
    pub const MAX_RESTARTS: u32 = 16;
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
    /// Hidden test knob (Linux): no `PR_SET_PDEATHSIG` for the app, as on macOS, to test
    /// `--pid-file`. Never forwarded to the app.
    pub const RGEN_SHIM_NO_PDEATHSIG: &str = "RGEN_SHIM_NO_PDEATHSIG";
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
    /// Without `--autorestart`: the app was stopped on purpose to be restarted (`--max-memory`
    /// exceeded, or [`super::signal::RESTART`]): start the shim again (`EX_TEMPFAIL`).
    pub const RESTART: i32 = 75;
    /// The same code, by its first use.
    pub const MEMORY_RESTART: i32 = RESTART;
}

/// Backoff state file, `<state-dir>/<name>[-<instance>].backoff`: one line
/// `prev_restart_delay_ms=<N>` (PM2's `prev_restart_delay`; 0 after a reset).
pub mod backoff {
    pub const FILE_SUFFIX: &str = ".backoff";
    pub const KEY: &str = "prev_restart_delay_ms";
}

/// `--status-file` JSON, one object rewritten atomically (temp + rename) on each change:
/// `{"name":"api","state":"online","pid":123,"started_at_unix_ms":1700000000000,
///   "restarts":2,"unstable_restarts":0,"last_exit":{"code":1}|{"signal":9}|null,
///   "ready":true}`.
/// `pid` is the app's (null when it is not running); `restarts` counts starts of the app after
/// the first since the file was created — shim starts, and with `--autorestart` the shim's own
/// restarts (delete the file to reset, like `pm2 reset`); `unstable_restarts` is PM2's counter
/// (see `--max-restarts`; always 0 without `--autorestart`); `last_exit` is the previous run's
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
    /// The app exited on its own (see `last_exit`) and is not restarted by the shim (no
    /// `--autorestart`, or a `--stop-exit-codes` exit).
    pub const EXITED: &str = "exited";
    /// Stopped to be restarted (memory watchdog, [`super::signal::RESTART`]); without
    /// `--autorestart` the shim then exits with [`super::exit::RESTART`].
    pub const RESTARTING: &str = "restarting";
    /// PROGRAM could not be executed, or (`--autorestart`) it had `--max-restarts` unstable
    /// restarts and is left down, as PM2's `errored`.
    pub const ERRORED: &str = "errored";
}
