//! Group `identity`: `name` (PM2's default from the script, `append_env_to_name`), the unit name
//! unit files and labels can hold, `namespace`, and the group the apps install under.

use std::path::Path;

use crate::diag::{Origin, WarningKind};
use crate::load::RawApp;
use crate::model::fields::Fields;
use crate::model::text::Shape;

pub(crate) struct Identity {
    pub name: String,
    /// `name` restricted to characters unit file names and launchd labels can hold.
    pub unit: String,
    pub namespace: String,
}

/// `None` after reporting a name no service can have.
pub(crate) fn read(
    f: &mut Fields<'_>,
    script_text: &str,
    env_name: Option<&str>,
    file_origin: &Origin,
) -> Option<Identity> {
    let mut name = f
        .string("name")
        .unwrap_or_else(|| default_name(script_text));
    if f.boolean("append_env_to_name") == Some(true)
        && let Some(env) = env_name
    {
        name = format!("{name}-{env}");
    }
    let unit = sanitize_name(&name);
    if name.trim().is_empty() || unit.chars().all(|c| c == '-' || c == '.') {
        f.fail(
            "name",
            format!("{name:?} cannot name a service"),
            Some("use letters, digits, `-`, `_` or `.`".into()),
        );
        return None;
    }
    if unit.len() > 200 {
        f.fail(
            "name",
            "the name is longer than 200 characters".into(),
            Some("unit file names are limited to 255 bytes".into()),
        );
    }
    if unit != name {
        let o = f.origin_of("name");
        f.report.warn(
            WarningKind::NameEscaped,
            o.with_app(&name),
            format!("`{name}` is installed as `{unit}`"),
        );
    }
    f.origin = file_origin.with_app(&name);
    if !f.fits("name", &name, Shape::Line) {
        return None;
    }
    let namespace = f
        .shaped("namespace", Shape::Line)
        .unwrap_or_else(|| "default".into());
    Some(Identity {
        name,
        unit,
        namespace,
    })
}

/// The group is named after the directory holding the ecosystem file (`~/azak/ecosystem.config.js`
/// → `azak`), as users name projects.
pub fn default_group(file: &Path) -> String {
    let dir = file
        .parent()
        .and_then(|d| d.file_name())
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "apps".into());
    let g = sanitize_name(&dir);
    if g.is_empty() { "apps".into() } else { g }
}

/// Unit names and launchd labels: ASCII letters, digits, `_`, `.`, `-`; everything else is `-`.
/// A leading `.` would hide the files (rgen skips dot files as temporary) and a leading `-`
/// reads as an option to `systemctl`/`launchctl`, so either becomes `_`.
pub fn sanitize_name(name: &str) -> String {
    name.chars()
        .enumerate()
        .map(|(i, c)| match c {
            '.' | '-' if i == 0 => '_',
            c if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') => c,
            _ => '-',
        })
        .collect()
}

pub(crate) fn raw_name(app: &RawApp) -> Option<String> {
    if let Some(name) = app.get("name").and_then(|e| e.value.as_str()) {
        return Some(name.to_string());
    }
    let script = app.get("script")?.value.as_str()?;
    Some(default_name(script))
}

/// PM2's `renderApplicationName`: the script's file name without its extension. PM2 names the
/// app before it turns a command line into `bash -c`, so `python3 -m http.server 8099` is
/// `python3 -m http`, as `pm2 ls` shows it.
pub(crate) fn default_name(script: &str) -> String {
    let base = Path::new(script)
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| script.to_string());
    match base.rfind('.') {
        Some(dot) if dot > 0 => base[..dot].to_string(),
        _ => base,
    }
}
