//! One app from the command line, like `pm2 start app.js --name api -i 4 -- ARGS`: PM2's start
//! flags become the same canonical keys an ecosystem file has, and go through the same model.
//!
//! Whether an argument is a file or a script is decided as PM2's `Common.isConfigFile` does —
//! by its name alone, never by running it: a name holding `.json`, `.yml`, `.yaml`,
//! `.config.js`, `.config.cjs` or `.config.mjs` anywhere is a file (`app.json5` too), and so is
//! rgen's own `.toml`; everything else is a script.
//!
//! The installed unit is the app's only record, so its definition (the keys, as JSON) is kept in
//! a marker: `status` checks drift against it, and `rgen import --from-installed` writes the
//! ecosystem file that reproduces it.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::{Canonical, Format, RawApp, RawEcosystem, RawEntry};
use crate::diag::{BadInput, Origin};
use crate::keys;

/// The file name ad-hoc apps are recorded under (in their directory), shown in messages.
pub const SOURCE_NAME: &str = "(command line)";

/// PM2's `Common.isConfigFile`, plus rgen.toml.
pub fn is_config_file(arg: &str) -> bool {
    let lower = arg.to_ascii_lowercase();
    [
        ".json",
        ".yml",
        ".yaml",
        ".config.js",
        ".config.cjs",
        ".config.mjs",
    ]
    .iter()
    .any(|ext| lower.contains(ext))
        || lower.ends_with(".toml")
}

/// Whether an installed app's source is the command line.
pub fn is_command_line(source: &Path) -> bool {
    source.file_name().is_some_and(|n| n == SOURCE_NAME)
}

/// An app given on the command line.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Definition {
    /// The shell's directory: relative paths resolve against it, as PM2 does.
    pub dir: PathBuf,
    /// `(flag as typed, canonical key, value)`, in order.
    pub keys: Vec<(String, &'static str, Value)>,
}

impl Definition {
    /// The app's keys as one JSON object, canonical names first to last.
    pub fn to_json(&self) -> Value {
        let mut map = Map::new();
        for (_, key, value) in &self.keys {
            map.insert((*key).to_string(), value.clone());
        }
        Value::Object(map)
    }

    /// A definition read back from an installed app's marker.
    pub fn from_json(dir: &Path, json: &str) -> Option<Definition> {
        let Value::Object(map) = serde_json::from_str(json).ok()? else {
            return None;
        };
        let keys = map
            .into_iter()
            .filter_map(|(k, v)| Some((k.clone(), keys::lookup(&k)?.name, v)))
            .collect();
        Some(Definition {
            dir: dir.to_path_buf(),
            keys,
        })
    }

    /// The raw ecosystem of this one app, as if it came from a file in `dir`.
    pub fn ecosystem(&self) -> Result<RawEcosystem, BadInput> {
        let file = self.dir.join(SOURCE_NAME);
        let mut entries = Vec::new();
        for (written, key, value) in &self.keys {
            let Some(spec) = keys::lookup(key) else {
                return Err(BadInput::single(
                    Origin::file(&file),
                    format!("`{written}` is not a setting rgen knows"),
                    None,
                ));
            };
            entries.push(RawEntry {
                written: written.clone(),
                canonical: Canonical::Key(spec),
                value: value.clone(),
            });
        }
        let json = self.to_json().to_string();
        Ok(RawEcosystem {
            file,
            format: Format::Pm2Json,
            apps: vec![RawApp {
                index: 0,
                path: String::new(),
                entries,
            }],
            deploy: Map::new(),
            log_rotate: None,
            source_hash: super::source_hash(json.as_bytes()),
        })
    }
}

/// An app's definition as JSON, for its marker (only apps given on the command line have one).
pub fn definition_of(raw: &RawEcosystem, app: &RawApp) -> Option<String> {
    if !is_command_line(&raw.file) {
        return None;
    }
    let mut map = Map::new();
    for e in &app.entries {
        if let Canonical::Key(spec) = e.canonical {
            map.insert(spec.name.to_string(), e.value.clone());
        }
    }
    Some(Value::Object(map).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_files_are_told_from_scripts_by_name_as_pm2_does() {
        for file in [
            "ecosystem.config.js",
            "app.json",
            "app.json5",
            "conf/my.json.d/app.js",
            "x.YAML",
            "pm2.config.cjs",
            "rgen.toml",
        ] {
            assert!(is_config_file(file), "{file}");
        }
        for script in [
            "app.js",
            "ecosystem.js",
            "server.py",
            "npm",
            "python3 worker.py",
        ] {
            assert!(!is_config_file(script), "{script}");
        }
    }

    #[test]
    fn definitions_round_trip() {
        let def = Definition {
            dir: PathBuf::from("/srv/api"),
            keys: vec![
                ("SCRIPT".into(), "script", Value::from("app.js")),
                ("--instances".into(), "instances", Value::from("max")),
            ],
        };
        let json = def.to_json().to_string();
        let back = Definition::from_json(Path::new("/srv/api"), &json).unwrap();
        assert_eq!(back.to_json(), def.to_json());
        let raw = def.ecosystem().unwrap();
        assert_eq!(raw.apps[0].entries.len(), 2);
        assert!(is_command_line(&raw.file));
        assert_eq!(definition_of(&raw, &raw.apps[0]).unwrap(), json);
    }
}
