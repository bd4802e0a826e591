//! Walking a path one component at a time through directory descriptors, the way rgen must when
//! it runs as root on paths other users can influence.
//!
//! Each directory is opened relative to the one before with `O_NOFOLLOW`, so a rename or a
//! symbolic link planted on the way cannot redirect the walk once it has started, and each step
//! is checked for who, besides root and the path's rightful user, could change what the path
//! names: the owner of every directory on the way (an owner can always `chmod` it), anyone a
//! non-sticky directory lets write (they can rename entries away and put others in their place),
//! and the owner of an entry in a sticky directory (`/tmp`: only they can replace it).
//!
//! Symbolic links are followed only as [`Follow`] says: a walk that creates or empties files
//! follows only links that nobody but root can change (`/var -> private/var` on macOS), and
//! refuses the others; a walk that asks who can change what a path executes follows every link,
//! as `exec` does, and counts each link's own directory among the places that matter.
//!
//! Not covered: POSIX ACLs beyond the mode bits (the group bits show their mask), mounts, and
//! the users that Linux capabilities make root-equivalent.

use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{FileStat, Mode};

/// Kernels give up after this many links in one lookup (Linux's MAXSYMLINKS).
const MAX_LINKS: u32 = 40;

/// What a path names, from one `stat`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Directory,
    File,
    Symlink,
    /// A fifo, socket or device.
    Special,
}

impl Kind {
    // mode_t is u16 on macOS.
    #[allow(clippy::unnecessary_cast)]
    fn of(mode: u32) -> Kind {
        match mode & libc::S_IFMT as u32 {
            m if m == libc::S_IFDIR as u32 => Kind::Directory,
            m if m == libc::S_IFREG as u32 => Kind::File,
            m if m == libc::S_IFLNK as u32 => Kind::Symlink,
            _ => Kind::Special,
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Kind::Directory => "a directory",
            Kind::File => "a regular file",
            Kind::Symlink => "a symbolic link",
            Kind::Special => "a fifo, socket or device",
        }
    }
}

/// The parts of a `stat` the checks use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Meta {
    pub uid: u32,
    pub gid: u32,
    /// Permission bits with the set-id and sticky bits.
    pub mode: u32,
    pub kind: Kind,
    pub links: u64,
    pub size: u64,
    pub dev: u64,
    pub ino: u64,
}

impl From<FileStat> for Meta {
    // The widths of these fields differ between platforms.
    #[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
    fn from(st: FileStat) -> Meta {
        Meta {
            uid: st.st_uid,
            gid: st.st_gid,
            mode: st.st_mode as u32 & 0o7777,
            kind: Kind::of(st.st_mode as u32),
            links: st.st_nlink as u64,
            size: st.st_size as u64,
            dev: st.st_dev as u64,
            ino: st.st_ino as u64,
        }
    }
}

impl Meta {
    pub fn same_file(&self, other: &Meta) -> bool {
        self.dev == other.dev && self.ino == other.ino
    }

    fn sticky(&self) -> bool {
        self.mode & 0o1000 != 0
    }
}

/// Who, besides root, can change something on a path.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Who {
    /// The owner (a uid other than 0): they can change its mode and so anything.
    Owner(u32),
    /// Members of a group with write permission.
    Group(u32),
    /// Every user: write permission for others.
    Anyone,
}

/// One way someone other than root can change what a path names or what it contains.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Writer {
    /// The file, directory or link whose owner or mode gives them that power.
    pub at: PathBuf,
    pub who: Who,
    pub kind: Kind,
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
}

impl Writer {
    fn new(at: PathBuf, who: Who, meta: &Meta) -> Writer {
        Writer {
            at,
            who,
            kind: meta.kind,
            uid: meta.uid,
            gid: meta.gid,
            mode: meta.mode,
        }
    }

    /// The commands that take the power away.
    pub fn fix(&self) -> String {
        let at = shell_quote(&self.at);
        match (&self.who, self.kind) {
            (Who::Owner(_), Kind::Symlink) => format!(
                "replace the link by one root owns (`sudo chown -h root:root {at}`), or use the path it points to"
            ),
            (Who::Owner(_), _) => format!(
                "`sudo chown root:root {at} && sudo chmod go-w {at}`, or move it under a directory only root can change"
            ),
            (_, Kind::Directory) => format!(
                "`sudo chmod go-w {at}` (or `sudo chmod +t {at}` for a shared directory like /tmp)"
            ),
            _ => format!("`sudo chmod go-w {at}`"),
        }
    }
}

impl fmt::Display for Writer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = self.at.display();
        let what = match self.kind {
            Kind::Symlink => "the symbolic link ",
            _ => "",
        };
        match &self.who {
            Who::Owner(uid) => write!(f, "{what}{at} is owned by {}", user_name(*uid)),
            Who::Group(gid) => write!(
                f,
                "{what}{at} is writable by group {} (mode {:04o})",
                group_name(*gid),
                self.mode
            ),
            Who::Anyone => write!(
                f,
                "{what}{at} is writable by everyone (mode {:04o})",
                self.mode
            ),
        }
    }
}

/// Why rgen will not use a path. Every variant names the path asked about (`path`) and, where
/// it is another one, the place on the way that is the problem (`at`); [`UnsafePath::hint`]
/// says what to do.
#[derive(Debug, thiserror::Error)]
pub enum UnsafePath {
    #[error("{} is not an absolute path", path.display())]
    NotAbsolute { path: PathBuf },
    #[error("{} contains `..`; rgen checks paths only in their plain form", path.display())]
    ParentDir { path: PathBuf },
    #[error("{} does not exist{}", path.display(), on_the_way(path, at))]
    Missing { path: PathBuf, at: PathBuf },
    #[error("{} is {}, not a directory{}", at.display(), kind.describe(), on_the_way(path, at))]
    NotADirectory {
        path: PathBuf,
        at: PathBuf,
        kind: Kind,
    },
    /// A link rgen will not follow: one someone other than root can change (`writer`), or any
    /// link where the path itself must not be one (`writer` is `None`).
    #[error("{} is a symbolic link to {}{}{}", at.display(), target.display(), on_the_way(path, at), link_refusal(writer))]
    Symlink {
        path: PathBuf,
        at: PathBuf,
        target: PathBuf,
        writer: Option<Writer>,
    },
    #[error("{}: {writer}, who is neither root nor {}", path.display(), user_name(*trusted))]
    Untrusted {
        path: PathBuf,
        writer: Writer,
        /// The one user besides root who may change the path.
        trusted: u32,
    },
    #[error("{} is {}, not a regular file", path.display(), kind.describe())]
    NotRegular { path: PathBuf, kind: Kind },
    #[error("{} has {links} names (hard links); rgen changes only a file with one name, so that no other file changes with it", path.display())]
    HardLinks { path: PathBuf, links: u64 },
    #[error("{} changed while rgen was working on it{}", at.display(), on_the_way(path, at))]
    Changed { path: PathBuf, at: PathBuf },
    #[error("{}: too many symbolic links", path.display())]
    TooManyLinks { path: PathBuf },
    #[error("cannot {action} {}{}", at.display(), on_the_way(path, at))]
    Io {
        path: PathBuf,
        at: PathBuf,
        action: &'static str,
        #[source]
        source: std::io::Error,
    },
}

fn on_the_way(path: &Path, at: &Path) -> String {
    if path == at {
        String::new()
    } else {
        format!(" (on the way to {})", path.display())
    }
}

fn link_refusal(writer: &Option<Writer>) -> String {
    match writer {
        Some(w) => format!("; rgen follows only links no one but root can change, and {w}"),
        None => "; rgen does not follow a link here".into(),
    }
}

impl UnsafePath {
    /// What the user can do about it, for an error report's `hint:` line.
    pub fn hint(&self) -> Option<String> {
        match self {
            UnsafePath::NotAbsolute { .. } | UnsafePath::ParentDir { .. } => {
                Some("give the full path from `/`, without `..`".into())
            }
            UnsafePath::Missing { .. }
            | UnsafePath::Io { .. }
            | UnsafePath::TooManyLinks { .. } => None,
            UnsafePath::NotADirectory { at, .. } => Some(format!(
                "choose another path, or move {} out of the way",
                at.display()
            )),
            UnsafePath::Symlink {
                writer: Some(w), ..
            } => Some(format!(
                "write the real path instead of the link if {} may decide it, or {}",
                who_name(&w.who),
                w.fix()
            )),
            UnsafePath::Symlink { at, .. } => Some(format!(
                "remove the link {} (rgen recreates the file), or point the app at the real file",
                at.display()
            )),
            UnsafePath::Untrusted {
                writer, trusted, ..
            } => Some(format!(
                "{}; or use a path under directories only root{} can change",
                writer.fix(),
                if *trusted == 0 {
                    String::new()
                } else {
                    format!(" and {}", user_name(*trusted))
                }
            )),
            UnsafePath::NotRegular { path, .. } | UnsafePath::HardLinks { path, .. } => Some(
                format!("move {} away; the app starts a new one", path.display()),
            ),
            UnsafePath::Changed { .. } => Some("run the command again".into()),
        }
    }

    /// Whether the path (or a directory on the way) does not exist.
    pub fn is_missing(&self) -> bool {
        matches!(self, UnsafePath::Missing { .. })
    }
}

fn who_name(who: &Who) -> String {
    match who {
        Who::Owner(uid) => user_name(*uid),
        Who::Group(gid) => format!("every member of group {}", group_name(*gid)),
        Who::Anyone => "every user".into(),
    }
}

/// `alice (uid 1000)`, or `uid 12345` for a uid without a name.
pub fn user_name(uid: u32) -> String {
    match nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid)) {
        Ok(Some(u)) => format!("{} (uid {uid})", u.name),
        _ => format!("uid {uid}"),
    }
}

pub fn group_name(gid: u32) -> String {
    match nix::unistd::Group::from_gid(nix::unistd::Gid::from_raw(gid)) {
        Ok(Some(g)) => format!("{} (gid {gid})", g.name),
        _ => format!("gid {gid}"),
    }
}

fn shell_quote(path: &Path) -> String {
    let s = path.to_string_lossy();
    if s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"/._-+,:@".contains(&b))
    {
        s.into_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Who may change a path besides root: one user, and the groups that hold no one else.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Trusted {
    pub uid: u32,
}

impl Trusted {
    pub fn root() -> Trusted {
        Trusted { uid: 0 }
    }

    pub fn allows(&self, who: &Who) -> bool {
        match who {
            Who::Owner(uid) => *uid == 0 || *uid == self.uid,
            Who::Group(gid) => *gid == 0 || (self.uid != 0 && is_private_group(*gid, self.uid)),
            Who::Anyone => false,
        }
    }
}

/// Whether a group is the user's own (a user private group: same name, no other members), so
/// that group write on their files (umask 002) gives no one else anything.
fn is_private_group(gid: u32, uid: u32) -> bool {
    use nix::unistd::{Gid, Group, Uid, User};
    let Ok(Some(user)) = User::from_uid(Uid::from_raw(uid)) else {
        return false;
    };
    let Ok(Some(group)) = Group::from_gid(Gid::from_raw(gid)) else {
        return false;
    };
    user.gid.as_raw() == gid && group.name == user.name && group.mem.iter().all(|m| *m == user.name)
}

/// Who besides root can change a directory's entries or a file's contents.
pub(crate) fn writers_of(at: &Path, meta: &Meta) -> Vec<Writer> {
    let mut writers = Vec::new();
    if meta.uid != 0 {
        writers.push(Writer::new(at.to_path_buf(), Who::Owner(meta.uid), meta));
    }
    // In a sticky directory only an entry's owner (checked with the entry) can replace it.
    if meta.kind == Kind::Directory && meta.sticky() {
        return writers;
    }
    if meta.mode & 0o020 != 0 {
        writers.push(Writer::new(at.to_path_buf(), Who::Group(meta.gid), meta));
    }
    if meta.mode & 0o002 != 0 {
        writers.push(Writer::new(at.to_path_buf(), Who::Anyone, meta));
    }
    writers
}

/// Who can replace a link: its directory's writers, and in a writable sticky directory the
/// link's owner (a link's own mode means nothing).
fn writers_of_link(dir: &Dir, at: &Path, link: &Meta) -> Vec<Writer> {
    let mut writers = writers_of(&dir.path, &dir.meta);
    if dir.meta.sticky() && dir.meta.mode & 0o022 != 0 && link.uid != 0 {
        writers.push(Writer::new(at.to_path_buf(), Who::Owner(link.uid), link));
    }
    writers
}

/// Which symbolic links a walk follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Follow {
    /// Only links no one but root can change; any other is refused.
    RootOnly,
    /// Every link, as `exec` does; each one's writers count.
    Any,
}

/// What a walk does with a writer it does not trust.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OnWriter {
    Refuse,
    /// List every writer (trusted or not) in [`Walk::writers`].
    Collect,
}

/// A directory reached by the walk.
pub(crate) struct Dir {
    pub fd: OwnedFd,
    /// Where it is, with every link on the way resolved.
    pub path: PathBuf,
    pub meta: Meta,
}

/// What one step of a walk found.
#[derive(Debug)]
pub(crate) enum Step {
    /// A directory, now [`Walk::top`].
    Entered,
    /// A link: its target's components are next in line.
    Followed,
    Missing,
    /// Something other than a directory (or a link): the caller decides.
    Other(Meta),
}

pub(crate) struct Walk {
    asked: PathBuf,
    trusted: Trusted,
    follow: Follow,
    on_writer: OnWriter,
    /// The directories from `/` down to the current one.
    stack: Vec<Dir>,
    pending: VecDeque<OsString>,
    links: u32,
    pub writers: Vec<Writer>,
}

pub(crate) fn io_error(path: &Path, at: &Path, action: &'static str, e: Errno) -> UnsafePath {
    UnsafePath::Io {
        path: path.to_path_buf(),
        at: at.to_path_buf(),
        action,
        source: std::io::Error::from(e),
    }
}

/// The plain components of an absolute path (no `..`: the checks must see the path as written).
fn plain_components(path: &Path) -> Result<VecDeque<OsString>, UnsafePath> {
    if !path.is_absolute() {
        return Err(UnsafePath::NotAbsolute {
            path: path.to_path_buf(),
        });
    }
    let mut names = VecDeque::new();
    for c in path.components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(n) => names.push_back(n.to_os_string()),
            Component::ParentDir | Component::Prefix(_) => {
                return Err(UnsafePath::ParentDir {
                    path: path.to_path_buf(),
                });
            }
        }
    }
    Ok(names)
}

pub(crate) fn dir_flags() -> OFlag {
    OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC
}

pub(crate) fn fstat(fd: impl AsFd) -> Result<Meta, Errno> {
    nix::sys::stat::fstat(fd).map(Meta::from)
}

pub(crate) fn lstat_at(dir: impl AsFd, name: &OsStr) -> Result<Meta, Errno> {
    nix::sys::stat::fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW).map(Meta::from)
}

impl Walk {
    /// Starts at `/` a walk over the components of `path` (absolute, without `..`).
    pub fn start(
        path: &Path,
        trusted: Trusted,
        follow: Follow,
        on_writer: OnWriter,
    ) -> Result<Walk, UnsafePath> {
        let pending = plain_components(path)?;
        let mut walk = Walk {
            asked: path.to_path_buf(),
            trusted,
            follow,
            on_writer,
            stack: Vec::new(),
            pending,
            links: 0,
            writers: Vec::new(),
        };
        let root = Path::new("/");
        let fd = nix::fcntl::open(root, dir_flags(), Mode::empty())
            .map_err(|e| io_error(path, root, "open", e))?;
        let meta = fstat(&fd).map_err(|e| io_error(path, root, "inspect", e))?;
        walk.judge(writers_of(root, &meta))?;
        walk.stack.push(Dir {
            fd,
            path: root.to_path_buf(),
            meta,
        });
        Ok(walk)
    }

    /// The next component, if any.
    pub fn next_name(&mut self) -> Option<OsString> {
        self.pending.pop_front()
    }

    /// Whether the component just taken was the last one.
    pub fn at_end(&self) -> bool {
        self.pending.is_empty()
    }

    /// The directory reached so far.
    pub fn top(&self) -> &Dir {
        self.stack.last().expect("a walk always holds `/`")
    }

    /// Where `name` in the current directory is.
    pub fn at(&self, name: &OsStr) -> PathBuf {
        self.top().path.join(name)
    }

    /// Refuses (or records) writers the walk does not trust.
    fn judge(&mut self, writers: Vec<Writer>) -> Result<(), UnsafePath> {
        match self.on_writer {
            OnWriter::Collect => {
                for w in writers {
                    if !self.writers.contains(&w) {
                        self.writers.push(w);
                    }
                }
                Ok(())
            }
            OnWriter::Refuse => match writers.into_iter().find(|w| !self.trusted.allows(&w.who)) {
                Some(writer) => Err(UnsafePath::Untrusted {
                    path: self.asked.clone(),
                    writer,
                    trusted: self.trusted.uid,
                }),
                None => Ok(()),
            },
        }
    }

    /// Checks a file (or anything not walked into) in the current directory.
    pub fn judge_entry(&mut self, name: &OsStr, meta: &Meta) -> Result<(), UnsafePath> {
        let at = self.at(name);
        self.judge(writers_of(&at, meta))
    }

    /// Takes one component: enters a directory, follows a link (as the walk's [`Follow`] allows)
    /// or reports what else is there.
    pub fn descend(&mut self, name: &OsStr) -> Result<Step, UnsafePath> {
        if name == ".." {
            // Only from a link's target: the asked path has none.
            if self.stack.len() > 1 {
                self.stack.pop();
            }
            return Ok(Step::Entered);
        }
        let at = self.at(name);
        match nix::fcntl::openat(&self.top().fd, name, dir_flags(), Mode::empty()) {
            Ok(fd) => {
                let meta = fstat(&fd).map_err(|e| io_error(&self.asked, &at, "inspect", e))?;
                self.judge(writers_of(&at, &meta))?;
                self.stack.push(Dir { fd, path: at, meta });
                Ok(Step::Entered)
            }
            Err(Errno::ENOENT) => Ok(Step::Missing),
            // A link (ELOOP; EMLINK on the BSDs) or not a directory: look without following.
            Err(Errno::ELOOP | Errno::EMLINK | Errno::ENOTDIR) => {
                let meta = match lstat_at(&self.top().fd, name) {
                    Ok(m) => m,
                    Err(Errno::ENOENT) => return Ok(Step::Missing),
                    Err(e) => return Err(io_error(&self.asked, &at, "inspect", e)),
                };
                match meta.kind {
                    Kind::Symlink => self.follow_link(name, at, &meta),
                    // Gone, or replaced by a directory between the two calls.
                    Kind::Directory => Err(UnsafePath::Changed {
                        path: self.asked.clone(),
                        at,
                    }),
                    _ => Ok(Step::Other(meta)),
                }
            }
            Err(e) => Err(io_error(&self.asked, &at, "open", e)),
        }
    }

    fn follow_link(&mut self, name: &OsStr, at: PathBuf, meta: &Meta) -> Result<Step, UnsafePath> {
        let target = nix::fcntl::readlinkat(&self.top().fd, name)
            .map(PathBuf::from)
            .map_err(|e| io_error(&self.asked, &at, "read the link", e))?;
        let writers = writers_of_link(self.top(), &at, meta);
        match self.follow {
            Follow::RootOnly => {
                if let Some(writer) = writers
                    .into_iter()
                    .find(|w| !Trusted::root().allows(&w.who))
                {
                    return Err(UnsafePath::Symlink {
                        path: self.asked.clone(),
                        at,
                        target,
                        writer: Some(writer),
                    });
                }
            }
            Follow::Any => self.judge(writers)?,
        }
        self.links += 1;
        if self.links > MAX_LINKS {
            return Err(UnsafePath::TooManyLinks {
                path: self.asked.clone(),
            });
        }
        if target.is_absolute() {
            self.stack.truncate(1);
        }
        for c in target.components().rev() {
            match c {
                Component::Normal(n) => self.pending.push_front(n.to_os_string()),
                Component::ParentDir => self.pending.push_front("..".into()),
                Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
            }
        }
        Ok(Step::Followed)
    }

    /// Makes the directory `name` in the current one and enters it: created private, checked to
    /// be the one just made (owned by rgen, empty), then given to `owner` and its `mode` through
    /// its descriptor. `Ok(None)`: something else got there first; look again.
    pub fn create_dir(
        &mut self,
        name: &OsStr,
        owner: Option<(u32, u32)>,
        mode: u32,
    ) -> Result<Option<PathBuf>, UnsafePath> {
        let at = self.at(name);
        let asked = self.asked.clone();
        match nix::sys::stat::mkdirat(&self.top().fd, name, Mode::from_bits_truncate(0o700)) {
            Ok(()) => {}
            Err(Errno::EEXIST) => return Ok(None),
            Err(e) => return Err(io_error(&asked, &at, "create the directory", e)),
        }
        let changed = || UnsafePath::Changed {
            path: asked.clone(),
            at: at.clone(),
        };
        let fd = nix::fcntl::openat(&self.top().fd, name, dir_flags(), Mode::empty())
            .map_err(|_| changed())?;
        let made = fstat(&fd).map_err(|e| io_error(&asked, &at, "inspect", e))?;
        if made.uid != nix::unistd::geteuid().as_raw() || !is_empty_dir(&fd) {
            return Err(changed());
        }
        if let Some((uid, gid)) = owner {
            nix::unistd::fchown(
                &fd,
                Some(nix::unistd::Uid::from_raw(uid)),
                Some(nix::unistd::Gid::from_raw(gid)),
            )
            .map_err(|e| io_error(&asked, &at, "change the owner of", e))?;
        }
        nix::sys::stat::fchmod(&fd, Mode::from_bits_truncate(mode as libc::mode_t))
            .map_err(|e| io_error(&asked, &at, "set the mode of", e))?;
        let meta = fstat(&fd).map_err(|e| io_error(&asked, &at, "inspect", e))?;
        self.stack.push(Dir {
            fd,
            path: at.clone(),
            meta,
        });
        Ok(Some(at))
    }

    /// Gives up the walk's directory descriptor.
    pub fn into_top(mut self) -> Dir {
        self.stack.pop().expect("a walk always holds `/`")
    }
}

fn is_empty_dir(fd: &OwnedFd) -> bool {
    let Ok(dup) = fd.try_clone() else {
        return false;
    };
    let Ok(mut dir) = nix::dir::Dir::from_fd(dup) else {
        return false;
    };
    dir.iter()
        .all(|e| e.is_ok_and(|e| matches!(e.file_name().to_bytes(), b"." | b"..")))
}

#[cfg(test)]
pub(crate) mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    /// Tests that give files to other users need root; without it they say so and pass.
    pub fn root_or_skip(test: &str) -> bool {
        let root = nix::unistd::geteuid().is_root()
            && std::fs::metadata("/").is_ok_and(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0);
        if !root {
            eprintln!("skipped {test}: needs root (chown to other uids) and a root-owned `/`");
        }
        root
    }

    /// A temporary directory for one test, root's and private, under /tmp (itself sticky).
    pub fn scratch() -> tempfile::TempDir {
        tempfile::Builder::new()
            .prefix("rgen-safefs-")
            .tempdir_in("/tmp")
            .unwrap()
    }

    pub fn mkdir(p: &Path, uid: u32, mode: u32) {
        std::fs::create_dir(p).unwrap();
        std::os::unix::fs::chown(p, Some(uid), Some(uid)).unwrap();
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    pub fn file(p: &Path, uid: u32, mode: u32) {
        std::fs::write(p, "x").unwrap();
        std::os::unix::fs::chown(p, Some(uid), Some(uid)).unwrap();
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    fn walk_all(path: &Path, trusted: u32) -> Result<Vec<Step>, UnsafePath> {
        let mut w = Walk::start(
            path,
            Trusted { uid: trusted },
            Follow::RootOnly,
            OnWriter::Refuse,
        )?;
        let mut steps = Vec::new();
        while let Some(name) = w.next_name() {
            steps.push(w.descend(&name)?);
        }
        Ok(steps)
    }

    #[test]
    fn relative_and_dotdot_paths_are_refused() {
        assert!(matches!(
            walk_all(Path::new("var/log"), 0),
            Err(UnsafePath::NotAbsolute { .. })
        ));
        assert!(matches!(
            walk_all(Path::new("/var/../etc"), 0),
            Err(UnsafePath::ParentDir { .. })
        ));
    }

    #[test]
    fn a_root_link_in_a_root_directory_is_followed() {
        if !root_or_skip("a_root_link_in_a_root_directory_is_followed") {
            return;
        }
        let t = scratch();
        mkdir(&t.path().join("real"), 0, 0o755);
        std::os::unix::fs::symlink("real", t.path().join("link")).unwrap();
        let steps = walk_all(&t.path().join("link"), 0).unwrap();
        assert!(matches!(steps.last(), Some(Step::Entered)), "{steps:?}");
    }

    #[test]
    fn a_link_loop_ends() {
        if !root_or_skip("a_link_loop_ends") {
            return;
        }
        let t = scratch();
        std::os::unix::fs::symlink("b", t.path().join("a")).unwrap();
        std::os::unix::fs::symlink("a", t.path().join("b")).unwrap();
        assert!(matches!(
            walk_all(&t.path().join("a/x"), 0),
            Err(UnsafePath::TooManyLinks { .. })
        ));
    }

    #[test]
    fn a_users_private_group_is_trusted_only_for_them() {
        // Fake uids have no entry in the user database, so no private group.
        let alice = Trusted { uid: 12345 };
        assert!(alice.allows(&Who::Owner(12345)));
        assert!(alice.allows(&Who::Owner(0)));
        assert!(alice.allows(&Who::Group(0)));
        assert!(!alice.allows(&Who::Owner(23456)));
        assert!(!alice.allows(&Who::Group(12345)));
        assert!(!alice.allows(&Who::Anyone));
        assert!(!Trusted::root().allows(&Who::Owner(12345)));
    }

    #[test]
    fn fixes_quote_paths_for_the_shell() {
        let w = Writer {
            at: PathBuf::from("/srv/my app"),
            who: Who::Anyone,
            kind: Kind::Directory,
            uid: 0,
            gid: 0,
            mode: 0o777,
        };
        assert!(w.fix().contains("chmod go-w '/srv/my app'"), "{}", w.fix());
        assert_eq!(
            w.to_string(),
            "/srv/my app is writable by everyone (mode 0777)"
        );
    }
}
