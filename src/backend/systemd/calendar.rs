//! `cron_restart` as systemd `OnCalendar=` lines.

use std::collections::BTreeSet;

use crate::model::cron::{CronSchedule, FieldSet};

const SYSTEMD_WEEKDAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

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

/// `OnCalendar=` values. When both the day of month and the weekday are restricted, cron
/// matches either one (croner's default, like Vixie cron) but systemd would require both, so
/// each becomes its own line: a timer fires when any of its `OnCalendar=` lines matches.
pub fn on_calendar(cron: &CronSchedule) -> Vec<String> {
    let time = format!(
        "{}:{}:{}",
        systemd_values(&cron.hours, 2, 0, 23),
        systemd_values(&cron.minutes, 2, 0, 59),
        systemd_values(&Some(cron.seconds.clone()), 2, 0, 59),
    );
    let months = systemd_values(&cron.months, 2, 1, 12);
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
    let day_restricted = cron.days.is_some() || cron.last_day;
    match (&cron.weekdays, day_restricted) {
        (None, _) => vec![format!("{} {time}", day_part(&cron.days, cron.last_day))],
        (Some(w), false) => vec![format!(
            "{} {} {time}",
            weekday_part(w),
            day_part(&None, false)
        )],
        (Some(w), true) => vec![
            format!("{} {time}", day_part(&cron.days, cron.last_day)),
            format!("{} {} {time}", weekday_part(w), day_part(&None, false)),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::cron::parse;

    fn cal(expr: &str) -> Vec<String> {
        on_calendar(&parse(expr).unwrap())
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
}
