//! Contact details: email, phone and ZIP code, each normalised once at the edge so that
//! stores compare and index one canonical form.

use serde::{Deserialize, Serialize};

/// An email address as a person typed it (trimmed, domain lower-cased). Uniqueness is
/// decided on [`Email::normalized`], which ignores case entirely.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Email(String);

const EMAIL_LOCAL_FORBIDDEN: &[char] = &['(', ')', '<', '>', '[', ']', '\\', ',', ';', ':', '"', '@'];

impl Email {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let s = raw.trim();
        if s.len() > 254 {
            return Err("must be at most 254 characters".into());
        }
        let (local, domain) = s.rsplit_once('@').ok_or("must be an email address like name@example.org")?;
        if local.is_empty() || local.len() > 64 {
            return Err("the part before @ must be 1 to 64 characters".into());
        }
        if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
            return Err("the part before @ must not start or end with a dot or hold two in a row".into());
        }
        if local.chars().any(|c| !c.is_ascii_graphic() || EMAIL_LOCAL_FORBIDDEN.contains(&c)) {
            return Err("the part before @ holds a character that is not allowed".into());
        }
        let domain = domain.to_ascii_lowercase();
        let labels: Vec<&str> = domain.split('.').collect();
        if labels.len() < 2 {
            return Err("the domain must have a dot, like example.org".into());
        }
        for label in &labels {
            let ok = !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
            if !ok {
                return Err(format!("the domain label {label:?} is not valid"));
            }
        }
        let tld = labels[labels.len() - 1];
        if tld.len() < 2 || tld.chars().all(|c| c.is_ascii_digit()) {
            return Err("the domain must end in a top-level domain like .org".into());
        }
        Ok(Self(format!("{local}@{domain}")))
    }

    pub fn from_trusted(s: String) -> Self {
        Self(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form uniqueness and lookups use: lower-cased entirely.
    pub fn normalized(&self) -> String {
        self.0.to_lowercase()
    }
}

/// A phone number in E.164 (`+14155550132`). US numbers may be typed in any common
/// format (`(415) 555-0132`, `415.555.0132`, `1-415-555-0132`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Phone(String);

impl Phone {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let s = raw.trim();
        let international = s.starts_with('+');
        let body = if international { &s[1..] } else { s };
        let mut digits = String::with_capacity(16);
        for c in body.chars() {
            match c {
                '0'..='9' => digits.push(c),
                ' ' | '-' | '.' | '(' | ')' => {}
                _ => {
                    return Err(format!(
                        "holds {c:?}; use digits, spaces, dashes, dots and parentheses, with an optional leading +"
                    ));
                }
            }
        }
        let e164 = if international {
            if !(8..=15).contains(&digits.len()) || digits.starts_with('0') {
                return Err("must be an E.164 number: + then 8 to 15 digits, not starting with 0".into());
            }
            digits
        } else {
            let national = match digits.len() {
                10 => digits.as_str(),
                11 if digits.starts_with('1') => &digits[1..],
                _ => {
                    return Err("must be a 10-digit US number or an international number starting with +".into());
                }
            };
            format!("1{national}")
        };
        if let Some(nanp) = e164.strip_prefix('1')
            && nanp.len() == 10
        {
            let b = nanp.as_bytes();
            if !(b'2'..=b'9').contains(&b[0]) || !(b'2'..=b'9').contains(&b[3]) {
                return Err("is not a valid US number (area code and exchange start with 2-9)".into());
            }
        }
        Ok(Self(format!("+{e164}")))
    }

    pub fn from_trusted(s: String) -> Self {
        Self(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A US ZIP code, `12345` or ZIP+4 `12345-6789` (nine bare digits are accepted and hyphenated).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ZipCode(String);

impl ZipCode {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let s = raw.trim();
        let all_digits = |x: &str| !x.is_empty() && x.bytes().all(|b| b.is_ascii_digit());
        let zip = match (s.len(), s.split_once('-')) {
            (5, None) if all_digits(s) => s.to_owned(),
            (9, None) if all_digits(s) => format!("{}-{}", &s[..5], &s[5..]),
            (10, Some((a, b))) if a.len() == 5 && all_digits(a) && all_digits(b) => s.to_owned(),
            _ => return Err("must be a US ZIP code like 02139 or 02139-4307".into()),
        };
        if zip.starts_with("00000") {
            return Err("00000 is not a ZIP code".into());
        }
        Ok(Self(zip))
    }

    pub fn from_trusted(s: String) -> Self {
        Self(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn emails() {
        let e = Email::parse("  Ana.Garcia+rally@Example.ORG ").unwrap();
        assert_eq!(e.as_str(), "Ana.Garcia+rally@example.org");
        assert_eq!(e.normalized(), "ana.garcia+rally@example.org");
        for bad in [
            "",
            "ana",
            "ana@",
            "@example.org",
            "ana@example",
            "ana@@example.org",
            "a na@example.org",
            "ana@exa_mple.org",
            "ana@-example.org",
            "ana@example.c",
            ".ana@example.org",
            "a..b@example.org",
            "ana@example.123",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn us_phones_normalise_to_e164() {
        for ok in [
            "(415) 555-0132",
            "415-555-0132",
            "415.555.0132",
            "4155550132",
            "1-415-555-0132",
            "+1 415 555 0132",
            "+14155550132",
        ] {
            assert_eq!(Phone::parse(ok).unwrap().as_str(), "+14155550132", "{ok}");
        }
        assert_eq!(Phone::parse("+44 20 7946 0958").unwrap().as_str(), "+442079460958");
        for bad in [
            "",
            "555-0132",
            "(015) 555-0132",
            "415-055-0132",
            "+0123456789",
            "+1234567",
            "call me",
            "415-555-0132 x12",
            "+1234567890123456",
        ] {
            assert!(Phone::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn zip_codes() {
        assert_eq!(ZipCode::parse("02139").unwrap().as_str(), "02139");
        assert_eq!(ZipCode::parse("02139-4307").unwrap().as_str(), "02139-4307");
        assert_eq!(ZipCode::parse("021394307").unwrap().as_str(), "02139-4307");
        for bad in ["", "2139", "021390", "02139-43", "abcde", "00000", "02139_4307", "-2139-4307"] {
            assert!(ZipCode::parse(bad).is_err(), "{bad} accepted");
        }
    }

    proptest! {
        #[test]
        fn any_formatting_of_a_us_number_gives_one_e164(a in 2u32..10, b in 0u32..100, c in 2u32..10,
                                                      d in 0u32..100, e in 0u32..10000, style in 0usize..4) {
            let area = format!("{a}{b:02}");
            let exch = format!("{c}{d:02}");
            let line = format!("{e:04}");
            let typed = match style {
                0 => format!("({area}) {exch}-{line}"),
                1 => format!("{area}.{exch}.{line}"),
                2 => format!("1-{area}-{exch}-{line}"),
                _ => format!("+1 {area} {exch} {line}"),
            };
            let p = Phone::parse(&typed).unwrap();
            prop_assert_eq!(p.as_str(), format!("+1{area}{exch}{line}"));
            // parsing the canonical form again is a fixed point
            prop_assert_eq!(Phone::parse(p.as_str()).unwrap(), p);
        }

        #[test]
        fn email_normalisation_is_idempotent(local in "[a-zA-Z0-9._%+-]{1,20}", dom in "[a-zA-Z]{1,10}", tld in "[a-zA-Z]{2,5}") {
            if let Ok(e) = Email::parse(&format!("{local}@{dom}.{tld}")) {
                let again = Email::parse(e.as_str()).unwrap();
                prop_assert_eq!(again.normalized(), e.normalized());
            }
        }

        /// Any input is either refused or gives the canonical form, which parses to itself.
        #[test]
        fn zip_parse_gives_a_canonical_zip_or_an_error(s in "\\PC{0,12}") {
            if let Ok(z) = ZipCode::parse(&s) {
                let canonical = z.as_str();
                prop_assert!(canonical.len() == 5 || (canonical.len() == 10 && canonical.as_bytes()[5] == b'-'));
                prop_assert!(canonical.bytes().enumerate().all(|(i, b)| i == 5 || b.is_ascii_digit()));
                prop_assert_eq!(ZipCode::parse(canonical).unwrap(), z);
            }
        }
    }
}
