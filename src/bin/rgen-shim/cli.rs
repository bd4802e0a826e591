//! Command line, hand-parsed: the shim stays std-only, and the contract lives in `shim_protocol`.

use std::ffi::{OsStr, OsString};
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::time::Duration;

use crate::shim_protocol::{END_OF_OPTIONS, default, opt};

pub struct Options {
    pub name: String,
    pub kill_signal: libc::c_int,
    pub kill_timeout: Duration,
    pub treekill: bool,
    pub shutdown_with_message: bool,
    pub ipc: bool,
    pub wait_ready: bool,
    pub listen_timeout: Duration,
    pub ready_on_listen: bool,
    pub listen: Option<SocketAddr>,
    pub node_preload: bool,
    pub instance: Option<u64>,
    pub instance_var: String,
    pub increment_var: Option<String>,
    pub backoff_initial: Option<u64>,
    pub state_dir: Option<PathBuf>,
    pub max_memory: Option<u64>,
    pub memory_poll: Duration,
    pub stdout: Option<PathBuf>,
    pub stderr: Option<PathBuf>,
    pub combined: Option<PathBuf>,
    pub log_date_format: Option<String>,
    pub log_max_size: Option<u64>,
    /// None: keep every rotated file.
    pub log_retain: Option<u32>,
    pub log_compress: bool,
    pub log_rotate_date_format: String,
    pub log_rotate_interval: Option<croner::Cron>,
    pub log_worker_interval: Duration,
    pub shim_log: Option<PathBuf>,
    pub status_file: Option<PathBuf>,
    pub autorestart: bool,
    pub restart_delay: Duration,
    pub min_uptime: Duration,
    pub max_restarts: u32,
    pub stop_exit_codes: Vec<i32>,
    pub stay_down_exit_code: Option<i32>,
    pub pid_file: Option<PathBuf>,
    pub ready_file: Option<PathBuf>,
    pub program: OsString,
    pub args: Vec<OsString>,
}

impl Options {
    pub fn logs_configured(&self) -> bool {
        self.stdout.is_some() || self.stderr.is_some() || self.combined.is_some()
    }
}

pub enum Parsed {
    Run(Box<Options>),
    Help,
    Version,
}

pub const USAGE: &str = "\
usage: rgen-shim [OPTIONS] -- PROGRAM [ARG...]

Runs PROGRAM (an absolute path) under the PM2 behaviours systemd/launchd lack.

  --name NAME               app name for messages and state files
  --kill-signal SIG         stop signal (default SIGINT)
  --kill-timeout MS         SIGKILL after MS (default 1600)
  --no-treekill             signal only the app's pid, not its process tree
  --shutdown-with-message   stop by sending IPC \"shutdown\" (implies --ipc)
  --ipc                     give the app a Node IPC channel
  --wait-ready              READY=1 after process.send('ready') (implies --ipc)
  --listen-timeout MS       declare ready anyway after MS (default 3000)
  --ready-on-listen         READY=1 once the app listens (needs --node-preload)
  --listen HOST:PORT        pass a SO_REUSEPORT listening socket as fd 3
  --node-preload            redirect listen(PORT) to fd 3, relay readiness
  --instance N              instance number, exported as --instance-var
  --instance-var NAME       default NODE_APP_INSTANCE
  --increment-var VAR       VAR = (VAR or 0) + instance
  --backoff-initial MS      exponential backoff between restarts (PM2)
  --state-dir DIR           where the backoff state lives
  --max-memory BYTES        restart (exit 75) above this tree RSS
  --memory-poll-ms MS       memory poll interval (default 1000)
  --stdout PATH, --stderr PATH, --combined PATH
                            append the app's output to these files
  --log-date-format FMT     prefix lines with a day.js-style timestamp
  --log-max-size BYTES      rotate a log before it would grow past BYTES
  --log-retain N|all        rotated files kept per log (default 30; alias --log-keep)
  --log-compress            gzip rotated files (.log.gz)
  --log-rotate-date-format FMT
                            date in rotated names (default YYYY-MM-DD_HH-mm-ss)
  --log-rotate-interval CRON
                            also rotate at these times (5 or 6 cron fields)
  --log-worker-interval MS  how often the clock is checked for CRON (default 30000)
  --shim-log PATH           the shim's own messages go to PATH (rotated like the logs)
  --status-file PATH        JSON status, rewritten on each state change
  --autorestart             restart the app when it exits (PM2 autorestart)
  --restart-delay MS        wait MS after an exit before restarting (PM2 restart_delay)
  --min-uptime MS           shorter runs are unstable (default 1000)
  --max-restarts N          give up after N unstable restarts (default 16)
  --stop-exit-codes C,C     exit codes after which the app stays down
  --stay-down-exit-code N   the shim's exit status when it leaves the app down
  --pid-file PATH           record the app's pid; stop a leftover one at start
  --ready-file PATH         exists while the app is ready
";

pub fn parse(argv: Vec<OsString>) -> Result<Parsed, String> {
    let mut o = defaults();
    let mut seen = Seen::default();
    let mut it = argv.into_iter().skip(1);
    let mut program = None;
    while let Some(arg) = it.next() {
        let bytes = arg.as_bytes();
        if bytes == END_OF_OPTIONS.as_bytes() {
            program = it.next();
            o.args = it.by_ref().collect();
            break;
        }
        if bytes == b"--help" || bytes == b"-h" {
            return Ok(Parsed::Help);
        }
        if bytes == b"--version" {
            return Ok(Parsed::Version);
        }
        // `--opt=value` is accepted as well as `--opt value`.
        let (key, inline) = match bytes.iter().position(|&b| b == b'=') {
            Some(i) if bytes.starts_with(b"--") => (
                String::from_utf8_lossy(&bytes[..i]).into_owned(),
                Some(OsStr::from_bytes(&bytes[i + 1..]).to_owned()),
            ),
            _ => (arg.to_string_lossy().into_owned(), None),
        };
        set_option(&mut o, &key, inline, &mut it, &mut seen)?;
    }
    validate(o, program, &seen).map(|o| Parsed::Run(Box::new(o)))
}

/// Options given that only mean something with another one; checked once all are read.
#[derive(Default)]
struct Seen {
    instance_var: bool,
    given: Vec<&'static str>,
}

fn defaults() -> Options {
    Options {
        name: String::new(),
        kill_signal: libc::SIGINT,
        kill_timeout: Duration::from_millis(default::KILL_TIMEOUT_MS),
        treekill: true,
        shutdown_with_message: false,
        ipc: false,
        wait_ready: false,
        listen_timeout: Duration::from_millis(default::LISTEN_TIMEOUT_MS),
        ready_on_listen: false,
        listen: None,
        node_preload: false,
        instance: None,
        instance_var: default::INSTANCE_VAR.to_owned(),
        increment_var: None,
        backoff_initial: None,
        state_dir: None,
        max_memory: None,
        memory_poll: Duration::from_millis(default::MEMORY_POLL_MS),
        stdout: None,
        stderr: None,
        combined: None,
        log_date_format: None,
        log_max_size: None,
        log_retain: Some(default::LOG_RETAIN),
        log_compress: false,
        log_rotate_date_format: default::LOG_ROTATE_DATE_FORMAT.to_owned(),
        log_rotate_interval: None,
        log_worker_interval: Duration::from_millis(default::LOG_WORKER_INTERVAL_MS),
        shim_log: None,
        status_file: None,
        autorestart: false,
        restart_delay: Duration::ZERO,
        min_uptime: Duration::from_millis(default::MIN_UPTIME_MS),
        max_restarts: default::MAX_RESTARTS,
        stop_exit_codes: Vec::new(),
        stay_down_exit_code: None,
        pid_file: None,
        ready_file: None,
        program: OsString::new(),
        args: Vec::new(),
    }
}

fn set_option(
    o: &mut Options,
    key: &str,
    inline: Option<OsString>,
    it: &mut impl Iterator<Item = OsString>,
    seen: &mut Seen,
) -> Result<(), String> {
    let flag = |inline: &Option<OsString>| match inline {
        Some(_) => Err(format!("`{key}` takes no value")),
        None => Ok(true),
    };
    let mut value = || -> Result<OsString, String> {
        match inline.clone().or_else(|| it.next()) {
            Some(v) => Ok(v),
            None => Err(format!("`{key}` needs a value")),
        }
    };
    match key {
        opt::NAME => o.name = utf8(key, value()?)?,
        opt::KILL_SIGNAL => o.kill_signal = parse_signal(&utf8(key, value()?)?)?,
        opt::KILL_TIMEOUT => o.kill_timeout = millis(key, value()?)?,
        opt::NO_TREEKILL => o.treekill = !flag(&inline)?,
        opt::SHUTDOWN_WITH_MESSAGE => o.shutdown_with_message = flag(&inline)?,
        opt::IPC => o.ipc = flag(&inline)?,
        opt::WAIT_READY => o.wait_ready = flag(&inline)?,
        opt::LISTEN_TIMEOUT => o.listen_timeout = millis(key, value()?)?,
        opt::READY_ON_LISTEN => o.ready_on_listen = flag(&inline)?,
        opt::LISTEN => o.listen = Some(parse_listen(&utf8(key, value()?)?)?),
        opt::NODE_PRELOAD => o.node_preload = flag(&inline)?,
        opt::INSTANCE => o.instance = Some(number(key, value()?)?),
        opt::INSTANCE_VAR => {
            o.instance_var = env_name(key, value()?)?;
            seen.instance_var = true;
        }
        opt::INCREMENT_VAR => o.increment_var = Some(env_name(key, value()?)?),
        opt::BACKOFF_INITIAL => o.backoff_initial = Some(number(key, value()?)?),
        opt::STATE_DIR => o.state_dir = Some(path(key, value()?)?),
        opt::MAX_MEMORY => o.max_memory = Some(bytes_size(key, value()?)?),
        opt::MEMORY_POLL_MS => o.memory_poll = millis(key, value()?)?,
        opt::STDOUT => o.stdout = Some(path(key, value()?)?),
        opt::STDERR => o.stderr = Some(path(key, value()?)?),
        opt::COMBINED => o.combined = Some(path(key, value()?)?),
        opt::LOG_DATE_FORMAT => o.log_date_format = Some(utf8(key, value()?)?),
        opt::LOG_MAX_SIZE => o.log_max_size = Some(bytes_size(key, value()?)?),
        opt::LOG_RETAIN | opt::LOG_KEEP => {
            o.log_retain = retain(key, value()?)?;
            seen.given.push(opt::LOG_RETAIN);
        }
        opt::LOG_COMPRESS => {
            o.log_compress = flag(&inline)?;
            seen.given.push(opt::LOG_COMPRESS);
        }
        opt::LOG_ROTATE_DATE_FORMAT => {
            o.log_rotate_date_format = file_date_format(key, value()?)?;
            seen.given.push(opt::LOG_ROTATE_DATE_FORMAT);
        }
        opt::LOG_ROTATE_INTERVAL => {
            let expr = utf8(key, value()?)?;
            o.log_rotate_interval = Some(crate::clock::parse_cron(&expr).map_err(|e| {
                    format!("`{key}` expects a cron expression (5 fields, or 6 with seconds first), got `{expr}`: {e}")
                })?);
        }
        opt::LOG_WORKER_INTERVAL => {
            o.log_worker_interval = millis(key, value()?)?;
            seen.given.push(opt::LOG_WORKER_INTERVAL);
        }
        opt::SHIM_LOG => o.shim_log = Some(path(key, value()?)?),
        opt::STATUS_FILE => o.status_file = Some(path(key, value()?)?),
        opt::AUTORESTART => o.autorestart = flag(&inline)?,
        opt::RESTART_DELAY => {
            o.restart_delay = millis(key, value()?)?;
            seen.given.push(opt::RESTART_DELAY);
        }
        opt::MIN_UPTIME => {
            o.min_uptime = millis(key, value()?)?;
            seen.given.push(opt::MIN_UPTIME);
        }
        opt::MAX_RESTARTS => {
            o.max_restarts = u32::try_from(number(key, value()?)?)
                .map_err(|_| format!("`{key}` is too large"))?;
            seen.given.push(opt::MAX_RESTARTS);
        }
        opt::STOP_EXIT_CODES => {
            o.stop_exit_codes = exit_codes(key, value()?)?;
            seen.given.push(opt::STOP_EXIT_CODES);
        }
        opt::STAY_DOWN_EXIT_CODE => {
            o.stay_down_exit_code = Some(exit_code(key, &utf8(key, value()?)?)?);
            seen.given.push(opt::STAY_DOWN_EXIT_CODE);
        }
        opt::PID_FILE => o.pid_file = Some(path(key, value()?)?),
        opt::READY_FILE => o.ready_file = Some(path(key, value()?)?),
        _ if key.starts_with('-') => return Err(format!("unknown option `{key}`")),
        _ => return Err(format!("expected `--` before the program, found `{key}`")),
    }
    Ok(())
}

fn validate(mut o: Options, program: Option<OsString>, seen: &Seen) -> Result<Options, String> {
    let given = &seen.given;
    let instance_var_given = seen.instance_var;
    let Some(program) = program else {
        return Err("missing `-- PROGRAM [ARG...]`".into());
    };
    if !program.as_bytes().starts_with(b"/") {
        return Err(format!(
            "the program must be an absolute path, got `{}`",
            program.to_string_lossy()
        ));
    }
    o.program = program;
    if o.name.is_empty() {
        o.name = PathBuf::from(&o.program)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "app".into());
    }
    // PM2: wait_ready and shutdown_with_message both ride on the IPC channel.
    if o.wait_ready || o.shutdown_with_message {
        o.ipc = true;
    }
    if o.ready_on_listen && !o.node_preload {
        return Err(format!(
            "`{}` needs `{}`",
            opt::READY_ON_LISTEN,
            opt::NODE_PRELOAD
        ));
    }
    if o.increment_var.is_some() && o.instance.is_none() {
        return Err(format!(
            "`{}` needs `{}`",
            opt::INCREMENT_VAR,
            opt::INSTANCE
        ));
    }
    if instance_var_given && o.instance.is_none() {
        return Err(format!("`{}` needs `{}`", opt::INSTANCE_VAR, opt::INSTANCE));
    }
    if !o.logs_configured() && o.log_date_format.is_some() {
        return Err(format!(
            "`{}` needs `{}`, `{}` or `{}`",
            opt::LOG_DATE_FORMAT,
            opt::STDOUT,
            opt::STDERR,
            opt::COMBINED
        ));
    }
    if !o.logs_configured() && o.shim_log.is_none() {
        let rotation = [
            (o.log_max_size.is_some(), opt::LOG_MAX_SIZE),
            (o.log_rotate_interval.is_some(), opt::LOG_ROTATE_INTERVAL),
        ];
        let named = rotation
            .iter()
            .filter(|(set, _)| *set)
            .map(|(_, n)| *n)
            .chain(given.iter().copied().filter(|g| g.starts_with("--log-")))
            .next();
        if let Some(name) = named {
            return Err(format!(
                "`{name}` needs `{}`, `{}`, `{}` or `{}`",
                opt::STDOUT,
                opt::STDERR,
                opt::COMBINED,
                opt::SHIM_LOG
            ));
        }
    }
    if !o.autorestart
        && let Some(name) = given.iter().find(|g| {
            [
                opt::RESTART_DELAY,
                opt::MIN_UPTIME,
                opt::MAX_RESTARTS,
                opt::STOP_EXIT_CODES,
                opt::STAY_DOWN_EXIT_CODE,
            ]
            .contains(g)
        })
    {
        return Err(format!("`{name}` needs `{}`", opt::AUTORESTART));
    }
    if o.log_worker_interval.is_zero() {
        return Err(format!("`{}` must be above 0", opt::LOG_WORKER_INTERVAL));
    }
    if o.max_memory == Some(0) {
        return Err(format!("`{}` must be above 0", opt::MAX_MEMORY));
    }
    if o.memory_poll.is_zero() {
        return Err(format!("`{}` must be above 0", opt::MEMORY_POLL_MS));
    }
    if o.log_max_size == Some(0) {
        return Err(format!("`{}` must be above 0", opt::LOG_MAX_SIZE));
    }
    Ok(o)
}

fn utf8(key: &str, v: OsString) -> Result<String, String> {
    v.into_string()
        .map_err(|_| format!("`{key}` value is not valid UTF-8"))
}

fn path(key: &str, v: OsString) -> Result<PathBuf, String> {
    if v.is_empty() {
        return Err(format!("`{key}` needs a non-empty path"));
    }
    Ok(PathBuf::from(v))
}

fn number(key: &str, v: OsString) -> Result<u64, String> {
    let s = utf8(key, v)?;
    s.parse::<u64>()
        .map_err(|_| format!("`{key}` expects a non-negative integer, got `{s}`"))
}

fn millis(key: &str, v: OsString) -> Result<Duration, String> {
    number(key, v).map(Duration::from_millis)
}

/// Bytes, optionally with PM2's `max_memory_restart` suffixes (K/M/G are powers of 1024).
fn bytes_size(key: &str, v: OsString) -> Result<u64, String> {
    let s = utf8(key, v)?;
    let (digits, mult) = match s.as_bytes().last() {
        Some(b'K' | b'k') => (&s[..s.len() - 1], 1u64 << 10),
        Some(b'M' | b'm') => (&s[..s.len() - 1], 1 << 20),
        Some(b'G' | b'g') => (&s[..s.len() - 1], 1 << 30),
        _ => (s.as_str(), 1),
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(|| {
            format!("`{key}` expects a size in bytes (suffix K, M or G allowed), got `{s}`")
        })
}

/// pm2-logrotate's `retain`: a count, or every file (its default when the value is not a number).
fn retain(key: &str, v: OsString) -> Result<Option<u32>, String> {
    let s = utf8(key, v)?;
    if s == "all" {
        return Ok(None);
    }
    s.parse::<u32>()
        .map(Some)
        .map_err(|_| format!("`{key}` expects a number of files or `all`, got `{s}`"))
}

/// The date goes into a file name, so it must not make a path of it.
fn file_date_format(key: &str, v: OsString) -> Result<String, String> {
    let s = utf8(key, v)?;
    let rendered = crate::clock::format_time(&crate::clock::parse_format(&s), 0, 0);
    if s.is_empty() || rendered.contains('/') || rendered.contains('\0') {
        return Err(format!(
            "`{key}` must give a non-empty file name part without `/`, got `{s}`"
        ));
    }
    Ok(s)
}

fn exit_code(key: &str, s: &str) -> Result<i32, String> {
    s.trim()
        .parse::<i32>()
        .ok()
        .filter(|c| (0..=255).contains(c))
        .ok_or_else(|| format!("`{key}` expects exit codes from 0 to 255, got `{s}`"))
}

fn exit_codes(key: &str, v: OsString) -> Result<Vec<i32>, String> {
    let s = utf8(key, v)?;
    s.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|p| exit_code(key, p))
        .collect()
}

fn env_name(key: &str, v: OsString) -> Result<String, String> {
    let s = utf8(key, v)?;
    let ok = !s.is_empty()
        && !s.starts_with(|c: char| c.is_ascii_digit())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(s)
    } else {
        Err(format!(
            "`{key}` expects an environment variable name, got `{s}`"
        ))
    }
}

fn parse_listen(s: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = s.parse::<SocketAddr>() {
        return Ok(addr);
    }
    // A host name (e.g. `localhost:3000`) resolves once, at start, to its first address.
    match s.to_socket_addrs() {
        Ok(mut addrs) => addrs
            .next()
            .ok_or_else(|| format!("`{}`: `{s}` resolves to no address", opt::LISTEN)),
        Err(_) => Err(format!(
            "`{}` expects HOST:PORT (e.g. `0.0.0.0:3000` or `[::]:3000`), got `{s}`",
            opt::LISTEN
        )),
    }
}

const SIGNALS: &[(&str, libc::c_int)] = &[
    ("HUP", libc::SIGHUP),
    ("INT", libc::SIGINT),
    ("QUIT", libc::SIGQUIT),
    ("ILL", libc::SIGILL),
    ("TRAP", libc::SIGTRAP),
    ("ABRT", libc::SIGABRT),
    ("BUS", libc::SIGBUS),
    ("FPE", libc::SIGFPE),
    ("KILL", libc::SIGKILL),
    ("USR1", libc::SIGUSR1),
    ("SEGV", libc::SIGSEGV),
    ("USR2", libc::SIGUSR2),
    ("PIPE", libc::SIGPIPE),
    ("ALRM", libc::SIGALRM),
    ("TERM", libc::SIGTERM),
    ("CHLD", libc::SIGCHLD),
    ("CONT", libc::SIGCONT),
    ("STOP", libc::SIGSTOP),
    ("TSTP", libc::SIGTSTP),
    ("TTIN", libc::SIGTTIN),
    ("TTOU", libc::SIGTTOU),
    ("URG", libc::SIGURG),
    ("XCPU", libc::SIGXCPU),
    ("XFSZ", libc::SIGXFSZ),
    ("VTALRM", libc::SIGVTALRM),
    ("PROF", libc::SIGPROF),
    ("WINCH", libc::SIGWINCH),
    ("IO", libc::SIGIO),
    ("SYS", libc::SIGSYS),
];

#[cfg(target_os = "linux")]
const MAX_SIGNAL: libc::c_int = 64;
#[cfg(not(target_os = "linux"))]
const MAX_SIGNAL: libc::c_int = 31;

pub fn parse_signal(s: &str) -> Result<libc::c_int, String> {
    if let Ok(n) = s.parse::<libc::c_int>() {
        if (1..=MAX_SIGNAL).contains(&n) {
            return Ok(n);
        }
    } else {
        let upper = s.to_ascii_uppercase();
        let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
        if let Some(&(_, n)) = SIGNALS.iter().find(|(name, _)| *name == bare) {
            return Ok(n);
        }
    }
    Err(format!(
        "`{}` expects a signal such as SIGINT, INT or 2, got `{s}`",
        opt::KILL_SIGNAL
    ))
}

pub fn signal_name(sig: libc::c_int) -> String {
    match SIGNALS.iter().find(|&&(_, n)| n == sig) {
        Some((name, _)) => format!("SIG{name}"),
        None => format!("signal {sig}"),
    }
}
