//! `rgen logs`: like `pm2 logs`.

use anyhow::{Result, bail};

use crate::apply::inventory::Inventory;
use crate::apply::paths;
use crate::cli::LogsArgs;
use crate::observe::logs::{self, Source, Stream};
use crate::observe::status;

pub fn run(args: &LogsArgs) -> Result<i32> {
    let target = args.target.target();
    let dir = paths::manager_dir(&target);
    let inventory = Inventory::scan(&dir);
    let installed = status::installed_apps(&inventory);
    let selected = status::select(&installed, &args.apps)?;
    if selected.is_empty() {
        bail!("rgen has installed no apps in {}", dir.display());
    }
    let mut labelled = Vec::new();
    for app in &selected {
        for source in logs::sources(app) {
            let keep = match &source {
                Source::File { stream, .. } => match (args.out, args.err) {
                    (true, _) => *stream != Stream::Err,
                    (_, true) => *stream != Stream::Out,
                    _ => true,
                },
                Source::Journal { .. } => true,
            };
            if keep {
                labelled.push((app.name.clone(), source));
            }
        }
    }
    logs::show(target.scope, &labelled, args.lines, args.follow)?;
    Ok(0)
}
