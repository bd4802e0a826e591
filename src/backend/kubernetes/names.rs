//! Object names and labels. Kubernetes names are DNS labels (RFC 1035 for Services: lower-case
//! letters, digits and `-`, starting with a letter, at most 63 characters); label values allow
//! upper case, `_` and `.` too. Every rule about them is here.

use std::collections::BTreeMap;

/// Label every object of an app carries, with the app's name.
pub const APP_LABEL: &str = "app.kubernetes.io/name";
/// Label every object carries, with the group's name: `kubectl get all -l
/// app.kubernetes.io/part-of=<group>` finds the whole ecosystem.
pub const GROUP_LABEL: &str = "app.kubernetes.io/part-of";
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// PM2's `namespace` (a grouping of apps, not a Kubernetes namespace).
pub const PM2_NAMESPACE_LABEL: &str = "rgen/pm2-namespace";
/// What an object is for: `app`, `env`, `cron-restart`.
pub const ROLE_LABEL: &str = "rgen/role";
/// The ecosystem file's name, on every object.
pub const SOURCE_ANNOTATION: &str = "rgen/source";
/// Digest of the app's env on its pod template, so a changed ConfigMap or Secret rolls the pods
/// (Kubernetes does not restart pods when an `envFrom` source changes).
pub const ENV_HASH_ANNOTATION: &str = "rgen/env-hash";

/// Longest name of an object whose pods' names are derived from it with a suffix: a CronJob's
/// Jobs append 11 characters to its name, and Job names stay within 63.
pub const CRONJOB_NAME_MAX: usize = 52;
pub const NAME_MAX: usize = 63;

/// `name` as a DNS label: lower-case, other characters as `-`, no leading or trailing `-`, and
/// `app-` in front of a name that does not start with a letter. `None` when nothing is left.
pub fn object_name(name: &str) -> Option<String> {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let trimmed = out.trim_matches('-');
    if trimmed.is_empty() {
        return None;
    }
    let mut name = if trimmed.starts_with(|c: char| c.is_ascii_lowercase()) {
        trimmed.to_string()
    } else {
        format!("app-{trimmed}")
    };
    name.truncate(NAME_MAX);
    Some(name.trim_end_matches('-').to_string())
}

/// `value` as a label value: at most 63 of `A-Za-z0-9-_.`, starting and ending alphanumeric.
pub fn label_value(value: &str) -> String {
    let mapped: String = value
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .take(NAME_MAX)
        .collect();
    mapped
        .trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_string()
}

/// A ConfigMap or Secret key, which `envFrom` turns into a variable: `[-._a-zA-Z0-9]+`.
pub fn is_env_key(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// The labels that select an app's pods (a Deployment's selector is immutable: only these two).
pub fn selector(app: &str, group: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (APP_LABEL.to_string(), label_value(app)),
        (GROUP_LABEL.to_string(), label_value(group)),
    ])
}

/// Every label of an object of the app.
pub fn labels(app: &str, group: &str, pm2_namespace: &str, role: &str) -> BTreeMap<String, String> {
    let mut labels = selector(app, group);
    labels.insert(MANAGED_BY_LABEL.into(), "rgen".into());
    labels.insert(ROLE_LABEL.into(), role.into());
    if pm2_namespace != "default" {
        labels.insert(PM2_NAMESPACE_LABEL.into(), label_value(pm2_namespace));
    }
    labels
}

pub fn env_name(app: &str) -> String {
    format!("{app}-env")
}

pub fn cron_restart_name(app: &str) -> String {
    format!("{app}-cron-restart")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_dns_labels() {
        assert_eq!(object_name("azak-backend").as_deref(), Some("azak-backend"));
        assert_eq!(object_name("My_API.v2").as_deref(), Some("my-api-v2"));
        assert_eq!(object_name("2fa").as_deref(), Some("app-2fa"));
        assert_eq!(object_name("--").as_deref(), None);
        assert_eq!(object_name(&"a".repeat(80)).map(|n| n.len()), Some(63));
    }

    #[test]
    fn label_values_fit() {
        assert_eq!(label_value("azak"), "azak");
        assert_eq!(label_value("-my group-"), "my-group");
        assert!(is_env_key("spring.datasource.url"));
        assert!(!is_env_key("A B"));
    }
}
