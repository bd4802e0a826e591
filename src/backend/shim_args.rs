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

/// The shim's memory limit (`--max-memory BYTES`), as the launchd backend enforces
/// `max_memory_restart` through it.
pub fn max_memory(options: &[String]) -> Option<u64> {
    options
        .windows(2)
        .find(|pair| pair[0] == opt::MAX_MEMORY)
        .and_then(|pair| binary_size(&pair[1]))
}

/// A byte count as unit files and the shim write it: digits, optionally followed by K, M, G or T
/// (powers of 1024, as systemd and PM2 read them). `infinity`, percentages and anything else are
/// not a limit in bytes.
pub fn binary_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let (digits, shift) = match text.as_bytes().last()? {
        b'K' => (&text[..text.len() - 1], 10),
        b'M' => (&text[..text.len() - 1], 20),
        b'G' => (&text[..text.len() - 1], 30),
        b'T' => (&text[..text.len() - 1], 40),
        _ => (text, 0),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u64>().ok()?.checked_mul(1u64 << shift)
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
        assert_eq!(max_memory(options), None);
        let plain = words(&["/usr/bin/node", "a.js"]);
        assert_eq!(split(&plain), (&[][..], &plain[..]));
    }

    #[test]
    fn memory_limits_in_bytes() {
        assert_eq!(binary_size("67108864"), Some(64 << 20));
        assert_eq!(binary_size("64M"), Some(64 << 20));
        assert_eq!(binary_size("2G"), Some(2 << 30));
        assert_eq!(binary_size("1T"), Some(1 << 40));
        assert_eq!(binary_size("infinity"), None);
        assert_eq!(binary_size("50%"), None);
        assert_eq!(binary_size("M"), None);
        let argv = words(&["rgen-shim", "--max-memory", "100M", "--", "node"]);
        assert_eq!(max_memory(split(&argv).0), Some(100 << 20));
    }
}
