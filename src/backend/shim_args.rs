//! Reading an installed command line that runs `rgen-shim`: its own options come before `--`,
//! the app's command after. Both backends' read-back use this one parser.

use std::path::Path;

use crate::apply::inventory::{LogRotation, Stream};
use crate::shim_protocol::{BIN, END_OF_OPTIONS, default, opt};

/// The shim's options that take no value; every other one takes the next word.
const FLAGS: &[&str] = &[
    opt::NO_TREEKILL,
    opt::SHUTDOWN_WITH_MESSAGE,
    opt::IPC,
    opt::WAIT_READY,
    opt::READY_ON_LISTEN,
    opt::NODE_PRELOAD,
    opt::LOG_COMPRESS,
    opt::AUTORESTART,
];

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

/// Each option with its value (`--opt value` or `--opt=value`); a flag has none.
fn options(words: &[String]) -> Vec<(&str, Option<&str>)> {
    let mut out = Vec::new();
    let mut it = words.iter();
    while let Some(word) = it.next() {
        if let Some((name, value)) = word.split_once('=').filter(|_| word.starts_with("--")) {
            out.push((name, Some(value)));
        } else if FLAGS.contains(&word.as_str()) {
            out.push((word.as_str(), None));
        } else {
            out.push((word.as_str(), it.next().map(String::as_str)));
        }
    }
    out
}

/// The log files the shim writes (`--stdout PATH`, `--stderr PATH`, `--combined PATH`).
pub fn log_files(shim_options: &[String]) -> Vec<(String, Stream)> {
    options(shim_options)
        .into_iter()
        .filter_map(|(name, value)| {
            let stream = match name {
                opt::STDOUT => Stream::Out,
                opt::STDERR => Stream::Err,
                opt::COMBINED => Stream::Both,
                _ => return None,
            };
            Some((value?.to_string(), stream))
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

/// How the shim rotates the files it writes; `None` when it does not (neither
/// `--log-max-size` nor `--log-rotate-interval`).
pub fn rotation(shim_options: &[String]) -> Option<LogRotation> {
    let mut r = LogRotation {
        max_size_bytes: None,
        retain: Some(default::LOG_RETAIN),
        compress: false,
        date_format: default::LOG_ROTATE_DATE_FORMAT.to_string(),
        interval: None,
        worker_interval_ms: default::LOG_WORKER_INTERVAL_MS,
    };
    for (name, value) in options(shim_options) {
        match (name, value) {
            (opt::LOG_MAX_SIZE, Some(v)) => r.max_size_bytes = size(v),
            (opt::LOG_RETAIN | opt::LOG_KEEP, Some("all")) => r.retain = None,
            (opt::LOG_RETAIN | opt::LOG_KEEP, Some(v)) => r.retain = v.parse().ok(),
            (opt::LOG_COMPRESS, _) => r.compress = true,
            (opt::LOG_ROTATE_DATE_FORMAT, Some(v)) => r.date_format = v.to_string(),
            (opt::LOG_ROTATE_INTERVAL, Some(v)) => r.interval = Some(v.to_string()),
            (opt::LOG_WORKER_INTERVAL, Some(v)) => {
                r.worker_interval_ms = v.parse().unwrap_or(r.worker_interval_ms);
            }
            _ => {}
        }
    }
    (r.max_size_bytes.is_some() || r.interval.is_some()).then_some(r)
}

/// `--log-max-size`: bytes, or K/M/G binary multiples (either case, as the shim reads them).
fn size(text: &str) -> Option<u64> {
    binary_size(&text.to_ascii_uppercase())
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
        assert_eq!(rotation(options), None);
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

    #[test]
    fn rotation_settings_read_back() {
        let options = words(&[
            "--name",
            "--stdout",
            "--stdout",
            "/l/--stderr.log",
            "--log-compress",
            "--log-max-size",
            "10M",
            "--log-retain=all",
            "--log-rotate-interval",
            "0 0 * * *",
            "--log-worker-interval",
            "5000",
        ]);
        // An app named `--stdout` is a value, not an option.
        assert_eq!(
            log_files(&options),
            [("/l/--stderr.log".to_string(), Stream::Out)]
        );
        assert_eq!(
            rotation(&options),
            Some(LogRotation {
                max_size_bytes: Some(10 << 20),
                retain: None,
                compress: true,
                date_format: default::LOG_ROTATE_DATE_FORMAT.to_string(),
                interval: Some("0 0 * * *".into()),
                worker_interval_ms: 5000,
            })
        );
        // Installed before `--log-retain`: launchd units said `--log-keep 5` and bytes.
        let old = words(&["--log-max-size", "10485760", "--log-keep", "5"]);
        let r = rotation(&old).expect("rotates");
        assert_eq!((r.max_size_bytes, r.retain), (Some(10 << 20), Some(5)));
    }
}
