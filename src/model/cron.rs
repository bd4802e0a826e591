//! `cron_restart`: PM2 parses it with croner (JavaScript). rgen validates with croner's Rust port,
//! then expands each field to the exact set of values it matches; each backend writes that set in
//! its own calendar language (systemd `OnCalendar=`, launchd `StartCalendarInterval`).

use std::collections::BTreeSet;
use std::str::FromStr as _;

/// One cron field as the set of values it matches; `None` is "any".
pub type FieldSet = Option<BTreeSet<u32>>;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CronSchedule {
    pub expr: String,
    pub seconds: BTreeSet<u32>,
    pub minutes: FieldSet,
    pub hours: FieldSet,
    pub days: FieldSet,
    pub months: FieldSet,
    /// 0 = Sunday … 6 = Saturday.
    pub weekdays: FieldSet,
    /// Last day of the month (`L` in the day field).
    pub last_day: bool,
    pub description: String,
}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const WEEKDAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

pub fn parse(expr: &str) -> Result<CronSchedule, String> {
    let trimmed = expr.trim();
    let cron = croner::Cron::from_str(&with_open_steps_closed(trimmed))
        .map_err(|e| format!("croner rejects it: {e}"))?;
    let expanded = match trimmed.to_ascii_lowercase().as_str() {
        "@yearly" | "@annually" => "0 0 1 1 *".to_string(),
        "@monthly" => "0 0 1 * *".to_string(),
        "@weekly" => "0 0 * * 0".to_string(),
        "@daily" | "@midnight" => "0 0 * * *".to_string(),
        "@hourly" => "0 * * * *".to_string(),
        _ => trimmed.to_string(),
    };
    let fields: Vec<&str> = expanded.split_whitespace().collect();
    let (seconds, rest) = match fields.len() {
        5 => ("0", &fields[..]),
        6 => (fields[0], &fields[1..]),
        7 => {
            return Err("a year field cannot be expressed as a systemd or launchd calendar".into());
        }
        n => return Err(format!("expected 5 or 6 fields, found {n}")),
    };
    let seconds = field(seconds, 0, 59, &[])?.unwrap_or_else(|| (0..60).collect());
    let minutes = field(rest[0], 0, 59, &[])?;
    let hours = field(rest[1], 0, 23, &[])?;
    let (days, last_day) = if rest[2].eq_ignore_ascii_case("L") {
        (None, true)
    } else {
        (field(rest[2], 1, 31, &[])?, false)
    };
    let months = field(rest[3], 1, 12, &MONTHS)?;
    let weekdays =
        field(rest[4], 0, 7, &WEEKDAYS)?.map(|set| set.into_iter().map(|d| d % 7).collect());
    Ok(CronSchedule {
        expr: trimmed.to_string(),
        seconds,
        minutes,
        hours,
        days,
        months,
        weekdays,
        last_day,
        description: cron.describe(),
    })
}

/// croner (JavaScript, what PM2 uses) and Vixie cron read a step from a single value, `1/8`, as
/// `1-<max>/8`; croner's Rust port refuses it. Written out so the port accepts what PM2 accepts.
fn with_open_steps_closed(expr: &str) -> String {
    let fields: Vec<&str> = expr.split_whitespace().collect();
    let maxima: &[u32] = match fields.len() {
        5 => &[59, 23, 31, 12, 7],
        6 => &[59, 59, 23, 31, 12, 7],
        _ => return expr.to_string(),
    };
    fields
        .iter()
        .zip(maxima)
        .map(|(field, max)| {
            field
                .split(',')
                .map(|part| match part.split_once('/') {
                    Some((start, step)) if !start.contains('-') && start != "*" && start != "?" => {
                        format!("{start}-{max}/{step}")
                    }
                    _ => part.to_string(),
                })
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn field(text: &str, min: u32, max: u32, names: &[&str]) -> Result<FieldSet, String> {
    if text == "*" || text == "?" {
        return Ok(None);
    }
    let value = |s: &str| -> Result<u32, String> {
        if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(s)) {
            return Ok(i as u32 + if min == 1 { 1 } else { 0 });
        }
        let n: u32 = s.parse().map_err(|_| {
            format!(
                "`{s}` (only numbers, ranges, steps and lists can be expressed; L, W and # cannot)"
            )
        })?;
        if n < min || n > max {
            return Err(format!("{n} is outside {min}-{max}"));
        }
        Ok(n)
    };
    let mut set = BTreeSet::new();
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (r, s.parse::<u32>().map_err(|_| format!("bad step `{s}`"))?),
            None => (part, 1),
        };
        if step == 0 {
            return Err("a step of 0".into());
        }
        let (lo, hi) = if range == "*" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            (value(a)?, value(b)?)
        } else {
            let v = value(range)?;
            (v, if part.contains('/') { max } else { v })
        };
        let mut v = lo;
        while v <= hi {
            set.insert(v);
            v += step;
        }
    }
    let full = (min..=max).all(|v| set.contains(&v))
        || (max == 7 && (0..=6).all(|v| set.contains(&v) || set.contains(&(v + 7))));
    Ok(if full { None } else { Some(set) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_from_one_value_runs_to_the_end_of_the_field() {
        let c = parse("40 1/8 * * *").unwrap();
        assert_eq!(c.hours, Some([1, 9, 17].into_iter().collect()));
        assert_eq!(c.minutes, Some([40].into_iter().collect()));
        let c = parse("0 5/20 * * * *").unwrap();
        assert_eq!(c.minutes, Some([5, 25, 45].into_iter().collect()));
        assert!(parse("0 0 * * 1/2").is_ok());
    }

    #[test]
    fn rejects_what_cannot_be_expressed() {
        assert!(parse("0 0 * * 5#2").is_err());
        assert!(parse("not a cron").is_err());
        assert!(parse("61 * * * *").is_err());
    }
}
