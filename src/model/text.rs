//! What a value can hold, checked where it is read so that `rgen check` refuses it with its file,
//! app and key — instead of a unit file that silently means something else (a trailing `\`
//! continues the line into the next directive) or an exec that fails at start (E2BIG).

/// Linux's limit on one argument or one `NAME=value` string: `MAX_ARG_STRLEN`, 32 pages.
pub const MAX_ARG_BYTES: usize = 32 * 4096 - 1;
/// `PATH_MAX` less the terminating NUL; systemd refuses longer paths.
pub const MAX_PATH_BYTES: usize = 4095;
/// A name, user or namespace: far below systemd's line limit.
pub const MAX_NAME_BYTES: usize = 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// A word of the command or an environment value: any bytes but NUL, up to the exec limit.
    Arg,
    /// A value written on a line of its own (names, users): no control characters, no
    /// surrounding spaces, no trailing backslash.
    Line,
    /// A path written on a line of its own (working directory, log files, watched paths).
    Path,
}

/// Why `text` cannot be used as `shape`, with a hint.
pub fn problem(text: &str, shape: Shape) -> Option<(String, String)> {
    if text.contains('\0') {
        return Some((
            "contains a NUL byte, which no program can be given".into(),
            "remove the NUL (`\\u0000`) from the value".into(),
        ));
    }
    let limit = match shape {
        Shape::Arg => MAX_ARG_BYTES,
        Shape::Path => MAX_PATH_BYTES,
        Shape::Line => MAX_NAME_BYTES,
    };
    if text.len() > limit {
        return Some((
            format!("is {} bytes long, over the limit of {limit}", text.len()),
            match shape {
                Shape::Arg => "Linux refuses to start a program with an argument or variable over 128 KiB (E2BIG); pass large data in a file".into(),
                Shape::Path => "paths are limited to 4095 bytes (PATH_MAX)".into(),
                Shape::Line => "use a shorter value".into(),
            },
        ));
    }
    if shape == Shape::Arg {
        return None;
    }
    if let Some(c) = text.chars().find(|c| c.is_control()) {
        return Some((
            format!("contains the control character {c:?}, which a unit file line cannot hold"),
            "remove line breaks, carriage returns and other control characters".into(),
        ));
    }
    if text.trim() != text {
        return Some((
            "starts or ends with whitespace, which systemd strips from unit file values".into(),
            "remove the surrounding spaces".into(),
        ));
    }
    if text.ends_with('\\') {
        return Some((
            "ends with a backslash, which would continue the unit file line into the next setting"
                .into(),
            "remove the trailing `\\` (a directory needs no trailing separator)".into(),
        ));
    }
    None
}

/// Whether systemd passes an environment variable of this name (`env_name_is_valid`: letters,
/// digits and `_`, not starting with a digit).
pub fn systemd_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A `uid`/`gid` as systemd's `User=`/`Group=` accept it: a number that can be a user (not
/// 65535 or 4294967295, which mean "none"), or a name of letters, digits, `_`, `.` and `-` not
/// starting with a digit or `-` (a trailing `$` for machine accounts).
pub fn user_problem(value: &str) -> Option<String> {
    if let Ok(n) = value.parse::<i64>() {
        return match n {
            0..=65534 | 65536..=4_294_967_294 => None,
            _ => Some(format!("{n} is not a user or group id")),
        };
    }
    let body = value.strip_suffix('$').unwrap_or(value);
    let mut chars = body.chars();
    let first_ok = matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_');
    if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')) {
        return Some(format!(
            "{value:?} is not a user or group name (letters, digits, `_`, `.` and `-`, not starting with a digit or `-`)"
        ));
    }
    if value.len() > 256 {
        return Some("names are limited to 256 characters".into());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_refuse_what_would_change_the_unit() {
        assert!(problem("/srv/w\\", Shape::Path).is_some());
        assert!(problem("/srv/w\r", Shape::Path).is_some());
        assert!(problem(" x", Shape::Line).is_some());
        assert!(problem("a\0b", Shape::Arg).is_some());
        assert!(problem("a\\b", Shape::Arg).is_none());
        assert!(problem("tab\there\\", Shape::Arg).is_none());
        assert!(problem(&"x".repeat(MAX_ARG_BYTES + 1), Shape::Arg).is_some());
        assert!(problem("/srv/my app/100%", Shape::Path).is_none());
    }

    #[test]
    fn users_and_env_names() {
        for ok in ["alice", "_svc", "www-data", "a.b", "1000", "0", "MACHINE$"] {
            assert_eq!(user_problem(ok), None, "{ok}");
        }
        for bad in ["65535", "-1", "a/b", "4294967295", "-x", "9x", ""] {
            assert!(user_problem(bad).is_some(), "{bad}");
        }
        assert!(systemd_env_name("NODE_ENV"));
        assert!(!systemd_env_name("spring.datasource.password"));
        assert!(!systemd_env_name("NODE-ENV"));
        assert!(!systemd_env_name("1X"));
    }
}
