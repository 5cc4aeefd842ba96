//! What a write changes beyond the rows it names, by the store's own rules: what a cache in
//! front of the store must drop after an update or a delete.

/// Other resources whose lists and rows a write to one resource can change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SideEffects {
    /// Collections whose lists can change (rows appear, leave or reorder).
    pub lists_of: &'static [&'static str],
    /// Collections whose rows can change without being written themselves.
    pub rows_of: &'static [&'static str],
}

const NONE: SideEffects = SideEffects { lists_of: &[], rows_of: &[] };

/// An update or delete of a row of `collection` (a create changes nothing else):
///
/// - an event's capacity or status changing, or the event going, moves its waitlist:
///   attendances are promoted or cancelled, so attendance rows and lists change;
/// - an attendance cancelled, deleted or rejoining frees or takes a seat, promoting the
///   oldest waitlisted attendance of its event: other attendance rows change.
pub fn side_effects(collection: &str) -> SideEffects {
    match collection {
        "events" => SideEffects { lists_of: &["attendances"], rows_of: &["attendances"] },
        "attendances" => SideEffects { lists_of: &[], rows_of: &["attendances"] },
        _ => NONE,
    }
}

/// Whether rows of `collection` change as side effects of writes to others (or to their
/// siblings), so a cached row must be checked against more than its own writes.
pub fn rows_change_by_side_effect(collection: &str) -> bool {
    ["candidates", "volunteers", "events", "attendances"].iter().any(|c| side_effects(c).rows_of.contains(&collection))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_attendance_rows_move_by_themselves() {
        assert!(rows_change_by_side_effect("attendances"));
        for c in ["candidates", "volunteers", "events"] {
            assert!(!rows_change_by_side_effect(c), "{c}");
        }
        assert_eq!(side_effects("volunteers"), NONE);
    }
}
