//! Response bodies as compact JSON, byte for byte what `serde_json::to_vec` writes, faster.
//!
//! serde_json looks up every byte of every string (keys included) in an escape table, one
//! at a time, and hands each run to its writer through `io::Write`. A page of twenty
//! volunteers is about 7 KB of mostly plain ASCII, so that loop was the largest single cost
//! of serving a list from PostgreSQL after decoding the rows. Here strings are checked eight
//! bytes at a time (one word's arithmetic says whether any byte needs an escape) and copied
//! whole when none does, which is nearly always. Everything else follows serde_json's
//! compact format exactly: the tests compare the two on every shape serde can produce and on
//! random values, so a caller can switch between them without a client seeing a difference.

use serde::ser::{self, Impossible, Serialize};
use std::fmt::{self, Display, Write as _};

/// Why a value could not be written (a map key that is not a string or a number, or a
/// type's own `Serialize` refusing).
#[derive(Debug)]
pub struct Error(String);

impl Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl ser::Error for Error {
    fn custom<T: Display>(msg: T) -> Self {
        Error(msg.to_string())
    }
}

fn key_must_be_a_string() -> Error {
    Error("key must be a string".into())
}

/// `value` as compact JSON.
pub fn to_vec<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, Error> {
    let mut out = Vec::with_capacity(128);
    to_writer(&mut out, value)?;
    Ok(out)
}

/// Appends `value` as compact JSON to `out`. On error `out` may hold part of it.
pub fn to_writer<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) -> Result<(), Error> {
    value.serialize(&mut Writer { out })
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// Where escaped text is appended: a body's bytes, or a log line being built.
pub trait Sink {
    fn append(&mut self, s: &str);
}

impl Sink for Vec<u8> {
    fn append(&mut self, s: &str) {
        self.extend_from_slice(s.as_bytes());
    }
}

impl Sink for String {
    fn append(&mut self, s: &str) {
        self.push_str(s);
    }
}

/// How serde_json writes each control character.
const CONTROL: [&str; 32] = [
    "\\u0000", "\\u0001", "\\u0002", "\\u0003", "\\u0004", "\\u0005", "\\u0006", "\\u0007", "\\b", "\\t", "\\n",
    "\\u000b", "\\f", "\\r", "\\u000e", "\\u000f", "\\u0010", "\\u0011", "\\u0012", "\\u0013", "\\u0014", "\\u0015",
    "\\u0016", "\\u0017", "\\u0018", "\\u0019", "\\u001a", "\\u001b", "\\u001c", "\\u001d", "\\u001e", "\\u001f",
];

/// The escape for a byte that needs one, `None` for the rest.
#[inline]
fn escape_of(b: u8) -> Option<&'static str> {
    match b {
        b'"' => Some("\\\""),
        b'\\' => Some("\\\\"),
        0..0x20 => Some(CONTROL[usize::from(b)]),
        _ => None,
    }
}

/// The high bit of each byte of `w` that is a control character, `"` or `\`, and maybe of
/// bytes after such a one (the borrow trick), never of a byte before the first: zero exactly
/// when no byte needs an escape.
#[inline]
fn escape_marks(w: u64) -> u64 {
    let control = w.wrapping_sub(ONES * 0x20) & !w;
    let q = w ^ (ONES * u64::from(b'"'));
    let quote = q.wrapping_sub(ONES) & !q;
    let b = w ^ (ONES * u64::from(b'\\'));
    let backslash = b.wrapping_sub(ONES) & !b;
    (control | quote | backslash) & HIGHS
}

/// Whether no byte of `bytes` needs an escape: a word at a time, without early exits, so
/// the short strings a row is made of take a handful of instructions. The bytes after the
/// last whole word are checked as the string's last eight bytes (a word that overlaps the
/// one before it), not copied into a padded word: that copy was a `memcpy` call per string.
/// Shorter strings are checked byte by byte.
#[inline]
fn is_plain(bytes: &[u8]) -> bool {
    let word = |w: &[u8]| u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
    if bytes.len() < 8 {
        return bytes.iter().all(|&b| escape_of(b).is_none());
    }
    let mut words = bytes.chunks_exact(8);
    let mut marks = 0;
    for w in words.by_ref() {
        marks |= escape_marks(word(w));
    }
    if !words.remainder().is_empty() {
        marks |= escape_marks(word(&bytes[bytes.len() - 8..]));
    }
    marks == 0
}

/// `s` escaped as the inside of a JSON string (no quotes), as serde_json escapes it: `"`,
/// `\` and control characters; nothing else (not DEL, not U+2028).
#[inline]
pub fn escape<S: Sink + ?Sized>(out: &mut S, s: &str) {
    if is_plain(s.as_bytes()) {
        out.append(s);
    } else {
        escape_each(out, s);
    }
}

/// The slow path of [`escape`], for a string that has something to escape.
#[cold]
fn escape_each<S: Sink + ?Sized>(out: &mut S, s: &str) {
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        if let Some(escaped) = escape_of(b) {
            // `i` is at an ASCII byte, so both slices fall on character boundaries
            out.append(&s[start..i]);
            out.append(escaped);
            start = i + 1;
        }
    }
    out.append(&s[start..]);
}

/// `s` as a JSON string, quotes included.
#[inline]
pub fn push_str(out: &mut Vec<u8>, s: &str) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    escape(out, s);
    out.push(b'"');
}

fn push_int<I: itoa::Integer>(out: &mut Vec<u8>, i: I) {
    out.extend_from_slice(itoa::Buffer::new().format(i).as_bytes());
}

/// `f` as serde_json writes it: the shortest text that reads back the same (zmij, the
/// printer serde_json uses), `null` when it is not finite. Log lines write floats with it too.
pub fn push_f64<S: Sink + ?Sized>(out: &mut S, f: f64) {
    if f.is_finite() {
        out.append(zmij::Buffer::new().format_finite(f));
    } else {
        out.append("null");
    }
}

fn push_f32(out: &mut Vec<u8>, f: f32) {
    if f.is_finite() {
        out.extend_from_slice(zmij::Buffer::new().format_finite(f).as_bytes());
    } else {
        out.extend_from_slice(b"null");
    }
}

/// Escapes what a `Display` or `Debug` implementation writes, as it writes it, without
/// collecting it first.
pub struct Escaping<'a, S: Sink + ?Sized>(pub &'a mut S);

impl<S: Sink + ?Sized> std::fmt::Write for Escaping<'_, S> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        escape(self.0, s);
        Ok(())
    }
}

/// `Display` output as a JSON string (`collect_str`).
fn push_display<T: Display + ?Sized>(out: &mut Vec<u8>, value: &T) {
    out.push(b'"');
    // writing into memory cannot fail; a Display impl that errors leaves what it wrote
    let _ = write!(Escaping(out), "{value}");
    out.push(b'"');
}

/// serde's ten integer methods, each writing through the serializer's own `int`.
macro_rules! integers {
    () => {
        integers!(serialize_i8: i8, serialize_i16: i16, serialize_i32: i32, serialize_i64: i64, serialize_i128: i128,
                  serialize_u8: u8, serialize_u16: u16, serialize_u32: u32, serialize_u64: u64, serialize_u128: u128);
    };
    ($($method:ident: $t:ty),*) => {$(
        fn $method(self, v: $t) -> Result<(), Error> {
            self.int(v)
        }
    )*};
}

struct Writer<'a> {
    out: &'a mut Vec<u8>,
}

/// A sequence or map being written: whether the next element is the first.
pub struct Compound<'w, 'a> {
    w: &'w mut Writer<'a>,
    first: bool,
    /// What closes it: `]`, `}`, or `]}` / `}}` for a variant's contents.
    close: &'static [u8],
}

impl Compound<'_, '_> {
    fn comma(&mut self) {
        if self.first {
            self.first = false;
        } else {
            self.w.out.push(b',');
        }
    }

    fn end(self) {
        self.w.out.extend_from_slice(self.close);
    }
}

impl<'w, 'a> Writer<'a> {
    fn open(&'w mut self, open: &[u8], close: &'static [u8]) -> Compound<'w, 'a> {
        self.out.extend_from_slice(open);
        Compound { w: self, first: true, close }
    }

    fn int<I: itoa::Integer>(&mut self, v: I) -> Result<(), Error> {
        push_int(self.out, v);
        Ok(())
    }

    /// `{"variant":` before a variant's contents.
    fn variant_key(&mut self, variant: &str) {
        self.out.push(b'{');
        push_str(self.out, variant);
        self.out.push(b':');
    }

    /// A variant's sequence or fields: `{"variant":` then `open`, closed by `close`.
    fn open_variant(&'w mut self, variant: &str, open: &[u8], close: &'static [u8]) -> Compound<'w, 'a> {
        self.variant_key(variant);
        self.open(open, close)
    }
}

impl<'w, 'a> ser::Serializer for &'w mut Writer<'a> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Compound<'w, 'a>;
    type SerializeTuple = Compound<'w, 'a>;
    type SerializeTupleStruct = Compound<'w, 'a>;
    type SerializeTupleVariant = Compound<'w, 'a>;
    type SerializeMap = Compound<'w, 'a>;
    type SerializeStruct = Compound<'w, 'a>;
    type SerializeStructVariant = Compound<'w, 'a>;

    integers!();

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.out.extend_from_slice(if v { b"true" } else { b"false" });
        Ok(())
    }
    fn serialize_f32(self, v: f32) -> Result<(), Error> {
        push_f32(self.out, v);
        Ok(())
    }
    fn serialize_f64(self, v: f64) -> Result<(), Error> {
        push_f64(self.out, v);
        Ok(())
    }
    fn serialize_char(self, v: char) -> Result<(), Error> {
        push_str(self.out, v.encode_utf8(&mut [0; 4]));
        Ok(())
    }
    fn serialize_str(self, v: &str) -> Result<(), Error> {
        push_str(self.out, v);
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), Error> {
        self.out.push(b'[');
        for (i, b) in v.iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            push_int(self.out, *b);
        }
        self.out.push(b']');
        Ok(())
    }
    fn serialize_none(self) -> Result<(), Error> {
        self.serialize_unit()
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Error> {
        self.out.extend_from_slice(b"null");
        Ok(())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Error> {
        self.serialize_unit()
    }
    fn serialize_unit_variant(self, _name: &'static str, _index: u32, variant: &'static str) -> Result<(), Error> {
        push_str(self.out, variant);
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _name: &'static str, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.variant_key(variant);
        value.serialize(&mut *self)?;
        self.out.push(b'}');
        Ok(())
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Compound<'w, 'a>, Error> {
        Ok(self.open(b"[", b"]"))
    }
    fn serialize_tuple(self, len: usize) -> Result<Compound<'w, 'a>, Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _name: &'static str, len: usize) -> Result<Compound<'w, 'a>, Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'w, 'a>, Error> {
        Ok(self.open_variant(variant, b"[", b"]}"))
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Compound<'w, 'a>, Error> {
        Ok(self.open(b"{", b"}"))
    }
    fn serialize_struct(self, name: &'static str, len: usize) -> Result<Compound<'w, 'a>, Error> {
        if name == "$serde_json::private::RawValue" {
            return Err(Error("serde_json::value::RawValue is not supported here".into()));
        }
        self.serialize_map(Some(len))
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'w, 'a>, Error> {
        Ok(self.open_variant(variant, b"{", b"}}"))
    }
    fn collect_str<T: Display + ?Sized>(self, value: &T) -> Result<(), Error> {
        push_display(self.out, value);
        Ok(())
    }
}

/// The element-writing halves of serde's sequence-like traits: an element after a comma.
macro_rules! elements {
    ($($trait:ident::$method:ident),*) => {$(
        impl ser::$trait for Compound<'_, '_> {
            type Ok = ();
            type Error = Error;
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
                self.comma();
                value.serialize(&mut *self.w)
            }
            fn end(self) -> Result<(), Error> {
                Compound::end(self);
                Ok(())
            }
        }
    )*};
}

elements!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

/// The field-writing halves of serde's struct-like traits: `"key":value` after a comma.
macro_rules! fields {
    ($($trait:ident),*) => {$(
        impl ser::$trait for Compound<'_, '_> {
            type Ok = ();
            type Error = Error;
            fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), Error> {
                self.comma();
                push_str(self.w.out, key);
                self.w.out.push(b':');
                value.serialize(&mut *self.w)
            }
            fn end(self) -> Result<(), Error> {
                Compound::end(self);
                Ok(())
            }
        }
    )*};
}

fields!(SerializeStruct, SerializeStructVariant);

impl ser::SerializeMap for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        self.comma();
        key.serialize(KeyWriter { out: self.w.out })?;
        self.w.out.push(b':');
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        value.serialize(&mut *self.w)
    }
    fn end(self) -> Result<(), Error> {
        Compound::end(self);
        Ok(())
    }
}

/// A map key: strings as they are; numbers, booleans and chars quoted, as serde_json does.
struct KeyWriter<'a> {
    out: &'a mut Vec<u8>,
}

impl KeyWriter<'_> {
    fn quoted(self, f: impl FnOnce(&mut Vec<u8>)) -> Result<(), Error> {
        self.out.push(b'"');
        f(self.out);
        self.out.push(b'"');
        Ok(())
    }

    fn int<I: itoa::Integer>(self, v: I) -> Result<(), Error> {
        self.quoted(|o| push_int(o, v))
    }
}

impl ser::Serializer for KeyWriter<'_> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Impossible<(), Error>;
    type SerializeTuple = Impossible<(), Error>;
    type SerializeTupleStruct = Impossible<(), Error>;
    type SerializeTupleVariant = Impossible<(), Error>;
    type SerializeMap = Impossible<(), Error>;
    type SerializeStruct = Impossible<(), Error>;
    type SerializeStructVariant = Impossible<(), Error>;

    integers!();

    fn serialize_str(self, v: &str) -> Result<(), Error> {
        push_str(self.out, v);
        Ok(())
    }
    fn serialize_char(self, v: char) -> Result<(), Error> {
        push_str(self.out, v.encode_utf8(&mut [0; 4]));
        Ok(())
    }
    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.quoted(|o| o.extend_from_slice(if v { b"true" } else { b"false" }))
    }
    fn serialize_f32(self, v: f32) -> Result<(), Error> {
        if !v.is_finite() {
            return Err(Error("float key must be finite (got NaN or +/-inf)".into()));
        }
        self.quoted(|o| push_f32(o, v))
    }
    fn serialize_f64(self, v: f64) -> Result<(), Error> {
        if !v.is_finite() {
            return Err(Error("float key must be finite (got NaN or +/-inf)".into()));
        }
        self.quoted(|o| push_f64(o, v))
    }
    fn serialize_unit_variant(self, _name: &'static str, _index: u32, variant: &'static str) -> Result<(), Error> {
        push_str(self.out, variant);
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _name: &'static str, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }
    fn collect_str<T: Display + ?Sized>(self, value: &T) -> Result<(), Error> {
        push_display(self.out, value);
        Ok(())
    }
    fn serialize_bytes(self, _v: &[u8]) -> Result<(), Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_none(self) -> Result<(), Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, _value: &T) -> Result<(), Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_unit(self) -> Result<(), Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<(), Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_tuple_struct(self, _name: &'static str, _len: usize) -> Result<Self::SerializeTupleStruct, Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Self::SerializeStruct, Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, Error> {
        Err(key_must_be_a_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde::Serialize;
    use serde_json::{Value, json};
    use std::collections::BTreeMap;

    fn same<T: Serialize + ?Sized>(v: &T) {
        let ours = to_vec(v).expect("ours");
        let theirs = serde_json::to_vec(v).expect("serde_json");
        assert_eq!(String::from_utf8_lossy(&ours), String::from_utf8_lossy(&theirs));
    }

    #[derive(Serialize)]
    struct Unit;

    #[derive(Serialize)]
    struct Newtype(i32);

    #[derive(Serialize)]
    struct Tuple(i32, &'static str);

    #[derive(Serialize)]
    struct Empty {}

    #[derive(Serialize)]
    enum Shape {
        Point,
        Radius(f64),
        Pair(u8, u8),
        Rect { w: u32, h: u32 },
        NoFields {},
        NoElements(),
    }

    #[derive(Serialize)]
    #[serde(tag = "type", rename_all = "snake_case")]
    enum Tagged {
        A { x: i64 },
        B,
    }

    #[derive(Serialize)]
    struct Everything {
        b: bool,
        i: i64,
        u: u64,
        small: i8,
        wide: i128,
        huge: u128,
        f: f64,
        f32: f32,
        nan: f64,
        inf: f32,
        c: char,
        s: &'static str,
        #[serde(with = "serde_bytes_like")]
        bytes: Vec<u8>,
        none: Option<i32>,
        some: Option<&'static str>,
        unit: (),
        unit_struct: Unit,
        newtype: Newtype,
        tuple: Tuple,
        empty: Empty,
        empty_vec: Vec<i32>,
        shapes: Vec<Shape>,
        tagged: Vec<Tagged>,
        int_keys: BTreeMap<i32, &'static str>,
        bool_keys: BTreeMap<bool, u8>,
        char_keys: BTreeMap<char, u8>,
        #[serde(rename = "weird \"key\"\n")]
        weird: u8,
        id: uuid::Uuid,
        at: chrono::DateTime<chrono::Utc>,
    }

    mod serde_bytes_like {
        pub fn serialize<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(v)
        }
    }

    #[test]
    fn every_shape_serde_has_is_written_as_serde_json_writes_it() {
        let everything = Everything {
            b: true,
            i: i64::MIN,
            u: u64::MAX,
            small: -7,
            wide: i128::MIN,
            huge: u128::MAX,
            f: 0.1 + 0.2,
            f32: 1.5e-7,
            nan: f64::NAN,
            inf: f32::NEG_INFINITY,
            c: '"',
            s: "tab\there \u{1} \u{7f} \u{2028} é 😀 \\ / \"",
            bytes: vec![0, 1, 255],
            none: None,
            some: Some(""),
            unit: (),
            unit_struct: Unit,
            newtype: Newtype(-1),
            tuple: Tuple(3, "x"),
            empty: Empty {},
            empty_vec: vec![],
            shapes: vec![
                Shape::Point,
                Shape::Radius(2.0),
                Shape::Pair(1, 2),
                Shape::Rect { w: 3, h: 4 },
                Shape::NoFields {},
                Shape::NoElements(),
            ],
            tagged: vec![Tagged::A { x: 1 }, Tagged::B],
            int_keys: [(-1, "a"), (2, "b")].into_iter().collect(),
            bool_keys: [(false, 0), (true, 1)].into_iter().collect(),
            char_keys: [('\n', 0), ('k', 1)].into_iter().collect(),
            weird: 9,
            id: uuid::Uuid::from_u128(0x0192_d7a0_0000_7000_8000_0000_0000_0001),
            at: chrono::DateTime::from_timestamp(1_700_000_000, 123_456_789).expect("a valid time"),
        };
        same(&everything);
        same(&json!({"a": [1, 2.5, -3, null, true, {"b": {}}, []], "": ""}));
        same(&Vec::<Value>::new());
        same(&[f64::MAX, f64::MIN_POSITIVE, -0.0, 1e21, 1e-7]);
    }

    #[test]
    fn every_byte_is_escaped_as_serde_json_escapes_it_wherever_it_falls() {
        for b in 0u8..=127 {
            let c = char::from(b);
            // before, inside and after the eight-byte words, and at their edges
            for prefix in 0..17 {
                let s: String = "a".repeat(prefix) + &c.to_string() + "tail";
                same(&s);
                same(&json!({ s.clone(): s }));
            }
        }
    }

    #[test]
    fn a_key_that_is_not_a_string_or_a_number_is_refused_like_serde_json() {
        let map: BTreeMap<Vec<u8>, u8> = [(vec![1], 1)].into_iter().collect();
        assert!(to_vec(&map).is_err());
        assert!(serde_json::to_vec(&map).is_err());
    }

    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<u64>().prop_map(|n| json!(n)),
            any::<f64>().prop_map(|f| json!(f)),
            any::<String>().prop_map(Value::String),
            "[ -~\\x00-\\x1f\"\\\\é😀]{0,40}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
                prop::collection::btree_map(any::<String>(), inner, 0..8)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn random_values_are_written_as_serde_json_writes_them(v in value()) {
            prop_assert_eq!(to_vec(&v).expect("ours"), serde_json::to_vec(&v).expect("serde_json"));
        }

        #[test]
        fn random_strings_are_escaped_as_serde_json_escapes_them(s in any::<String>()) {
            prop_assert_eq!(to_vec(&s).expect("ours"), serde_json::to_vec(&s).expect("serde_json"));
        }
    }
}
