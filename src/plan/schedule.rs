//! Scheduled and file-change restarts (group `schedule`): `cron_restart` and `watch`, as the model
//! resolved them (the watched directories are expanded there, where files are read).

use super::{CronPlan, WatchPlan};
use crate::model::App;

pub(super) fn plan(app: &App) -> (Option<CronPlan>, Option<WatchPlan>) {
    let cron = app.cron_restart.as_ref().map(|c| CronPlan {
        schedule: c.clone(),
    });
    let watch = app.watch.as_ref().map(|w| WatchPlan {
        dirs: w.dirs.clone(),
        ignore: w.ignore.clone(),
        delay_ms: w.delay_ms.unwrap_or(0),
    });
    (cron, watch)
}
