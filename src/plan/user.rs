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
        (Scope::System, Some(u)) => Some(as_unit_user(u)),
        (Scope::System, None) => match &target.invoking_user {
            Some(u) => Some(as_unit_user(u)),
            None => {
                problems
                    .error(
                        app.origin_of("uid"),
                        format!("who should `{}` run as? rgen was not run through sudo or doas, and the ecosystem file belongs to root", app.name),
                    )
                    .hint("set `uid: 'NAME'` on the app (`uid: 'root'` to run it as root), or pass `--run-as NAME` (or RGEN_RUN_AS); rgen never picks root by itself");
                None
            }
        },
    }
}

/// Root is the manager's own user: no `User=` line.
fn as_unit_user(user: &str) -> Option<String> {
    (user != "root" && user != "0").then(|| user.to_string())
}
