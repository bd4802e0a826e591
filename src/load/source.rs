//! Reading an ecosystem file: only a regular file (a symlink to one is fine), only up to
//! [`MAX_SOURCE_BYTES`], and never blocking on what is not a file.
//!
//! Opening a FIFO for reading blocks until someone opens it for writing, and opening a device
//! can have effects of its own (a tape rewinds, a modem line is raised), so the type is checked
//! with `stat` before opening. The open itself is non-blocking, and the opened descriptor is
//! checked again with `fstat`, so a file swapped for a FIFO in between cannot hang rgen either.

use std::fs::Metadata;
use std::io::Read as _;
use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _, OpenOptionsExt as _};
use std::path::Path;

use super::limits::MAX_SOURCE_BYTES;
use crate::diag::{BadInput, Origin};

/// The file's bytes, or why rgen will not read them.
pub fn read_bytes(file: &Path) -> Result<Vec<u8>, BadInput> {
    read_bytes_owned(file, None)
}

/// [`read_bytes`], and with `owner`, only a file that user owns: root reading a file in a user's
/// tree must not be led by her symlink (or hard link) to a file of root's. The owner is that of
/// the opened file, so swapping the path meanwhile changes nothing.
pub fn read_bytes_owned(file: &Path, owner: Option<u32>) -> Result<Vec<u8>, BadInput> {
    let origin = Origin::file(file);
    let cannot_read = |e: std::io::Error| {
        BadInput::single(
            origin.clone(),
            format!("cannot read the ecosystem file: {e}"),
            (e.kind() == std::io::ErrorKind::NotFound)
                .then(|| "check the path; with no file argument rgen looks for rgen.toml or ecosystem.config.js in the current directory".into()),
        )
    };
    let before = std::fs::metadata(file).map_err(cannot_read)?;
    refuse_unless_readable(&before, &origin)?;
    let opened = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(file)
        .map_err(cannot_read)?;
    let after = opened.metadata().map_err(cannot_read)?;
    refuse_unless_readable(&after, &origin)?;
    if let Some(uid) = owner
        && after.uid() != uid
    {
        return Err(BadInput::single(
            origin,
            format!(
                "the file belongs to {}, but {} can change the way to it",
                user_name(after.uid()),
                user_name(uid)
            ),
            Some("rgen reads a file in a user's tree only when that user owns it (a symlink there could lead root to anyone's file); copy it to a place only root can change and name that".into()),
        ));
    }
    // At most one byte past the limit is read: the size `fstat` gave can be stale (a growing
    // file) or meaningless (files in /proc say 0).
    let mut bytes = Vec::with_capacity(after.len().min(MAX_SOURCE_BYTES) as usize + 1);
    opened
        .take(MAX_SOURCE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot_read)?;
    if bytes.len() as u64 > MAX_SOURCE_BYTES {
        return Err(too_large(&origin, None));
    }
    Ok(bytes)
}

fn user_name(uid: u32) -> String {
    match nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid)) {
        Ok(Some(u)) => format!("{} (uid {uid})", u.name),
        _ => format!("uid {uid}"),
    }
}

fn refuse_unless_readable(meta: &Metadata, origin: &Origin) -> Result<(), BadInput> {
    let kind = meta.file_type();
    let what = if kind.is_file() {
        if meta.len() > MAX_SOURCE_BYTES {
            return Err(too_large(origin, Some(meta.len())));
        }
        return Ok(());
    } else if kind.is_dir() {
        return Err(BadInput::single(
            origin.clone(),
            "the ecosystem file is a directory",
            Some("name the file itself, or run rgen in that directory with no file argument to find rgen.toml or ecosystem.config.js there".into()),
        ));
    } else if kind.is_fifo() {
        "a named pipe (FIFO)"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else {
        "not a file"
    };
    Err(BadInput::single(
        origin.clone(),
        format!("the ecosystem file is not a regular file: it is {what}"),
        Some("rgen reads ecosystem files from regular files (a symlink to one is fine); to load generated config, write it to a file first".into()),
    ))
}

fn too_large(origin: &Origin, size: Option<u64>) -> BadInput {
    let size = match size {
        Some(n) => format!(" ({:.1} MiB)", n as f64 / (1u64 << 20) as f64),
        None => String::new(),
    };
    BadInput::single(
        origin.clone(),
        format!(
            "the ecosystem file is larger than {} MiB{size}",
            MAX_SOURCE_BYTES >> 20
        ),
        Some("an ecosystem file lists apps and their settings; keep data the apps read in files of their own".into()),
    )
}
