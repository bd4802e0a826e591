//! Reading an installed command line that runs `rgen-shim`: its own options come before `--`,
//! the app's command after. Both backends' read-back use this one parser.

use std::path::Path;

use crate::apply::inventory::Stream;
use crate::shim_protocol::{BIN, END_OF_OPTIONS, opt};

pub fn is_shim(argv: &[String]) -> bool {
    argv.first()
        .is_some_and(|program| Path::new(program).file_name().is_some_and(|n| n == BIN))
}

/// `(the shim's options, the app's command)`; for a command that is not the shim, no options.
pub fn split(argv: &[String]) -> (&[String], &[String]) {
    if !is_shim(argv) {
        return (&[], argv);
    }
    match argv.iter().position(|w| w == END_OF_OPTIONS) {
        Some(end) => (&argv[1..end], &argv[end + 1..]),
        None => (&argv[1..], &[]),
    }
}

/// The log files the shim writes (`--stdout PATH`, `--stderr PATH`, `--combined PATH`).
pub fn log_files(options: &[String]) -> Vec<(String, Stream)> {
    options
        .windows(2)
        .filter_map(|pair| {
            let stream = match pair[0].as_str() {
                opt::STDOUT => Stream::Out,
                opt::STDERR => Stream::Err,
                opt::COMBINED => Stream::Both,
                _ => return None,
            };
            Some((pair[1].clone(), stream))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(w: &[&str]) -> Vec<String> {
        w.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn options_and_command() {
        let argv = words(&[
            "/usr/local/lib/rgen/rgen-shim",
            "--name",
            "api",
            "--stdout",
            "/l/out.log",
            "--",
            "node",
            "--stdout",
            "x",
        ]);
        let (options, app) = split(&argv);
        assert_eq!(app, words(&["node", "--stdout", "x"]));
        assert_eq!(
            log_files(options),
            [("/l/out.log".to_string(), Stream::Out)]
        );
        let plain = words(&["/usr/bin/node", "a.js"]);
        assert_eq!(split(&plain), (&[][..], &plain[..]));
    }
}
