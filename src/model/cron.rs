//! `cron_restart`: PM2 parses it with croner (JavaScript). rgen validates with croner's Rust port,
//! then expands each field to the exact set of values it matches and writes that set in the target's
//! own calendar language: systemd `OnCalendar=` lines or launchd `StartCalendarInterval` entries.

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
const SYSTEMD_WEEKDAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

pub fn parse(expr: &str) -> Result<CronSchedule, String> {
    let trimmed = expr.trim();
    let cron = croner::Cron::from_str(trimmed).map_err(|e| format!("croner rejects it: {e}"))?;
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

/// Writes a value set compactly: `*`, a step (`0/15`), or a list of values and `a..b` ranges.
fn systemd_values(set: &FieldSet, width: usize, min: u32, max: u32) -> String {
    let Some(set) = set else {
        return "*".to_string();
    };
    let values: Vec<u32> = set.iter().copied().collect();
    if values.len() > 2 {
        let step = values[1] - values[0];
        let progression = values.windows(2).all(|w| w[1] - w[0] == step);
        if progression
            && step > 1
            && values[0] < min + step
            && values.last().copied().unwrap_or(0) + step > max
        {
            return format!("{:0width$}/{step}", values[0]);
        }
    }
    let mut parts = Vec::new();
    let mut i = 0;
    while i < values.len() {
        let start = values[i];
        let mut end = start;
        while i + 1 < values.len() && values[i + 1] == end + 1 {
            i += 1;
            end = values[i];
        }
        if end > start + 1 {
            parts.push(format!("{start:0width$}..{end:0width$}"));
        } else if end == start + 1 {
            parts.push(format!("{start:0width$},{end:0width$}"));
        } else {
            parts.push(format!("{start:0width$}"));
        }
        i += 1;
    }
    parts.join(",")
}

impl CronSchedule {
    /// `OnCalendar=` values. When both the day of month and the weekday are restricted, cron
    /// matches either one (croner's default, like Vixie cron) but systemd would require both, so
    /// each becomes its own line: a timer fires when any of its `OnCalendar=` lines matches.
    pub fn on_calendar(&self) -> Vec<String> {
        let time = format!(
            "{}:{}:{}",
            systemd_values(&self.hours, 2, 0, 23),
            systemd_values(&self.minutes, 2, 0, 59),
            systemd_values(&Some(self.seconds.clone()), 2, 0, 59),
        );
        let months = systemd_values(&self.months, 2, 1, 12);
        let day_part = |days: &FieldSet, last: bool| {
            if last {
                format!("*-{months}~01")
            } else {
                format!("*-{months}-{}", systemd_values(days, 2, 1, 31))
            }
        };
        let weekday_part = |set: &BTreeSet<u32>| {
            set.iter()
                .map(|&d| SYSTEMD_WEEKDAYS[d as usize])
                .collect::<Vec<_>>()
                .join(",")
        };
        let day_restricted = self.days.is_some() || self.last_day;
        match (&self.weekdays, day_restricted) {
            (None, _) => vec![format!("{} {time}", day_part(&self.days, self.last_day))],
            (Some(w), false) => vec![format!(
                "{} {} {time}",
                weekday_part(w),
                day_part(&None, false)
            )],
            (Some(w), true) => vec![
                format!("{} {time}", day_part(&self.days, self.last_day)),
                format!("{} {} {time}", weekday_part(w), day_part(&None, false)),
            ],
        }
    }

    /// launchd `StartCalendarInterval` entries (each a dict of Minute/Hour/Day/Weekday/Month; a
    /// missing key matches anything). launchd has no seconds and no "last day of month"; both are
    /// reported by `launchd_limits`.
    pub fn launchd_intervals(&self) -> Vec<Vec<(&'static str, u32)>> {
        let mut out = Vec::new();
        let product = |fields: &[(&'static str, &FieldSet)]| {
            let mut combos: Vec<Vec<(&'static str, u32)>> = vec![Vec::new()];
            for (key, set) in fields {
                if let Some(values) = set {
                    combos = combos
                        .into_iter()
                        .flat_map(|c| {
                            values.iter().map(move |&v| {
                                let mut c = c.clone();
                                c.push((*key, v));
                                c
                            })
                        })
                        .collect();
                }
            }
            combos
        };
        let day_restricted = self.days.is_some();
        let base = [
            ("Month", &self.months),
            ("Hour", &self.hours),
            ("Minute", &self.minutes),
        ];
        if self.weekdays.is_none() || !day_restricted {
            let mut fields = vec![("Day", &self.days), ("Weekday", &self.weekdays)];
            fields.extend(base);
            out.extend(product(&fields));
        } else {
            let mut by_day = vec![("Day", &self.days)];
            by_day.extend(base);
            out.extend(product(&by_day));
            let mut by_weekday = vec![("Weekday", &self.weekdays)];
            by_weekday.extend(base);
            out.extend(product(&by_weekday));
        }
        out
    }

    /// What a launchd calendar cannot say about this schedule.
    pub fn launchd_limits(&self) -> Option<String> {
        if self.last_day {
            return Some("launchd cannot express the last day of the month".into());
        }
        if self.seconds.iter().any(|&s| s != 0) {
            return Some("launchd calendars have minute granularity; seconds are dropped".into());
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cal(expr: &str) -> Vec<String> {
        parse(expr).unwrap().on_calendar()
    }

    #[test]
    fn common_patterns() {
        assert_eq!(cal("0 3 * * *"), ["*-*-* 03:00:00"]);
        assert_eq!(cal("*/15 * * * *"), ["*-*-* *:00/15:00"]);
        assert_eq!(cal("0 0 * * 1-5"), ["Mon,Tue,Wed,Thu,Fri *-*-* 00:00:00"]);
        assert_eq!(cal("@daily"), ["*-*-* 00:00:00"]);
        assert_eq!(cal("30 2 1,15 * *"), ["*-*-01,15 02:30:00"]);
        assert_eq!(cal("0 0 L * *"), ["*-*~01 00:00:00"]);
        assert_eq!(cal("*/10 * * * * *"), ["*-*-* *:*:00/10"]);
        assert_eq!(cal("0 9-17 * JAN,jul SUN"), ["Sun *-01,07-* 09..17:00:00"]);
    }

    #[test]
    fn day_of_month_or_weekday_becomes_two_lines() {
        assert_eq!(cal("0 0 13 * 5"), ["*-*-13 00:00:00", "Fri *-*-* 00:00:00"]);
    }

    #[test]
    fn rejects_what_cannot_be_expressed() {
        assert!(parse("0 0 * * 5#2").is_err());
        assert!(parse("not a cron").is_err());
        assert!(parse("61 * * * *").is_err());
    }

    #[test]
    fn launchd_entries() {
        let s = parse("0 */6 * * *").unwrap();
        let e = s.launchd_intervals();
        assert_eq!(e.len(), 4);
        assert_eq!(e[1], vec![("Hour", 6), ("Minute", 0)]);
        assert!(s.launchd_limits().is_none());
    }
}
