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
    pub log_keep: u32,
    pub status_file: Option<PathBuf>,
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
  --log-max-size BYTES      rotate logs by rename above this size
  --log-keep N              rotated files to keep (default 30)
  --status-file PATH        JSON status, rewritten on each state change
";

pub fn parse(argv: Vec<OsString>) -> Result<Parsed, String> {
    let mut o = Options {
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
        log_keep: default::LOG_KEEP,
        status_file: None,
        program: OsString::new(),
        args: Vec::new(),
    };
    let mut instance_var_given = false;
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
        let key = key.as_str();
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
                instance_var_given = true;
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
            opt::LOG_KEEP => {
                o.log_keep = u32::try_from(number(key, value()?)?)
                    .map_err(|_| format!("`{key}` is too large"))?;
            }
            opt::STATUS_FILE => o.status_file = Some(path(key, value()?)?),
            _ if key.starts_with('-') => return Err(format!("unknown option `{key}`")),
            _ => return Err(format!("expected `--` before the program, found `{key}`")),
        }
    }

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
    if !o.logs_configured() {
        for (set, name) in [
            (o.log_date_format.is_some(), opt::LOG_DATE_FORMAT),
            (o.log_max_size.is_some(), opt::LOG_MAX_SIZE),
        ] {
            if set {
                return Err(format!(
                    "`{name}` needs `{}`, `{}` or `{}`",
                    opt::STDOUT,
                    opt::STDERR,
                    opt::COMBINED
                ));
            }
        }
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
    Ok(Parsed::Run(Box::new(o)))
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
