//! `rgen import --from-pm2`: PM2's record of what it runs → an ecosystem file, and with
//! `--install` the whole move: write it, install it as `rgen install` does (after checking PM2
//! no longer holds the apps' ports), then print the commands that retire PM2. rgen never runs
//! `pm2`: any pm2 command starts a daemon when none runs.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read as _;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};

use super::ports;
use super::write::{self, OutputFormat};
use crate::apply::files::write_atomic;
use crate::diag::{self, BadInput, Origin};
use crate::load::pm2dump::{self, Account, Context, Host, Imported};
use crate::settings::{ImportSettings, Pm2ImportSettings, Pm2Input};
use crate::target::Scope;

/// As much as rgen reads of any input.
const MAX_INPUT: u64 = 16 << 20;

/// This machine's user database and files.
struct SystemHost;

fn account(user: nix::unistd::User) -> Account {
    Account {
        name: user.name,
        uid: user.uid.as_raw(),
        home: user.dir,
        shell: user.shell.to_string_lossy().into_owned(),
    }
}

impl Host for SystemHost {
    fn user_by_uid(&self, uid: u32) -> Option<Account> {
        nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
            .ok()
            .flatten()
            .map(account)
    }
    fn user_by_name(&self, name: &str) -> Option<Account> {
        nix::unistd::User::from_name(name)
            .ok()
            .flatten()
            .map(account)
    }
    fn group_name(&self, gid: u32) -> Option<String> {
        nix::unistd::Group::from_gid(nix::unistd::Gid::from_raw(gid))
            .ok()
            .flatten()
            .map(|g| g.name)
    }
    fn find_program(&self, name: &str, path: &str) -> Option<PathBuf> {
        if path.is_empty() {
            return None;
        }
        which::which_in(name, Some(path), "/").ok()
    }
    fn is_file(&self, path: &Path) -> bool {
        path.is_file()
    }
}

/// PM2's daemon, when one runs for the home.
struct Daemon {
    pid: u32,
    env: Option<BTreeMap<String, String>>,
}

/// With `owner`, only a daemon running as that user: her `pm2.pid` may name anyone's PM2.
fn daemon_of(home: &Path, owner: Option<u32>) -> Option<Daemon> {
    let pid: u32 = std::fs::read_to_string(home.join("pm2.pid"))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let proc = Path::new("/proc");
    if !ports::is_pm2_daemon(&ports::command_line(proc, pid)) {
        return None;
    }
    if let Some(uid) = owner
        && std::fs::metadata(proc.join(pid.to_string())).ok()?.uid() != uid
    {
        return None;
    }
    let env = std::fs::read(proc.join(pid.to_string()).join("environ"))
        .ok()
        .map(|bytes| {
            bytes
                .split(|b| *b == 0)
                .filter_map(|kv| {
                    let kv = String::from_utf8_lossy(kv);
                    let (k, v) = kv.split_once('=')?;
                    Some((k.to_string(), v.to_string()))
                })
                .collect()
        });
    Some(Daemon { pid, env })
}

/// The input's name (for messages), bytes, and the PM2 home when it was given as one. With
/// `owner`, a file is read only if that user owns it.
fn read_input(
    input: &Pm2Input,
    owner: Option<u32>,
) -> Result<(PathBuf, Vec<u8>, Option<PathBuf>), BadInput> {
    match input {
        Pm2Input::Stdin => {
            let mut bytes = Vec::new();
            std::io::stdin()
                .take(MAX_INPUT + 1)
                .read_to_end(&mut bytes)
                .map_err(|e| {
                    BadInput::single(
                        Origin::file("-"),
                        format!("cannot read standard input: {e}"),
                        None,
                    )
                })?;
            if bytes.len() as u64 > MAX_INPUT {
                return Err(BadInput::single(
                    Origin::file("-"),
                    "standard input holds more than 16 MiB; no PM2 list is that large",
                    None,
                ));
            }
            Ok((PathBuf::from("-"), bytes, None))
        }
        Pm2Input::File(path) => Ok((
            path.clone(),
            crate::load::read_source_owned(path, owner)?,
            None,
        )),
        Pm2Input::Home(home) => {
            let dump = home.join("dump.pm2");
            if !dump.exists() {
                let running = daemon_of(home, owner).is_some();
                let hint = if running {
                    "PM2 runs but never saved: run `pm2 save` first, or pipe what it runs now: `pm2 jlist | rgen import --from-pm2 -`".to_string()
                } else if !home.exists() {
                    format!(
                        "{} does not exist: name PM2's home (`rgen import --from-pm2 /path/to/.pm2`), set PM2_HOME, or as root pick a user's with --pm2-user NAME",
                        home.display()
                    )
                } else {
                    "PM2 writes dump.pm2 on `pm2 save`; start the apps in PM2 and save, or pipe `pm2 jlist`".to_string()
                };
                return Err(BadInput::single(
                    Origin::file(&dump),
                    "PM2 has no saved process list here (no dump.pm2)",
                    Some(hint),
                ));
            }
            Ok((
                dump.clone(),
                crate::load::read_source_owned(&dump, owner)?,
                Some(home.clone()),
            ))
        }
    }
}

pub fn run(args: &ImportSettings, s: &Pm2ImportSettings) -> Result<i32> {
    let host = SystemHost;
    let pm2_user = match &s.pm2_user {
        Some(name) => Some(host.user_by_name(name).ok_or_else(|| {
            BadInput::single(
                Origin::file(name),
                format!("there is no user `{name}` on this machine"),
                Some("--pm2-user names the user whose PM2 to import (its ~/.pm2)".into()),
            )
        })?),
        None => None,
    };
    let owner = record_owner(&s.input, pm2_user.as_ref())?;
    let read_as = owner.as_ref().filter(|o| o.controls_files).map(|o| o.uid);
    let (file, bytes, home) = read_input(&s.input, read_as)?;
    let dump = pm2dump::parse(&file, &bytes)?;
    drop(bytes);
    let home = home.or_else(|| pm2dump::pm2_home_of(&dump).filter(|h| h.is_dir()));
    let module_conf = match home
        .as_deref()
        .map(|h| pm2dump::read_module_conf(h, read_as))
    {
        Some(Ok(conf)) => conf,
        Some(Err(bad)) => {
            for e in &bad.errors {
                eprintln!(
                    "warning: {}; its `pm2 set` values and pm2-logrotate settings are not imported\n  --> {}",
                    e.message, e.origin
                );
            }
            None
        }
        None => None,
    };
    let daemon = home.as_deref().and_then(|h| daemon_of(h, read_as));
    if let (Some(d), Pm2Input::Home(_) | Pm2Input::File(_)) = (&daemon, &s.input)
        && dump_is_saved(&file)
    {
        eprintln!(
            "note: PM2 runs (pid {}): {} is what it saved last; if apps changed since, `pm2 save` first, or pipe what runs now: `pm2 jlist | rgen import --from-pm2 -`",
            d.pid,
            file.display()
        );
    }
    let daemon_user = owner
        .as_ref()
        .and_then(|o| host.user_by_uid(o.uid))
        .or_else(|| pm2_user.clone())
        .or_else(|| {
            let uid = std::fs::metadata(home.as_ref()?).ok()?.uid();
            host.user_by_uid(uid)
        })
        .or_else(|| {
            let name = dump
                .entries
                .iter()
                .find_map(|e| e.get("username")?.as_str())?;
            host.user_by_name(name)
        });
    let ctx = Context {
        module_conf,
        daemon_env: daemon.as_ref().and_then(|d| d.env.clone()),
        shell_env: &s.shell_env,
        manager_path: s.target.capabilities().base_path,
        manager_env: &s.manager_env,
        daemon_user: daemon_user.clone(),
        name_daemon_user: s.target.scope == Scope::System,
        manager_sets_identity: s.target.scope == Scope::User,
        host: &host,
    };
    let mut imported = pm2dump::convert(&dump, &ctx)?;
    if let Some(owner) = &owner {
        refuse_other_identities(&imported, owner, &file, &host)?;
    }
    if let Some(lr) = imported.log_rotate.as_mut() {
        // pm2-logrotate's values read as the module reads them, defaults (daily rotation
        // included) filled in, so the import keeps rotating as PM2 did.
        let conf = home.as_deref().unwrap_or(Path::new("~/.pm2"));
        let origin = Origin::file(conf.join("module_conf.json")).with_key("pm2-logrotate");
        let (rotation, warnings) = crate::model::from_pm2_logrotate(&lr.module_conf, &origin)?;
        for w in &warnings {
            eprintln!(
                "warning: {}\n  --> {}",
                diag::printable(&w.message),
                diag::printable(&w.origin.to_string())
            );
        }
        lr.settings = rotation.to_log_rotate().into_iter().collect();
    }
    for w in &imported.warnings {
        eprintln!(
            "warning: {}\n  --> {}",
            diag::printable(&w.message),
            diag::printable(&w.origin.to_string())
        );
    }

    let out = args
        .out
        .clone()
        .or_else(|| s.install.as_ref().map(|_| s.default_out.clone()));
    let format = OutputFormat::for_output(out.as_deref())?;
    let (text, mode) = write::render_file(&imported, format)?;

    let Some(install) = &s.install else {
        match &out {
            Some(path) => write_new(path, &text, mode, false)?,
            None => print!("{text}"),
        }
        return Ok(0);
    };
    let path = out.expect("--install always has a file");
    let pm2_names: Vec<String> = imported.apps.iter().map(|a| a.pm2_name.clone()).collect();
    let refused = std::cell::Cell::new(false);
    let check = |compiled: &super::super::Compiled| -> Result<()> {
        let verdict = check_ports(compiled, &imported, daemon.as_ref().map(|d| d.pid));
        refused.set(verdict.is_err());
        verdict
    };
    if install.dry_run {
        // Nothing is written: the install is computed from a copy in a private directory,
        // grouped as the real file would be.
        let dir = tempfile::tempdir()?;
        let copy = dir
            .path()
            .join(path.file_name().unwrap_or("rgen.toml".as_ref()));
        write_atomic(&copy, text.as_bytes(), mode)?;
        let mut dry = install.clone();
        dry.source.file = Some(copy);
        dry.source.group = Some(crate::model::default_group(&std::path::absolute(&path)?));
        println!(
            "would write {} ({} apps)",
            path.display(),
            imported.apps.len()
        );
        return super::super::install::install(&dry, &check);
    }
    write_new(&path, &text, mode, args.out.is_none())?;
    if let Some(d) = &daemon {
        eprintln!(
            "warning: PM2's daemon (pid {}) is still running: until it is retired, apps it runs and rgen installs run twice",
            d.pid
        );
    }
    let code = match super::super::install::install(install, &check) {
        Ok(code) => code,
        Err(e) => {
            // Refused before any change: the file goes too, so the same command works again
            // once PM2 let go of the ports.
            if refused.get() {
                let _ = std::fs::remove_file(&path);
            }
            return Err(e);
        }
    };
    if code == 0 {
        print_retirement(&pm2_names, home.as_deref(), pm2_user.as_ref(), &s.target);
    }
    Ok(code)
}

/// The one user besides root whose PM2 record this is: `--pm2-user` (when not root), or whoever
/// can change the dump. PM2's daemon runs apps as itself unless it is root, so her record holds
/// only her apps, whatever its `uid` says: she writes her own dump, and must not get a root
/// service (or a group of root's) out of `sudo rgen import --from-pm2 --install`.
struct RecordOwner {
    uid: u32,
    name: String,
    gid: u32,
    /// Why the record is hers, for messages.
    why: String,
    /// She can change the files themselves (not only named by `--pm2-user`): they are read
    /// only if she owns them.
    controls_files: bool,
}

fn record_owner(
    input: &Pm2Input,
    pm2_user: Option<&Account>,
) -> Result<Option<RecordOwner>, BadInput> {
    use crate::commands::host::{Controller, file_controller};
    let path = match input {
        Pm2Input::Stdin => None,
        Pm2Input::File(p) => Some(p.clone()),
        Pm2Input::Home(h) => Some(h.join("dump.pm2")),
    }
    .map(|p| std::path::absolute(&p).unwrap_or(p))
    // A missing record is reported by the read, with what to run.
    .filter(|p| p.exists());
    let controller = path.as_deref().map(file_controller);
    let named = pm2_user.filter(|u| u.uid != 0);
    let (uid, why, controls_files) = match (controller, named) {
        (Some(Controller::Many(why)), _) => {
            let path = path.unwrap_or_default();
            return Err(BadInput::single(
                Origin::file(&path),
                format!("PM2's record is not controlled by one user: {why}"),
                Some(format!(
                    "whoever can change it decides what the imported apps run; make it (and its directory) writable only by its owner: `chmod go-w {}`",
                    path.display()
                )),
            ));
        }
        (Some(Controller::User(uid, name)), named) => {
            let path = path.clone().unwrap_or_default();
            if let Some(u) = named.or(pm2_user).filter(|u| u.uid != uid) {
                return Err(BadInput::single(
                    Origin::file(&path),
                    format!(
                        "this is to be the PM2 of `{}`, but {name} can change it",
                        u.name
                    ),
                    Some(format!(
                        "import a PM2 record only its own user (or root) can change: `chown {} {}`",
                        u.name,
                        path.display()
                    )),
                ));
            }
            (uid, format!("{name} can change {}", path.display()), true)
        }
        (_, Some(u)) => (
            u.uid,
            format!("it is the PM2 of `{}` (--pm2-user)", u.name),
            false,
        ),
        (_, None) => return Ok(None),
    };
    let Ok(Some(user)) = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid)) else {
        return Err(BadInput::single(
            Origin::file(path.unwrap_or_default()),
            format!("PM2's record belongs to uid {uid}, which has no user on this machine"),
            Some("give the file to an existing user (or root) before importing it".into()),
        ));
    };
    Ok(Some(RecordOwner {
        uid,
        name: user.name,
        gid: user.gid.as_raw(),
        why,
        controls_files,
    }))
}

/// Refuses an app the record says to run as anyone but its owner (or with a group not hers).
fn refuse_other_identities(
    imported: &Imported,
    owner: &RecordOwner,
    file: &Path,
    host: &SystemHost,
) -> Result<(), BadInput> {
    let mut problems = crate::diag::Problems::default();
    for app in &imported.apps {
        for s in app.settings.iter().filter(|s| !s.disabled) {
            let theirs = match (s.key, &s.value) {
                ("uid", serde_json::Value::String(name)) => {
                    host.user_by_name(name).map(|a| a.uid) == Some(owner.uid)
                }
                ("uid", v) => v.as_u64() == Some(owner.uid.into()),
                ("gid", serde_json::Value::String(name)) => {
                    nix::unistd::Group::from_name(name)
                        .ok()
                        .flatten()
                        .map(|g| g.gid.as_raw())
                        == Some(owner.gid)
                }
                ("gid", v) => v.as_u64() == Some(owner.gid.into()),
                _ => continue,
            };
            if theirs {
                continue;
            }
            let value = match &s.value {
                serde_json::Value::String(name) => name.clone(),
                v => v.to_string(),
            };
            problems
                .error(
                    Origin::file(file).with_app(&app.name).with_key(s.key),
                    format!(
                        "`{}` would run with {} `{}`, but this is {}'s PM2 record ({})",
                        app.name,
                        if s.key == "uid" { "user" } else { "group" },
                        diag::printable(&value),
                        owner.name,
                        owner.why
                    ),
                )
                .hint(format!(
                    "PM2 running as {0} cannot switch users or groups, so this was never in effect; remove `{1}` from the app in PM2 and `pm2 save` again. Root's own apps are imported from root's PM2 (`sudo rgen import --from-pm2 /root/.pm2`)",
                    owner.name, s.key
                ));
        }
    }
    problems.finish(()).map(|_| ())
}

/// `dump.pm2` (`pm2 save`), not a saved `pm2 jlist`.
fn dump_is_saved(file: &Path) -> bool {
    file.file_name().is_some_and(|n| n == "dump.pm2")
}

/// Writes a file that must not exist yet; `make_parent` creates rgen's default directory.
pub(super) fn write_new(path: &Path, text: &str, mode: u32, make_parent: bool) -> Result<()> {
    if path.exists() {
        bail!(
            "{} exists; rgen import does not overwrite files (remove it or choose another --out; `rgen install {}` installs it as it is)",
            path.display(),
            path.display()
        );
    }
    if make_parent && let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    write_atomic(path, text.as_bytes(), mode)?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

/// Refuses to change anything while PM2 still listens on a port an app to start needs.
fn check_ports(
    compiled: &super::super::Compiled,
    imported: &Imported,
    daemon: Option<u32>,
) -> Result<()> {
    let proc = Path::new("/proc");
    let listening = ports::listening(proc);
    let mut held_by_pm2 = Vec::new();
    for spec in compiled.plan.services.iter().filter(|s| s.autostart) {
        let mut needed = BTreeSet::new();
        if let Some(socket) = &spec.socket {
            needed.insert(socket.port);
        }
        if let Some(port) = spec
            .env
            .get("PORT")
            .and_then(|w| w.as_text())
            .and_then(|p| p.parse::<u16>().ok())
        {
            needed.insert(port);
        }
        for port in needed {
            let Some(inodes) = listening.get(&port) else {
                continue;
            };
            let owners = ports::owners(proc, inodes, daemon);
            let pm2_name = imported
                .apps
                .iter()
                .find(|a| a.name == spec.app)
                .map(|a| a.pm2_name.clone())
                .unwrap_or_else(|| spec.app.clone());
            match owners.iter().find(|o| o.pm2) {
                Some(o) => held_by_pm2.push(format!(
                    "port {port}, which `{}` needs, is held by PM2 (pid {}: {}); stop it there first: `pm2 stop {}`",
                    spec.app,
                    o.pid,
                    diag::printable(&o.command),
                    shlex::try_quote(&pm2_name).unwrap_or_default()
                )),
                None => {
                    let who = owners
                        .first()
                        .map(|o| format!("pid {}: {}", o.pid, diag::printable(&o.command)))
                        .unwrap_or_else(|| "another process".into());
                    eprintln!(
                        "warning: port {port}, which `{}` needs, is in use ({who}); the app cannot listen until it is free",
                        spec.app
                    );
                }
            }
        }
    }
    if held_by_pm2.is_empty() {
        return Ok(());
    }
    bail!(
        "PM2 still holds ports the apps need:\n  {}\nor stop PM2 altogether (`pm2 kill`; it was saved, nothing is lost), then run this again. Nothing was installed.",
        held_by_pm2.join("\n  ")
    )
}

/// The commands that retire PM2, for the user to run: rgen runs none of them.
fn print_retirement(
    names: &[String],
    home: Option<&Path>,
    user: Option<&Account>,
    target: &crate::target::Target,
) {
    let mut prefix = String::new();
    if let Some(u) = user
        && u.uid != target.uid
    {
        prefix.push_str(&format!(
            "sudo -u {} ",
            shlex::try_quote(&u.name).unwrap_or_default()
        ));
    }
    let default_home = user
        .map(|u| u.home.join(".pm2"))
        .unwrap_or_else(|| target.home.join(".pm2"));
    if let Some(h) = home
        && h != default_home
    {
        let h = h.to_string_lossy();
        prefix.push_str(&format!(
            "PM2_HOME={} ",
            shlex::try_quote(&h).unwrap_or_default()
        ));
    }
    let mut unique: Vec<&str> = Vec::new();
    for n in names {
        if !unique.contains(&n.as_str()) {
            unique.push(n);
        }
    }
    let quoted: Vec<String> = unique
        .iter()
        .map(|n| {
            shlex::try_quote(n)
                .map(|q| q.into_owned())
                .unwrap_or_default()
        })
        .collect();
    println!();
    println!("The apps now run under rgen. To retire PM2 (rgen ran none of these):");
    println!("  {prefix}pm2 delete {}", quoted.join(" "));
    println!(
        "  {prefix}pm2 save --force    # an empty dump.pm2: `pm2 resurrect` brings nothing back"
    );
    println!("  {prefix}pm2 kill            # stops PM2's daemon and its modules (pm2-logrotate)");
    println!(
        "  {prefix}pm2 unstartup       # removes PM2's boot service (it prints the sudo line it needs)"
    );
}
