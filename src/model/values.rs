//! PM2's value grammars, reproduced exactly (`lib/tools/Config.js`): sizes, durations, shell-like
//! argument strings, signals.

/// `max_memory_restart`: a number of bytes, or a string matching `^\d+(G|M|K)?$` — integers only,
/// upper-case suffix only, binary multiples. PM2 rejects `1.5G`, `300MB` and `300m`.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let (digits, multiplier) = match text.as_bytes().last() {
        Some(b'K') => (&text[..text.len() - 1], 1u64 << 10),
        Some(b'M') => (&text[..text.len() - 1], 1u64 << 20),
        Some(b'G') => (&text[..text.len() - 1], 1u64 << 30),
        _ => (text, 1),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(size_hint(text));
    }
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(multiplier))
        .ok_or_else(|| format!("{text:?} is too large"))
}

fn size_hint(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let suggestion = if let Some(num) = lower.strip_suffix("gb").or_else(|| lower.strip_suffix('g'))
    {
        suggest_whole(num, 'G', 'M')
    } else if let Some(num) = lower.strip_suffix("mb").or_else(|| lower.strip_suffix('m')) {
        suggest_whole(num, 'M', 'K')
    } else if let Some(num) = lower.strip_suffix("kb").or_else(|| lower.strip_suffix('k')) {
        suggest_whole(num, 'K', ' ')
    } else {
        None
    };
    match suggestion {
        Some(s) => format!("PM2 accepts only ^\\d+(G|M|K)?$ (whole numbers, upper-case K, M or G); write \"{s}\""),
        None => "PM2 accepts only ^\\d+(G|M|K)?$: bytes, or a whole number followed by K, M or G (binary: 1G = 1024M)".to_string(),
    }
}

fn suggest_whole(num: &str, unit: char, smaller: char) -> Option<String> {
    let value: f64 = num.trim().parse().ok()?;
    if value.fract() == 0.0 {
        return Some(format!("{}{unit}", value as u64));
    }
    if smaller == ' ' {
        return None;
    }
    Some(format!("{}{smaller}", (value * 1024.0).round() as u64))
}

/// `min_uptime`: milliseconds, or a string matching `^\d+(h|m|s)?$`.
pub fn parse_duration_ms(text: &str) -> Result<u64, String> {
    let (digits, multiplier) = match text.as_bytes().last() {
        Some(b'h') => (&text[..text.len() - 1], 3_600_000),
        Some(b'm') => (&text[..text.len() - 1], 60_000),
        Some(b's') => (&text[..text.len() - 1], 1_000),
        _ => (text, 1),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(
            "PM2 accepts only ^\\d+(h|m|s)?$: milliseconds, or a whole number followed by h, m or s".into(),
        );
    }
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(multiplier))
        .ok_or_else(|| format!("{text:?} is too large"))
}

/// Splits an `args` string the way PM2 does: `k="v w"` and `k='v w'` stay one word, quoted words
/// lose their quotes, everything else splits on whitespace.
pub fn split_args(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut words = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_whitespace() {
            i += 1;
            continue;
        }
        // key="value with spaces" / key='value with spaces' (PM2 keeps the quotes inside the word)
        if let Some(end) = assignment_end(&chars, i) {
            words.push(chars[i..end].iter().collect());
            i = end;
            continue;
        }
        let c = chars[i];
        if (c == '"' || c == '\'')
            && let Some(close) = chars[i + 1..].iter().position(|&x| x == c)
        {
            let word: String = chars[i + 1..i + 1 + close].iter().collect();
            i += close + 2;
            if !word.trim().is_empty() {
                words.push(word);
            }
            continue;
        }
        let start = i;
        while i < chars.len() && !chars[i].is_whitespace() {
            i += 1;
        }
        words.push(chars[start..i].iter().collect());
    }
    words
}

fn assignment_end(chars: &[char], start: usize) -> Option<usize> {
    let mut i = start;
    while i < chars.len() && !chars[i].is_whitespace() && !matches!(chars[i], '"' | '\'' | '=') {
        i += 1;
    }
    if i == start || i + 1 >= chars.len() || chars[i] != '=' {
        return None;
    }
    let quote = chars[i + 1];
    if quote != '"' && quote != '\'' {
        return None;
    }
    let close = chars[i + 2..].iter().position(|&c| c == quote)?;
    Some(i + 2 + close + 1)
}

/// Signal names as systemd and kill(1) spell them; numbers are accepted too.
pub fn normalize_signal(text: &str) -> Option<String> {
    const NAMES: &[(&str, i32)] = &[
        ("SIGHUP", 1),
        ("SIGINT", 2),
        ("SIGQUIT", 3),
        ("SIGKILL", 9),
        ("SIGUSR1", 10),
        ("SIGUSR2", 12),
        ("SIGTERM", 15),
        ("SIGCONT", 18),
        ("SIGWINCH", 28),
    ];
    let upper = text.trim().to_ascii_uppercase();
    if let Ok(n) = upper.parse::<i32>() {
        return NAMES
            .iter()
            .find(|(_, num)| *num == n)
            .map(|(name, _)| name.to_string());
    }
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    NAMES.iter().any(|(n, _)| *n == name).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_follow_pm2() {
        assert_eq!(parse_size("2G"), Ok(2 * 1024 * 1024 * 1024));
        assert_eq!(parse_size("300M"), Ok(314_572_800));
        assert_eq!(parse_size("1G"), Ok(1_073_741_824));
        assert_eq!(parse_size("512K"), Ok(524_288));
        assert_eq!(parse_size("1024"), Ok(1024));
        for bad in ["1.5G", "300MB", "300m", "G", "", "-1", "2 G"] {
            assert!(parse_size(bad).is_err(), "{bad} should be rejected");
        }
        assert!(parse_size("1.5G").unwrap_err().contains("\"1536M\""));
        assert!(parse_size("300MB").unwrap_err().contains("\"300M\""));
    }

    #[test]
    fn durations_follow_pm2() {
        assert_eq!(parse_duration_ms("10s"), Ok(10_000));
        assert_eq!(parse_duration_ms("2m"), Ok(120_000));
        assert_eq!(parse_duration_ms("1h"), Ok(3_600_000));
        assert_eq!(parse_duration_ms("1500"), Ok(1500));
        assert!(parse_duration_ms("1.5s").is_err());
        assert!(parse_duration_ms("10S").is_err());
    }

    #[test]
    fn args_split_like_pm2() {
        assert_eq!(
            split_args("backend.main:app --host 0.0.0.0 --port 8000"),
            ["backend.main:app", "--host", "0.0.0.0", "--port", "8000"]
        );
        assert_eq!(
            split_args(r#"--name "a b" 'c d'"#),
            ["--name", "a b", "c d"]
        );
        assert_eq!(split_args(r#"--opt="x y" z"#), [r#"--opt="x y""#, "z"]);
        assert_eq!(split_args("  "), Vec::<String>::new());
    }

    #[test]
    fn signals() {
        assert_eq!(normalize_signal("SIGINT").as_deref(), Some("SIGINT"));
        assert_eq!(normalize_signal("term").as_deref(), Some("SIGTERM"));
        assert_eq!(normalize_signal("9").as_deref(), Some("SIGKILL"));
        assert_eq!(normalize_signal("SIGFOO"), None);
    }
}
