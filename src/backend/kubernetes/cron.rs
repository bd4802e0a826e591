//! `cron_restart` as a CronJob `schedule`: the standard five fields (minute, hour, day of month,
//! month, day of week), each the exact set the model expanded, as a list. Kubernetes' parser has
//! no seconds and no `L`.

use crate::model::cron::{CronSchedule, FieldSet};

/// The schedule, or why Kubernetes cannot run it.
pub fn schedule(cron: &CronSchedule) -> Result<String, String> {
    if cron.last_day {
        return Err(
            "a Kubernetes CronJob cannot express the last day of the month (`L`)".to_string(),
        );
    }
    let field = |set: &FieldSet| match set {
        None => "*".to_string(),
        Some(values) => values
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(","),
    };
    Ok(format!(
        "{} {} {} {} {}",
        field(&cron.minutes),
        field(&cron.hours),
        field(&cron.days),
        field(&cron.months),
        field(&cron.weekdays)
    ))
}

/// What the schedule loses: PM2's seconds field.
pub fn limits(cron: &CronSchedule) -> Option<String> {
    (cron.seconds.iter().any(|&s| s != 0) || cron.seconds.len() > 1).then(|| {
        "`cron_restart`: a Kubernetes CronJob has minute granularity; the seconds are dropped"
            .to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::cron::parse;

    #[test]
    fn five_fields() {
        assert_eq!(schedule(&parse("0 3 * * *").unwrap()).unwrap(), "0 3 * * *");
        assert_eq!(
            schedule(&parse("*/15 9-10 * * MON").unwrap()).unwrap(),
            "0,15,30,45 9,10 * * 1"
        );
        assert!(limits(&parse("0 3 * * *").unwrap()).is_none());
        assert!(limits(&parse("30 0 3 * * *").unwrap()).is_some());
        assert!(schedule(&parse("0 0 L * *").unwrap()).is_err());
    }
}
