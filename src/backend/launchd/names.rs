//! launchd labels and domains, in one place: `rgen.<name>` (`rgen.<name>.<instance>` for each
//! instance of a multi-instance app), `rgen.<name>.<role>` for the helper jobs, and the domain a
//! scope's jobs are loaded into.

use crate::target::Scope;

/// Labels are `rgen.<name>` (`rgen.<name>.<instance>` for multi-instance apps).
pub const LABEL_PREFIX: &str = "rgen.";

pub fn label(unit: &str, instance: Option<u32>) -> String {
    match instance {
        Some(i) => format!("{LABEL_PREFIX}{unit}.{i}"),
        None => format!("{LABEL_PREFIX}{unit}"),
    }
}

/// Every label of an app's own jobs (one per instance).
pub fn app_labels(unit: &str, instances: Option<u32>) -> Vec<String> {
    match instances {
        Some(n) => (0..n).map(|i| label(unit, Some(i))).collect(),
        None => vec![label(unit, None)],
    }
}

/// A helper job's label: `rgen.<name>.cron-restart`, `rgen.<name>.watch`.
pub fn helper_label(unit: &str, role: &str) -> String {
    format!("{}.{role}", label(unit, None))
}

/// The plist file of a label.
pub fn plist_file(label: &str) -> String {
    format!("{label}.plist")
}

pub fn label_of(file: &str) -> &str {
    file.strip_suffix(".plist").unwrap_or(file)
}

/// The launchctl domain services of this scope live in.
pub fn domain(scope: Scope, uid: u32) -> String {
    match scope {
        Scope::System => "system".into(),
        Scope::User => format!("gui/{uid}"),
    }
}

/// The domain of a user's background session (ssh), where agents go without a GUI login.
pub fn user_domain(uid: u32) -> String {
    format!("user/{uid}")
}

/// `gui/501/rgen.api`.
pub fn service(domain: &str, label: &str) -> String {
    format!("{domain}/{label}")
}
