//! Reading a JSON object into domain values, collecting every problem with its field name.
//!
//! Serde's derive stops at the first error and cannot tell "absent" from "null"; a client
//! fixing a form wants every problem at once, and PATCH needs that distinction, so the
//! resources read their fields through [`Fields`].

use crate::{Patch, ValidationErrors};
use serde_json::{Map, Value};

/// Fields the server sets; writing them is refused with a message saying so.
pub const READ_ONLY: &[&str] = &["id", "version", "created_at", "updated_at"];

/// A reader over one JSON object that records a [`crate::FieldError`] per bad field.
pub struct Fields<'a> {
    obj: &'a Map<String, Value>,
    errors: ValidationErrors,
}

impl<'a> Fields<'a> {
    /// Starts reading `obj`; any key not in `known` is reported as unknown.
    pub fn new(obj: &'a Map<String, Value>, known: &[&str]) -> Self {
        let mut errors = ValidationErrors::default();
        for key in obj.keys() {
            if known.contains(&key.as_str()) {
                continue;
            }
            if READ_ONLY.contains(&key.as_str()) {
                errors.push(key, "is set by the server and cannot be written");
            } else {
                errors.push(key, format!("is not a known field; expected one of: {}", known.join(", ")));
            }
        }
        Self { obj, errors }
    }

    /// Records a problem found by cross-field checks.
    pub fn error(&mut self, field: &str, message: impl Into<String>) {
        self.errors.push(field, message);
    }

    /// A field that must be present and non-null.
    pub fn required<T>(&mut self, name: &str, parse: impl FnOnce(&Value) -> Result<T, String>) -> Option<T> {
        match self.obj.get(name) {
            None | Some(Value::Null) => {
                self.errors.push(name, "is required");
                None
            }
            Some(v) => self.run(name, v, parse),
        }
    }

    /// A field that may be absent or null (both give `None`).
    pub fn optional<T>(&mut self, name: &str, parse: impl FnOnce(&Value) -> Result<T, String>) -> Option<T> {
        match self.obj.get(name) {
            None | Some(Value::Null) => None,
            Some(v) => self.run(name, v, parse),
        }
    }

    /// A PATCH of a non-nullable field: absent keeps it, null is refused.
    pub fn patch<T>(&mut self, name: &str, parse: impl FnOnce(&Value) -> Result<T, String>) -> Patch<T> {
        match self.obj.get(name) {
            None => Patch::Keep,
            Some(Value::Null) => {
                self.errors.push(name, "cannot be null");
                Patch::Keep
            }
            Some(v) => self.run(name, v, parse).map_or(Patch::Keep, Patch::Set),
        }
    }

    /// A PATCH of a nullable field: absent keeps it, null clears it.
    pub fn patch_nullable<T>(
        &mut self,
        name: &str,
        parse: impl FnOnce(&Value) -> Result<T, String>,
    ) -> Patch<Option<T>> {
        match self.obj.get(name) {
            None => Patch::Keep,
            Some(Value::Null) => Patch::Set(None),
            Some(v) => self.run(name, v, parse).map_or(Patch::Keep, |x| Patch::Set(Some(x))),
        }
    }

    fn run<T>(&mut self, name: &str, v: &Value, parse: impl FnOnce(&Value) -> Result<T, String>) -> Option<T> {
        match parse(v) {
            Ok(x) => Some(x),
            Err(msg) => {
                self.errors.push(name, msg);
                None
            }
        }
    }

    /// The value when no problem was recorded.
    pub fn finish<T>(self, build: impl FnOnce() -> T) -> Result<T, ValidationErrors> {
        self.errors.into_result(build)
    }

    pub fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }
}

/// The JSON value as a string, or the message a client should see.
pub fn string(v: &Value) -> Result<&str, String> {
    v.as_str().ok_or_else(|| format!("must be a string, not {}", kind(v)))
}

/// A UUID given as a string.
pub fn uuid(v: &Value) -> Result<uuid::Uuid, String> {
    uuid::Uuid::parse_str(string(v)?).map_err(|_| "must be a UUID like 0192f0c1-7a3e-7cc5-9c3e-5f1f9a1b2c3d".into())
}

/// A whole number in `min..=max`.
pub fn int_in(v: &Value, min: i64, max: i64) -> Result<i64, String> {
    let n = v.as_i64().ok_or_else(|| format!("must be a whole number, not {}", kind(v)))?;
    if n < min || n > max {
        return Err(format!("must be between {min} and {max}"));
    }
    Ok(n)
}

/// A string parsed by one of the domain's `parse` constructors.
pub fn with<T>(parse: impl FnOnce(&str) -> Result<T, String>) -> impl FnOnce(&Value) -> Result<T, String> {
    move |v| parse(string(v)?)
}

/// How a JSON value is called in messages.
pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Builds a string enum with its wire names, parsing and serde in both directions.
#[macro_export]
macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $wire:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The name on the wire and in the database.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $wire),+ }
            }

            /// Parses the wire name; the error lists what is accepted.
            pub fn parse(raw: &str) -> Result<Self, String> {
                match raw {
                    $($wire => Ok($name::$variant),)+
                    _ => Err(format!("must be one of: {}", [$($wire),+].join(", "))),
                }
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                $name::parse(&s).map_err(serde::de::Error::custom)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn collects_every_problem() {
        let v = json!({"a": 1, "zzz": true, "id": "x", "c": null});
        let obj = v.as_object().unwrap();
        let mut f = Fields::new(obj, &["a", "b", "c"]);
        assert_eq!(f.required("a", |v| string(v).map(str::to_owned)), None);
        assert_eq!(f.required("b", |v| string(v).map(str::to_owned)), None);
        assert_eq!(f.patch("c", |v| int_in(v, 0, 1)), Patch::Keep);
        let errs = f.finish(|| ()).unwrap_err();
        let fields: Vec<_> = errs.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields.len(), 5);
        for name in ["a", "b", "c", "zzz", "id"] {
            assert!(fields.contains(&name), "{name} missing from {fields:?}");
        }
    }

    #[test]
    fn patch_tells_null_from_absent() {
        let v = json!({"x": null});
        let mut f = Fields::new(v.as_object().unwrap(), &["x", "y"]);
        assert_eq!(f.patch_nullable("x", |v| int_in(v, 0, 9)), Patch::Set(None));
        assert_eq!(f.patch_nullable("y", |v| int_in(v, 0, 9)), Patch::Keep);
        assert!(f.finish(|| ()).is_ok());
    }
}
