//! Column types both SQL backends decode faster than sqlx's own, for the two columns a
//! page of rows spends most on.
//!
//! - [`Stamp`]: PostgreSQL sends a `timestamptz` as microseconds since 2000-01-01; sqlx
//!   builds the epoch as a `NaiveDateTime` on every call and adds a `Duration` to it (two
//!   or three values a row). Here it is one addition and chrono's `from_timestamp_micros`.
//! - [`StoredTags`]: a JSON array of tags went through serde_json, a parser's whole
//!   machinery for a few short strings. Tags are letters, digits, `-` and `_` ([`Tag::parse`]), so the
//!   stored text is the plain form `["a", "b"]` (PostgreSQL's `jsonb` output) or
//!   `["a","b"]` (SQLite keeps what was written): that form is split by its quotes here;
//!   anything else (an escape, other spacing) goes to serde_json as before.
//!
//! Everything else (the text format, SQLite's timestamps) is sqlx's own decoding, and the
//! SQL types accepted are exactly those of the types these stand for.

use chrono::{DateTime, Utc};
use muster_domain::volunteer::Tag;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgTypeInfo, PgValueFormat, PgValueRef, Postgres};
use sqlx::sqlite::{Sqlite, SqliteTypeInfo, SqliteValueRef};
use sqlx::types::Json;
use sqlx::{Decode, Type, ValueRef};

/// `Type` for `$ty` in both drivers: the SQL types of `$stands_for`, which it decodes
/// as (sqlx's own check of a column against a field uses these).
macro_rules! same_sql_type {
    ($ty:ty, $stands_for:ty) => {
        impl Type<Postgres> for $ty {
            fn type_info() -> PgTypeInfo {
                <$stands_for as Type<Postgres>>::type_info()
            }
            fn compatible(ty: &PgTypeInfo) -> bool {
                <$stands_for as Type<Postgres>>::compatible(ty)
            }
        }

        impl Type<Sqlite> for $ty {
            fn type_info() -> SqliteTypeInfo {
                <$stands_for as Type<Sqlite>>::type_info()
            }
            fn compatible(ty: &SqliteTypeInfo) -> bool {
                <$stands_for as Type<Sqlite>>::compatible(ty)
            }
        }
    };
}

same_sql_type!(Stamp, DateTime<Utc>);
same_sql_type!(StoredTags, Json<Vec<Tag>>);

/// A `timestamptz` (PostgreSQL) or timestamp text (SQLite), as `DateTime<Utc>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp(pub DateTime<Utc>);

/// 2000-01-01T00:00:00Z, PostgreSQL's epoch, in microseconds since the Unix epoch.
const POSTGRES_EPOCH_MICROS: i64 = 946_684_800_000_000;

impl<'r> Decode<'r, Postgres> for Stamp {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        if value.format() == PgValueFormat::Binary {
            let bytes: [u8; 8] = value.as_bytes()?.try_into().map_err(|_| "a timestamptz is 8 bytes")?;
            let micros = i64::from_be_bytes(bytes)
                .checked_add(POSTGRES_EPOCH_MICROS)
                .and_then(DateTime::from_timestamp_micros)
                .ok_or("timestamptz out of range")?;
            return Ok(Stamp(micros));
        }
        <DateTime<Utc> as Decode<Postgres>>::decode(value).map(Stamp)
    }
}

impl<'r> Decode<'r, Sqlite> for Stamp {
    fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
        <DateTime<Utc> as Decode<Sqlite>>::decode(value).map(Stamp)
    }
}

/// A volunteer's tags as stored: `jsonb` (PostgreSQL) or JSON text (SQLite).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTags(pub Vec<Tag>);

impl StoredTags {
    fn from_json(text: &[u8]) -> Result<Self, BoxDynError> {
        match plain_tags(text) {
            Some(tags) => Ok(StoredTags(tags)),
            None => Ok(StoredTags(serde_json::from_slice(text)?)),
        }
    }
}

impl<'r> Decode<'r, Postgres> for StoredTags {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        let bytes = value.as_bytes()?;
        // binary jsonb is a version byte (1) and the text; json and the text format are text
        let jsonb = value.format() == PgValueFormat::Binary
            && *value.type_info() == <Json<Vec<Tag>> as Type<Postgres>>::type_info();
        let text = match bytes {
            [1, rest @ ..] if jsonb => rest,
            [version, ..] if jsonb => return Err(format!("unsupported jsonb format version {version}").into()),
            _ => bytes,
        };
        StoredTags::from_json(text)
    }
}

impl<'r> Decode<'r, Sqlite> for StoredTags {
    fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
        StoredTags::from_json(<&str as Decode<Sqlite>>::decode(value)?.as_bytes())
    }
}

/// The tags of `["a", "b"]` or `["a","b"]` (`[]` too) when every tag is a plain string
/// (no backslash); `None` for any other text, which serde_json then reads.
fn plain_tags(text: &[u8]) -> Option<Vec<Tag>> {
    let mut rest = text.strip_prefix(b"[")?.strip_suffix(b"]")?;
    let mut tags = Vec::new();
    if rest.is_empty() {
        return Some(tags);
    }
    loop {
        rest = rest.strip_prefix(b"\"")?;
        let end = memchr::memchr2(b'"', b'\\', rest)?;
        if rest[end] != b'"' {
            return None;
        }
        let tag = std::str::from_utf8(&rest[..end]).ok()?;
        if tag.bytes().any(|b| b < 0x20) {
            return None; // serde_json refuses raw control characters in a string
        }
        tags.push(Tag::from_trusted(tag.to_owned()));
        rest = &rest[end + 1..];
        if rest.is_empty() {
            return Some(tags);
        }
        rest = rest.strip_prefix(b",")?;
        rest = rest.strip_prefix(b" ").unwrap_or(rest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn serde(text: &str) -> Option<Vec<Tag>> {
        serde_json::from_str(text).ok()
    }

    #[test]
    fn plain_arrays_split_as_serde_json_reads_them() {
        for text in [
            "[]",
            "[\"driver\"]",
            "[\"spanish\", \"driver\"]",
            "[\"spanish\",\"driver\"]",
            "[\"señal\", \"ünïcode\", \"a-b_c\"]",
            "[\"\"]",
        ] {
            assert_eq!(plain_tags(text.as_bytes()), serde(text), "{text}");
        }
    }

    #[test]
    fn anything_else_is_left_to_serde_json() {
        for text in [
            "",
            "[",
            "[ ]",
            "[\"a\" ]",
            "[\"a\",]",
            "[\"a\",  \"b\"]",
            "[\"a\\\"b\"]",
            "[\"\\u0041\"]",
            "[\"a\"] ",
            "{\"a\":1}",
            "[1]",
            "[\"a\"\"b\"]",
            "[\"tab\there\"]",
            "null",
        ] {
            assert_eq!(plain_tags(text.as_bytes()), None, "{text}");
            let decoded = StoredTags::from_json(text.as_bytes()).ok().map(|t| t.0);
            assert_eq!(decoded, serde(text), "{text}: the fallback reads it as serde_json does");
        }
    }

    proptest! {
        /// Whatever the text, the fast path answers only where serde_json agrees with it.
        #[test]
        fn never_disagrees_with_serde_json(text in "\\[(\"[a-z\"\\\\ ,\\[\\]\u{e9}\t]{0,6}\"(, ?)?){0,4}\\]?") {
            if let Some(fast) = plain_tags(text.as_bytes()) {
                prop_assert_eq!(Some(fast), serde(&text));
            }
        }

        /// A stored array of valid tags, in either spacing, reads back the same.
        #[test]
        fn written_tags_read_back(tags in proptest::collection::vec("[a-z0-9_-]{1,32}", 0..8), spaced: bool) {
            let tags: Vec<Tag> = tags.iter().map(|t| Tag::from_trusted(t.clone())).collect();
            let mut text = serde_json::to_string(&tags).unwrap();
            if spaced {
                text = text.replace("\",\"", "\", \"");
            }
            prop_assert_eq!(plain_tags(text.as_bytes()), Some(tags));
        }
    }
}
