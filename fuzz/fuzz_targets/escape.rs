//! Unit-file quoting (`src/render/systemd/escape.rs`) read back two ways: by rgen's own reader
//! (`parse_exec_line`, as `rgen logs` and `show` use it), and by a strict reading of systemd's
//! rules written here (systemd.syntax(7), systemd.service(5) "COMMAND LINES"): C escapes, `$$`,
//! `%%` and `%i`, and nothing else. For arbitrary words, reading back what was written gives the
//! words again.
#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use rgen::plan::{Part, Word};
use rgen::backend::systemd::escape::{env_assignment, exec_line, literal, parse_exec_line};

#[derive(Arbitrary, Debug)]
enum Piece {
    Text(String),
    Instance,
}

#[derive(Arbitrary, Debug)]
struct Input {
    words: Vec<Vec<Piece>>,
    env_name: String,
    raw_line: String,
}

/// A word as systemd sees it after all unquoting: characters and the instance name.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Tok {
    Char(char),
    Instance,
}

fn word(pieces: &[Piece]) -> Word {
    Word(
        pieces
            .iter()
            .map(|p| match p {
                Piece::Text(t) => Part::Text(t.clone()),
                Piece::Instance => Part::Instance,
            })
            .collect(),
    )
}

fn toks(pieces: &[Piece]) -> Vec<Tok> {
    pieces
        .iter()
        .flat_map(|p| match p {
            Piece::Text(t) => t.chars().map(Tok::Char).collect::<Vec<_>>(),
            Piece::Instance => vec![Tok::Instance],
        })
        .collect()
}

/// What rgen's reader returns for a word: text with `%` specifiers left as written.
fn as_rgen_reads(pieces: &[Piece]) -> String {
    pieces
        .iter()
        .map(|p| match p {
            Piece::Text(t) => t.replace('%', "%%"),
            Piece::Instance => "%i".to_string(),
        })
        .collect()
}

/// systemd's C unescaping (cunescape_one): a NUL is refused, as systemd refuses it.
fn cunescape(chars: &mut std::iter::Peekable<std::str::Chars>) -> Option<char> {
    let c = chars.next()?;
    let hex = |chars: &mut std::iter::Peekable<std::str::Chars>, n: usize| {
        let digits: String = chars.by_ref().take(n).collect();
        (digits.len() == n)
            .then(|| u32::from_str_radix(&digits, 16).ok())
            .flatten()
    };
    let out = match c {
        'a' => '\u{7}',
        'b' => '\u{8}',
        'f' => '\u{c}',
        'n' => '\n',
        'r' => '\r',
        't' => '\t',
        'v' => '\u{b}',
        's' => ' ',
        '\\' | '"' | '\'' => c,
        'x' => char::from_u32(hex(chars, 2)?)?,
        'u' => char::from_u32(hex(chars, 4)?)?,
        'U' => char::from_u32(hex(chars, 8)?)?,
        '0'..='7' => {
            let rest: String = chars.by_ref().take(2).collect();
            char::from_u32(u32::from_str_radix(&format!("{c}{rest}"), 8).ok()?)?
        }
        _ => return None,
    };
    (out != '\0').then_some(out)
}

/// Splits a setting's value into words the way systemd does for `Exec*=` and `Environment=`
/// (whitespace separates, `"…"` quotes with C escapes). `None`: systemd would reject the line.
fn systemd_words(line: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| matches!(c, ' ' | '\t')) {
            chars.next();
        }
        if chars.peek().is_none() {
            return Some(words);
        }
        let mut word = String::new();
        let mut quoted = false;
        while let Some(c) = chars.next() {
            match c {
                '"' => quoted = !quoted,
                '\\' => word.push(cunescape(&mut chars)?),
                ' ' | '\t' if !quoted => break,
                '\n' | '\r' => return None,
                c => word.push(c),
            }
        }
        if quoted {
            return None;
        }
        words.push(word);
    }
}

/// `%%` and `%i`; any other `%` would be a specifier systemd expands. With `dollar`, `$$` is a
/// `$` and a lone `$` would start a variable systemd expands.
fn specifiers(word: &str, dollar: bool) -> Option<Vec<Tok>> {
    let mut out = Vec::new();
    let mut chars = word.chars();
    while let Some(c) = chars.next() {
        match c {
            '%' => match chars.next()? {
                '%' => out.push(Tok::Char('%')),
                'i' => out.push(Tok::Instance),
                _ => return None,
            },
            '$' if dollar => match chars.next()? {
                '$' => out.push(Tok::Char('$')),
                _ => return None,
            },
            c => out.push(Tok::Char(c)),
        }
    }
    Some(out)
}

/// An argument cannot hold a NUL (execve takes C strings) and systemd refuses `\x00`: that is
/// for the model to refuse, so it is left out here.
fn has_nul(pieces: &[Piece]) -> bool {
    pieces
        .iter()
        .any(|p| matches!(p, Piece::Text(t) if t.contains('\0')))
}

fuzz_target!(|input: Input| {
    // Whatever the line, rgen's reader returns.
    let _ = parse_exec_line(&input.raw_line);

    let words: Vec<&Vec<Piece>> = input.words.iter().filter(|w| !has_nul(w)).collect();
    let built: Vec<Word> = words.iter().map(|w| word(w)).collect();
    let line = exec_line(&built);
    assert!(!line.contains(['\n', '\r']), "one line: {line:?}");

    let read: Vec<String> = words.iter().map(|w| as_rgen_reads(w)).collect();
    assert_eq!(parse_exec_line(&line), read, "rgen reads back {line:?}");

    let split = systemd_words(&line).unwrap_or_else(|| panic!("systemd rejects {line:?}"));
    let unquoted: Vec<Option<Vec<Tok>>> = split.iter().map(|w| specifiers(w, true)).collect();
    let expected: Vec<Option<Vec<Tok>>> = words.iter().map(|w| Some(toks(w))).collect();
    assert_eq!(unquoted, expected, "systemd reads back {line:?}");

    for (pieces, w) in words.iter().zip(&built) {
        if !input.env_name.is_empty() && !input.env_name.contains(['=', '\0']) {
            let assignment = env_assignment(&input.env_name, w);
            assert!(!assignment.contains(['\n', '\r']), "{assignment:?}");
            let split = systemd_words(&assignment)
                .unwrap_or_else(|| panic!("systemd rejects {assignment:?}"));
            assert_eq!(split.len(), 1, "one assignment: {assignment:?}");
            let mut expected: Vec<Tok> = input.env_name.chars().map(Tok::Char).collect();
            expected.push(Tok::Char('='));
            expected.extend(toks(pieces));
            assert_eq!(
                specifiers(&split[0], false),
                Some(expected),
                "systemd reads back {assignment:?}"
            );
        }

        match literal(w) {
            Some(text) => {
                assert!(!text.chars().any(char::is_control), "{text:?}");
                assert_eq!(
                    text.trim_matches([' ', '\t']),
                    text,
                    "not trimmed: {text:?}"
                );
                assert_eq!(specifiers(&text, false), Some(toks(pieces)), "{text:?}");
            }
            None => {
                let text: String = pieces
                    .iter()
                    .map(|p| match p {
                        Piece::Text(t) => t.as_str(),
                        Piece::Instance => "%i",
                    })
                    .collect();
                assert!(
                    // A trailing backslash would continue the line (systemd.syntax(7)).
                    text.chars().any(char::is_control)
                        || text.trim() != text
                        || text.ends_with('\\'),
                    "refused for no reason: {text:?}"
                );
            }
        }
    }
});
