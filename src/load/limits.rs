//! Bounds on what an ecosystem file may cost to load, whatever its format.
//!
//! Real ecosystem files are a few kilobytes and nest four or five levels (`apps` → app → `env` →
//! value). The limits sit far above that and far below what hurts: a parser that recurses once
//! per level overflows the stack somewhere past a few thousand levels, and YAML aliases let a
//! few kilobytes expand to gigabytes ("billion laughs").
//!
//! Every parser builds its `serde_json::Value` through [`Bounded`], which counts levels, values
//! and string bytes as the document is built and stops the parser at the first one past its
//! limit: the parsers all recurse only when the value being built asks for the next element, so
//! the limit also bounds their stack.

use std::cell::Cell;
use std::fmt;
use std::rc::Rc;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Largest ecosystem file rgen reads, and the most output it takes from node.
pub const MAX_SOURCE_BYTES: u64 = 16 << 20;

/// Deepest nesting of lists and objects.
pub const MAX_DEPTH: usize = 64;

/// Most values (scalars, lists, objects) in one document, counted after YAML aliases expand.
pub const MAX_VALUES: usize = 1_000_000;

/// Most bytes of strings (values and keys) in one document, counted after YAML aliases expand.
/// Without aliases no document can reach it: a string is never longer than its source text.
pub const MAX_STRING_BYTES: usize = 2 * MAX_SOURCE_BYTES as usize;

/// Which limit a document went past.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exceeded {
    Depth,
    Values,
    StringBytes,
}

impl Exceeded {
    pub fn message(self) -> String {
        match self {
            Exceeded::Depth => format!("the document is nested more than {MAX_DEPTH} levels deep"),
            Exceeded::Values => format!(
                "the document holds more than {MAX_VALUES} values (counting each use of a YAML alias)"
            ),
            Exceeded::StringBytes => format!(
                "the document's strings add up to more than {} MiB (counting each use of a YAML alias)",
                MAX_STRING_BYTES >> 20
            ),
        }
    }

    pub fn hint(self) -> &'static str {
        match self {
            Exceeded::Depth => {
                "an ecosystem file nests a few levels (apps, an app, its env); look for unclosed brackets or generated data"
            }
            Exceeded::Values | Exceeded::StringBytes => {
                "an ecosystem file lists apps and their settings; if YAML aliases repeat a large block, write it out once"
            }
        }
    }
}

/// What a document has used so far.
#[derive(Default)]
struct Usage {
    depth: Cell<usize>,
    values: Cell<usize>,
    string_bytes: Cell<usize>,
    exceeded: Cell<Option<Exceeded>>,
}

impl Usage {
    fn fail<E: de::Error>(&self, what: Exceeded) -> E {
        self.exceeded.set(Some(what));
        E::custom(what.message())
    }

    fn value<E: de::Error>(&self) -> Result<(), E> {
        let n = self.values.get() + 1;
        self.values.set(n);
        if n > MAX_VALUES {
            return Err(self.fail(Exceeded::Values));
        }
        Ok(())
    }

    fn string<E: de::Error>(&self, len: usize) -> Result<(), E> {
        let n = self.string_bytes.get().saturating_add(len);
        self.string_bytes.set(n);
        if n > MAX_STRING_BYTES {
            return Err(self.fail(Exceeded::StringBytes));
        }
        Ok(())
    }

    fn enter<E: de::Error>(&self) -> Result<(), E> {
        let d = self.depth.get() + 1;
        if d > MAX_DEPTH {
            return Err(self.fail(Exceeded::Depth));
        }
        self.depth.set(d);
        Ok(())
    }

    fn leave(&self) {
        self.depth.set(self.depth.get() - 1);
    }
}

/// A document parsed within the limits, or why it was not.
#[derive(Debug)]
pub enum Parsed<E> {
    Ok(Value),
    /// The parser's own error (syntax, types).
    Invalid(E),
    /// The parser stopped because a limit was reached; its error carries the position.
    TooLarge(Exceeded, E),
}

/// Runs `parse` with a fresh budget; `parse` deserializes a [`Bounded`] seed.
pub fn parse<E>(parse: impl FnOnce(Bounded<'_>) -> Result<Value, E>) -> Parsed<E> {
    let usage = Usage::default();
    let result = parse(Bounded { usage: &usage });
    verdict(result, &usage)
}

/// [`parse`] for parsers that take a type rather than a seed (json5 has no way to check for
/// trailing input after a seed): `parse` deserializes an [`Ambient`], which finds the budget in
/// a thread-local.
pub fn parse_ambient<E>(parse: impl FnOnce() -> Result<Ambient, E>) -> Parsed<E> {
    let usage = Rc::new(Usage::default());
    let previous = ACTIVE.replace(Some(usage.clone()));
    let result = parse().map(|a| a.0);
    ACTIVE.set(previous);
    verdict(result, &usage)
}

fn verdict<E>(result: Result<Value, E>, usage: &Usage) -> Parsed<E> {
    match result {
        Ok(v) => Parsed::Ok(v),
        Err(e) => match usage.exceeded.get() {
            Some(what) => Parsed::TooLarge(what, e),
            None => Parsed::Invalid(e),
        },
    }
}

thread_local! {
    static ACTIVE: Cell<Option<Rc<Usage>>> = const { Cell::new(None) };
}

/// A value deserialized within the budget [`parse_ambient`] set for this thread.
pub struct Ambient(Value);

impl<'de> serde::Deserialize<'de> for Ambient {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let active = ACTIVE.take();
        // Outside `parse_ambient` (a caller's mistake) the value still gets a budget of its own.
        let usage = active.clone().unwrap_or_default();
        let result = Bounded { usage: &usage }.deserialize(deserializer);
        ACTIVE.set(active);
        result.map(Ambient)
    }
}

/// Builds a `serde_json::Value` exactly as `Value::deserialize` would, within the limits.
#[derive(Clone, Copy)]
pub struct Bounded<'u> {
    usage: &'u Usage,
}

impl<'de> DeserializeSeed<'de> for Bounded<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

/// A map key: a string, counted like one.
struct Key<'u> {
    usage: &'u Usage,
}

impl<'de> DeserializeSeed<'de> for Key<'_> {
    type Value = String;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<String, D::Error> {
        let key = String::deserialize(deserializer)?;
        self.usage.string(key.len())?;
        Ok(key)
    }
}

use serde::Deserialize as _;

impl<'de> Visitor<'de> for Bounded<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        self.usage.value()?;
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        self.usage.value()?;
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        self.usage.value()?;
        Ok(Value::Number(v.into()))
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Value, E> {
        self.usage.value()?;
        match Number::from_i128(v) {
            Some(n) => Ok(Value::Number(n)),
            None => Err(E::custom(format!("number {v} is out of range"))),
        }
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Value, E> {
        self.usage.value()?;
        match Number::from_u128(v) {
            Some(n) => Ok(Value::Number(n)),
            None => Err(E::custom(format!("number {v} is out of range"))),
        }
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        self.usage.value()?;
        // As serde_json does: NaN and the infinities have no JSON form.
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        self.usage.value()?;
        self.usage.string(v.len())?;
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        self.usage.value()?;
        self.usage.string(v.len())?;
        Ok(Value::String(v))
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        self.usage.value()?;
        Ok(Value::Null)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        self.usage.value()?;
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        self.deserialize(deserializer)
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Value, D::Error> {
        self.deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        self.usage.value()?;
        self.usage.enter()?;
        // Capacity grows with what was parsed, never with a size the input claims.
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self)? {
            items.push(item);
        }
        self.usage.leave();
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        self.usage.value()?;
        self.usage.enter()?;
        let mut out = Map::new();
        while let Some(key) = map.next_key_seed(Key { usage: self.usage })? {
            let value = map.next_value_seed(self)?;
            out.insert(key, value);
        }
        self.usage.leave();
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(text: &str) -> Parsed<serde_json::Error> {
        parse(|seed| {
            let mut de = serde_json::Deserializer::from_str(text);
            let v = seed.deserialize(&mut de)?;
            de.end()?;
            Ok(v)
        })
    }

    #[test]
    fn builds_what_serde_json_builds() {
        let text =
            r#"{"b": [1, -2, 3.5, true, null, "s"], "a": {"x": {}}, "b": 18446744073709551615}"#;
        let Parsed::Ok(v) = json(text) else {
            panic!("parses")
        };
        assert_eq!(v, serde_json::from_str::<Value>(text).unwrap());
        assert_eq!(
            v.as_object().unwrap().keys().collect::<Vec<_>>(),
            ["b", "a"],
            "order of first appearance, as serde_json's preserve_order keeps it"
        );
    }

    #[test]
    fn depth_is_limited() {
        let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(matches!(json(&ok), Parsed::Ok(_)));
        let json5 = |text: &str| parse_ambient(|| json5::from_str::<Ambient>(text));
        assert!(matches!(json5(&ok), Parsed::Ok(_)));
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert!(matches!(json(&deep), Parsed::TooLarge(Exceeded::Depth, _)));
        assert!(matches!(json5(&deep), Parsed::TooLarge(Exceeded::Depth, _)));
        // The stack json5 would overflow without the limit.
        let deeper = "[".repeat(100_000);
        assert!(matches!(
            json5(&deeper),
            Parsed::TooLarge(Exceeded::Depth, _)
        ));
        assert!(
            matches!(json5("[1] x"), Parsed::Invalid(_)),
            "trailing input"
        );
    }

    #[test]
    fn values_and_strings_are_limited() {
        let many = format!("[{}0]", "0,".repeat(MAX_VALUES));
        assert!(matches!(json(&many), Parsed::TooLarge(Exceeded::Values, _)));
        let syntax = json("[1,");
        assert!(matches!(syntax, Parsed::Invalid(_)));
    }
}
