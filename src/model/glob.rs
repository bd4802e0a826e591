//! The glob patterns PM2's watcher takes (chokidar, through picomatch): `*` and `?` within one
//! path component, `**` across components, `[abc]`/`[a-z]`/`[!a]` classes and `{a,b}`
//! alternatives. Enough to find what a pattern can match among directories; not a full
//! picomatch (no extglobs).

/// Whether `text` is a pattern rather than a plain path.
pub fn is_glob(text: &str) -> bool {
    text.contains(['*', '?', '[', '{'])
}

/// The leading components of `pattern` without glob characters: what a watch on the pattern
/// must cover (`client/src/*.js` → `client/src`, `**` → ``), and whether the rest reaches into
/// subdirectories (`**`, or a `/` after the first glob component).
pub fn static_prefix(pattern: &str) -> (String, bool) {
    let parts: Vec<&str> = pattern.split('/').collect();
    match parts.iter().position(|p| is_glob(p)) {
        None => (pattern.to_string(), true),
        Some(i) => {
            let rest = &parts[i..];
            let deep = rest.len() > 1 || rest.iter().any(|p| p.contains("**"));
            (parts[..i].join("/"), deep)
        }
    }
}

/// Whether `pattern` matches all of `text`.
pub fn matches(pattern: &str, text: &str) -> bool {
    expand_braces(pattern)
        .iter()
        .any(|p| match_here(p.as_bytes(), text.as_bytes()))
}

/// `{a,b}c` → `ac`, `bc` (nested braces expand from the inside out; at most 64 results).
fn expand_braces(pattern: &str) -> Vec<String> {
    const LIMIT: usize = 64;
    let mut done = Vec::new();
    let mut todo = vec![pattern.to_string()];
    while let Some(p) = todo.pop() {
        let Some(open) = p.rfind('{') else {
            done.push(p);
            continue;
        };
        let Some(close) = p[open..].find('}').map(|c| open + c) else {
            done.push(p);
            continue;
        };
        let (head, body, tail) = (&p[..open], &p[open + 1..close], &p[close + 1..]);
        if !body.contains(',') || done.len() + todo.len() > LIMIT {
            // Not alternatives: the braces are literal characters.
            done.push(format!("{head}\u{0}{body}\u{1}{tail}"));
            continue;
        }
        for alt in body.split(',') {
            todo.push(format!("{head}{alt}{tail}"));
        }
    }
    done.into_iter()
        .map(|p| p.replace('\u{0}', "{").replace('\u{1}', "}"))
        .collect()
}

fn match_here(p: &[u8], t: &[u8]) -> bool {
    match p.split_first() {
        None => t.is_empty(),
        Some((b'*', rest)) if rest.first() == Some(&b'*') => {
            // `**/` also matches no directory at all.
            let rest = &rest[1..];
            if let Some(after) = rest.strip_prefix(b"/")
                && match_here(after, t)
            {
                return true;
            }
            (0..=t.len()).any(|i| match_here(rest, &t[i..]))
        }
        Some((b'*', rest)) => (0..=t.len())
            .take_while(|&i| i == 0 || t[i - 1] != b'/')
            .any(|i| match_here(rest, &t[i..])),
        Some((b'?', rest)) => t
            .split_first()
            .is_some_and(|(c, t)| *c != b'/' && match_here(rest, t)),
        Some((b'[', rest)) => match (class_end(rest), t.split_first()) {
            (Some(end), Some((c, t))) => {
                *c != b'/' && class_matches(&rest[..end], *c) && match_here(&rest[end + 1..], t)
            }
            (None, Some((c, t))) => *c == b'[' && match_here(rest, t),
            (_, None) => false,
        },
        Some((pc, rest)) => t
            .split_first()
            .is_some_and(|(c, t)| c == pc && match_here(rest, t)),
    }
}

/// Where the class starting after `[` ends (the index of its `]`).
fn class_end(p: &[u8]) -> Option<usize> {
    let skip = usize::from(matches!(p.first(), Some(b'!' | b'^')));
    // A `]` right after the opening is a member.
    p.iter()
        .enumerate()
        .skip(skip + 1)
        .find(|(_, c)| **c == b']')
        .map(|(i, _)| i)
}

fn class_matches(class: &[u8], c: u8) -> bool {
    let (negated, members) = match class.split_first() {
        Some((b'!' | b'^', rest)) => (true, rest),
        _ => (false, class),
    };
    let mut hit = false;
    let mut i = 0;
    while i < members.len() {
        if i + 2 < members.len() && members[i + 1] == b'-' {
            hit |= (members[i]..=members[i + 2]).contains(&c);
            i += 3;
        } else {
            hit |= members[i] == c;
            i += 1;
        }
    }
    hit != negated
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stars_stay_in_their_component() {
        assert!(matches("/a/*.log", "/a/x.log"));
        assert!(!matches("/a/*.log", "/a/b/x.log"));
        assert!(matches("/a/**/*.log", "/a/b/c/x.log"));
        assert!(matches("/a/**/*.log", "/a/x.log"));
        assert!(matches("/a/**", "/a/b/c"));
        assert!(matches("/a/b?", "/a/bc"));
        assert!(!matches("/a/b?", "/a/b/"));
    }

    #[test]
    fn classes_and_braces() {
        assert!(matches("/a/[a-c]x", "/a/bx"));
        assert!(!matches("/a/[!a-c]x", "/a/bx"));
        assert!(matches("/a/{img,css}", "/a/css"));
        assert!(!matches("/a/{img,css}", "/a/js"));
        assert!(matches("/a/{x}", "/a/{x}"));
        assert!(matches("/a/[", "/a/["));
    }

    #[test]
    fn prefixes() {
        assert_eq!(static_prefix("**"), (String::new(), true));
        assert_eq!(
            static_prefix("client/src/*.js"),
            ("client/src".into(), false)
        );
        assert_eq!(static_prefix("client/*/views"), ("client".into(), true));
        assert_eq!(static_prefix("server"), ("server".into(), true));
    }
}
