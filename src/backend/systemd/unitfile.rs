//! A minimal reader of unit files (systemd.syntax(7)): sections, then `Key=Value` assignments in
//! file order. Reading back what rgen wrote goes through here, never through ad-hoc prefix
//! matching. Values are returned as written; `escape` decodes them.

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UnitFile {
    /// Section names in file order; entries before the first header are in `""`.
    sections: Vec<String>,
    /// `(section, key, value)` in file order, the section as an index into `sections`.
    entries: Vec<(usize, String, String)>,
}

impl UnitFile {
    pub fn parse(text: &str) -> UnitFile {
        let mut sections = vec![String::new()];
        let mut entries = Vec::new();
        let mut pending = String::new();
        for raw in text.lines() {
            // A trailing backslash continues the assignment on the next line, as systemd reads
            // it (rgen never writes one; see `escape`).
            if let Some(head) = raw.strip_suffix('\\') {
                pending.push_str(head);
                pending.push(' ');
                continue;
            }
            let joined;
            let line = if pending.is_empty() {
                raw
            } else {
                joined = std::mem::take(&mut pending) + raw;
                joined.as_str()
            };
            let trimmed = line.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
                continue;
            }
            if let Some(name) = trimmed.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
                sections.push(name.to_string());
                continue;
            }
            if let Some((key, value)) = trimmed.split_once('=') {
                entries.push((
                    sections.len() - 1,
                    key.trim().to_string(),
                    value.trim().to_string(),
                ));
            }
        }
        UnitFile { sections, entries }
    }

    fn matching<'s, 'q>(
        &'s self,
        section: &'q str,
        key: &'q str,
    ) -> impl DoubleEndedIterator<Item = &'s str> + use<'s, 'q> {
        self.entries
            .iter()
            .filter(move |(s, k, _)| k == key && self.sections[*s] == section)
            .map(|(_, _, v)| v.as_str())
    }

    /// The last value of a key (later assignments override earlier ones).
    pub fn get(&self, section: &str, key: &str) -> Option<&str> {
        self.matching(section, key).next_back()
    }

    /// Every value of a key, in order (`Environment=`, `After=`).
    pub fn all(&self, section: &str, key: &str) -> Vec<&str> {
        self.matching(section, key).collect()
    }

    /// `(key, value)` of a section whose keys start with `prefix` (rgen's `X-Rgen-` markers).
    pub fn with_prefix<'a>(
        &'a self,
        section: &'a str,
        prefix: &'a str,
    ) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        self.entries
            .iter()
            .filter(move |(s, k, _)| k.starts_with(prefix) && self.sections[*s] == section)
            .map(|(_, k, v)| (k.as_str(), v.as_str()))
    }

    pub fn has_section(&self, section: &str) -> bool {
        self.entries
            .iter()
            .any(|(s, _, _)| self.sections[*s] == section)
    }

    /// Every `(section, key, value)`, for `rgen show`.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &str, &str)> {
        self.entries
            .iter()
            .map(|(s, k, v)| (self.sections[*s].as_str(), k.as_str(), v.as_str()))
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
