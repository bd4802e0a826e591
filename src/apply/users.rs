//! Users and groups by name or number, from the user database (NSS: `/etc/passwd`, LDAP,
//! homed, …), for the effects that give files to an app's user.

use nix::unistd::{Gid, Group, Uid, User};

/// A user's uid and primary gid.
pub fn lookup_user(name: &str) -> Option<(u32, u32)> {
    let user = match name.parse() {
        Ok(uid) => User::from_uid(Uid::from_raw(uid)),
        Err(_) => User::from_name(name),
    };
    let user = user.ok().flatten()?;
    Some((user.uid.as_raw(), user.gid.as_raw()))
}

/// A group's gid.
pub fn lookup_group(name: &str) -> Option<u32> {
    let group = match name.parse() {
        Ok(gid) => Group::from_gid(Gid::from_raw(gid)),
        Err(_) => Group::from_name(name),
    };
    Some(group.ok().flatten()?.gid.as_raw())
}

/// The owner (uid, gid) files of an app running as `user` (and `group`) get; `None` for root.
pub fn owner_of(user: Option<&str>, group: Option<&str>) -> Result<Option<(u32, u32)>, String> {
    let Some(user) = user else {
        return Ok(None);
    };
    let (uid, user_gid) =
        lookup_user(user).ok_or_else(|| format!("there is no user `{user}` on this machine"))?;
    let gid = match group {
        Some(g) => {
            lookup_group(g).ok_or_else(|| format!("there is no group `{g}` on this machine"))?
        }
        None => user_gid,
    };
    Ok(Some((uid, gid)))
}
