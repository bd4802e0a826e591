//! Who the app runs as (group `user`): the ecosystem's `uid`, else the user who installs
//! (system scope), else the user manager's own user (user scope).

use crate::diag::Problems;
use crate::model::App;
use crate::target::{Scope, Target};

/// `None` when the app is refused; `Some(None)` runs it as the manager's own user.
pub(super) fn run_as(
    app: &App,
    target: &Target,
    problems: &mut Problems,
) -> Option<Option<String>> {
    match (target.scope, &app.user) {
        (Scope::User, Some(u))
            if Some(u) != target.invoking_user.as_ref() && !target.is_current_user(u) =>
        {
            problems
                .error(
                    app.origin_of("uid"),
                    format!("`uid: {u}` needs a system-scope install"),
                )
                .hint("install with `--system` (as root), or drop `uid` to run as yourself");
            None
        }
        (Scope::User, _) => Some(None),
        (Scope::System, Some(u)) => Some(Some(u.clone())),
        (Scope::System, None) => Some(target.invoking_user.clone()),
    }
}
