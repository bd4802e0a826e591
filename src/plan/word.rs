//! A word of a command line or a value that may contain the instance number, which only the
//! manager knows (systemd's `%i` in a template unit) or which differs per launchd job.

use std::path::Path;

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Part {
    Text(String),
    /// The instance number of a multi-instance app (0-based, as PM2's `NODE_APP_INSTANCE`).
    Instance,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Word(pub Vec<Part>);

impl Word {
    pub fn text(s: impl AsRef<str>) -> Word {
        Word(vec![Part::Text(s.as_ref().to_string())])
    }

    /// PM2's per-instance log file: `-<id>` before the `.log` extension (or at the end).
    pub fn instance_path(path: &Path) -> Word {
        let s = path.to_string_lossy();
        let (stem, ext) = match s.strip_suffix(".log") {
            Some(stem) => (stem.to_string(), ".log"),
            None => (s.to_string(), ""),
        };
        Word(vec![
            Part::Text(format!("{stem}-")),
            Part::Instance,
            Part::Text(ext.to_string()),
        ])
    }

    /// The word for one concrete instance.
    pub fn for_instance(&self, instance: Option<u32>) -> String {
        self.0
            .iter()
            .map(|p| match p {
                Part::Text(t) => t.clone(),
                Part::Instance => instance.map(|i| i.to_string()).unwrap_or_default(),
            })
            .collect()
    }

    /// The text when the word has no instance part.
    pub fn as_text(&self) -> Option<&str> {
        match self.0.as_slice() {
            [Part::Text(t)] => Some(t),
            _ => None,
        }
    }
}
