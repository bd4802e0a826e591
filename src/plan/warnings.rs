//! The key table's unconditional approximations, announced once per key the app sets. Keys whose
//! approximation depends on the value are announced by their own group's planner.

use crate::diag::Problems;
use crate::keys::{Support, When};
use crate::model::App;
use crate::target::Target;

pub(super) fn announce(app: &App, target: &Target, problems: &mut Problems) {
    for (spec, origin) in &app.keys_used {
        let mapping = spec.mapping(target.backend);
        if let Support::Approximated(kind, When::Always) = mapping.support {
            problems.warn(
                kind,
                origin.clone(),
                format!("`{}`: {}", spec.name, mapping.text),
            );
        }
    }
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
