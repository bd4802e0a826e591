//! What only the machine the apps will run on can tell about a plan, checked before `install`
//! (and by `check`): the users exist, every file a system unit executes can be changed only by
//! root or the app's own user, and log directories can be created without following anyone
//! else's symlinks or writing into another user's tree.

use std::path::Path;

use crate::apply::files::probe_dir;
use crate::apply::trust::check_only_writable_by;
use crate::apply::users::lookup_user;
use crate::diag::{BadInput, Problems, Warning};
use crate::plan::{Plan, ServiceSpec};
use crate::target::Scope;

pub fn check(plan: &Plan, warnings: &[Warning]) -> Result<(), BadInput> {
    if !plan.target.capabilities().runs_here {
        return Ok(());
    }
    let mut problems = Problems {
        warnings: warnings.to_vec(),
        ..Problems::default()
    };
    // A command line is whoever typed it: rgen's own user.
    let controller = if plan.target.scope == Scope::System
        && !crate::load::adhoc::is_command_line(&plan.source)
    {
        file_controller(&plan.source)
    } else {
        Controller::Root
    };
    for spec in &plan.services {
        check_identity(plan, spec, &controller, &mut problems);
        check_app(plan, spec, &mut problems);
    }
    problems.finish(()).map(|_| ())
}

/// Who besides root can change the ecosystem file, and so decide what its apps run and as whom.
pub(crate) enum Controller {
    Root,
    User(u32, String),
    /// Several users, a group or everyone.
    Many(String),
}

pub(crate) fn file_controller(file: &Path) -> Controller {
    use crate::apply::walk::Who;
    let writers = match crate::apply::trust::who_can_write(file) {
        Ok(w) => w,
        Err(e) => return Controller::Many(e.to_string()),
    };
    let mut users = std::collections::BTreeSet::new();
    for w in &writers {
        match w.who {
            Who::Owner(uid) => {
                users.insert(uid);
            }
            _ => return Controller::Many(w.to_string()),
        }
    }
    match users.len() {
        0 => Controller::Root,
        1 => {
            let uid = *users.iter().next().unwrap_or(&0);
            Controller::User(uid, crate::apply::walk::user_name(uid))
        }
        _ => Controller::Many(format!("{} users can change it", users.len())),
    }
}

/// An app may take only the identity of whoever controls its ecosystem file: a file a user can
/// change runs as that user, whatever its `uid` says, or the file's author would choose root.
fn check_identity(
    plan: &Plan,
    spec: &ServiceSpec,
    controller: &Controller,
    problems: &mut Problems,
) {
    let uid = match &spec.user {
        None => 0,
        Some(user) => match lookup_user(user) {
            Some((uid, _)) => uid,
            None => return,
        },
    };
    let who = spec.user.as_deref().unwrap_or("root");
    let file = plan.source.display();
    match controller {
        Controller::Root => {}
        Controller::User(owner, _) if *owner == uid => {}
        Controller::User(_, name) => {
            problems
                .error(
                    spec.origin_of("uid"),
                    format!("{} would run as `{who}`, but `{name}` can change {file}, and with it what runs", spec.app),
                )
                .hint(format!("an app of a file `{name}` controls runs as `{name}`; to run it as `{who}`, make the file root's (`sudo chown root:root {file} && sudo chmod go-w {file}`)"));
        }
        Controller::Many(why) => {
            problems
                .error(
                    spec.origin_of("uid"),
                    format!("{} would run as `{who}`, but {file} is not controlled by one user: {why}", spec.app),
                )
                .hint(format!("make the file (and its directory) writable only by its owner: `chmod go-w {file}`"));
        }
    }
}

fn check_app(plan: &Plan, spec: &ServiceSpec, problems: &mut Problems) {
    let uid = match &spec.user {
        None => 0,
        Some(user) => match lookup_user(user) {
            Some((uid, _)) => uid,
            None if plan.target.scope == Scope::System => {
                problems
                    .error(
                        spec.origin_of("uid"),
                        format!("there is no user `{user}` on this machine"),
                    )
                    .hint("create the user first (`useradd --system NAME`), or fix `uid`");
                return;
            }
            None => plan.target.uid,
        },
    };
    if plan.target.scope != Scope::System {
        // A user manager runs everything as its user, who owns what it runs.
        return;
    }
    let executables = spec
        .app_argv
        .first()
        .map(|p| ("exec_interpreter", p.as_str()))
        .into_iter()
        .chain(
            spec.app_argv
                .get(1)
                .filter(|p| Path::new(p).is_absolute() && Path::new(p).is_file())
                .map(|p| ("script", p.as_str())),
        );
    for (key, path) in executables {
        let path = Path::new(path);
        if !path.is_absolute() {
            continue;
        }
        if let Err(why) = check_only_writable_by(path, uid) {
            let key = if spec.app_argv.len() == 1 {
                "script"
            } else {
                key
            };
            let who = spec.user.as_deref().unwrap_or("root");
            let e = problems.error(
                spec.origin_of(key),
                format!("{} runs as `{who}`, but {why}", spec.app),
            );
            e.hint(why.hint().unwrap_or_else(|| {
                "keep what a system service runs where only root (or its own user) can change it"
                    .into()
            }));
        }
    }
    for (key, file) in &spec.logs.files {
        let Some(dir) = file.parent() else { continue };
        if let Err(why) = probe_dir(dir, (uid != 0).then_some(uid)) {
            let e = problems.error(
                spec.origin_of(key),
                format!(
                    "the log directory of {} is not safe to use: {why}",
                    spec.app
                ),
            );
            if let Some(hint) = why.hint() {
                e.hint(hint);
            }
        }
    }
}
