//! Group `hardening`: rgen's own `hardening` key, `'default'` or `'strict'`. PM2 ignores keys it
//! does not know, so an ecosystem file can carry it and still run under PM2. Unset, the app gets
//! what `--hardening` says (see `plan/hardening.rs`).

use crate::model::Hardening;
use crate::model::fields::Fields;

pub(crate) fn read(f: &mut Fields<'_>) -> Option<Hardening> {
    match f.string("hardening")?.as_str() {
        "default" => Some(Hardening::Default),
        "strict" => Some(Hardening::Strict),
        other => {
            f.fail(
                "hardening",
                format!("`hardening` must be \"default\" or \"strict\", not {other:?}"),
                Some("\"strict\" sandboxes the app (README: Hardening); remove the key for the default".into()),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::diag::{Origin, Problems};
    use crate::load::{Format, resolve_keys};

    fn read_json(json: &str, format: Format) -> (Option<Hardening>, Problems) {
        let v: Value = serde_json::from_str(json).unwrap();
        let origin = Origin::file("/nonexistent/e.json");
        let mut problems = Problems::default();
        let app = resolve_keys(
            0,
            "apps[0]".into(),
            v.as_object().unwrap().clone(),
            format,
            &origin,
            &mut problems,
        );
        let mut f = Fields {
            raw: &app,
            origin,
            report: &mut problems,
        };
        let value = read(&mut f);
        (value, problems)
    }

    #[test]
    fn values() {
        for (json, want) in [
            (r#"{"hardening": "strict"}"#, Some(Hardening::Strict)),
            (r#"{"hardening": "default"}"#, Some(Hardening::Default)),
            (r#"{"hardening": null}"#, None),
            (r#"{}"#, None),
        ] {
            let (got, problems) = read_json(json, Format::Pm2Json);
            assert_eq!(got, want, "{json}");
            assert!(problems.errors.is_empty() && problems.warnings.is_empty());
        }
    }

    #[test]
    fn rgen_toml_knows_the_key() {
        let (got, problems) = read_json(r#"{"hardening": "strict"}"#, Format::RgenToml);
        assert_eq!(got, Some(Hardening::Strict));
        assert!(problems.errors.is_empty(), "{:?}", problems.errors);
    }

    #[test]
    fn anything_else_is_an_error_naming_the_key() {
        let (got, problems) = read_json(r#"{"hardening": "paranoid"}"#, Format::Pm2Json);
        assert_eq!(got, None);
        let e = &problems.errors[0];
        assert_eq!(e.origin.key.as_deref(), Some("apps[0].hardening"));
        assert!(e.message.contains("\"paranoid\""), "{}", e.message);
        assert!(e.hint.is_some());
        let (_, problems) = read_json(r#"{"hardening": true}"#, Format::Pm2Json);
        assert!(problems.errors[0].message.contains("must be a string"));
    }
}
