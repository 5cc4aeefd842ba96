//! Short human text (names, titles, offices): trimmed, non-empty, bounded, printable.

use serde::{Deserialize, Serialize};

/// Trimmed text of 1..=`max` characters without control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Text(String);

impl Text {
    /// Parses `raw` as text of at most `max` characters.
    pub fn parse(raw: &str, max: usize) -> Result<Self, String> {
        let s = raw.trim();
        if s.is_empty() {
            return Err("must not be empty".into());
        }
        let n = s.chars().count();
        if n > max {
            return Err(format!("must be at most {max} characters (got {n})"));
        }
        if s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
            return Err("must not contain control characters".into());
        }
        Ok(Self(s.to_owned()))
    }

    /// Wraps text read back from a store, which only ever holds parsed values.
    pub fn from_trusted(s: String) -> Self {
        Self(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl std::fmt::Display for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// An absolute `http` or `https` URL of at most 2048 characters with a host.
pub fn parse_web_url(raw: &str) -> Result<String, String> {
    let s = raw.trim();
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .ok_or("must be an absolute http:// or https:// URL")?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty() || host.starts_with(':') {
        return Err("must have a host name".into());
    }
    if s.len() > 2048 {
        return Err("must be at most 2048 characters".into());
    }
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain spaces or control characters".into());
    }
    Ok(s.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn trims_and_bounds() {
        assert_eq!(Text::parse("  Ana  ", 10).unwrap().as_str(), "Ana");
        assert!(Text::parse("   ", 10).is_err());
        assert!(Text::parse("abcdefghijk", 10).is_err());
        assert!(Text::parse("a\u{0}b", 10).is_err());
        assert_eq!(Text::parse("Zoë Ñúñez", 9).unwrap().as_str(), "Zoë Ñúñez");
    }

    #[test]
    fn urls() {
        assert!(parse_web_url("https://example.org/x").is_ok());
        assert!(parse_web_url("ftp://example.org").is_err());
        assert!(parse_web_url("https://").is_err());
        assert!(parse_web_url("https://exa mple.org").is_err());
        assert!(parse_web_url("javascript:alert(1)").is_err());
    }

    proptest! {
        #[test]
        fn parsed_text_is_trimmed_and_bounded(s in "\\PC{0,40}") {
            if let Ok(t) = Text::parse(&s, 20) {
                prop_assert_eq!(t.as_str(), t.as_str().trim());
                prop_assert!(!t.as_str().is_empty());
                prop_assert!(t.as_str().chars().count() <= 20);
            }
        }
    }
}
