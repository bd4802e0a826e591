//! A minimal reader of unit files (systemd.syntax(7)): sections, then `Key=Value` assignments in
//! file order. Reading back what rgen wrote goes through here, never through ad-hoc prefix
//! matching. Values are returned as written; `escape` decodes them.

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UnitFile {
    /// `(section, key, value)` in file order.
    entries: Vec<(String, String, String)>,
}

impl UnitFile {
    pub fn parse(text: &str) -> UnitFile {
        let mut entries = Vec::new();
        let mut section = String::new();
        let mut pending = String::new();
        for raw in text.lines() {
            // A trailing backslash continues the assignment on the next line, as systemd reads
            // it (rgen never writes one; see `escape`).
            if let Some(head) = raw.strip_suffix('\\') {
                pending.push_str(head);
                pending.push(' ');
                continue;
            }
            let line = if pending.is_empty() {
                raw.to_string()
            } else {
                std::mem::take(&mut pending) + raw
            };
            let trimmed = line.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
                continue;
            }
            if let Some(name) = trimmed.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
                section = name.to_string();
                continue;
            }
            if let Some((key, value)) = trimmed.split_once('=') {
                entries.push((
                    section.clone(),
                    key.trim().to_string(),
                    value.trim().to_string(),
                ));
            }
        }
        UnitFile { entries }
    }

    /// The last value of a key (later assignments override earlier ones).
    pub fn get(&self, section: &str, key: &str) -> Option<&str> {
        self.all(section, key).last().copied()
    }

    /// Every value of a key, in order (`Environment=`, `After=`).
    pub fn all(&self, section: &str, key: &str) -> Vec<&str> {
        self.entries
            .iter()
            .filter(|(s, k, _)| s == section && k == key)
            .map(|(_, _, v)| v.as_str())
            .collect()
    }

    /// `(key, value)` of a section whose keys start with `prefix` (rgen's `X-Rgen-` markers).
    pub fn with_prefix<'a>(
        &'a self,
        section: &'a str,
        prefix: &'a str,
    ) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        self.entries
            .iter()
            .filter(move |(s, k, _)| s == section && k.starts_with(prefix))
            .map(|(_, k, v)| (k.as_str(), v.as_str()))
    }

    pub fn has_section(&self, section: &str) -> bool {
        self.entries.iter().any(|(s, _, _)| s == section)
    }

    /// Every `(section, key, value)`, for `rgen show`.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &str, &str)> {
        self.entries
            .iter()
            .map(|(s, k, v)| (s.as_str(), k.as_str(), v.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_keys_and_continuations() {
        let u = UnitFile::parse(
            "# comment\n[Unit]\nDescription=a b\nAfter=x\nAfter=y\n\n[Service]\nUser=alice\nExecStart=\"/bin/a\" \\\n  \"b\"\n[Install]\nWantedBy=t\n",
        );
        assert_eq!(u.get("Unit", "Description"), Some("a b"));
        assert_eq!(u.all("Unit", "After"), ["x", "y"]);
        assert_eq!(u.get("Service", "User"), Some("alice"));
        assert_eq!(u.get("Service", "ExecStart"), Some("\"/bin/a\"    \"b\""));
        assert!(u.has_section("Install"));
        assert_eq!(u.get("Service", "Missing"), None);
    }
}
