//! `?format=compact` on lists: the page as a table, column names once and one array per
//! row, instead of one object per row.
//!
//! A page of 200 volunteers repeats every field name 200 times; sync clients and
//! spreadsheets that read whole collections page by page save about a third of the bytes
//! (and the parsing) with the names sent once. It is a new format, so it ships dark behind
//! the `list-compact` flag ([`crate::flags::LIST_COMPACT`]) and is rolled out to callers by
//! percentage like any flag.
//!
//! ```json
//! {"columns": ["created_at", "email", "id", ...], "rows": [["2026-…", "ana@example.org", "0192…", ...]],
//!  "next_cursor": null}
//! ```
//!
//! `columns` is every field seen on the page, in the order of the first row that has it;
//! a row without one of them has `null` there. Everything else (`next_cursor`, `missing`)
//! is as in the standard format.

use crate::AppState;
use crate::flags::LIST_COMPACT;
use crate::principal::Principal;
use crate::problem::{ApiError, ApiResult};
use axum::body::Bytes;
use serde::Serialize;
use serde_json::{Map, Value};

muster_domain::wire_enum!(
    /// How a list page is written.
    ListFormat { Objects => "objects", Compact => "compact" }
);

/// The query parameter that chooses the format.
pub const PARAM: &str = "format";

/// Refuses a format the caller may not use yet (the `feature-disabled` problem).
pub async fn check(st: &AppState, caller: Option<&Principal>, format: ListFormat) -> ApiResult<()> {
    match (format, caller) {
        (ListFormat::Objects, _) => Ok(()),
        (ListFormat::Compact, Some(c)) => st.flags.require(&LIST_COMPACT, c).await,
        (ListFormat::Compact, None) => Err(crate::flags::disabled(&LIST_COMPACT)),
    }
}

/// The page's bytes in `format` (the standard format is serialised directly).
pub fn to_bytes<T: Serialize>(format: ListFormat, page: &T) -> ApiResult<Bytes> {
    let bytes = match format {
        ListFormat::Objects => {
            // a page of 20 volunteers is about 7 KB: start above it instead of doubling up
            // from 128 B (or from 4 KiB, with one more copy of the page)
            let mut out = Vec::with_capacity(8192);
            crate::json::to_writer(&mut out, page).map(|()| out).map_err(|e| e.to_string())
        }
        ListFormat::Compact => serde_json::to_value(page)
            .map_err(|e| e.to_string())
            .and_then(|v| crate::json::to_vec(&compact(v)).map_err(|e| e.to_string())),
    };
    bytes.map(Bytes::from).map_err(|e| ApiError::internal(format!("serialising a list page: {e}")))
}

/// Rewrites a standard list page (`{"data": [...], ...}`) in `format`.
pub fn render(format: ListFormat, page: Value) -> Value {
    match format {
        ListFormat::Objects => page,
        ListFormat::Compact => compact(page),
    }
}

fn compact(page: Value) -> Value {
    let Value::Object(mut page) = page else { return page };
    let rows: Vec<Map<String, Value>> = match page.remove("data") {
        Some(Value::Array(items)) => {
            items.into_iter().filter_map(|v| if let Value::Object(m) = v { Some(m) } else { None }).collect()
        }
        _ => Vec::new(),
    };
    let mut columns: Vec<String> = Vec::new();
    for row in &rows {
        for k in row.keys() {
            if !columns.contains(k) {
                columns.push(k.clone());
            }
        }
    }
    let table: Vec<Value> = rows
        .into_iter()
        .map(|mut row| Value::Array(columns.iter().map(|c| row.remove(c).unwrap_or(Value::Null)).collect()))
        .collect();
    page.insert("columns".into(), Value::Array(columns.into_iter().map(Value::String).collect()));
    page.insert("rows".into(), Value::Array(table));
    Value::Object(page)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_page_becomes_a_table() {
        let page = json!({"data": [{"id": "a", "name": "Ana", "tags": ["x"]}, {"id": "b", "name": "Ben", "tags": [],
                                    "extra": 1}], "next_cursor": "c1"});
        let t = render(ListFormat::Compact, page);
        let cols: Vec<&str> = t["columns"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
        assert_eq!(cols.len(), 4);
        let col = |name: &str| cols.iter().position(|c| *c == name).unwrap();
        assert_eq!(t["rows"][0][col("name")], "Ana");
        assert_eq!(t["rows"][1][col("tags")], json!([]));
        assert_eq!(t["rows"][0][col("extra")], Value::Null, "missing fields are null");
        assert_eq!(t["next_cursor"], "c1");
        assert!(t.get("data").is_none());
        let empty = render(ListFormat::Compact, json!({"data": [], "next_cursor": null}));
        assert_eq!(empty, json!({"columns": [], "rows": [], "next_cursor": null}));
        assert_eq!(render(ListFormat::Objects, json!({"data": []})), json!({"data": []}));
    }
}
