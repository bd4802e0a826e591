//! Groups `user` and `startup`: `uid`/`user`, `gid` (who the app runs as, system scope), and
//! `autostart`.

use serde_json::Value;

use crate::load::kind;
use crate::model::fields::Fields;
use crate::model::text::user_problem;

/// `(uid, gid)` as written: names or numbers.
pub(crate) fn read(f: &mut Fields<'_>) -> (Option<String>, Option<String>) {
    let user = match f.entry("uid").map(|e| e.value.clone()) {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(Value::String(s)) if !s.is_empty() => Some(s),
        Some(other) => {
            f.fail(
                "uid",
                format!("`uid` must be a user name or number, not {}", kind(&other)),
                None,
            );
            None
        }
    };
    let group = match f.entry("gid").map(|e| e.value.clone()) {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(Value::String(s)) if !s.is_empty() => Some(s),
        Some(other) => {
            f.fail(
                "gid",
                format!("`gid` must be a group name or number, not {}", kind(&other)),
                None,
            );
            None
        }
    };
    for (key, value) in [("uid", &user), ("gid", &group)] {
        if let Some(v) = value
            && let Some(why) = user_problem(v)
        {
            let written = f.written(key);
            f.fail(
                key,
                format!("`{written}` {why}"),
                Some("give an existing user's name or uid (`id -u NAME` prints it)".into()),
            );
        }
    }
    (user, group)
}

pub(crate) fn autostart(f: &mut Fields<'_>) -> bool {
    f.boolean("autostart").unwrap_or(true)
}
