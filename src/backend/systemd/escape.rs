//! All quoting for unit files lives here; templates only place the results.
//!
//! Rules (systemd.syntax(7), systemd.service(5) "COMMAND LINES", systemd.exec(5) `Environment=`;
//! checked against systemd 252's parser, see README "Quoting"):
//! - `Exec*=`: words are split; a `"…"` word takes C escapes (`\\`, `\"`, `\n`, `\t`, `\xHH`);
//!   `%` starts a specifier (`%%` is a literal `%`); `$` starts variable expansion (`$$` is a
//!   literal `$`); an unquoted `;` would start a second command.
//! - `Environment=`: one `"NAME=value"` word per variable; C escapes and `%%` as above, but no `$`
//!   expansion, so `$` stays single.
//! - Path-valued settings (`WorkingDirectory=`, `append:`, `PathChanged=`) take the rest of the
//!   line literally apart from specifiers, so only `%` needs escaping; they cannot carry newlines.
//! - Path lists (`BindPaths=`) are split at whitespace and `:`, outside quotes: each path is one
//!   `"…"` word with `\\` and `\"` escaped, specifiers (`%%`) expanded after the quotes go.

use std::fmt::Write as _;

use crate::plan::{Part, Word};

/// The systemd specifier for a template unit's instance name, as written in unit files.
pub const INSTANCE: &str = "%i";

fn c_escape_into(out: &mut String, text: &str, dollar: bool) {
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '%' => out.push_str("%%"),
            '$' if dollar => out.push_str("$$"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
}

/// One word of an `Exec*=` line, always double-quoted so that spaces, `;`, quotes and leading
/// `-`/`@`/`+` reach the program exactly as written.
pub fn exec_word(word: &Word) -> String {
    let mut out = String::from("\"");
    for part in &word.0 {
        match part {
            Part::Text(t) => c_escape_into(&mut out, t, true),
            Part::Instance => out.push_str(INSTANCE),
        }
    }
    out.push('"');
    out
}

pub fn exec_line(words: &[Word]) -> String {
    words.iter().map(exec_word).collect::<Vec<_>>().join(" ")
}

/// `"NAME=value"` for `Environment=`.
pub fn env_assignment(name: &str, value: &Word) -> String {
    let mut out = String::from("\"");
    c_escape_into(&mut out, name, false);
    out.push('=');
    for part in &value.0 {
        match part {
            Part::Text(t) => c_escape_into(&mut out, t, false),
            Part::Instance => out.push_str(INSTANCE),
        }
    }
    out.push('"');
    out
}

/// A value systemd reads literally except for specifiers (paths, descriptions, user names).
/// Returns `None` when the value cannot be written on one line.
pub fn literal(word: &Word) -> Option<String> {
    let mut out = String::new();
    for part in &word.0 {
        match part {
            Part::Text(t) => {
                if t.chars().any(|c| c.is_control()) {
                    return None;
                }
                out.push_str(&t.replace('%', "%%"));
            }
            Part::Instance => out.push_str(INSTANCE),
        }
    }
    // systemd trims surrounding whitespace from values, and a trailing backslash continues the
    // line into the next one.
    if out.trim() != out || out.ends_with('\\') {
        return None;
    }
    Some(out)
}

pub fn literal_text(text: &str) -> Option<String> {
    literal(&Word::text(text))
}

/// One path of a `BindPaths=` list (bound onto itself). `None` as for [`literal`].
pub fn bind_path(path: &str) -> Option<String> {
    let text = literal_text(path)?;
    Some(format!(
        "\"{}\"",
        text.replace('\\', "\\\\").replace('"', "\\\"")
    ))
}

/// Durations as systemd time spans: whole seconds as `Ns`, otherwise milliseconds.
pub fn timespan_ms(ms: u64) -> String {
    match ms {
        0 => "0".into(),
        ms if ms % 1000 == 0 => format!("{}s", ms / 1000),
        ms => format!("{ms}ms"),
    }
}

/// Byte sizes with systemd's binary suffixes where they are exact.
pub fn bytes(n: u64) -> String {
    for (shift, suffix) in [(40, 'T'), (30, 'G'), (20, 'M'), (10, 'K')] {
        if n >= 1 << shift && n.is_multiple_of(1 << shift) {
            return format!("{}{suffix}", n >> shift);
        }
    }
    n.to_string()
}

/// Reads back a value systemd expands specifiers in: `%%` is `%`, and `%i` is `instance` (left
/// as written when there is none).
pub fn expand_specifiers(value: &str, instance: Option<&str>) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.peek() {
            Some('%') => {
                chars.next();
                out.push('%');
            }
            Some('i') if instance.is_some() => {
                chars.next();
                out.push_str(instance.unwrap_or_default());
            }
            _ => out.push('%'),
        }
    }
    out
}

/// Reads back an `Exec*=` line written by `exec_line` (for `rgen logs` and `show`): C escapes and
/// `$$` are decoded; `%` specifiers are left as written (`%%`, `%i`) for the caller to expand.
pub fn parse_exec_line(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let Some(&first) = chars.peek() else { break };
        let mut word = String::new();
        if first == '"' {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '"' => break,
                    '\\' => match chars.next() {
                        Some('n') => word.push('\n'),
                        Some('t') => word.push('\t'),
                        Some('r') => word.push('\r'),
                        Some('x') => {
                            let hex: String = chars.by_ref().take(2).collect();
                            if let Ok(b) = u8::from_str_radix(&hex, 16) {
                                word.push(b as char);
                            }
                        }
                        Some(other) => word.push(other),
                        None => {}
                    },
                    '$' if chars.peek() == Some(&'$') => {
                        chars.next();
                        word.push('$');
                    }
                    c => word.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                word.push(c);
                chars.next();
            }
        }
        words.push(word);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(s: &str) -> Word {
        Word::text(s)
    }

    #[test]
    fn exec_words_are_quoted_and_escaped() {
        assert_eq!(exec_word(&w("a b")), r#""a b""#);
        assert_eq!(exec_word(&w(r#"c"d"#)), r#""c\"d""#);
        assert_eq!(exec_word(&w(r"e\f")), r#""e\\f""#);
        assert_eq!(exec_word(&w("100%")), r#""100%%""#);
        assert_eq!(exec_word(&w("$HOME")), r#""$$HOME""#);
        assert_eq!(exec_word(&w(";")), r#"";""#);
        assert_eq!(exec_word(&w("nl\nz\ttab")), r#""nl\nz\ttab""#);
        assert_eq!(exec_word(&w("\u{1}")), r#""\x01""#);
        assert_eq!(exec_word(&w("ü→")), "\"ü→\"");
        assert_eq!(exec_word(&w("")), r#""""#);
    }

    #[test]
    fn bind_paths_are_one_quoted_word() {
        assert_eq!(bind_path("/srv/app").as_deref(), Some(r#""/srv/app""#));
        assert_eq!(
            bind_path(r#"/srv/a b:c 100% "q" \s"#).as_deref(),
            Some(r#""/srv/a b:c 100%% \"q\" \\s""#)
        );
        assert_eq!(bind_path("/srv/nl\n"), None);
    }

    #[test]
    fn env_keeps_dollar() {
        assert_eq!(env_assignment("A", &w("x $y 50%")), r#""A=x $y 50%%""#);
        assert_eq!(env_assignment("B", &w("q\"u\\o")), r#""B=q\"u\\o""#);
    }

    #[test]
    fn instance_specifier() {
        let word = Word(vec![
            Part::Text("/l/out-".into()),
            Part::Instance,
            Part::Text(".log".into()),
        ]);
        assert_eq!(literal(&word).as_deref(), Some("/l/out-%i.log"));
        assert_eq!(exec_word(&Word(vec![Part::Instance])), "\"%i\"");
    }

    #[test]
    fn literals_refuse_what_one_line_cannot_hold() {
        assert_eq!(
            literal_text("/srv/my app/100%").as_deref(),
            Some("/srv/my app/100%%")
        );
        assert_eq!(literal_text("a\nb"), None);
        assert_eq!(literal_text(" lead"), None);
    }

    #[test]
    fn exec_lines_read_back() {
        let words = [
            w("a b"),
            w("q\"x\\y"),
            w("$HOME"),
            w("nl\nt\tz"),
            w("\u{1}"),
            w("ü"),
            w(""),
        ];
        let parsed = parse_exec_line(&exec_line(&words));
        let expected: Vec<String> = ["a b", "q\"x\\y", "$HOME", "nl\nt\tz", "\u{1}", "ü", ""]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(parsed, expected);
        assert_eq!(parse_exec_line(&exec_line(&[w("50%")])), ["50%%"]);
    }

    #[test]
    fn specifiers_expand() {
        assert_eq!(
            expand_specifiers("/l/out-%i.log", Some("2")),
            "/l/out-2.log"
        );
        assert_eq!(expand_specifiers("100%%", None), "100%");
        assert_eq!(expand_specifiers("a-%i", None), "a-%i");
    }

    #[test]
    fn spans_and_sizes() {
        assert_eq!(timespan_ms(1600), "1600ms");
        assert_eq!(timespan_ms(16000), "16s");
        assert_eq!(bytes(2 << 30), "2G");
        assert_eq!(bytes(1536 << 20), "1536M");
        assert_eq!(bytes(1000), "1000");
    }
}
