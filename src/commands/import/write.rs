//! The file `rgen import --from-pm2` and `--from-installed` write: `rgen.toml`, or an
//! `ecosystem.config.js` that PM2 itself can also load. Both carry the same settings and the same comments: where a value came
//! from, what an approximation does, and, by name, every environment variable left out.

use std::fmt::Write as _;

use anyhow::Context as _;
use serde_json::Value;

use crate::diag::{BadInput, Origin};
use crate::load::pm2dump::{Dropped, Imported, ImportedApp, LogRotate, Setting};

/// Comments are wrapped at this width, as the rest of rgen's generated files are.
const WIDTH: usize = 98;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    Toml,
    Js,
}

impl OutputFormat {
    /// By the name's extension: `.toml`, or `.js`/`.cjs` (what PM2 and rgen load as JavaScript).
    pub fn of(path: &std::path::Path) -> Option<OutputFormat> {
        let name = path.file_name()?.to_string_lossy().to_ascii_lowercase();
        if name.ends_with(".toml") {
            Some(OutputFormat::Toml)
        } else if name.ends_with(".js") || name.ends_with(".cjs") {
            Some(OutputFormat::Js)
        } else {
            None
        }
    }

    /// The format of the file an import writes to `out`; TOML when it only prints.
    pub fn for_output(out: Option<&std::path::Path>) -> Result<OutputFormat, BadInput> {
        match out {
            Some(path) => OutputFormat::of(path).ok_or_else(|| {
                BadInput::single(
                    Origin::file(path),
                    "cannot tell which file to write from the name",
                    Some("name it `rgen.toml` (any .toml) or `ecosystem.config.js` (.js/.cjs, which PM2 loads too)".into()),
                )
            }),
            None => Ok(OutputFormat::Toml),
        }
    }
}

/// The file's text and its mode: environment values are often secrets, so a file holding any is
/// its owner's alone. A TOML file is parsed back before it is written.
pub fn render_file(imported: &Imported, format: OutputFormat) -> anyhow::Result<(String, u32)> {
    let text = render(imported, format);
    if format == OutputFormat::Toml {
        toml::from_str::<toml::Value>(&text)
            .context("the imported file is not valid TOML (a bug in rgen)")?;
    }
    let mode = if imported.apps.iter().any(|a| !a.env.is_empty()) {
        0o600
    } else {
        0o644
    };
    Ok((text, mode))
}

pub fn render(imported: &Imported, format: OutputFormat) -> String {
    match format {
        OutputFormat::Toml => to_toml(imported),
        OutputFormat::Js => to_js(imported),
    }
}

fn header(imported: &Imported) -> Vec<String> {
    if let Some(intro) = &imported.intro {
        let mut lines = intro.clone();
        lines.extend(imported.notes.iter().cloned());
        return lines;
    }
    let version = imported
        .pm2_version
        .as_deref()
        .map(|v| format!(" (PM2 {v})"))
        .unwrap_or_default();
    let from = if imported.file.as_os_str() == "-" {
        "standard input".to_string()
    } else {
        imported.file.display().to_string()
    };
    let mut lines = vec![
        format!("Imported by `rgen import --from-pm2` from {from}{version}."),
        "Each app as PM2 would run it after a reboot (`pm2 resurrect`): the command PM2 resolved, its instances, limits, restarts, user and state, and the environment it was given. Comments say where a value came from and name every variable left out; `rgen check` explains how each key maps.".to_string(),
    ];
    lines.extend(imported.notes.iter().cloned());
    lines
}

/// Text wrapped into comment lines with `prefix` (`# `, `// `). Control characters (in names
/// from the dump) are written as escapes: TOML refuses them in comments, and a terminal showing
/// the file would act on them.
fn comment(out: &mut String, indent: &str, prefix: &str, text: &str) {
    let width = WIDTH.saturating_sub(indent.len() + prefix.len()).max(40);
    let text = crate::diag::printable(text);
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            let _ = writeln!(out, "{indent}{prefix}{line}");
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        let _ = writeln!(out, "{indent}{prefix}{line}");
    }
}

/// The variables left out, grouped by why, as comment lines.
fn dropped_lines(app: &ImportedApp) -> Vec<String> {
    if app.dropped.is_empty() {
        return Vec::new();
    }
    let mut reasons: Vec<Dropped> = app.dropped.iter().map(|(_, why)| *why).collect();
    reasons.sort();
    reasons.dedup();
    let mut lines = vec!["Left out of PM2's record of the environment:".to_string()];
    for why in reasons {
        let names: Vec<&str> = app
            .dropped
            .iter()
            .filter(|(_, w)| *w == why)
            .map(|(n, _)| n.as_str())
            .collect();
        lines.push(format!("- {}: {}", why.describe(), names.join(", ")));
    }
    lines
}

// ---- rgen.toml ----------------------------------------------------------------------------------

pub fn to_toml(imported: &Imported) -> String {
    let mut out = String::new();
    for line in header(imported) {
        comment(&mut out, "", "# ", &line);
    }
    if let Some(lr) = &imported.log_rotate {
        out.push('\n');
        out.push_str(&log_rotate_table_toml(lr));
    }
    for app in &imported.apps {
        out.push_str("\n[[apps]]\n");
        for line in &app.comments {
            comment(&mut out, "", "# ", line);
        }
        for s in &app.settings {
            toml_setting(&mut out, s);
        }
        let dropped = dropped_lines(app);
        if !app.env.is_empty() {
            out.push_str("\n[apps.env]\n");
            for var in &app.env {
                if let Some(c) = &var.comment {
                    comment(&mut out, "", "# ", c);
                }
                let _ = writeln!(out, "{} = {}", bare_key(&var.name), toml_string(&var.value));
            }
        }
        if !dropped.is_empty() {
            out.push('\n');
            for line in dropped {
                comment(&mut out, "", "# ", &line);
            }
        }
    }
    out
}

/// `[log_rotate]` with pm2-logrotate's settings.
pub fn log_rotate_table_toml(lr: &LogRotate) -> String {
    let mut out = String::new();
    comment(
        &mut out,
        "",
        "# ",
        "pm2-logrotate's settings (module_conf.json): rotation of the apps' log files.",
    );
    if !lr.not_carried.is_empty() {
        comment(
            &mut out,
            "",
            "# ",
            &format!("Not carried: {}.", lr.not_carried.join(", ")),
        );
    }
    out.push_str("[log_rotate]\n");
    for (k, v) in &lr.settings {
        let _ = writeln!(out, "{} = {}", bare_key(k), toml_value(v));
    }
    out
}

fn toml_setting(out: &mut String, s: &Setting) {
    if let Some(c) = &s.comment {
        comment(out, "", "# ", c);
    }
    let line = format!("{} = {}", bare_key(s.key), toml_value(&s.value));
    if s.disabled {
        let _ = writeln!(out, "# {line}");
    } else {
        let _ = writeln!(out, "{line}");
    }
}

pub(super) fn bare_key(key: &str) -> String {
    if !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        key.to_string()
    } else {
        toml_string(key)
    }
}

fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// A JSON value as TOML. TOML has no null: a null nested in a table is written as the text a
/// process would see for it (`"null"`, as node stringifies it); top-level nulls are the caller's.
pub(super) fn toml_value(v: &Value) -> String {
    match v {
        Value::Null => "\"null\"".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => toml_string(s),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(toml_value).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(map) => format!(
            "{{ {} }}",
            map.iter()
                .map(|(k, v)| format!("{} = {}", bare_key(k), toml_value(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

// ---- ecosystem.config.js ------------------------------------------------------------------------

pub fn to_js(imported: &Imported) -> String {
    let mut out = String::new();
    for line in header(imported) {
        comment(&mut out, "", "// ", &line);
    }
    comment(
        &mut out,
        "",
        "// ",
        "PM2 loads this file too (`pm2 start ecosystem.config.js`).",
    );
    out.push_str("module.exports = {\n");
    if let Some(lr) = &imported.log_rotate {
        out.push_str(&log_rotate_table_js(lr));
    }
    out.push_str("  apps: [\n");
    for app in &imported.apps {
        out.push_str("    {\n");
        let indent = "      ";
        for line in &app.comments {
            comment(&mut out, indent, "// ", line);
        }
        for s in &app.settings {
            if let Some(c) = &s.comment {
                comment(&mut out, indent, "// ", c);
            }
            let line = format!("{}: {},", js_key(s.key), js_value(&s.value));
            if s.disabled {
                let _ = writeln!(out, "{indent}// {line}");
            } else {
                let _ = writeln!(out, "{indent}{line}");
            }
        }
        if !app.env.is_empty() {
            let _ = writeln!(out, "{indent}env: {{");
            for var in &app.env {
                if let Some(c) = &var.comment {
                    comment(&mut out, "        ", "// ", c);
                }
                let _ = writeln!(
                    out,
                    "        {}: {},",
                    js_key(&var.name),
                    js_string(&var.value)
                );
            }
            let _ = writeln!(out, "{indent}}},");
        }
        for line in dropped_lines(app) {
            comment(&mut out, indent, "// ", &line);
        }
        out.push_str("    },\n");
    }
    out.push_str("  ],\n};\n");
    out
}

/// `log_rotate: {…},` with pm2-logrotate's settings, inside `module.exports`.
pub fn log_rotate_table_js(lr: &LogRotate) -> String {
    let mut out = String::new();
    comment(
        &mut out,
        "  ",
        "// ",
        "pm2-logrotate's settings (module_conf.json): rotation of the apps' log files.",
    );
    if !lr.not_carried.is_empty() {
        comment(
            &mut out,
            "  ",
            "// ",
            &format!("Not carried: {}.", lr.not_carried.join(", ")),
        );
    }
    out.push_str("  log_rotate: {\n");
    for (k, v) in &lr.settings {
        let _ = writeln!(out, "    {}: {},", js_key(k), js_value(v));
    }
    out.push_str("  },\n");
    out
}

fn js_key(key: &str) -> String {
    let mut chars = key.chars();
    let ident = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
    if ident {
        key.to_string()
    } else {
        js_string(key)
    }
}

/// A JSON string is a JavaScript string literal, once U+2028/U+2029 (line terminators in
/// older JavaScript) are escaped too.
fn js_string(s: &str) -> String {
    serde_json::to_string(s)
        .expect("a string serializes")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

fn js_value(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => js_string(s),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(js_value).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(map) => format!(
            "{{ {} }}",
            map.iter()
                .map(|(k, v)| format!("{}: {}", js_key(k), js_value(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn js_keys_and_strings_are_literals() {
        assert_eq!(js_key("API_KEY"), "API_KEY");
        assert_eq!(js_key("my-var"), "\"my-var\"");
        assert_eq!(js_key("0"), "\"0\"");
        assert_eq!(js_string("a'b\"c\n\u{2028}"), "\"a'b\\\"c\\n\\u2028\"");
    }

    #[test]
    fn comments_wrap() {
        let mut out = String::new();
        comment(&mut out, "", "# ", &"word ".repeat(40));
        assert!(out.lines().count() > 1);
        assert!(out.lines().all(|l| l.len() <= WIDTH && l.starts_with("# ")));
    }
}
