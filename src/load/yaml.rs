//! YAML, through serde_norway, after a first pass over libyaml's events that enforces the
//! nesting and size limits while parsing.
//!
//! serde_norway collects every event of a document before building anything, so its own depth
//! check and rgen's [`Bounded`](super::limits::Bounded) both come too late for two costs that
//! arise while parsing: libyaml's scanner revisits every open flow collection (`[`, `{`) for each
//! token, which makes deep flow nesting quadratic (200 kB of `{a: ` took minutes), and the event
//! list itself grows with the document. The first pass walks the same events one at a time and
//! stops at the first node nested too deep or past the value limit, before serde_norway starts.
//! Alias expansion is bounded later, as the value is built.

use std::mem::MaybeUninit;

use unsafe_libyaml_norway as unsafe_yaml;

use serde_json::{Map, Value};

use super::limits::{Exceeded, MAX_DEPTH, MAX_VALUES};

/// The YAML 1.1 merge key, which PM2's YAML reader (js-yaml) applies: `<<: *defaults` or
/// `<<: [*a, *b]` copies in each key the mapping does not set itself, the first mapping of a
/// list winning over the later ones.
const MERGE_KEY: &str = "<<";

/// Applies every merge key in the document, in place. The merged mappings are moved, not
/// copied, so a document stays within the limits it was parsed under. A quoted `"<<"` is merged
/// too: serde_norway does not tell it from the plain one.
pub fn apply_merge_keys(value: &mut Value) -> Result<(), String> {
    merge_at(value, &mut String::new())
}

fn merge_at(value: &mut Value, path: &mut String) -> Result<(), String> {
    match value {
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                merge_at(item, path)?;
                path.truncate(len);
            }
        }
        Value::Object(map) => {
            for (key, item) in map.iter_mut() {
                let len = path.len();
                path.push_str(&if path.is_empty() {
                    key.clone()
                } else {
                    format!(".{key}")
                });
                merge_at(item, path)?;
                path.truncate(len);
            }
            if let Some(merged) = map.shift_remove(MERGE_KEY) {
                let sources = match merged {
                    Value::Object(source) => vec![source],
                    Value::Array(list) => list
                        .into_iter()
                        .map(|v| match v {
                            Value::Object(source) => Ok(source),
                            _ => Err(()),
                        })
                        .collect::<Result<Vec<Map<String, Value>>, ()>>()
                        .map_err(|()| not_mergeable(path))?,
                    _ => return Err(not_mergeable(path)),
                };
                for source in sources {
                    for (key, item) in source {
                        map.entry(key).or_insert(item);
                    }
                }
            }
        }
        _ => {}
    }
    Ok(())
}

fn not_mergeable(path: &str) -> String {
    let at = if path.is_empty() {
        "at the top level".to_string()
    } else {
        format!("in `{path}`")
    };
    format!(
        "the YAML merge key `<<` {at} must be given a mapping or a list of mappings (as `<<: *defaults`)"
    )
}

/// Where a document first goes past a limit, as 1-based line and column.
#[derive(Debug, PartialEq, Eq)]
pub struct Breach {
    pub exceeded: Exceeded,
    pub line: u64,
    pub column: u64,
}

/// Checks the limits libyaml's parse itself must respect. Syntax errors are not reported here:
/// the pass simply ends, and serde_norway reports them with its own messages.
pub fn check_events(text: &str) -> Result<(), Breach> {
    let mut parser = MaybeUninit::<unsafe_yaml::yaml_parser_t>::uninit();
    let parser = parser.as_mut_ptr();
    // SAFETY: the parser is initialised before use, not moved while alive, and deleted on every
    // path; the input outlives it; each event is deleted right after its type and mark are read.
    unsafe {
        if unsafe_yaml::yaml_parser_initialize(parser).fail {
            return Ok(());
        }
        unsafe_yaml::yaml_parser_set_encoding(parser, unsafe_yaml::YAML_UTF8_ENCODING);
        unsafe_yaml::yaml_parser_set_input_string(parser, text.as_ptr(), text.len() as u64);
        let mut depth = 0usize;
        let mut nodes = 0usize;
        let verdict = loop {
            let mut event = MaybeUninit::<unsafe_yaml::yaml_event_t>::uninit();
            if unsafe_yaml::yaml_parser_parse(parser, event.as_mut_ptr()).fail {
                break Ok(());
            }
            let event = event.as_mut_ptr();
            let kind = (*event).type_;
            let mark = (*event).start_mark;
            unsafe_yaml::yaml_event_delete(event);
            let breach = |exceeded| Breach {
                exceeded,
                line: mark.line + 1,
                column: mark.column + 1,
            };
            match kind {
                unsafe_yaml::YAML_STREAM_END_EVENT => break Ok(()),
                unsafe_yaml::YAML_SEQUENCE_START_EVENT | unsafe_yaml::YAML_MAPPING_START_EVENT => {
                    nodes += 1;
                    depth += 1;
                    if depth > MAX_DEPTH {
                        break Err(breach(Exceeded::Depth));
                    }
                }
                unsafe_yaml::YAML_SEQUENCE_END_EVENT | unsafe_yaml::YAML_MAPPING_END_EVENT => {
                    depth = depth.saturating_sub(1);
                }
                unsafe_yaml::YAML_SCALAR_EVENT | unsafe_yaml::YAML_ALIAS_EVENT => nodes += 1,
                _ => {}
            }
            if nodes > MAX_VALUES {
                break Err(breach(Exceeded::Values));
            }
        };
        unsafe_yaml::yaml_parser_delete(parser);
        verdict
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flow_and_block_nesting_are_both_counted() {
        assert_eq!(
            check_events("apps:\n  - name: a\n    env: {A: [1, 2]}\n"),
            Ok(())
        );
        let flow = "[".repeat(MAX_DEPTH + 1);
        assert_eq!(
            check_events(&flow),
            Err(Breach {
                exceeded: Exceeded::Depth,
                line: 1,
                column: MAX_DEPTH as u64 + 1
            })
        );
        let block: String = (0..=MAX_DEPTH)
            .map(|i| format!("{}a:\n", " ".repeat(i)))
            .collect();
        assert_eq!(
            check_events(&block).map_err(|b| (b.exceeded, b.line)),
            Err((Exceeded::Depth, MAX_DEPTH as u64 + 1))
        );
    }

    #[test]
    fn merge_keys_fill_in_what_a_mapping_does_not_set() {
        let mut doc = serde_json::json!({
            "base": {"max_memory_restart": "100M", "instances": 2},
            "apps": [{"name": "a", "instances": 4, "<<": {"max_memory_restart": "100M", "instances": 2}},
                     {"name": "b", "<<": [{"cwd": "/srv/b"}, {"cwd": "/srv/other", "watch": true}]}]
        });
        apply_merge_keys(&mut doc).unwrap();
        assert_eq!(
            doc["apps"][0],
            serde_json::json!({"name": "a", "instances": 4, "max_memory_restart": "100M"})
        );
        assert_eq!(
            doc["apps"][1],
            serde_json::json!({"name": "b", "cwd": "/srv/b", "watch": true})
        );
        let mut bad = serde_json::json!({"apps": [{"name": "a", "<<": "text"}]});
        let e = apply_merge_keys(&mut bad).unwrap_err();
        assert!(e.contains("`apps[0]`"), "{e}");
    }

    #[test]
    fn syntax_errors_are_left_to_serde_norway() {
        assert_eq!(check_events("a: [1,\n"), Ok(()));
        assert_eq!(check_events(""), Ok(()));
    }

    #[test]
    fn deep_flow_nesting_is_stopped_early() {
        // Quadratic in libyaml if parsed to the end: this took minutes.
        let text = "{a: ".repeat(200_000);
        assert!(check_events(&text).is_err());
    }
}
