//! Load: a file on disk → `RawEcosystem`, a list of apps whose keys are resolved to PM2's canonical
//! names (aliases, camelCase, Forever's spellings) but whose values are still untyped JSON.
//!
//! Every format PM2 and Forever accept loads unchanged: `rgen.toml`, `ecosystem.config.{js,cjs,mjs}`
//! (evaluated by the user's `node`, as PM2 `require()`s it), PM2's lenient JSON, YAML, and
//! Forever's `forever.json`.
//!
//! Loading is bounded whatever the input (see `limits`): only regular files up to 16 MiB are read,
//! nesting stops at 64 levels, and a document may hold at most a million values, YAML aliases
//! expanded. Only JavaScript files are given to node (see `js` for who node runs as).

pub mod adhoc;
mod forever;
mod js;
mod limits;
pub mod pm2dump;
mod source;
mod yaml;

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use serde::de::DeserializeSeed as _;

use self::limits::Parsed;
use crate::diag::{BadInput, Origin, Problems, WarningKind};
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
    /// `log_rotate` beside `apps` (an rgen extension PM2 ignores): pm2-logrotate's settings for
    /// every app, with the key as written.
    pub log_rotate: Option<(String, Value)>,
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
    match format_from_name(path)? {
        Format::Pm2Json if text.is_some_and(forever::looks_like_forever) => Some(Format::Forever),
        format => Some(format),
    }
}

/// The format a file's name says; JSON is PM2's unless the name is Forever's (the content may
/// still say Forever).
fn format_from_name(path: &Path) -> Option<Format> {
    let name = path.file_name()?.to_string_lossy().to_ascii_lowercase();
    if name.ends_with(".toml") {
        return Some(Format::RgenToml);
    }
    if name.ends_with(".js") || name.ends_with(".cjs") || name.ends_with(".mjs") {
        return Some(Format::Pm2Js);
    }
    if name.ends_with(".yml") || name.ends_with(".yaml") {
        return Some(Format::Pm2Yaml);
    }
    if name.ends_with(".json") || name.ends_with(".json5") {
        if name.starts_with("forever") {
            return Some(Format::Forever);
        }
        return Some(Format::Pm2Json);
    }
    None
}

/// Reads an ecosystem file's bytes with the same checks `load` makes: a regular file (or a
/// symlink to one) of at most 16 MiB, opened without blocking. For callers that only hash it.
pub fn read_source(path: &Path) -> Result<Vec<u8>, BadInput> {
    source::read_bytes(path)
}

/// [`read_source`] of a file that `owner`, when given, must own.
pub fn read_source_owned(path: &Path, owner: Option<u32>) -> Result<Vec<u8>, BadInput> {
    source::read_bytes_owned(path, owner)
}

/// Reads and parses a file, resolving every key. Warnings for unknown keys come back with it.
pub fn load(path: &Path, forced: Option<Format>) -> Result<(RawEcosystem, Problems), BadInput> {
    let file = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let bytes = source::read_bytes(&file)?;
    let source_hash = source_hash(&bytes);
    let text = String::from_utf8(bytes).map_err(|e| {
        BadInput::single(
            Origin::file(&file),
            format!(
                "the ecosystem file is not UTF-8 text (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            ),
            Some("save it as UTF-8".into()),
        )
    })?;
    load_text(file, forced, text, source_hash, &js::evaluate_module)
}

/// `load` once the file is read. `evaluate` runs a JavaScript file and returns its export.
fn load_text(
    file: PathBuf,
    forced: Option<Format>,
    text: String,
    source_hash: String,
    evaluate: &dyn Fn(&Path) -> Result<Value, BadInput>,
) -> Result<(RawEcosystem, Problems), BadInput> {
    let origin = Origin::file(&file);
    let named = forced.or_else(|| format_from_name(&file)).ok_or_else(|| {
        BadInput::single(
            origin.clone(),
            "cannot tell the format from the file name",
            Some("use a .toml, .js/.cjs/.mjs, .json or .yml/.yaml file, or pass `--format`".into()),
        )
    })?;
    if named != Format::Pm2Js && text.trim().is_empty() {
        return Err(BadInput::single(
            origin,
            "the file is empty",
            Some(empty_file_hint(named).into()),
        ));
    }
    let root = match named {
        Format::Pm2Js => evaluate(&file)?,
        other => parse(&file, other, &text)?,
    };
    drop(text);
    let format = match named {
        Format::Pm2Json if forced.is_none() && forever::looks_like_forever_value(&root) => {
            Format::Forever
        }
        other => other,
    };
    let mut report = Problems::default();
    let (apps, FileSections { deploy, log_rotate }) = match format {
        Format::Forever => (
            forever::apps(&root, &origin, &mut report),
            FileSections::default(),
        ),
        _ => pm2_apps(root, format, &origin, &mut report),
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
            log_rotate,
            source_hash,
        },
        report,
    ))
}

/// What a minimal file of this format looks like.
fn empty_file_hint(format: Format) -> &'static str {
    match format {
        Format::RgenToml => {
            "list the apps: `[[apps]]` then `name = \"api\"` and `script = \"server.js\"`"
        }
        Format::Pm2Yaml => "list the apps: `apps:` then `- name: api` and `script: server.js`",
        Format::Forever => {
            "describe the process: `{ \"uid\": \"api\", \"script\": \"server.js\" }`"
        }
        Format::Pm2Js => {
            "export the apps: `module.exports = { apps: [{ name: 'api', script: 'server.js' }] }`"
        }
        Format::Pm2Json => {
            "list the apps: `{ \"apps\": [{ \"name\": \"api\", \"script\": \"server.js\" }] }`"
        }
    }
}

/// Parses JSON, YAML or TOML text within the loader's limits. JavaScript is not text to parse:
/// it is evaluated by node, and only for files that are JavaScript.
fn parse(file: &Path, format: Format, text: &str) -> Result<Value, BadInput> {
    let origin = Origin::file(file);
    let too_large = |what: limits::Exceeded, at: Option<String>| {
        let hint = match at {
            Some(at) => format!("{at}; {}", what.hint()),
            None => what.hint().to_string(),
        };
        BadInput::single(origin.clone(), what.message(), Some(hint))
    };
    match format {
        Format::RgenToml => match limits::parse(|seed| {
            let de = toml::de::Deserializer::parse(text)?;
            seed.deserialize(de)
        }) {
            Parsed::Ok(v) => Ok(v),
            Parsed::TooLarge(what, e) => Err(too_large(what, toml_hint(text, &e))),
            // The toml crate has depth limits of its own, for inline tables and dotted keys.
            Parsed::Invalid(e) if e.message().contains("recurs") => {
                Err(too_large(limits::Exceeded::Depth, toml_hint(text, &e)))
            }
            Parsed::Invalid(e) => Err(BadInput::single(
                origin.clone(),
                format!("invalid TOML: {}", e.message()),
                toml_hint(text, &e),
            )),
        },
        Format::Pm2Yaml => {
            if let Err(breach) = yaml::check_events(text) {
                return Err(too_large(
                    breach.exceeded,
                    Some(format!("at line {} column {}", breach.line, breach.column)),
                ));
            }
            match limits::parse(|seed| seed.deserialize(serde_norway::Deserializer::from_str(text)))
            {
                Parsed::Ok(mut v) => match yaml::apply_merge_keys(&mut v) {
                    Ok(()) => Ok(v),
                    Err(message) => Err(BadInput::single(
                        origin.clone(),
                        message,
                        Some("write the keys out, or anchor a mapping (`defaults: &defaults`) and merge that".into()),
                    )),
                },
                // Past the value limit, serde_norway is replaying an alias: its position is
                // the anchor's, not the alias's.
                Parsed::TooLarge(what @ limits::Exceeded::Depth, e) => {
                    Err(too_large(what, yaml_position(&e)))
                }
                Parsed::TooLarge(what, _) => Err(too_large(what, None)),
                Parsed::Invalid(e) => Err(BadInput::single(
                    origin.clone(),
                    format!("invalid YAML: {e}"),
                    None,
                )),
            }
        }
        Format::Pm2Json | Format::Forever => {
            match limits::parse_ambient(|| json5::from_str::<limits::Ambient>(text)) {
                Parsed::Ok(v) => Ok(v),
                Parsed::TooLarge(what, e) => Err(too_large(
                    what,
                    e.position().map(|p| format!("at {p}")),
                )),
                // PM2 itself would evaluate the text as JavaScript; rgen never runs a JSON file.
                Parsed::Invalid(e) => Err(BadInput::single(
                    origin.clone(),
                    format!("invalid JSON: {e}"),
                    Some("PM2 reads JSON leniently (comments, unquoted keys, trailing commas are fine), but rgen does not run JSON files as JavaScript: for computed values, use ecosystem.config.js".into()),
                )),
            }
        }
        Format::Pm2Js => unreachable!("JavaScript is evaluated, not parsed"),
    }
}

fn yaml_position(e: &serde_norway::Error) -> Option<String> {
    e.location()
        .map(|l| format!("at line {} column {}", l.line(), l.column()))
}

/// Entry points for the fuzz targets in `fuzz/`: the loader without files, and without node.
#[doc(hidden)]
pub mod fuzzing {
    use super::*;

    /// What `load` does once it has read `text` from a file called `name` (the name picks the
    /// format, as it does for `load`). A JavaScript file is not run: `text` stands for what node
    /// printed.
    pub fn load_text(
        name: &str,
        forced: Option<Format>,
        text: &str,
    ) -> Result<(RawEcosystem, Problems), BadInput> {
        let printed = text.as_bytes();
        super::load_text(
            Path::new("/nonexistent/fuzz").join(name),
            forced,
            text.to_owned(),
            source_hash(printed),
            &|file| node_output(file, printed),
        )
    }

    /// What rgen makes of node's stdout after it evaluated `ecosystem.config.js`.
    pub fn load_node_output(printed: &[u8]) -> Result<(RawEcosystem, Problems), BadInput> {
        super::load_text(
            PathBuf::from("/nonexistent/fuzz/ecosystem.config.js"),
            None,
            String::new(),
            source_hash(printed),
            &|file| node_output(file, printed),
        )
    }

    fn node_output(file: &Path, printed: &[u8]) -> Result<Value, BadInput> {
        js::parse_node_output(printed)
            .map_err(|(message, hint)| BadInput::single(Origin::file(file), message, hint))
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

/// What a file holds beside its apps.
#[derive(Default)]
struct FileSections {
    deploy: Map<String, Value>,
    log_rotate: Option<(String, Value)>,
}

/// PM2's layouts: `{apps: [...]}`, `{pm2: [...]}`, a bare array, or a single app object. Values
/// move into the apps: a large file is not held twice.
fn pm2_apps(
    root: Value,
    format: Format,
    origin: &Origin,
    report: &mut Problems,
) -> (Vec<RawApp>, FileSections) {
    let mut sections = FileSections::default();
    let root_is_array = root.is_array();
    let (list, prefix): (Vec<Value>, &str) = match root {
        Value::Object(mut map) if map.contains_key("apps") || map.contains_key("pm2") => {
            let key = if map.contains_key("apps") {
                "apps"
            } else {
                "pm2"
            };
            let listed = map.shift_remove(key).expect("the key is present");
            for (k, v) in map {
                match k.as_str() {
                    "apps" | "pm2" => {}
                    "deploy" => {
                        if let Value::Object(d) = v {
                            sections.deploy = d;
                        }
                    }
                    "log_rotate" => sections.log_rotate = Some((k, v)),
                    "logRotate" if format.strict() => {
                        report
                            .error(
                                origin.with_key("logRotate"),
                                "`logRotate` is the camelCase alias of `log_rotate`",
                            )
                            .hint("rgen.toml uses canonical names: write `[log_rotate]`");
                    }
                    "logRotate" => sections.log_rotate = Some((k, v)),
                    "static" => refuse_static(origin, report),
                    other if format.strict() => {
                        report
                            .error(origin.with_key(other), format!("unknown top-level key `{other}`"))
                            .hint("rgen.toml holds `[[apps]]` tables (and optional `[deploy]` and `[log_rotate]` tables)");
                    }
                    other => report.warn(
                        WarningKind::UnknownKey,
                        origin.with_key(other),
                        format!("unknown top-level key `{other}` is ignored"),
                    ),
                }
            }
            match listed {
                Value::Array(items) => (items, key),
                single @ Value::Object(_) => (vec![single], key),
                other => {
                    report.error(
                        origin.with_key(key),
                        format!("`{key}` must be a list of apps, not {}", kind(&other)),
                    );
                    return (Vec::new(), sections);
                }
            }
        }
        Value::Array(items) => (items, ""),
        Value::Object(map) if map.is_empty() => {
            report
                .error(
                    origin.clone(),
                    if format == Format::Pm2Js {
                        "the file exports no apps"
                    } else {
                        "the file defines no apps"
                    },
                )
                .hint(empty_file_hint(format));
            return (Vec::new(), sections);
        }
        // PM2 takes the object itself as the one app, and adds a server per `static` entry: with
        // nothing but `static` (and `deploy`), there is no app of the file's own.
        Value::Object(mut map) if map.contains_key("static") => {
            refuse_static(origin, report);
            map.shift_remove("static");
            if let Some(Value::Object(d)) = map.shift_remove("deploy") {
                sections.deploy = d;
            }
            if map.is_empty() {
                return (Vec::new(), sections);
            }
            (vec![Value::Object(map)], "")
        }
        Value::Object(_) if format.strict() => {
            report
                .error(origin.clone(), "no `[[apps]]` table")
                .hint("rgen.toml lists apps as `[[apps]]` tables with PM2's key names");
            return (Vec::new(), sections);
        }
        single @ Value::Object(_) => (vec![single], ""),
        other => {
            report.error(
                origin.clone(),
                format!(
                    "expected an object with `apps`, a list of apps or one app, not {}",
                    kind(&other)
                ),
            );
            return (Vec::new(), sections);
        }
    };
    if list.is_empty() {
        report
            .error(origin.clone(), "the file defines no apps")
            .hint("add at least one app with a `script`");
    }
    let single = list.len() == 1 && prefix.is_empty() && !root_is_array;
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
                    format!("an app must be an object, not {}", kind(&value)),
                );
                return None;
            };
            Some(resolve_keys(index, path, map, format, origin, report))
        })
        .collect();
    (apps, sections)
}

/// PM2 serves `static` entries with its own server (`pm2 serve`), which rgen does not have.
fn refuse_static(origin: &Origin, report: &mut Problems) {
    report
        .error(
            origin.with_key("static"),
            "`static` (pm2 serve) is not supported: rgen has no static file server of its own",
        )
        .hint(SERVE_HINT);
}

/// How to replace PM2's built-in static server with an app.
pub const SERVE_HINT: &str = "run a static file server as an app, e.g. `script: 'npx', args: 'serve -s DIR -l PORT'` or `script: 'python3', args: '-m http.server PORT -d DIR'`";

/// Turns each written key into its canonical form, with PM2's precedence between a key and its
/// aliases (the canonical key unless it is falsy, then the first truthy alias).
pub(crate) fn resolve_keys(
    index: usize,
    path: String,
    map: Map<String, Value>,
    format: Format,
    origin: &Origin,
    report: &mut Problems,
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
    // The camelCase spellings written, for PM2's rule on falsy values (see `drop_falsy`).
    let mut camel_written: Vec<&'static str> = Vec::new();
    for (written, value) in map {
        let written = written.as_str();
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
                    if forever::is_forever_only(written) {
                        format!("`{written}` is Forever's key; PM2 ignores it, and so does rgen")
                    } else {
                        format!(
                            "unknown key `{written}` is ignored (PM2 ignores it too){suggestion}"
                        )
                    },
                );
            }
            continue;
        };
        if let Canonical::Key(spec) = canonical
            && spec.name.contains('_')
            && keys::camel_case(spec.name) == written
        {
            camel_written.push(spec.name);
        }
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
    if !format.strict() {
        drop_falsy(&mut entries, &camel_written, &app_origin, &key_path, report);
    }
    RawApp {
        index,
        path,
        entries,
    }
}

/// PM2 reads each key through its aliases with `conf[key] || (conf[key] = json[alias])`, the
/// camelCase spelling last (`Config.validateJSON`): a `false`, `0` or `""` is replaced by the next
/// spelling's value, so a falsy value of a multi-word key written in snake_case ends up unset
/// (`max_restarts: 0` is PM2's default of 16). Keys of one word are their own camelCase and keep
/// their value (`autorestart: false`, `instances: 0`), as does a falsy camelCase spelling.
fn drop_falsy(
    entries: &mut Vec<RawEntry>,
    camel_written: &[&'static str],
    origin: &Origin,
    key_path: &dyn Fn(&str) -> String,
    report: &mut Problems,
) {
    entries.retain(|e| {
        let Canonical::Key(spec) = e.canonical else {
            return true;
        };
        if truthy(&e.value) || !spec.name.contains('_') || camel_written.contains(&spec.name) {
            return true;
        }
        if e.value.as_f64() == Some(0.0)
            && let Some(instead) = pm2_default_of(spec.name)
        {
            report.warn(
                WarningKind::FalsyIsUnset,
                origin.with_key(key_path(&e.written)),
                format!("PM2 ignores `{}: 0` (a 0 or false of a multi-word key counts as unset): {instead}", e.written),
            );
        }
        false
    });
}

/// What applies instead of a `0` PM2 ignores, for the keys where that differs from 0.
fn pm2_default_of(key: &str) -> Option<&'static str> {
    Some(match key {
        "max_restarts" => {
            "PM2's limit of 16 unstable restarts applies; to never restart, write `autorestart: false`"
        }
        "kill_timeout" => "PM2's default of 1600 ms applies",
        "min_uptime" => "PM2's default of 1000 ms applies",
        "listen_timeout" => "PM2's default of 3000 ms applies",
        "stop_exit_codes" => {
            "PM2 restarts after every exit; write `stop_exit_codes: [0]` to stay down after a clean exit"
        }
        _ => return None,
    })
}

fn push_entry(
    entries: &mut Vec<RawEntry>,
    written: &str,
    canonical: Canonical,
    value: Value,
    origin: &Origin,
    key_path: &dyn Fn(&str) -> String,
    report: &mut Problems,
) {
    let Canonical::Key(spec) = canonical else {
        entries.push(RawEntry {
            written: written.to_string(),
            canonical,
            value,
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
            value,
        }),
        Some(prev) => {
            // PM2: `conf[key] || (conf[key] = json[alias])` — the canonical key wins unless it
            // is falsy; among aliases the first truthy one wins.
            let keep_new = if written == spec.name {
                truthy(&value) || !truthy(&prev.value)
            } else {
                !truthy(&prev.value) && truthy(&value)
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
                prev.value = value;
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

    fn app_from(json: &str, format: Format) -> (RawApp, Problems) {
        let v: Value = serde_json::from_str(json).unwrap();
        let mut report = Problems::default();
        let app = resolve_keys(
            0,
            "apps[0]".into(),
            v.as_object().unwrap().clone(),
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

    fn load_json(name: &str, text: &str) -> Result<(RawEcosystem, Problems), BadInput> {
        fuzzing::load_text(name, None, text)
    }

    #[test]
    fn a_json_with_pm2_keys_is_pm2_even_with_forever_keys() {
        let (eco, report) = load_json(
            "app.json",
            r#"{"name":"s","script":"a.js","max":"10","instances":4}"#,
        )
        .unwrap();
        assert_eq!(eco.format, Format::Pm2Json);
        assert_eq!(report.warnings.len(), 1);
        assert!(report.warnings[0].message.contains("Forever's key"));
        let (eco, _) = load_json("app.json", r#"[{"uid":"s","script":"a.js","max":3}]"#).unwrap();
        assert_eq!(eco.format, Format::Forever);
        let (eco, _) =
            load_json("app.json", r#"[{"script":"a.js"},{"name":"x","max":1}]"#).unwrap();
        assert_eq!(eco.format, Format::Pm2Json);
    }

    #[test]
    fn a_pm2_key_in_a_forever_file_is_not_suggested_to_itself() {
        let (_, report) =
            load_json("forever.json", r#"{"uid":"s","script":"a.js","name":"x"}"#).unwrap();
        let w = &report.warnings[0];
        assert!(!w.message.contains("did you mean `name`"), "{}", w.message);
    }

    #[test]
    fn falsy_multi_word_keys_are_unset_as_in_pm2() {
        let (eco, report) = load_json(
            "e.json",
            r#"{"apps":[{"script":"a.js","max_restarts":0,"log_date_format":false,"autorestart":false,"instances":0,"killTimeout":0}]}"#,
        )
        .unwrap();
        let app = &eco.apps[0];
        assert!(app.get("max_restarts").is_none());
        assert!(app.get("log_date_format").is_none());
        assert!(app.get("autorestart").is_some(), "one-word keys keep false");
        assert!(app.get("instances").is_some(), "one-word keys keep 0");
        assert!(
            app.get("kill_timeout").is_some(),
            "a camelCase 0 is PM2's last word"
        );
        assert_eq!(report.warnings.len(), 1);
        assert_eq!(report.warnings[0].kind, WarningKind::FalsyIsUnset);
        let (eco, _) = fuzzing::load_text(
            "rgen.toml",
            None,
            "[[apps]]\nname = \"a\"\nscript = \"a.js\"\nmax_restarts = 0\n",
        )
        .unwrap();
        assert!(
            eco.apps[0].get("max_restarts").is_some(),
            "rgen.toml means what it says"
        );
    }

    #[test]
    fn empty_files_and_static_blocks_are_refused_clearly() {
        for (name, text) in [("process.json", ""), ("b.yml", "  \n"), ("rgen.toml", "\n")] {
            let e = load_json(name, text).unwrap_err();
            assert_eq!(e.errors[0].message, "the file is empty", "{name}");
            assert!(e.errors[0].hint.is_some());
        }
        let e = load_json("e.json", "{}").unwrap_err();
        assert_eq!(e.errors[0].message, "the file defines no apps");
        let e = load_json("e.json", r#"{"static":[{"path":".","port":8081}]}"#).unwrap_err();
        assert_eq!(
            e.errors.len(),
            1,
            "no app is made of the top level: {:?}",
            e.errors
        );
        assert!(e.errors[0].message.contains("pm2 serve"));
        let e = load_json(
            "e.json",
            r#"{"apps":[{"script":"a.js"}],"static":[{"path":".","port":8081}]}"#,
        )
        .unwrap_err();
        assert_eq!(e.errors[0].origin.key.as_deref(), Some("static"));
    }
}
