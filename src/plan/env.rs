//! The environment (group `env`): the app's `env` layers as the model merged them, the instance
//! variable, and a PATH that puts the app's own directories (its interpreter's, a package's
//! `node_modules/.bin`) in front of the manager's — the fix for nvm and venv installs.

use std::collections::BTreeMap;

use super::instances::Sharing;
use super::{Part, Word};
use crate::diag::Problems;
use crate::model::App;
use crate::model::text::systemd_env_name;
use crate::target::Capabilities;

pub(super) fn plan(
    app: &App,
    caps: &Capabilities,
    sharing: &Sharing,
    problems: &mut Problems,
) -> BTreeMap<String, Word> {
    if !caps.any_env_name {
        let names = app.env.keys().map(|k| (k, "env"));
        let instance = sharing
            .templated
            .then_some((&app.instance_var, "instance_var"));
        let increment = app.increment_var.as_ref().map(|v| (v, "increment_var"));
        for (name, key) in names.chain(instance).chain(increment) {
            if !systemd_env_name(name) {
                problems
                    .error(
                        app.origin_of(key),
                        format!("systemd cannot pass the environment variable `{name}`"),
                    )
                    .hint("systemd only passes names of letters, digits and `_` not starting with a digit; rename it (`spring.datasource.password` → `SPRING_DATASOURCE_PASSWORD`, which Spring reads too)");
            }
        }
    }
    let mut env: BTreeMap<String, Word> = app
        .env
        .iter()
        .map(|(k, v)| (k.clone(), Word::text(v)))
        .collect();
    if sharing.templated {
        env.insert(app.instance_var.clone(), Word(vec![Part::Instance]));
    }
    // PATH: the directories of what runs (the interpreter, or the script when it runs itself)
    // ahead of the OS default, so `#!/usr/bin/env node` scripts and tools the app spawns resolve
    // as they did in the shell that resolved them.
    if !env.contains_key("PATH") {
        let base = caps.base_path;
        let mut path_dirs: Vec<String> = app
            .path_prepend
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        let executable = app.interpreter.path.as_ref().unwrap_or(&app.script);
        if let Some(d) = executable
            .parent()
            .map(|d| d.to_string_lossy().into_owned())
            && !base.split(':').any(|b| b == d)
            && !path_dirs.contains(&d)
        {
            path_dirs.push(d);
        }
        // launchd's own PATH is /usr/bin:/bin:/usr/sbin:/sbin, too short for Homebrew tools.
        if caps.always_set_path || !path_dirs.is_empty() {
            path_dirs.push(base.to_string());
            env.insert("PATH".into(), Word::text(path_dirs.join(":")));
        }
    }
    env
}
