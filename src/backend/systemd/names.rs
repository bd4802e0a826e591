//! Every unit name rgen uses, in one place: the app's service (or template and its instances),
//! its socket, the timer and path units that restart it, and the group target. Nothing else in
//! rgen builds a unit name or handles `@`.

/// `rgen-<group>.target`: groups an ecosystem's apps so they start at boot together.
pub fn group_target(group: &str) -> String {
    format!("rgen-{group}.target")
}

/// The service file of an app: `name@.service` (a template) for several instances.
pub fn service_file(unit: &str, templated: bool) -> String {
    if templated {
        format!("{unit}@.service")
    } else {
        format!("{unit}.service")
    }
}

/// One instance of a template.
pub fn instance(unit: &str, i: u32) -> String {
    format!("{unit}@{i}.service")
}

/// The units that run for a service file: its instances, or the service itself.
pub fn runtime_services(file: &str, instances: Option<u32>) -> Vec<String> {
    match file.strip_suffix("@.service") {
        Some(unit) => (0..instances.unwrap_or(1))
            .map(|i| instance(unit, i))
            .collect(),
        None => vec![file.to_string()],
    }
}

/// A pattern matching every instance of an app's template (`ListUnitsByPatterns`).
pub fn instance_pattern(template_file: &str) -> Option<String> {
    template_file
        .strip_suffix("@.service")
        .map(|unit| format!("{unit}@*.service"))
}

/// The app's unit name of a template file: `web@.service` → `web`.
pub fn unit_of_template(template_file: &str) -> Option<&str> {
    template_file.strip_suffix("@.service")
}

/// What `systemctl restart` is given to restart every instance of an app.
pub fn restart_target(unit: &str, templated: bool) -> String {
    if templated {
        format!("{unit}@*.service")
    } else {
        format!("{unit}.service")
    }
}

/// The service file a runtime unit comes from: `x@2.service` → `x@.service`.
pub fn file_of(runtime: &str) -> String {
    match runtime.split_once('@') {
        Some((unit, rest)) if rest.ends_with(".service") => format!("{unit}@.service"),
        _ => runtime.to_string(),
    }
}

/// The template a runtime unit is an instance of (`x@2.service` → `x`); `None` for a plain unit.
pub fn template_of(runtime: &str) -> Option<&str> {
    runtime.split_once('@').map(|(template, _)| template)
}

/// A name escaped as systemd escapes one part of a unit name (`unit_name_escape`): `-` and
/// anything but letters, digits, `:`, `_` and a `.` that does not lead become `\xNN`, and `/`
/// becomes `-`. An instance's slice is named so: `my-api@1` runs in `system-my\x2dapi.slice`.
pub fn escape(part: &str) -> String {
    let mut out = String::with_capacity(part.len());
    for (i, b) in part.bytes().enumerate() {
        match b {
            b'/' => out.push('-'),
            b'.' if i > 0 => out.push('.'),
            b if b.is_ascii_alphanumeric() || b == b':' || b == b'_' => out.push(b as char),
            b => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out
}

/// The instance number of a runtime unit (`x@2.service` → 2).
pub fn instance_number(runtime: &str) -> Option<u32> {
    runtime
        .split_once('@')
        .and_then(|(_, rest)| rest.strip_suffix(".service"))
        .and_then(|n| n.parse().ok())
}

/// A unit systemd would load for a rendered file name: templates are loaded through an
/// instance.
pub fn loadable(file: &str) -> String {
    match file.strip_suffix("@.service") {
        Some(unit) => instance(unit, 0),
        None => file.to_string(),
    }
}

/// The app's environment file, beside its unit.
pub fn env_file(unit: &str) -> String {
    format!("{unit}.env")
}

pub fn socket(unit: &str) -> String {
    format!("{unit}.socket")
}

pub fn cron_timer(unit: &str) -> String {
    format!("{unit}-cron-restart.timer")
}

pub fn cron_service(unit: &str) -> String {
    format!("{unit}-cron-restart.service")
}

pub fn watch_path(unit: &str) -> String {
    format!("{unit}-watch.path")
}

pub fn watch_service(unit: &str) -> String {
    format!("{unit}-watch.service")
}

/// Every file name an app with this unit name may install, for collision checks.
pub fn all_files_of(unit: &str) -> [String; 7] {
    [
        service_file(unit, false),
        service_file(unit, true),
        socket(unit),
        cron_timer(unit),
        cron_service(unit),
        watch_path(unit),
        watch_service(unit),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instances_and_templates_round_trip() {
        assert_eq!(
            runtime_services("web@.service", Some(2)),
            ["web@0.service", "web@1.service"]
        );
        assert_eq!(runtime_services("web.service", None), ["web.service"]);
        assert_eq!(file_of("web@1.service"), "web@.service");
        assert_eq!(file_of("web.service"), "web.service");
        assert_eq!(instance_number("web@12.service"), Some(12));
        assert_eq!(loadable("web@.service"), "web@0.service");
        assert_eq!(
            instance_pattern("web@.service").as_deref(),
            Some("web@*.service")
        );
    }
}
