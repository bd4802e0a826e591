//! `cron_restart` as launchd `StartCalendarInterval` entries.

use crate::model::cron::{CronSchedule, FieldSet};

/// launchd `StartCalendarInterval` entries (each a dict of Minute/Hour/Day/Weekday/Month; a
/// missing key matches anything). launchd has no seconds and no "last day of month"; both are
/// reported by `launchd_limits`.
pub fn intervals(cron: &CronSchedule) -> Vec<Vec<(&'static str, u32)>> {
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
    let day_restricted = cron.days.is_some();
    let base = [
        ("Month", &cron.months),
        ("Hour", &cron.hours),
        ("Minute", &cron.minutes),
    ];
    if cron.weekdays.is_none() || !day_restricted {
        let mut fields = vec![("Day", &cron.days), ("Weekday", &cron.weekdays)];
        fields.extend(base);
        out.extend(product(&fields));
    } else {
        let mut by_day = vec![("Day", &cron.days)];
        by_day.extend(base);
        out.extend(product(&by_day));
        let mut by_weekday = vec![("Weekday", &cron.weekdays)];
        by_weekday.extend(base);
        out.extend(product(&by_weekday));
    }
    out
}

/// What a launchd calendar cannot say about this schedule.
pub fn limits(cron: &CronSchedule) -> Option<String> {
    if cron.last_day {
        return Some("launchd cannot express the last day of the month".into());
    }
    if cron.seconds.iter().any(|&s| s != 0) {
        return Some("launchd calendars have minute granularity; seconds are dropped".into());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::cron::parse;

    #[test]
    fn launchd_entries() {
        let s = parse("0 */6 * * *").unwrap();
        let e = intervals(&s);
        assert_eq!(e.len(), 4);
        assert_eq!(e[1], vec![("Hour", 6), ("Minute", 0)]);
        assert!(limits(&s).is_none());
    }
}
