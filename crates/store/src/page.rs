//! Keyset pagination. Ids are UUIDv7, so ordering by id is ordering by creation and a page
//! boundary is just "the last id seen": rows inserted while a client pages through appear
//! after it, never shifting or repeating what it has already read.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use uuid::Uuid;

/// Default and largest page sizes.
pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 200;

/// Which slice of a list to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub limit: u32,
    pub after: Option<Uuid>,
}

impl Default for Page {
    fn default() -> Self {
        Page { limit: DEFAULT_LIMIT, after: None }
    }
}

impl Page {
    /// Rows to fetch: one more than the limit tells whether there is a next page.
    pub fn fetch(&self) -> i64 {
        i64::from(self.limit) + 1
    }

    /// `" LIMIT n"` for [`Page::fetch`] rows, written into the statement rather than bound.
    /// With the limit a parameter, PostgreSQL's generic plan has to guess it (a tenth of
    /// the table), costs far above the plan for 21 rows, and so keeps planning every
    /// execution afresh (a third of a list query's database time, measured). A literal
    /// limit (a number, from a `u32`) gives each page size its own prepared statement,
    /// whose generic plan is the right one and is reused.
    pub fn limit_sql(&self) -> String {
        format!(" LIMIT {}", self.fetch())
    }

    /// Builds the result from up to `limit + 1` rows.
    pub fn finish<T>(&self, mut rows: Vec<T>, id: impl Fn(&T) -> Uuid) -> Listed<T> {
        let limit = self.limit as usize;
        let next = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(|r| Cursor(id(r)))
        } else {
            None
        };
        Listed { items: rows, next }
    }
}

/// One page of rows and where the next one starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Listed<T> {
    pub items: Vec<T>,
    pub next: Option<Cursor>,
}

/// An opaque position in a list. Clients get it base64url-encoded with a version prefix so
/// the format can change without breaking cursors in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor(pub Uuid);

impl Cursor {
    pub fn encode(&self) -> String {
        let mut raw = Vec::with_capacity(17);
        raw.push(1u8);
        raw.extend_from_slice(self.0.as_bytes());
        URL_SAFE_NO_PAD.encode(raw)
    }

    pub fn decode(s: &str) -> Result<Self, String> {
        let bad = || "is not a cursor this API issued; pass next_cursor from a previous page".to_owned();
        let raw = URL_SAFE_NO_PAD.decode(s.as_bytes()).map_err(|_| bad())?;
        match raw.split_first() {
            Some((1, rest)) => Uuid::from_slice(rest).map(Cursor).map_err(|_| bad()),
            _ => Err(bad()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trip_and_rejects_junk() {
        let c = Cursor(Uuid::now_v7());
        assert_eq!(Cursor::decode(&c.encode()), Ok(c));
        for junk in ["", "abc", "!!!!", &URL_SAFE_NO_PAD.encode([2u8; 17])] {
            assert!(Cursor::decode(junk).is_err());
        }
    }
}
