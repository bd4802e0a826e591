//! Load: a file on disk → `RawEcosystem`, a list of apps whose keys are resolved to PM2's canonical
//! names (aliases, camelCase, Forever's spellings) but whose values are still untyped JSON.
//!
//! Every format PM2 and Forever accept loads unchanged: `rgen.toml`, `ecosystem.config.{js,cjs,mjs}`
//! (evaluated by the user's `node`, as PM2 `require()`s it), PM2's lenient JSON, YAML, and
//! Forever's `forever.json`.

mod forever;
mod js;

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::diag::{BadInput, Origin, Report, WarningKind};
use crate::keys::{self, KeySpec};

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// rgen's own format: PM2's key names in TOML; unknown keys are errors.
    RgenToml,
    Pm2Js,
    Pm2Json,
    Pm2Yaml,
    Forever,
}

impl Format {
    pub fn describe(self) -> &'static str {
        match self {
            Format::RgenToml => "rgen.toml",
            Format::Pm2Js => "PM2 ecosystem (JavaScript)",
            Format::Pm2Json => "PM2 ecosystem (JSON)",
            Format::Pm2Yaml => "PM2 ecosystem (YAML)",
            Format::Forever => "Forever (forever.json)",
        }
    }

    /// Whether an unknown key is an error (rgen's own format) or a warning (PM2 ignores them).
    fn strict(self) -> bool {
        self == Format::RgenToml
    }
}

/// What a key in the user's file became.
#[derive(Clone, Debug)]
pub enum Canonical {
    Key(&'static KeySpec),
    /// `env_<name>`: the overlay name.
    EnvOverlay(String),
}

#[derive(Clone, Debug)]
pub struct RawEntry {
    /// The key exactly as written, for messages.
    pub written: String,
    pub canonical: Canonical,
    pub value: Value,
}

#[derive(Clone, Debug)]
pub struct RawApp {
    /// Position in the file's app list.
    pub index: usize,
    /// Key path of the app object, e.g. `apps[2]`, `[0]` or `` for a single-app file.
    pub path: String,
    pub entries: Vec<RawEntry>,
}

impl RawApp {
    pub fn get(&self, name: &str) -> Option<&RawEntry> {
        self.entries
            .iter()
            .find(|e| matches!(e.canonical, Canonical::Key(k) if k.name == name))
    }

    pub fn key_path(&self, written: &str) -> String {
        if self.path.is_empty() {
            written.to_string()
        } else {
            format!("{}.{written}", self.path)
        }
    }
}

#[derive(Clone, Debug)]
pub struct RawEcosystem {
    /// Absolute path of the file.
    pub file: PathBuf,
    pub format: Format,
    pub apps: Vec<RawApp>,
    /// PM2's `deploy` section: `deploy.<env>.env` is the lowest-priority env layer.
    pub deploy: Map<String, Value>,
    /// Digest of the file's bytes, recorded at install so `status` can tell cheaply whether the
    /// file changed since.
    pub source_hash: String,
}

impl RawEcosystem {
    pub fn dir(&self) -> &Path {
        self.file.parent().unwrap_or(Path::new("/"))
    }
}

/// File names looked for when no file is given, in order.
pub const DISCOVERY_ORDER: &[&str] = &[
    "rgen.toml",
    "ecosystem.config.js",
    "ecosystem.config.cjs",
    "ecosystem.config.mjs",
    "ecosystem.json",
    "ecosystem.yml",
    "ecosystem.yaml",
];

pub fn discover(dir: &Path) -> Result<PathBuf, BadInput> {
    DISCOVERY_ORDER
        .iter()
        .map(|name| dir.join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            BadInput::single(
                Origin::file(dir),
                format!(
                    "no ecosystem file here (looked for {})",
                    DISCOVERY_ORDER.join(", ")
                ),
                Some(
                    "pass the file explicitly, e.g. `rgen render path/to/ecosystem.config.js`"
                        .into(),
                ),
            )
        })
}

pub fn detect_format(path: &Path, text: Option<&str>) -> Option<Format> {
    let name = path.file_name()?.to_string_lossy().to_ascii_lowercase();
    if name.ends_with(".toml") {
        return Some(Format::RgenToml);
    }
    if name.ends_with(".config.js")
        || name.ends_with(".config.cjs")
        || name.ends_with(".config.mjs")
        || name.ends_with(".js")
        || name.ends_with(".cjs")
        || name.ends_with(".mjs")
    {
        return Some(Format::Pm2Js);
    }
    if name.ends_with(".yml") || name.ends_with(".yaml") {
        return Some(Format::Pm2Yaml);
    }
    if name.ends_with(".json") || name.ends_with(".json5") {
        if name.starts_with("forever") || text.is_some_and(forever::looks_like_forever) {
            return Some(Format::Forever);
        }
        return Some(Format::Pm2Json);
    }
    None
}

/// Reads and parses a file, resolving every key. Warnings for unknown keys come back with it.
pub fn load(path: &Path, forced: Option<Format>) -> Result<(RawEcosystem, Report), BadInput> {
    let file = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let origin = Origin::file(&file);
    let text = std::fs::read_to_string(&file).map_err(|e| {
        BadInput::single(
            origin.clone(),
            format!("cannot read the ecosystem file: {e}"),
            (e.kind() == std::io::ErrorKind::NotFound)
                .then(|| "check the path; with no file argument rgen looks for rgen.toml or ecosystem.config.js in the current directory".into()),
        )
    })?;
    let format = forced
        .or_else(|| detect_format(&file, Some(&text)))
        .ok_or_else(|| {
            BadInput::single(
                origin.clone(),
                "cannot tell the format from the file name",
                Some(
                    "use a .toml, .js/.cjs/.mjs, .json or .yml/.yaml file, or pass `--format`"
                        .into(),
                ),
            )
        })?;

    let root = parse(&file, format, &text)?;
    let mut report = Report::default();
    let (apps, deploy) = match format {
        Format::Forever => (forever::apps(&root, &origin, &mut report), Map::new()),
        _ => pm2_apps(&root, format, &origin, &mut report),
    };
    let (apps, warnings) = {
        let rep = std::mem::take(&mut report);
        rep.finish(apps)?
    };
    report.warnings = warnings;
    Ok((
        RawEcosystem {
            file,
            format,
            apps,
            deploy,
            source_hash: source_hash(text.as_bytes()),
        },
        report,
    ))
}

fn parse(file: &Path, format: Format, text: &str) -> Result<Value, BadInput> {
    let origin = Origin::file(file);
    match format {
        Format::RgenToml => toml::from_str::<Value>(text).map_err(|e| {
            BadInput::single(origin, format!("invalid TOML: {}", e.message()), toml_hint(text, &e))
        }),
        Format::Pm2Yaml => serde_norway::from_str::<Value>(text).map_err(|e| {
            BadInput::single(origin, format!("invalid YAML: {e}"), None)
        }),
        Format::Pm2Json | Format::Forever => match json5::from_str::<Value>(text) {
            Ok(v) => Ok(v),
            // PM2 evaluates JSON files as a JavaScript expression; anything json5 cannot read but
            // node can (computed values, template strings) still loads, as it does in PM2.
            Err(json_err) => js::evaluate_expression(file, text).map_err(|_| {
                BadInput::single(
                    origin,
                    format!("invalid JSON: {json_err}"),
                    Some("PM2 reads JSON leniently (comments, unquoted keys, trailing commas are fine); check the place named above".into()),
                )
            }),
        },
        Format::Pm2Js => js::evaluate_module(file),
    }
}

fn toml_hint(text: &str, e: &toml::de::Error) -> Option<String> {
    let span = e.span()?;
    let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
    Some(format!("at line {line}"))
}

/// A short SHA-256 of the ecosystem file.
pub fn source_hash(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(bytes);
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// PM2's layouts: `{apps: [...]}`, `{pm2: [...]}`, a bare array, or a single app object.
fn pm2_apps(
    root: &Value,
    format: Format,
    origin: &Origin,
    report: &mut Report,
) -> (Vec<RawApp>, Map<String, Value>) {
    let mut deploy = Map::new();
    let (list, prefix): (Vec<&Value>, &str) = match root {
        Value::Object(map) if map.contains_key("apps") || map.contains_key("pm2") => {
            let key = if map.contains_key("apps") {
                "apps"
            } else {
                "pm2"
            };
            for (k, v) in map {
                match k.as_str() {
                    "apps" | "pm2" => {}
                    "deploy" => {
                        if let Value::Object(d) = v {
                            deploy = d.clone();
                        }
                    }
                    "static" => report.warn(
                        WarningKind::Unsupported,
                        origin.with_key("static"),
                        "`static` (pm2 serve) is not supported: run a static file server as an app instead",
                    ),
                    other if format.strict() => {
                        report
                            .error(origin.with_key(other), format!("unknown top-level key `{other}`"))
                            .hint("rgen.toml holds `[[apps]]` tables (and an optional `[deploy]` table)");
                    }
                    other => report.warn(
                        WarningKind::UnknownKey,
                        origin.with_key(other),
                        format!("unknown top-level key `{other}` is ignored"),
                    ),
                }
            }
            match &map[key] {
                Value::Array(items) => (items.iter().collect(), key),
                single @ Value::Object(_) => (vec![single], key),
                other => {
                    report.error(
                        origin.with_key(key),
                        format!("`{key}` must be a list of apps, not {}", kind(other)),
                    );
                    return (Vec::new(), deploy);
                }
            }
        }
        Value::Array(items) => (items.iter().collect(), ""),
        Value::Object(_) if format.strict() => {
            report
                .error(origin.clone(), "no `[[apps]]` table")
                .hint("rgen.toml lists apps as `[[apps]]` tables with PM2's key names");
            return (Vec::new(), deploy);
        }
        single @ Value::Object(_) => (vec![single], ""),
        other => {
            report.error(
                origin.clone(),
                format!(
                    "expected an object with `apps`, a list of apps or one app, not {}",
                    kind(other)
                ),
            );
            return (Vec::new(), deploy);
        }
    };
    if list.is_empty() {
        report
            .error(origin.clone(), "the file defines no apps")
            .hint("add at least one app with a `script`");
    }
    let single = list.len() == 1 && prefix.is_empty() && !root.is_array();
    let apps = list
        .into_iter()
        .enumerate()
        .filter_map(|(index, value)| {
            let path = if single {
                String::new()
            } else {
                format!("{prefix}[{index}]")
            };
            let Value::Object(map) = value else {
                report.error(
                    origin.with_key(path.clone()),
                    format!("an app must be an object, not {}", kind(value)),
                );
                return None;
            };
            Some(resolve_keys(index, path, map, format, origin, report))
        })
        .collect();
    (apps, deploy)
}

/// Turns each written key into its canonical form, with PM2's precedence between a key and its
/// aliases (the canonical key unless it is falsy, then the first truthy alias).
pub(crate) fn resolve_keys(
    index: usize,
    path: String,
    map: &Map<String, Value>,
    format: Format,
    origin: &Origin,
    report: &mut Report,
) -> RawApp {
    let app_origin = match map.get("name").and_then(Value::as_str) {
        Some(name) => origin.with_app(name),
        None => origin.clone(),
    };
    let key_path = |k: &str| {
        if path.is_empty() {
            k.to_string()
        } else {
            format!("{path}.{k}")
        }
    };
    let mut entries: Vec<RawEntry> = Vec::new();
    for (written, value) in map {
        let canonical = if keys::is_env_overlay(written) {
            Canonical::EnvOverlay(written[4..].to_string())
        } else if let Some(spec) = keys::resolve(written) {
            if format.strict() && spec.name != written {
                report
                    .error(
                        app_origin.with_key(key_path(written)),
                        format!("`{written}` is PM2's alias of `{}`", spec.name),
                    )
                    .hint(format!(
                        "rgen.toml uses canonical names: write `{}`",
                        spec.name
                    ));
                continue;
            }
            Canonical::Key(spec)
        } else {
            let suggestion = keys::suggest(written)
                .map(|s| format!("; did you mean `{s}`?"))
                .unwrap_or_default();
            if format.strict() {
                report
                    .error(
                        app_origin.with_key(key_path(written)),
                        format!("unknown key `{written}`"),
                    )
                    .hint(match keys::suggest(written) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => {
                            "see the key table in README.md for every supported key".to_string()
                        }
                    });
            } else {
                report.warn(
                    WarningKind::UnknownKey,
                    app_origin.with_key(key_path(written)),
                    format!("unknown key `{written}` is ignored (PM2 ignores it too){suggestion}"),
                );
            }
            continue;
        };
        push_entry(
            &mut entries,
            written,
            canonical,
            value,
            &app_origin,
            &key_path,
            report,
        );
    }
    RawApp {
        index,
        path,
        entries,
    }
}

fn push_entry(
    entries: &mut Vec<RawEntry>,
    written: &str,
    canonical: Canonical,
    value: &Value,
    origin: &Origin,
    key_path: &dyn Fn(&str) -> String,
    report: &mut Report,
) {
    let Canonical::Key(spec) = canonical else {
        entries.push(RawEntry {
            written: written.to_string(),
            canonical,
            value: value.clone(),
        });
        return;
    };
    let existing = entries
        .iter_mut()
        .find(|e| matches!(e.canonical, Canonical::Key(k) if k.name == spec.name));
    match existing {
        None => entries.push(RawEntry {
            written: written.to_string(),
            canonical,
            value: value.clone(),
        }),
        Some(prev) => {
            // PM2: `conf[key] || (conf[key] = json[alias])` — the canonical key wins unless it
            // is falsy; among aliases the first truthy one wins.
            let keep_new = if written == spec.name {
                truthy(value) || !truthy(&prev.value)
            } else {
                !truthy(&prev.value) && truthy(value)
            };
            let (winner, loser) = if keep_new {
                (written.to_string(), prev.written.clone())
            } else {
                (prev.written.clone(), written.to_string())
            };
            report.warn(
                WarningKind::DuplicateKey,
                origin.with_key(key_path(written)),
                format!(
                    "`{winner}` and `{loser}` both set `{}`; `{winner}` is used, as PM2 would",
                    spec.name
                ),
            );
            if keep_new {
                prev.written = written.to_string();
                prev.value = value.clone();
            }
        }
    }
}

/// JavaScript truthiness of a JSON value.
pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0 && !f.is_nan()),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app_from(json: &str, format: Format) -> (RawApp, Report) {
        let v: Value = serde_json::from_str(json).unwrap();
        let mut report = Report::default();
        let app = resolve_keys(
            0,
            "apps[0]".into(),
            v.as_object().unwrap(),
            format,
            &Origin::file("/nonexistent/e.json"),
            &mut report,
        );
        (app, report)
    }

    #[test]
    fn aliases_and_camel_case_resolve() {
        let (app, report) = app_from(
            r#"{"exec":"a.js","maxMemoryRestart":"1G","output":"o.log","env_production":{}}"#,
            Format::Pm2Json,
        );
        assert!(report.warnings.is_empty());
        assert_eq!(app.get("script").unwrap().written, "exec");
        assert!(app.get("max_memory_restart").is_some());
        assert!(app.get("out_file").is_some());
        assert!(
            matches!(app.entries[3].canonical, Canonical::EnvOverlay(ref n) if n == "production")
        );
    }

    #[test]
    fn unknown_key_warns_in_pm2_files_and_fails_in_rgen_toml() {
        let (_, report) = app_from(
            r#"{"script":"a.js","max_memory_restrat":"1G"}"#,
            Format::Pm2Json,
        );
        assert_eq!(report.warnings.len(), 1);
        assert!(
            report.warnings[0]
                .message
                .contains("did you mean `max_memory_restart`")
        );
        let (_, report) = app_from(
            r#"{"script":"a.js","max_memory_restrat":"1G"}"#,
            Format::RgenToml,
        );
        assert_eq!(report.errors.len(), 1);
        assert_eq!(
            report.errors[0].origin.key.as_deref(),
            Some("apps[0].max_memory_restrat")
        );
    }

    #[test]
    fn canonical_key_wins_unless_falsy() {
        let (app, report) = app_from(r#"{"script":"a.js","exec":"b.js"}"#, Format::Pm2Json);
        assert_eq!(app.get("script").unwrap().value, "a.js");
        assert_eq!(report.warnings[0].kind, WarningKind::DuplicateKey);
        let (app, _) = app_from(r#"{"script":"","exec":"b.js"}"#, Format::Pm2Json);
        assert_eq!(app.get("script").unwrap().value, "b.js");
    }

    #[test]
    fn formats_are_detected_from_names_and_content() {
        assert_eq!(
            detect_format(Path::new("rgen.toml"), None),
            Some(Format::RgenToml)
        );
        assert_eq!(
            detect_format(Path::new("ecosystem.config.cjs"), None),
            Some(Format::Pm2Js)
        );
        assert_eq!(
            detect_format(Path::new("process.json"), Some("{}")),
            Some(Format::Pm2Json)
        );
        assert_eq!(
            detect_format(Path::new("forever.json"), None),
            Some(Format::Forever)
        );
        assert_eq!(
            detect_format(
                Path::new("app.json"),
                Some(r#"{"uid":"x","sourceDir":"/srv"}"#)
            ),
            Some(Format::Forever)
        );
        assert_eq!(
            detect_format(Path::new("eco.yaml"), None),
            Some(Format::Pm2Yaml)
        );
    }
}
