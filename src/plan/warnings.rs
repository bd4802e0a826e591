//! The key table's unconditional approximations, announced once per key the app sets. Keys whose
//! approximation depends on the value are announced by their own group's planner.

use crate::diag::{Problems, WarningKind};
use crate::keys::{KeySpec, Support, When};
use crate::model::App;
use crate::target::Target;

pub(super) fn announce(app: &App, target: &Target, problems: &mut Problems) {
    for (spec, origin) in &app.keys_used {
        let mapping = spec.mapping(target.backend);
        match mapping.support {
            Support::Approximated(kind, When::Always) => problems.warn(
                kind,
                origin.clone(),
                format!("`{}`: {}", spec.name, mapping.text),
            ),
            // Keys no backend supports were announced by the model already.
            Support::Unsupported if !unsupported_everywhere(spec) => problems.warn(
                WarningKind::Unsupported,
                origin.clone(),
                format!("`{}` is ignored: {}", spec.name, mapping.text),
            ),
            _ => {}
        }
    }
}

fn unsupported_everywhere(spec: &KeySpec) -> bool {
    spec.systemd.support == Support::Unsupported && spec.launchd.support == Support::Unsupported
}

/// Announces a key's conditional approximation with the table's own wording.
pub(super) fn announce_key(app: &App, target: &Target, key: &str, problems: &mut Problems) {
    let Some((spec, origin)) = app.keys_used.iter().find(|(s, _)| s.name == key) else {
        return;
    };
    let mapping = spec.mapping(target.backend);
    if let Support::Approximated(kind, _) = mapping.support {
        problems.warn(
            kind,
            origin.clone(),
            format!("`{}`: {}", spec.name, mapping.text),
        );
    }
}
