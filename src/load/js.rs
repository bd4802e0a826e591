//! JavaScript ecosystem files are programs: PM2 `require()`s them. rgen does the same with the
//! user's own `node` and reads back the exported value as JSON. Only files rgen takes for
//! JavaScript (`.js`, `.cjs`, `.mjs`, or `--format js`) are ever given to node; JSON, YAML and
//! TOML never are.
//!
//! # Whose code it is, and who runs it
//!
//! Evaluating the file runs its code, so rgen runs it as the person who wrote it:
//!
//! - **rgen is not root** (effective uid ≠ 0): node runs as the caller, with the caller's whole
//!   environment, as `pm2 start` would. No privilege is crossed: the caller could run the file
//!   with node themselves. Ecosystem files read `process.env.X`, and keep doing so.
//! - **rgen is root**: rgen first asks who can change what node would evaluate. That is the owner
//!   of the file; the owner of every directory on the path to it, both as given and with
//!   symlinks resolved (a directory's owner can replace what is in it); and anyone a write
//!   permission lets in: a group (other than gid 0) or everyone with write access to the file, or
//!   to a directory without the sticky bit.
//!   - Nobody but root: node runs as root with the caller's environment (root's own code).
//!   - Exactly one other user: node runs **as that user** — their uid, primary group and
//!     supplementary groups, set in the child before `exec` — with a **clean environment**:
//!     `HOME`, `USER`, `LOGNAME` and `SHELL` from their account, the caller's `PATH` (or
//!     `/usr/local/bin:/usr/bin:/bin`), and of the caller's other variables only `LANG`,
//!     `LANGUAGE`, `LC_*`, `TZ` and `NODE_ENV`. Root's credentials, agent sockets, tokens and
//!     `NODE_OPTIONS` never reach code another user wrote. Write access by that user's own
//!     primary group is taken as theirs when the group lists no other member.
//!   - Anyone else — two users, a group, everyone, or an owner with no account: rgen refuses,
//!     names who can change the file and where, and suggests fixing the permissions or running
//!     rgen as that user.
//!
//!   Modules the file `require`s from elsewhere are not checked; they run as whoever the file
//!   runs as.
//!
//! # Bounds
//!
//! - Time: `RGEN_JS_TIMEOUT_MS` (default 20000). An ecosystem file takes milliseconds; one that
//!   starts a server by mistake must not hang rgen.
//! - Processes: node leads a process group of its own. At the timeout, and again once node has
//!   exited, the whole group is killed, so children the file started cannot outlive the
//!   evaluation or keep rgen waiting on their end of node's stdout. A child that left the group
//!   (`detached: true`) is not waited for: rgen stops reading once node has exited.
//! - Output: at most [`MAX_SOURCE_BYTES`] of JSON on stdout, parsed within the same limits as
//!   any ecosystem file; the first 64 KiB of stderr are kept for the error message.

use std::ffi::OsString;
use std::fs::File;
use std::io::Read as _;
use std::os::fd::{AsRawFd as _, OwnedFd};
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::MetadataExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde::de::DeserializeSeed as _;
use serde_json::Value;

use super::limits::{self, MAX_SOURCE_BYTES, Parsed};
use crate::diag::{BadInput, Origin};

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);

/// Overrides [`DEFAULT_TIMEOUT`], in milliseconds.
pub const TIMEOUT_VAR: &str = "RGEN_JS_TIMEOUT_MS";

/// How much of node's stderr is kept for the error message.
const MAX_STDERR_BYTES: usize = 64 << 10;

/// How often rgen looks whether node has exited while its pipes are quiet.
const EXIT_POLL: Duration = Duration::from_millis(10);

const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// Loads the module the way PM2 does (`require`, falling back to `import()` for ES modules) and
/// prints its export as JSON. Values JSON cannot hold become strings (BigInt, RegExp) or vanish
/// (functions, undefined), as they would in PM2's own serialisation of the app list.
const MODULE_LOADER: &str = r#"
const path = require('path');
const file = path.resolve(process.argv[1]);
function replacer(_k, v) {
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof RegExp) return v.toString();
  return v;
}
(async () => {
  let mod;
  try {
    mod = require(file);
  } catch (e) {
    if (e && (e.code === 'ERR_REQUIRE_ESM' || e.code === 'ERR_REQUIRE_ASYNC_MODULE')) {
      mod = await import(require('url').pathToFileURL(file).href);
    } else {
      throw e;
    }
  }
  if (mod && typeof mod === 'object' && 'default' in mod && !('apps' in mod) && (mod.__esModule || Object.prototype.toString.call(mod) === '[object Module]')) {
    mod = mod.default;
  }
  if (mod && typeof mod.then === 'function') mod = await mod;
  const out = JSON.stringify(mod === undefined ? null : mod, replacer);
  process.stdout.write(out, () => process.exit(0));
})().catch((e) => {
  process.stderr.write(String((e && e.stack) || e));
  process.exit(3);
});
"#;

pub fn node_binary() -> Option<PathBuf> {
    if let Some(explicit) = std::env::var_os("RGEN_NODE") {
        return Some(PathBuf::from(explicit));
    }
    which::which("node").ok()
}

pub fn evaluate_module(file: &Path) -> Result<Value, BadInput> {
    let origin = Origin::file(file);
    let node = node_binary().ok_or_else(|| {
        BadInput::single(
            origin.clone(),
            "cannot evaluate a JavaScript ecosystem file: `node` is not on PATH",
            Some("install Node.js (PM2 needs it too), set RGEN_NODE=/path/to/node, or convert the file once with `rgen import` on a machine with node".into()),
        )
    })?;
    let timeout = timeout(&origin)?;
    let run_as = run_as(file, &origin)?;
    let dir = file.parent().unwrap_or(Path::new("/"));
    let mut cmd = Command::new(&node);
    // The config sees the same working directory PM2 users run `pm2 start` from: the file's own.
    cmd.current_dir(dir)
        .arg("-e")
        .arg(MODULE_LOADER)
        .arg(file)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    if let RunAs::Owner(account) = &run_as {
        account.apply(&mut cmd);
    }
    #[cfg(target_os = "linux")]
    // SAFETY: prctl is async-signal-safe. Set last, after any change of credentials, which
    // clears it.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let child = cmd.spawn().map_err(|e| {
        let (who, hint) = match &run_as {
            RunAs::Caller => (
                String::new(),
                "check that node is installed and executable, or set RGEN_NODE".to_string(),
            ),
            RunAs::Owner(a) => (
                format!(" as {}", a.name),
                format!(
                    "the file belongs to {}, so node runs as them; set RGEN_NODE to a node they can run",
                    a.name
                ),
            ),
        };
        BadInput::single(
            origin.clone(),
            format!("cannot run `{}`{who}: {e}", node.display()),
            Some(hint),
        )
    })?;
    let (status, out, err) = run_bounded(child, timeout, &origin)?;
    if !status.success() {
        return Err(threw(&origin, &err));
    }
    parse_node_output(&out).map_err(|(message, hint)| BadInput::single(origin, message, hint))
}

/// Reads node's stdout as JSON within the loader's limits.
pub fn parse_node_output(out: &[u8]) -> Result<Value, (String, Option<String>)> {
    let parsed = limits::parse(|seed| -> Result<Value, serde_json::Error> {
        let mut de = serde_json::Deserializer::from_slice(out);
        let v = seed.deserialize(&mut de)?;
        de.end()?;
        Ok(v)
    });
    match parsed {
        Parsed::Ok(v) => Ok(v),
        Parsed::Invalid(e) => Err((
            format!("node printed something that is not JSON: {e}"),
            None,
        )),
        Parsed::TooLarge(what, _) => Err((
            format!("the file's export is too large: {}", what.message()),
            Some(what.hint().to_string()),
        )),
    }
}

fn timeout(origin: &Origin) -> Result<Duration, BadInput> {
    let Some(raw) = std::env::var_os(TIMEOUT_VAR) else {
        return Ok(DEFAULT_TIMEOUT);
    };
    match raw.to_str().and_then(|s| s.trim().parse::<u64>().ok()) {
        Some(ms) if ms > 0 => Ok(Duration::from_millis(ms)),
        _ => Err(BadInput::single(
            origin.clone(),
            format!(
                "{TIMEOUT_VAR} is {:?}, not a number of milliseconds",
                raw.to_string_lossy()
            ),
            Some(format!(
                "set {TIMEOUT_VAR} to a whole number above 0 (the default is {})",
                DEFAULT_TIMEOUT.as_millis()
            )),
        )),
    }
}

fn threw(origin: &Origin, err: &[u8]) -> BadInput {
    let err = String::from_utf8_lossy(err);
    let first = err
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("(no message)");
    let at = err
        .lines()
        .find(|l| l.trim_start().starts_with("at ") && l.contains(&*origin.file.to_string_lossy()))
        .map(|l| l.trim().trim_start_matches("at ").to_string());
    BadInput::single(
        origin.clone(),
        format!("the file threw while node evaluated it: {}", first.trim()),
        Some(match at {
            Some(at) => format!("thrown at {at}"),
            None => "run `node <file>` to see the full error".to_string(),
        }),
    )
}

// ---------------------------------------------------------------------------------------------
// Running node within its bounds

/// One of node's output pipes, read without blocking, keeping at most `keep` bytes.
struct Capture {
    pipe: Option<File>,
    bytes: Vec<u8>,
    keep: usize,
    /// Stop reading once full (stdout: too much output is an error) or read on and discard
    /// (stderr: node must not block on a full pipe).
    stop_when_full: bool,
    overflowed: bool,
}

impl Capture {
    fn new(pipe: impl Into<OwnedFd>, keep: usize, stop_when_full: bool) -> std::io::Result<Self> {
        let pipe = File::from(pipe.into());
        set_nonblocking(&pipe)?;
        Ok(Capture {
            pipe: Some(pipe),
            bytes: Vec::new(),
            keep,
            stop_when_full,
            overflowed: false,
        })
    }

    /// Reads what the pipe holds now, up to about `budget` bytes, so that a fast writer cannot
    /// keep rgen from looking at the clock.
    fn drain(&mut self, budget: usize) -> std::io::Result<()> {
        let mut chunk = [0u8; 16 << 10];
        let mut read = 0;
        while read < budget && !(self.stop_when_full && self.overflowed) {
            let Some(pipe) = &mut self.pipe else { break };
            match pipe.read(&mut chunk) {
                Ok(0) => self.pipe = None,
                Ok(n) => {
                    read += n;
                    let room = self.keep - self.bytes.len();
                    self.bytes.extend_from_slice(&chunk[..n.min(room)]);
                    self.overflowed |= n > room;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

fn set_nonblocking(file: &File) -> std::io::Result<()> {
    let fd = file.as_raw_fd();
    // SAFETY: plain fcntl calls on a descriptor this function borrows.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags < 0 || libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Waits until one of the pipes has something to read or closes, or `wait` has passed.
fn wait_readable(captures: [&Capture; 2], wait: Duration) {
    let mut fds: Vec<libc::pollfd> = captures
        .iter()
        .filter_map(|c| c.pipe.as_ref())
        .map(|p| libc::pollfd {
            fd: p.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let ms = wait.as_millis().clamp(1, i32::MAX as u128) as libc::c_int;
    // SAFETY: `fds` is a valid array of `fds.len()` entries for the duration of the call.
    unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
}

/// Whether node has exited. It is left unreaped, so its pid — the process group's id — cannot
/// be taken by another process before the group is killed.
fn has_exited(child: &Child) -> std::io::Result<bool> {
    // SAFETY: waitid writes only into `info`.
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        let r = libc::waitid(
            libc::P_PID,
            child.id() as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        );
        if r != 0 {
            let e = std::io::Error::last_os_error();
            return if e.kind() == std::io::ErrorKind::Interrupted {
                Ok(false)
            } else {
                Err(e)
            };
        }
        Ok(info.si_pid() != 0)
    }
}

/// Kills node and every process still in its group (node is the group's leader).
fn kill_group(child: &Child) {
    // SAFETY: kill has no memory effects; the group is node's own, created at spawn.
    unsafe { libc::kill(-(child.id() as libc::pid_t), libc::SIGKILL) };
}

fn run_bounded(
    mut child: Child,
    timeout: Duration,
    origin: &Origin,
) -> Result<(ExitStatus, Vec<u8>, Vec<u8>), BadInput> {
    /// Most bytes read from one pipe between two looks at the clock.
    const READ_PER_TURN: usize = 1 << 20;
    let failed = |what: &str, e: std::io::Error| {
        BadInput::single(origin.clone(), format!("{what} node failed: {e}"), None)
    };
    let stop = |child: &mut Child| {
        kill_group(child);
        let _ = child.wait();
    };
    let pipes = child
        .stdout
        .take()
        .zip(child.stderr.take())
        .expect("both were piped");
    let captures = Capture::new(pipes.0, MAX_SOURCE_BYTES as usize, true)
        .and_then(|out| Ok((out, Capture::new(pipes.1, MAX_STDERR_BYTES, false)?)));
    let (mut out, mut err) = match captures {
        Ok(c) => c,
        Err(e) => {
            stop(&mut child);
            return Err(failed("reading from", e));
        }
    };
    let deadline = Instant::now() + timeout;
    loop {
        let exited = match has_exited(&child) {
            Ok(exited) => exited,
            Err(e) => {
                stop(&mut child);
                return Err(failed("waiting for", e));
            }
        };
        if exited {
            // What node wrote before exiting is in the pipes now; anything later would come
            // from a child that left the group, and is not waited for.
            kill_group(&child);
        }
        let stdout_budget = if exited { usize::MAX } else { READ_PER_TURN };
        if let Err(e) = out
            .drain(stdout_budget)
            .and_then(|()| err.drain(READ_PER_TURN))
        {
            stop(&mut child);
            return Err(failed("reading from", e));
        }
        if out.overflowed {
            stop(&mut child);
            return Err(BadInput::single(
                origin.clone(),
                format!(
                    "the file's export is larger than {} MiB of JSON",
                    MAX_SOURCE_BYTES >> 20
                ),
                Some(
                    "an ecosystem file should export its apps and their settings, not data".into(),
                ),
            ));
        }
        if exited {
            let status = child.wait().map_err(|e| failed("waiting for", e))?;
            return Ok((status, out.bytes, err.bytes));
        }
        let now = Instant::now();
        if now >= deadline {
            stop(&mut child);
            return Err(BadInput::single(
                origin.clone(),
                format!(
                    "node did not finish evaluating the file within {}",
                    show_duration(timeout)
                ),
                Some(format!(
                    "an ecosystem file should only export its config; does it start a server or wait for input? ({TIMEOUT_VAR} sets the limit in milliseconds)"
                )),
            ));
        }
        wait_readable([&out, &err], (deadline - now).min(EXIT_POLL));
    }
}

fn show_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(1000) {
        format!("{} s", ms / 1000)
    } else {
        format!("{ms} ms")
    }
}

// ---------------------------------------------------------------------------------------------
// Whose code it is

enum RunAs {
    /// rgen's own identity and environment.
    Caller,
    /// The one user who can change the file, with a clean environment.
    Owner(Account),
}

struct Account {
    name: String,
    uid: libc::uid_t,
    gid: libc::gid_t,
    groups: Vec<libc::gid_t>,
    home: PathBuf,
    shell: PathBuf,
}

impl Account {
    fn apply(&self, cmd: &mut Command) {
        let path = std::env::var_os("PATH").unwrap_or_else(|| DEFAULT_PATH.into());
        let kept: Vec<(OsString, OsString)> = std::env::vars_os()
            .filter(|(k, _)| passes_to_another_user(k.as_bytes()))
            .collect();
        cmd.env_clear()
            .env("PATH", path)
            .env("HOME", &self.home)
            .env("USER", &self.name)
            .env("LOGNAME", &self.name)
            .envs(kept);
        if !self.shell.as_os_str().is_empty() {
            cmd.env("SHELL", &self.shell);
        }
        let (uid, gid, groups) = (self.uid, self.gid, self.groups.clone());
        // SAFETY: only async-signal-safe calls (setgroups, setgid, setuid) on data owned by the
        // closure. std's own `uid()`/`gid()` cannot be used: they run before any `pre_exec`
        // closure and leave no way to set the supplementary groups while still root.
        unsafe {
            cmd.pre_exec(move || {
                if libc::setgroups(groups.len() as _, groups.as_ptr()) != 0
                    || libc::setgid(gid) != 0
                    || libc::setuid(uid) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                // Root must not be regainable (a saved uid left behind would allow it).
                if libc::setuid(0) == 0 {
                    return Err(std::io::Error::from_raw_os_error(libc::EPERM));
                }
                Ok(())
            });
        }
    }
}

/// Variables of root's environment that carry no secret and that ecosystem files commonly read.
fn passes_to_another_user(name: &[u8]) -> bool {
    matches!(name, b"LANG" | b"LANGUAGE" | b"TZ" | b"NODE_ENV") || name.starts_with(b"LC_")
}

/// Who, besides root, can change what node would evaluate.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Writer {
    User(u32),
    Group(u32),
    Everyone,
}

fn run_as(file: &Path, origin: &Origin) -> Result<RunAs, BadInput> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(RunAs::Caller);
    }
    let cannot_check = |e: std::io::Error| {
        BadInput::single(
            origin.clone(),
            format!("cannot check who owns the file before evaluating it: {e}"),
            None,
        )
    };
    let writers = writers(file).map_err(cannot_check)?;
    let users: Vec<u32> = writers
        .iter()
        .filter_map(|(w, _)| match w {
            Writer::User(uid) => Some(*uid),
            _ => None,
        })
        .collect();
    let mut owner = match users[..] {
        [uid] => account(uid),
        _ => None,
    };
    // A user's own primary group writing is that user writing, when nobody else is in it.
    let others: Vec<&(Writer, PathBuf)> = writers
        .iter()
        .filter(|(w, _)| match (w, &owner) {
            (Writer::Group(gid), Some(a)) => !(*gid == a.gid && group_is_private(a.gid, &a.name)),
            _ => true,
        })
        .collect();
    match others[..] {
        [] => Ok(RunAs::Caller),
        [(Writer::User(uid), where_)] => match owner.take() {
            Some(account) => Ok(RunAs::Owner(account)),
            None => Err(BadInput::single(
                origin.clone(),
                format!(
                    "the file is code of uid {uid} (owner of {}), which has no account here; rgen will not evaluate it as root",
                    where_.display()
                ),
                Some(format!(
                    "if you trust it, make it root's: `chown root: {}`; or create the account",
                    where_.display()
                )),
            )),
        },
        _ => Err(BadInput::single(
            origin.clone(),
            format!(
                "more than one user can change this file, so rgen will not evaluate it as root or as any of them: {}",
                others
                    .iter()
                    .map(|(w, p)| describe(w, p))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            Some("remove the write permissions others have (`chmod go-w`), or run rgen as the user whose file it is".into()),
        )),
    }
}

fn describe(writer: &Writer, path: &Path) -> String {
    match writer {
        Writer::User(uid) => format!(
            "{} owns {}",
            account(*uid).map_or_else(|| format!("uid {uid}"), |a| a.name),
            path.display()
        ),
        Writer::Group(gid) => format!(
            "group {} can write to {}",
            nix::unistd::Group::from_gid((*gid).into())
                .ok()
                .flatten()
                .map_or_else(|| gid.to_string(), |g| g.name),
            path.display()
        ),
        Writer::Everyone => format!("anyone can write to {}", path.display()),
    }
}

/// Everyone but root who can change the file or a directory on the way to it, each with the
/// deepest path that lets them.
fn writers(file: &Path) -> std::io::Result<Vec<(Writer, PathBuf)>> {
    let real = std::fs::canonicalize(file)?;
    let mut found: Vec<(Writer, PathBuf)> = Vec::new();
    let mut note = |writer: Writer, path: &Path| {
        if !found.iter().any(|(w, _)| *w == writer) {
            found.push((writer, path.to_path_buf()));
        }
    };
    let meta = std::fs::metadata(&real)?;
    examine(&meta, false, &real, &mut note);
    for dir in real.ancestors().skip(1).chain(file.ancestors().skip(1)) {
        if dir.as_os_str().is_empty() {
            continue;
        }
        let meta = std::fs::metadata(dir)?;
        examine(&meta, true, dir, &mut note);
    }
    Ok(found)
}

fn examine(
    meta: &std::fs::Metadata,
    is_dir: bool,
    path: &Path,
    note: &mut impl FnMut(Writer, &Path),
) {
    const STICKY: u32 = 0o1000;
    if meta.uid() != 0 {
        note(Writer::User(meta.uid()), path);
    }
    // In a sticky directory only an entry's owner may replace it, and that owner is counted
    // with the entry.
    if is_dir && meta.mode() & STICKY != 0 {
        return;
    }
    if meta.mode() & 0o020 != 0 && meta.gid() != 0 {
        note(Writer::Group(meta.gid()), path);
    }
    if meta.mode() & 0o002 != 0 {
        note(Writer::Everyone, path);
    }
}

fn account(uid: u32) -> Option<Account> {
    let user = nix::unistd::User::from_uid(uid.into()).ok().flatten()?;
    let gid = user.gid.as_raw();
    Some(Account {
        groups: supplementary_groups(&user.name, gid),
        name: user.name,
        uid,
        gid,
        home: user.dir,
        shell: user.shell,
    })
}

#[cfg(not(target_vendor = "apple"))]
fn supplementary_groups(name: &str, gid: libc::gid_t) -> Vec<libc::gid_t> {
    std::ffi::CString::new(name)
        .ok()
        .and_then(|n| nix::unistd::getgrouplist(&n, gid.into()).ok())
        .map(|groups| groups.into_iter().map(|g| g.as_raw()).collect())
        .unwrap_or_else(|| vec![gid])
}

/// nix offers no `getgrouplist` on Apple platforms; the primary group alone gives less access,
/// never more.
#[cfg(target_vendor = "apple")]
fn supplementary_groups(_name: &str, gid: libc::gid_t) -> Vec<libc::gid_t> {
    vec![gid]
}

/// Whether the group lists nobody but `user` (a user private group, as Debian creates).
fn group_is_private(gid: u32, user: &str) -> bool {
    nix::unistd::Group::from_gid(gid.into())
        .ok()
        .flatten()
        .is_some_and(|g| g.mem.iter().all(|m| m == user))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_output_is_parsed_within_limits() {
        assert_eq!(
            parse_node_output(br#"{"apps":[{"name":"a"}]}"#).unwrap(),
            serde_json::json!({"apps": [{"name": "a"}]})
        );
        assert!(
            parse_node_output(b"undefined")
                .unwrap_err()
                .0
                .contains("not JSON")
        );
        let deep = format!("{}{}", "[".repeat(100), "]".repeat(100));
        assert!(
            parse_node_output(deep.as_bytes())
                .unwrap_err()
                .0
                .contains("nested more than 64")
        );
        assert!(parse_node_output(b"{} {}").is_err(), "one value only");
    }

    #[test]
    fn only_harmless_variables_reach_another_user() {
        for kept in ["LANG", "LC_ALL", "LC_TIME", "TZ", "NODE_ENV", "LANGUAGE"] {
            assert!(passes_to_another_user(kept.as_bytes()), "{kept}");
        }
        for dropped in [
            "SSH_AUTH_SOCK",
            "AWS_SECRET_ACCESS_KEY",
            "NODE_OPTIONS",
            "NODE_PATH",
            "LD_PRELOAD",
            "HOME",
            "SUDO_USER",
            "RGEN_NODE",
        ] {
            assert!(!passes_to_another_user(dropped.as_bytes()), "{dropped}");
        }
    }

    #[test]
    fn write_permissions_make_writers() {
        use std::os::unix::fs::PermissionsExt as _;
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("e.config.js");
        std::fs::write(&file, "").unwrap();
        let mine = unsafe { libc::geteuid() };
        let expect_owner = |w: &[(Writer, PathBuf)]| {
            if mine == 0 {
                assert!(
                    w.iter().all(|(w, _)| !matches!(w, Writer::User(_))),
                    "{w:?}"
                );
            } else {
                assert!(w.iter().any(|(w, _)| *w == Writer::User(mine)), "{w:?}");
            }
        };
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let w = writers(&file).unwrap();
        expect_owner(&w);
        assert!(!w.iter().any(|(w, _)| *w == Writer::Everyone), "{w:?}");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o666)).unwrap();
        assert!(
            writers(&file)
                .unwrap()
                .iter()
                .any(|(w, p)| *w == Writer::Everyone && *p == file.canonicalize().unwrap())
        );
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
        assert!(
            !writers(&file)
                .unwrap()
                .iter()
                .any(|(w, _)| *w == Writer::Everyone),
            "sticky"
        );
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(
            writers(&file)
                .unwrap()
                .iter()
                .any(|(w, _)| *w == Writer::Everyone),
            "not sticky"
        );
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(show_duration(Duration::from_secs(20)), "20 s");
        assert_eq!(show_duration(Duration::from_millis(1500)), "1500 ms");
    }
}
