//! Which installed apps a command means: `all` (or nothing), app names, namespaces or groups —
//! the same rule and the same message for every verb and every backend.

use anyhow::{Result, bail};

use crate::apply::inventory::InstalledApp;

/// The apps `wanted` names, in installed order, each once. An unknown name is an error that
/// lists what is installed.
pub fn select<'a>(apps: &'a [InstalledApp], wanted: &[String]) -> Result<Vec<&'a InstalledApp>> {
    if wanted.is_empty() || wanted.iter().any(|w| w == "all") {
        return Ok(apps.iter().collect());
    }
    let mut chosen: Vec<&InstalledApp> = Vec::new();
    for w in wanted {
        let matched: Vec<&InstalledApp> = apps
            .iter()
            .filter(|a| &a.name == w || a.namespace() == w || &a.group == w)
            .collect();
        if matched.is_empty() {
            bail!("{}", unknown(w, apps));
        }
        for m in matched {
            if !chosen
                .iter()
                .any(|c| c.name == m.name && c.group == m.group)
            {
                chosen.push(m);
            }
        }
    }
    Ok(chosen)
}

fn unknown(w: &str, apps: &[InstalledApp]) -> String {
    let known: Vec<String> = apps.iter().map(|a| format!("`{}`", a.name)).collect();
    format!(
        "no installed app, namespace or group is called `{w}`{}",
        if known.is_empty() {
            " (nothing is installed in this scope)".to_string()
        } else {
            format!("; installed: {}", known.join(", "))
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::inventory::{InstalledUnit, Marker, Role};

    fn app(name: &str, group: &str, namespace: Option<&str>) -> InstalledApp {
        InstalledApp {
            name: name.into(),
            group: group.into(),
            units: vec![InstalledUnit {
                name: format!("{name}.service"),
                path: Default::default(),
                contents: String::new(),
                marker: Marker {
                    app: Some(name.into()),
                    group: group.into(),
                    namespace: namespace.map(str::to_string),
                    ..Marker::default()
                },
                role: Role::App,
                runtime: vec![format!("{name}.service")],
                argv: Vec::new(),
                app_argv: Vec::new(),
                logs: Vec::new(),
                shimmed: false,
                run_as: None,
                env: Vec::new(),
                settings: Vec::new(),
                memory_limit: None,
            }],
        }
    }

    #[test]
    fn by_name_namespace_group_or_all() {
        let apps = [
            app("api", "azak", Some("backend")),
            app("web", "azak", None),
            app("job", "other", None),
        ];
        let names = |wanted: &[&str]| -> Vec<String> {
            let wanted: Vec<String> = wanted.iter().map(|s| s.to_string()).collect();
            select(&apps, &wanted)
                .unwrap()
                .iter()
                .map(|a| a.name.clone())
                .collect()
        };
        assert_eq!(names(&[]), ["api", "web", "job"]);
        assert_eq!(names(&["all"]), ["api", "web", "job"]);
        assert_eq!(names(&["backend"]), ["api"]);
        assert_eq!(names(&["azak", "api"]), ["api", "web"]);
        let err = select(&apps, &["nope".to_string()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("`nope`") && err.contains("`api`"), "{err}");
    }
}
