//! `log_rotate` (group `logs`; an rgen extension, PM2 ignores it): pm2-logrotate's settings with
//! its names and meanings — `max_size`, `retain`, `compress`, `dateFormat`, `rotateInterval`,
//! `workerInterval` — beside `apps` for every app and inside an app for that one. The app's
//! settings go over the file's, and the file's over rgen's defaults, setting by setting;
//! `log_rotate: false` turns rotation off.
//!
//! Each value is checked here with the grammar the shim applies (sizes, cron, date tokens), so
//! `rgen check` refuses what would stop the app at its first start. pm2-logrotate's own
//! `module_conf.json` is read by [`from_pm2_logrotate`], as pm2-logrotate reads it.

use serde_json::{Map, Value};

use crate::diag::{BadInput, Origin, Problems, Warning, WarningKind};
use crate::load::kind;
use crate::model::Rotation;
use crate::model::fields::{Fields, describe};
use crate::model::text::{Shape, problem};
use crate::model::values;
use crate::shim_protocol::default;

/// pm2-logrotate's keys, spelt as `pm2 set pm2-logrotate:<key>` spells them.
pub const KEYS: [&str; 6] = [
    "max_size",
    "retain",
    "compress",
    "dateFormat",
    "rotateInterval",
    "workerInterval",
];

/// pm2-logrotate keys that have no effect here, and why.
const NOT_APPLIED: [(&str, &str); 2] = [
    (
        "TZ",
        "rotated files are named in the app's local time; set `TZ` in the app's `env` instead",
    ),
    (
        "rotateModule",
        "it rotates the logs of PM2's own modules, which rgen does not run",
    ),
];

/// The date tokens rgen-shim formats (src/bin/rgen-shim/clock.rs), as runs of one letter.
/// Other letters outside `[...]` are moment.js tokens it would copy as text.
const DATE_TOKENS: [&str; 15] = [
    "YYYY", "YY", "MM", "M", "DD", "D", "HH", "H", "mm", "m", "ss", "s", "SSS", "ZZ", "Z",
];

/// rgen's defaults: pm2-logrotate's, without its daily rotation.
pub fn defaults() -> Rotation {
    Rotation {
        max_size: Some(default::PM2_LOGROTATE_MAX_SIZE),
        retain: Some(default::LOG_RETAIN),
        compress: false,
        date_format: default::LOG_ROTATE_DATE_FORMAT.to_string(),
        interval: None,
        worker_interval_s: default::LOG_WORKER_INTERVAL_MS / 1000,
        configured: false,
    }
}

/// `10485760` → `10M`: the shortest exact spelling in pm2-logrotate's grammar.
pub fn format_size(bytes: u64) -> String {
    for (shift, suffix) in [(30, 'G'), (20, 'M'), (10, 'K')] {
        if bytes != 0 && bytes.is_multiple_of(1u64 << shift) {
            return format!("{}{suffix}", bytes >> shift);
        }
    }
    bytes.to_string()
}

impl Rotation {
    /// Rotates at all (by size or on a schedule).
    pub fn rotates(&self) -> bool {
        self.max_size.is_some() || self.interval.is_some()
    }

    /// One line for `rgen check`: `at 10M, at 0 0 * * *, 30 kept, gzip`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(size) = self.max_size {
            parts.push(format!("at {}", format_size(size)));
        }
        if let Some(cron) = &self.interval {
            parts.push(format!("on `{cron}`"));
        }
        parts.push(match self.retain {
            Some(n) => format!("{n} kept"),
            None => "all kept".into(),
        });
        if self.compress {
            parts.push("gzip".into());
        }
        if self.date_format != default::LOG_ROTATE_DATE_FORMAT {
            parts.push(format!("named `{}`", self.date_format));
        }
        parts.join(", ")
    }

    /// The settings as a `log_rotate` table in rgen's grammar (every key, so a converted file
    /// keeps its meaning if rgen's defaults change): for `rgen import`.
    pub fn to_log_rotate(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert(
            "max_size".into(),
            match self.max_size {
                Some(b) => Value::String(format_size(b)),
                None => Value::Bool(false),
            },
        );
        m.insert(
            "retain".into(),
            match self.retain {
                Some(n) => Value::from(n),
                None => Value::String("all".into()),
            },
        );
        m.insert("compress".into(), Value::Bool(self.compress));
        m.insert("dateFormat".into(), Value::String(self.date_format.clone()));
        m.insert(
            "rotateInterval".into(),
            match &self.interval {
                Some(c) => Value::String(c.clone()),
                None => Value::Bool(false),
            },
        );
        m.insert("workerInterval".into(), Value::from(self.worker_interval_s));
        m
    }
}

/// What one `log_rotate` value says; `None` fields are left to the layer below.
#[derive(Clone, Debug, Default)]
pub(crate) struct Layer {
    /// `log_rotate: false` (or `true`: rotate, with the defaults).
    enabled: Option<bool>,
    max_size: Option<Option<u64>>,
    retain: Option<Option<u32>>,
    compress: Option<bool>,
    date_format: Option<String>,
    interval: Option<Option<String>>,
    worker_interval_s: Option<u64>,
}

impl Layer {
    fn apply(&self, r: &mut Rotation) {
        r.configured = true;
        if let Some(v) = self.max_size {
            r.max_size = v;
        }
        if let Some(v) = self.retain {
            r.retain = v;
        }
        if let Some(v) = self.compress {
            r.compress = v;
        }
        if let Some(v) = &self.date_format {
            r.date_format.clone_from(v);
        }
        if let Some(v) = &self.interval {
            r.interval.clone_from(v);
        }
        if let Some(v) = self.worker_interval_s {
            r.worker_interval_s = v;
        }
    }
}

/// Whose grammar a value is read with.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Grammar {
    /// An ecosystem file: typed values; `strict` (rgen.toml) makes unknown keys errors.
    Rgen { strict: bool },
    /// pm2-logrotate's `module_conf.json`: strings as `pm2 set` stores them, read as
    /// pm2-logrotate's `app.js` reads them (`parseInt`, `'true'`).
    Pm2Logrotate,
}

struct Reader<'a> {
    /// Key path of the `log_rotate` value (`apps[1].log_rotate`, `log_rotate`).
    at: String,
    origin: Origin,
    grammar: Grammar,
    report: &'a mut Problems,
}

impl Reader<'_> {
    fn key(&self, key: &str) -> String {
        if self.at.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.at)
        }
    }

    fn fail(&mut self, key: &str, message: String, hint: Option<String>) {
        let origin = self.origin.with_key(self.key(key));
        let e = self.report.error(origin, message);
        if let Some(h) = hint {
            e.hint(h);
        }
    }

    fn layer(&mut self, value: &Value) -> Layer {
        let map = match value {
            Value::Null => return Layer::default(),
            Value::Bool(b) => {
                return Layer {
                    enabled: Some(*b),
                    ..Layer::default()
                };
            }
            Value::Object(m) => m,
            other => {
                let at = self.at.clone();
                let e = self.report.error(
                    self.origin.with_key(at.clone()),
                    format!(
                        "`{at}` must be a table of pm2-logrotate settings or false, not {}",
                        kind(other)
                    ),
                );
                e.hint(format!(
                    "write e.g. `{at}: {{ max_size: '10M', retain: 30 }}`, or `false` for no rotation"
                ));
                return Layer::default();
            }
        };
        let mut layer = Layer {
            enabled: Some(true),
            ..Layer::default()
        };
        for (key, v) in map {
            match key.as_str() {
                "max_size" => layer.max_size = self.max_size(v),
                "retain" => layer.retain = self.retain(v),
                "compress" => layer.compress = self.compress(v),
                "dateFormat" => layer.date_format = self.date_format(v),
                "rotateInterval" => layer.interval = self.interval(v),
                "workerInterval" => layer.worker_interval_s = self.worker_interval(v),
                other => self.unknown(other),
            }
        }
        layer
    }

    fn unknown(&mut self, key: &str) {
        let origin = self.origin.with_key(self.key(key));
        if let Some((_, why)) = NOT_APPLIED.iter().find(|(k, _)| *k == key) {
            self.report.warn(
                WarningKind::Unsupported,
                origin,
                format!("pm2-logrotate's `{key}` is not applied: {why}"),
            );
            return;
        }
        let suggestion = KEYS
            .iter()
            .map(|k| {
                (
                    strsim::jaro_winkler(&key.to_ascii_lowercase(), &k.to_ascii_lowercase()),
                    *k,
                )
            })
            .filter(|(score, _)| *score > 0.8)
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, k)| k);
        let hint = match suggestion {
            Some(s) => format!("did you mean `{s}`?"),
            None => format!(
                "pm2-logrotate's settings are {}",
                KEYS.map(|k| format!("`{k}`")).join(", ")
            ),
        };
        match self.grammar {
            Grammar::Rgen { strict: true } => {
                self.report
                    .error(origin, format!("unknown key `{key}` in `{}`", self.at))
                    .hint(hint);
            }
            _ => self.report.warn(
                WarningKind::UnknownKey,
                origin,
                format!("unknown key `{key}` in `{}` is ignored; {hint}", self.at),
            ),
        }
    }

    fn max_size(&mut self, v: &Value) -> Option<Option<u64>> {
        let key = "max_size";
        if self.grammar == Grammar::Pm2Logrotate {
            return self.pm2_max_size(v);
        }
        let bytes = match v {
            Value::Null => return None,
            Value::Bool(false) => return Some(None),
            Value::String(s) => match values::parse_size(s) {
                Ok(n) => n,
                Err(why) => {
                    let read_as = js_parse_int(s)
                        .map(|n| format!(" (pm2-logrotate would read it as {n} bytes)"))
                        .unwrap_or_default();
                    self.fail(
                        key,
                        format!("`{}` is {s:?}, not a size{read_as}", self.key(key)),
                        Some(why.replace("PM2 accepts only", "pm2-logrotate reads only")),
                    );
                    return None;
                }
            },
            Value::Number(n) => match n.as_u64() {
                Some(b) => b,
                None => {
                    self.fail(
                        key,
                        format!(
                            "`{}` must be a whole number of bytes, not {n}",
                            self.key(key)
                        ),
                        Some("write a size like '10M', '512K' or '1G'".into()),
                    );
                    return None;
                }
            },
            other => {
                self.fail(
                    key,
                    format!(
                        "`{}` must be a size like '10M', not {}",
                        self.key(key),
                        kind(other)
                    ),
                    Some("write false to rotate by `rotateInterval` only".into()),
                );
                return None;
            }
        };
        if bytes == 0 {
            self.fail(
                key,
                format!("`{}` is 0", self.key(key)),
                Some("write false to rotate by `rotateInterval` only".into()),
            );
            return None;
        }
        Some(Some(bytes))
    }

    /// pm2-logrotate's `get_limit_size`: `''` is 10M, a trailing upper-case G, M or K
    /// multiplies `parseInt`, anything else is `parseInt` bytes (NaN: it never rotates by size).
    fn pm2_max_size(&mut self, v: &Value) -> Option<Option<u64>> {
        let text = match v {
            Value::Null => return None,
            Value::String(s) if s.is_empty() => return Some(Some(default::PM2_LOGROTATE_MAX_SIZE)),
            Value::String(s) => s.clone(),
            other => js_string(other),
        };
        let mult: u64 = match text.chars().last() {
            Some('G') => 1 << 30,
            Some('M') => 1 << 20,
            Some('K') => 1 << 10,
            _ => 1,
        };
        match js_parse_int(&text) {
            Some(n) if n > 0 => Some(Some((n as u64).saturating_mul(mult))),
            Some(n) => {
                self.fail(
                    "max_size",
                    format!("`max_size` is {text:?} ({n}), which makes pm2-logrotate rotate every non-empty file at every check"),
                    Some("give a size like '10M'".into()),
                );
                None
            }
            None => {
                let origin = self.origin.with_key(self.key("max_size"));
                self.report.warn(
                    WarningKind::Unsupported,
                    origin,
                    format!("`max_size` is {text:?}, not a number: pm2-logrotate never rotated by size, and neither will rgen"),
                );
                Some(None)
            }
        }
    }

    fn retain(&mut self, v: &Value) -> Option<Option<u32>> {
        let key = "retain";
        if self.grammar == Grammar::Pm2Logrotate {
            // `isNaN(parseInt(retain)) ? undefined : parseInt(retain)`: undefined keeps all.
            return match v {
                Value::Null => None,
                other => Some(
                    js_parse_int(&js_string(other))
                        .map(|n| u32::try_from(n.max(0)).unwrap_or(u32::MAX)),
                ),
            };
        }
        match v {
            Value::Null => None,
            Value::String(s) if s == "all" => Some(None),
            Value::Number(n) if n.as_u64().is_some_and(|n| n <= u64::from(u32::MAX)) => {
                Some(n.as_u64().map(|n| n as u32))
            }
            Value::String(s) if s.trim().parse::<u32>().is_ok() => {
                Some(s.trim().parse::<u32>().ok())
            }
            other => {
                self.fail(
                    key,
                    format!(
                        "`{}` must be a number of rotated files or 'all', not {}",
                        self.key(key),
                        describe(other)
                    ),
                    Some("write e.g. 30 (0 keeps none, 'all' keeps every one)".into()),
                );
                None
            }
        }
    }

    fn compress(&mut self, v: &Value) -> Option<bool> {
        let key = "compress";
        match (v, self.grammar) {
            (Value::Null, _) => None,
            (Value::Bool(b), _) => Some(*b),
            // `parseBool`: only the string 'true' is true.
            (Value::String(s), Grammar::Pm2Logrotate) => Some(s == "true"),
            (_, Grammar::Pm2Logrotate) => Some(false),
            (other, Grammar::Rgen { .. }) => {
                let hint = match other.as_str() {
                    Some(s @ ("true" | "false")) => format!("write {s} without quotes"),
                    _ => "write true or false".into(),
                };
                self.fail(
                    key,
                    format!(
                        "`{}` must be true or false, not {}",
                        self.key(key),
                        describe(other)
                    ),
                    Some(hint),
                );
                None
            }
        }
    }

    fn date_format(&mut self, v: &Value) -> Option<String> {
        let key = "dateFormat";
        let text = match v {
            Value::Null => return None,
            // `conf.dateFormat || 'YYYY-MM-DD_HH-mm-ss'`
            Value::String(s) if s.is_empty() && self.grammar == Grammar::Pm2Logrotate => {
                return None;
            }
            Value::String(s) => s.clone(),
            other => {
                self.fail(
                    key,
                    format!(
                        "`{}` must be a string of date tokens, not {}",
                        self.key(key),
                        kind(other)
                    ),
                    Some(format!("write e.g. '{}'", default::LOG_ROTATE_DATE_FORMAT)),
                );
                return None;
            }
        };
        match date_format_problem(&text) {
            None => Some(text),
            Some((why, hint)) => {
                self.fail(key, format!("`{}` {why}", self.key(key)), Some(hint));
                None
            }
        }
    }

    fn interval(&mut self, v: &Value) -> Option<Option<String>> {
        let key = "rotateInterval";
        let text = match v {
            Value::Null => return None,
            Value::Bool(false) if self.grammar != Grammar::Pm2Logrotate => return Some(None),
            // `conf.rotateInterval || '0 0 * * *'`
            Value::String(s) if s.is_empty() && self.grammar == Grammar::Pm2Logrotate => {
                return None;
            }
            Value::String(s) => s.trim().to_string(),
            other => {
                self.fail(
                    key,
                    format!(
                        "`{}` must be a cron expression, not {}",
                        self.key(key),
                        kind(other)
                    ),
                    Some("write e.g. '0 0 * * *' (daily at midnight), or false".into()),
                );
                return None;
            }
        };
        if let Some((why, hint)) = problem(&text, Shape::Line) {
            self.fail(key, format!("`{}` {why}", self.key(key)), Some(hint));
            return None;
        }
        match parse_rotate_cron(&text) {
            Ok(()) => Some(Some(text)),
            Err(e) => {
                self.fail(
                    key,
                    format!("`{}` is {text:?}, not a cron expression: {e}", self.key(key)),
                    Some("5 fields (minute hour day month weekday), or 6 with seconds first, as node-schedule reads them".into()),
                );
                None
            }
        }
    }

    fn worker_interval(&mut self, v: &Value) -> Option<u64> {
        let key = "workerInterval";
        if self.grammar == Grammar::Pm2Logrotate {
            // `isNaN(parseInt(w)) ? 30 : parseInt(w)` seconds.
            return match v {
                Value::Null => None,
                other => match js_parse_int(&js_string(other)) {
                    None => None,
                    Some(n) if n >= 1 => Some(n as u64),
                    Some(_) => Some(1),
                },
            };
        }
        let seconds = match v {
            Value::Null => return None,
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.trim().parse::<u64>().ok(),
            _ => None,
        };
        match seconds {
            Some(s) if (1..=u64::MAX / 1000).contains(&s) => Some(s),
            _ => {
                self.fail(
                    key,
                    format!(
                        "`{}` must be a whole number of seconds, at least 1, not {}",
                        self.key(key),
                        match v {
                            Value::Number(n) => n.to_string(),
                            other => describe(other),
                        }
                    ),
                    Some("pm2-logrotate's default is 30".into()),
                );
                None
            }
        }
    }
}

/// Why `fmt` cannot name rotated files, with a hint.
fn date_format_problem(fmt: &str) -> Option<(String, String)> {
    let supported = DATE_TOKENS.join(" ");
    if fmt.contains('/') || fmt.chars().any(char::is_control) {
        return Some((
            format!("is {fmt:?}, which would put `/` or a control character in a file name"),
            "use `-`, `_` or `.` between the date's parts".into(),
        ));
    }
    if let Some((why, hint)) = problem(fmt, Shape::Line) {
        return Some((why, hint));
    }
    let mut rest = fmt;
    let mut renders_something = false;
    while let Some(c) = rest.chars().next() {
        if c == '['
            && let Some(end) = rest.find(']')
        {
            renders_something |= end > 1;
            rest = &rest[end + 1..];
            continue;
        }
        if c.is_ascii_alphabetic() {
            let run = rest.len() - rest.trim_start_matches(c).len();
            let token = &rest[..run];
            if !DATE_TOKENS.contains(&token) {
                return Some((
                    format!("is {fmt:?}: rgen-shim does not format `{token}`"),
                    format!("the tokens are {supported}; put literal letters in [brackets]"),
                ));
            }
            rest = &rest[run..];
        } else {
            rest = &rest[c.len_utf8()..];
        }
        renders_something = true;
    }
    if !renders_something {
        return Some((
            "is empty: rotated files would have no date".into(),
            format!("write e.g. '{}'", default::LOG_ROTATE_DATE_FORMAT),
        ));
    }
    None
}

/// node-schedule's syntax as rgen-shim parses `--log-rotate-interval`: 5 fields, or 6 with
/// seconds first, no year.
fn parse_rotate_cron(expr: &str) -> Result<(), String> {
    use croner::parser::{CronParser, Seconds, Year};
    CronParser::builder()
        .seconds(Seconds::Optional)
        .year(Year::Disallowed)
        .build()
        .parse(expr)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// JavaScript's `parseInt(text, 10)`: leading spaces, a sign, then digits; `None` is NaN.
fn js_parse_int(text: &str) -> Option<i64> {
    let t = text.trim_start();
    let (sign, digits) = match t.as_bytes().first() {
        Some(b'-') => (-1, &t[1..]),
        Some(b'+') => (1, &t[1..]),
        _ => (1, t),
    };
    let end = digits
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(digits.len());
    if end == 0 {
        return None;
    }
    let n: i64 = digits[..end].parse().unwrap_or(i64::MAX);
    Some(sign * n)
}

/// JavaScript's `String(v)` for the scalars a JSON config holds.
fn js_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Reads the file's `log_rotate` (beside `apps`), once for every app.
pub(crate) fn read_file_level(
    written: &str,
    value: &Value,
    file: &Origin,
    strict: bool,
    report: &mut Problems,
) -> Layer {
    Reader {
        at: written.to_string(),
        origin: file.clone(),
        grammar: Grammar::Rgen { strict },
        report,
    }
    .layer(value)
}

/// The app's rotation: rgen's defaults, under the file's `log_rotate`, under the app's.
pub(crate) fn read(
    f: &mut Fields<'_>,
    file_level: Option<&Layer>,
    strict: bool,
) -> Option<Rotation> {
    let app_level = f
        .entry("log_rotate")
        .map(|e| (e.written.clone(), e.value.clone()));
    let app_layer = app_level.map(|(written, value)| {
        Reader {
            at: f.raw.key_path(&written),
            origin: f.origin.clone(),
            grammar: Grammar::Rgen { strict },
            report: &mut *f.report,
        }
        .layer(&value)
    });
    let mut rotation = defaults();
    let mut enabled = true;
    for layer in [file_level, app_layer.as_ref()].into_iter().flatten() {
        match layer.enabled {
            Some(false) => enabled = false,
            Some(true) => {
                enabled = true;
                layer.apply(&mut rotation);
            }
            None => {}
        }
    }
    enabled.then_some(rotation)
}

/// pm2-logrotate's section of PM2's `module_conf.json` (`{"max_size": "10M", "retain": "30",
/// "compress": "false", …}`, values as `pm2 set` stores them) → the rotation that pm2-logrotate
/// applied, read as its `app.js` reads it: `parseInt`, only `'true'` is true, and its defaults
/// for what is missing — daily rotation at midnight included, so an imported file keeps
/// rotating as PM2 did. `origin` names the file (and key prefix) for messages. The warnings
/// name settings rgen does not apply (`TZ`, `rotateModule`); an error, a value pm2-logrotate
/// would choke on too (a cron node-schedule cannot parse).
pub fn from_pm2_logrotate(
    conf: &Map<String, Value>,
    origin: &Origin,
) -> Result<(Rotation, Vec<Warning>), BadInput> {
    let mut report = Problems::default();
    let mut rotation = defaults();
    rotation.interval = Some(default::PM2_LOGROTATE_ROTATE_INTERVAL.to_string());
    let at = origin.key.clone().unwrap_or_default();
    let layer = Reader {
        at,
        origin: Origin {
            key: None,
            ..origin.clone()
        },
        grammar: Grammar::Pm2Logrotate,
        report: &mut report,
    }
    .layer(&Value::Object(conf.clone()));
    layer.apply(&mut rotation);
    report.finish(rotation)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn layer(v: Value, strict: bool) -> (Layer, Problems) {
        let mut report = Problems::default();
        let l = read_file_level(
            "log_rotate",
            &v,
            &Origin::file("/nonexistent/eco.json"),
            strict,
            &mut report,
        );
        (l, report)
    }

    fn resolved(v: Value) -> (Option<Rotation>, Problems) {
        let (l, report) = layer(v, false);
        let mut r = defaults();
        match l.enabled {
            Some(false) => return (None, report),
            _ => l.apply(&mut r),
        }
        (Some(r), report)
    }

    #[test]
    fn pm2_logrotate_settings_are_read_with_its_grammar() {
        let (r, report) = resolved(json!({
            "max_size": "1G", "retain": "all", "compress": true,
            "dateFormat": "YYYY-MM-DD", "rotateInterval": "*/5 * * * * *", "workerInterval": 5,
        }));
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        let r = r.unwrap();
        assert_eq!(r.max_size, Some(1 << 30));
        assert_eq!(r.retain, None);
        assert!(r.compress);
        assert_eq!(r.interval.as_deref(), Some("*/5 * * * * *"));
        assert_eq!(r.worker_interval_s, 5);
        assert_eq!(
            r.describe(),
            "at 1G, on `*/5 * * * * *`, all kept, gzip, named `YYYY-MM-DD`"
        );
    }

    #[test]
    fn bad_values_name_the_key_with_a_hint() {
        let (_, report) = layer(
            json!({ "max_size": "10mb", "retain": -1, "compress": "yes",
                    "dateFormat": "YYYY/MM", "rotateInterval": "every day", "workerInterval": 0 }),
            false,
        );
        let keys: Vec<_> = report
            .errors
            .iter()
            .map(|e| e.origin.key.clone().unwrap_or_default())
            .collect();
        assert_eq!(
            keys,
            [
                "log_rotate.max_size",
                "log_rotate.retain",
                "log_rotate.compress",
                "log_rotate.dateFormat",
                "log_rotate.rotateInterval",
                "log_rotate.workerInterval"
            ]
        );
        assert!(
            report.errors[0]
                .message
                .contains("would read it as 10 bytes")
        );
        assert!(report.errors[0].hint.as_deref().unwrap().contains("10M"));
    }

    #[test]
    fn date_tokens_the_shim_cannot_format_are_refused() {
        assert!(date_format_problem("YYYY-MM-DD_HH-mm-ss").is_none());
        assert!(date_format_problem("YYYYMMDD[T]HHmmss.SSS").is_none());
        assert!(date_format_problem("X").is_some());
        assert!(date_format_problem("MMM-DD").is_some());
        assert!(date_format_problem("Do").is_some());
        assert!(date_format_problem("hh-mm").is_some());
        assert!(date_format_problem("[]").is_some());
        assert!(date_format_problem("").is_some());
        assert!(date_format_problem("[a/b]").is_some());
    }

    #[test]
    fn unknown_keys_warn_in_pm2_files_and_fail_in_rgen_toml() {
        let (_, report) = layer(json!({ "max_sise": "1M" }), false);
        assert_eq!(report.warnings.len(), 1);
        assert!(
            report.warnings[0]
                .message
                .contains("did you mean `max_size`")
        );
        let (_, report) = layer(json!({ "date_format": "YYYY" }), true);
        assert_eq!(report.errors.len(), 1);
        assert_eq!(
            report.errors[0].hint.as_deref(),
            Some("did you mean `dateFormat`?")
        );
        let (_, report) = layer(json!({ "TZ": "Europe/Paris" }), true);
        assert!(report.errors.is_empty());
        assert_eq!(report.warnings[0].kind, WarningKind::Unsupported);
    }

    #[test]
    fn false_turns_it_off_and_layers_merge_key_by_key() {
        assert!(resolved(json!(false)).0.is_none());
        let (file, _) = layer(json!({ "retain": 5, "compress": true }), false);
        let mut r = defaults();
        file.apply(&mut r);
        let (app, _) = layer(
            json!({ "compress": false, "max_size": false, "rotateInterval": "0 * * * *" }),
            false,
        );
        app.apply(&mut r);
        assert_eq!((r.retain, r.compress, r.max_size), (Some(5), false, None));
        assert_eq!(r.interval.as_deref(), Some("0 * * * *"));
        assert!(r.configured && r.rotates());
    }

    #[test]
    fn module_conf_reads_as_pm2_logrotate_reads_it() {
        let conf = json!({
            "max_size": "10M", "retain": "30", "compress": "false", "dateFormat": "YYYY-MM-DD_HH-mm-ss",
            "workerInterval": "30", "rotateInterval": "0 0 * * *", "rotateModule": true, "TZ": "UTC"
        });
        let origin = Origin::file("/root/.pm2/module_conf.json").with_key("pm2-logrotate");
        let (r, warnings) = from_pm2_logrotate(conf.as_object().unwrap(), &origin).unwrap();
        assert_eq!(r.max_size, Some(10 << 20));
        assert_eq!(r.retain, Some(30));
        assert!(!r.compress);
        assert_eq!(r.interval.as_deref(), Some("0 0 * * *"));
        assert_eq!(warnings.len(), 2);
        assert_eq!(
            warnings[0].origin.key.as_deref(),
            Some("pm2-logrotate.rotateModule")
        );
        // Missing keys: pm2-logrotate's defaults, daily rotation included; junk as it reads it.
        let conf = json!({ "max_size": "10mb", "retain": "none", "compress": true, "workerInterval": "x" });
        let (r, _) = from_pm2_logrotate(conf.as_object().unwrap(), &origin).unwrap();
        assert_eq!(r.max_size, Some(10));
        assert_eq!(r.retain, None);
        assert!(r.compress);
        assert_eq!(r.worker_interval_s, 30);
        assert_eq!(r.interval.as_deref(), Some("0 0 * * *"));
        let conf = json!({ "rotateInterval": "whenever" });
        assert!(from_pm2_logrotate(conf.as_object().unwrap(), &origin).is_err());
        // What import writes reads back to the same settings.
        let (back, report) = resolved(Value::Object(r.to_log_rotate()));
        assert!(report.errors.is_empty());
        assert_eq!(back.unwrap().max_size, r.max_size);
    }

    #[test]
    fn sizes_are_written_short() {
        assert_eq!(format_size(10 << 20), "10M");
        assert_eq!(format_size(1536), "1536");
        assert_eq!(format_size(3 << 30), "3G");
        assert_eq!(format_size(512 << 10), "512K");
    }
}
