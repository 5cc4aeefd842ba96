//! The suite's coverage rule: every operation in the target's OpenAPI document is named by
//! at least one check. Operations are written the way the checks name them:
//! `"METHOD /path/{template}"`.

use serde_json::Value;
use std::collections::BTreeSet;

const METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

/// Every operation of an OpenAPI 3 document.
pub fn operations(doc: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for method in METHODS {
            if item.get(method).is_some() {
                out.insert(format!("{} {path}", method.to_ascii_uppercase()));
            }
        }
    }
    out
}

/// The documented operations that no check names, in order.
pub fn uncovered(documented: &BTreeSet<String>, named: &BTreeSet<String>) -> Vec<String> {
    documented.difference(named).cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn one_extra_operation_is_named() {
        let doc = json!({"paths": {
            "/v1/events": {"get": {}, "post": {}, "parameters": []},
            "/v1/events/{id}": {"get": {}, "delete": {}, "summary": "x"},
        }});
        let ops = operations(&doc);
        assert_eq!(ops.len(), 4);
        let named: BTreeSet<String> =
            ["GET /v1/events", "POST /v1/events", "GET /v1/events/{id}"].into_iter().map(String::from).collect();
        assert_eq!(uncovered(&ops, &named), vec!["DELETE /v1/events/{id}".to_owned()]);
    }

    #[test]
    fn a_document_without_paths_has_no_operations() {
        assert!(operations(&json!({"openapi": "3.1.0"})).is_empty());
        assert!(operations(&json!("not a document")).is_empty());
    }
}
