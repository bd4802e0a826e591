//! Local wall-clock time through libc alone: day.js-style formatting (line prefixes, rotated file
//! names) and croner's calendar search (`--log-rotate-interval`), without a date library.

use std::cmp::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use croner::errors::CronError;
use croner::{CivilDate, CivilDateTime, CivilTime, CronDateTime, Resolution, Weekday};

/// A day.js format token. `[...]` is literal text, as in day.js.
#[derive(Debug, PartialEq)]
pub enum Tok {
    Lit(String),
    Year4,
    Year2,
    Month2,
    Month,
    Day2,
    Day,
    Hour2,
    Hour,
    Minute2,
    Minute,
    Second2,
    Second,
    Millis3,
    /// `Z` = +01:00, `ZZ` = +0100.
    Offset {
        colon: bool,
    },
}

pub fn parse_format(fmt: &str) -> Vec<Tok> {
    type Make = fn() -> Tok;
    const TOKENS: &[(&str, Make)] = &[
        ("YYYY", || Tok::Year4),
        ("YY", || Tok::Year2),
        ("MM", || Tok::Month2),
        ("M", || Tok::Month),
        ("DD", || Tok::Day2),
        ("D", || Tok::Day),
        ("HH", || Tok::Hour2),
        ("H", || Tok::Hour),
        ("mm", || Tok::Minute2),
        ("m", || Tok::Minute),
        ("ss", || Tok::Second2),
        ("s", || Tok::Second),
        ("SSS", || Tok::Millis3),
        ("ZZ", || Tok::Offset { colon: false }),
        ("Z", || Tok::Offset { colon: true }),
    ];
    let mut toks = Vec::new();
    let mut lit = String::new();
    let mut rest = fmt;
    'outer: while let Some(c) = rest.chars().next() {
        if c == '['
            && let Some(end) = rest.find(']')
        {
            lit.push_str(&rest[1..end]);
            rest = &rest[end + 1..];
            continue;
        }
        for (pat, make) in TOKENS {
            if let Some(after) = rest.strip_prefix(pat) {
                if !lit.is_empty() {
                    toks.push(Tok::Lit(std::mem::take(&mut lit)));
                }
                toks.push(make());
                rest = after;
                continue 'outer;
            }
        }
        lit.push(c);
        rest = &rest[c.len_utf8()..];
    }
    if !lit.is_empty() {
        toks.push(Tok::Lit(lit));
    }
    toks
}

pub fn uses_millis(toks: &[Tok]) -> bool {
    toks.contains(&Tok::Millis3)
}

/// Seconds and milliseconds since the epoch, now.
pub fn now() -> (libc::time_t, u32) {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    (
        libc::time_t::try_from(d.as_secs()).unwrap_or(libc::time_t::MAX),
        d.subsec_millis(),
    )
}

fn local(secs: libc::time_t) -> Option<libc::tm> {
    // SAFETY: tm is plain data; localtime_r fills it or returns null.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    if unsafe { libc::localtime_r(&secs, &mut tm) }.is_null() {
        return None;
    }
    Some(tm)
}

/// Local time, as day.js formats by default (and PM2 with it).
pub fn format_time(toks: &[Tok], secs: libc::time_t, millis: u32) -> String {
    let Some(tm) = local(secs) else {
        return String::new();
    };
    let mut s = String::with_capacity(32);
    let year = i64::from(tm.tm_year) + 1900;
    for t in toks {
        use std::fmt::Write as _;
        let _ = match t {
            Tok::Lit(l) => write!(s, "{l}"),
            Tok::Year4 => write!(s, "{year:04}"),
            Tok::Year2 => write!(s, "{:02}", year.rem_euclid(100)),
            Tok::Month2 => write!(s, "{:02}", tm.tm_mon + 1),
            Tok::Month => write!(s, "{}", tm.tm_mon + 1),
            Tok::Day2 => write!(s, "{:02}", tm.tm_mday),
            Tok::Day => write!(s, "{}", tm.tm_mday),
            Tok::Hour2 => write!(s, "{:02}", tm.tm_hour),
            Tok::Hour => write!(s, "{}", tm.tm_hour),
            Tok::Minute2 => write!(s, "{:02}", tm.tm_min),
            Tok::Minute => write!(s, "{}", tm.tm_min),
            Tok::Second2 => write!(s, "{:02}", tm.tm_sec),
            Tok::Second => write!(s, "{}", tm.tm_sec),
            Tok::Millis3 => write!(s, "{millis:03}"),
            Tok::Offset { colon } => {
                let off = tm.tm_gmtoff;
                let sign = if off < 0 { '-' } else { '+' };
                let (h, m) = (off.abs() / 3600, off.abs() % 3600 / 60);
                if *colon {
                    write!(s, "{sign}{h:02}:{m:02}")
                } else {
                    write!(s, "{sign}{h:02}{m:02}")
                }
            }
        };
    }
    s
}

/// Formats the current time, reusing the last result within the same second when the format has
/// no milliseconds: a busy app's every line would otherwise cost a localtime_r.
pub struct Stamper {
    toks: Vec<Tok>,
    millis: bool,
    last: Option<(libc::time_t, String)>,
}

impl Stamper {
    pub fn new(fmt: &str) -> Stamper {
        let toks = parse_format(fmt);
        Stamper {
            millis: uses_millis(&toks),
            toks,
            last: None,
        }
    }

    pub fn stamp(&mut self) -> &str {
        let (secs, ms) = now();
        let fresh = match &self.last {
            Some((s, _)) => *s != secs || self.millis,
            None => true,
        };
        if fresh {
            self.last = Some((secs, format_time(&self.toks, secs, ms)));
        }
        self.last.as_ref().map_or("", |(_, s)| s.as_str())
    }
}

/// An instant that croner sees as the local wall clock (the shim's `TZ`, like day.js and
/// node-schedule in PM2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalInstant(pub libc::time_t);

impl CronDateTime for LocalInstant {
    fn to_civil(&self) -> CivilDateTime {
        let tm = local(self.0).unwrap_or_else(|| {
            // SAFETY: plain data.
            unsafe { std::mem::zeroed() }
        });
        CivilDateTime::new(
            CivilDate::from_parts_unchecked(
                tm.tm_year + 1900,
                (tm.tm_mon + 1).clamp(1, 12) as u32,
                tm.tm_mday.clamp(1, 31) as u32,
            ),
            CivilTime::from_parts_unchecked(
                tm.tm_hour as u32,
                tm.tm_min as u32,
                // A leap second (60) folds into the minute's last second.
                tm.tm_sec.min(59) as u32,
            ),
        )
    }

    fn civil_weekday(&self) -> Weekday {
        let wday = local(self.0).map_or(0, |tm| tm.tm_wday);
        Weekday::from_days_from_sunday(wday as u32)
    }

    fn resolve_civil(&self, civil: CivilDateTime) -> Result<Resolution<Self>, CronError> {
        // mktime with each DST flag; a candidate counts only if it reads back as the same wall
        // clock time (mktime normalises times inside a gap to a different one).
        let mut found: Vec<libc::time_t> = Vec::with_capacity(2);
        for isdst in [0, 1] {
            // SAFETY: plain data, filled below.
            let mut tm: libc::tm = unsafe { std::mem::zeroed() };
            tm.tm_year = civil.year() - 1900;
            tm.tm_mon = civil.month() as i32 - 1;
            tm.tm_mday = civil.day() as i32;
            tm.tm_hour = civil.hour() as i32;
            tm.tm_min = civil.minute() as i32;
            tm.tm_sec = civil.second() as i32;
            tm.tm_isdst = isdst;
            // SAFETY: tm is a valid struct; mktime only reads and normalises it.
            let t = unsafe { libc::mktime(&mut tm) };
            if t == -1 {
                continue;
            }
            if LocalInstant(t).to_civil() == civil && !found.contains(&t) {
                found.push(t);
            }
        }
        found.sort_unstable();
        Ok(match found.as_slice() {
            [] => Resolution::Gap,
            [one] => Resolution::Single(LocalInstant(*one)),
            [a, b, ..] => Resolution::Ambiguous(LocalInstant(*a), LocalInstant(*b)),
        })
    }

    fn checked_add_seconds(&self, seconds: i64) -> Option<Self> {
        self.0.checked_add(seconds).map(LocalInstant)
    }

    fn cmp_instant(&self, other: &Self) -> Ordering {
        self.0.cmp(&other.0)
    }
}

/// node-schedule's syntax, which pm2-logrotate's `rotateInterval` uses: five fields, or six with
/// seconds first; no year field.
pub fn parse_cron(expr: &str) -> Result<croner::Cron, String> {
    use croner::parser::{CronParser, Seconds, Year};
    CronParser::builder()
        .seconds(Seconds::Optional)
        .year(Year::Disallowed)
        .build()
        .parse(expr)
        .map_err(|e| e.to_string())
}

/// The first matching second strictly after `after` (unix seconds).
pub fn next_after(cron: &croner::Cron, after: libc::time_t) -> Option<libc::time_t> {
    cron.find_next_occurrence(&LocalInstant(after), false)
        .ok()
        .map(|t| t.0)
}

#[cfg(test)]
mod tests {
    use super::{Tok, next_after, parse_cron, parse_format};

    #[test]
    fn day_js_tokens_and_bracket_literals() {
        assert_eq!(
            parse_format("YYYY-MM-DD[T]HH:mm:ss.SSS Z"),
            [
                Tok::Year4,
                Tok::Lit("-".into()),
                Tok::Month2,
                Tok::Lit("-".into()),
                Tok::Day2,
                Tok::Lit("T".into()),
                Tok::Hour2,
                Tok::Lit(":".into()),
                Tok::Minute2,
                Tok::Lit(":".into()),
                Tok::Second2,
                Tok::Lit(".".into()),
                Tok::Millis3,
                Tok::Lit(" ".into()),
                Tok::Offset { colon: true },
            ]
        );
        // PM2's `time: true` format has a bare T, which is not a token.
        assert_eq!(parse_format("DDTHH")[1], Tok::Lit("T".into()));
        assert_eq!(parse_format("[YYYY]"), [Tok::Lit("YYYY".into())]);
    }

    #[test]
    fn cron_with_and_without_seconds() {
        let every_second = parse_cron("* * * * * *").expect("6 fields");
        assert_eq!(next_after(&every_second, 1_000), Some(1_001));
        let daily = parse_cron("0 0 * * *").expect("5 fields");
        let next = next_after(&daily, 1_000).expect("a next midnight");
        assert!(next > 1_000 && next - 1_000 <= 86_400 + 3600);
        assert!(parse_cron("0 0 * * * * 2030").is_err());
        assert!(parse_cron("not cron").is_err());
    }
}
