//! Scopes: `read` for GETs, `write` for changes, `contacts` to see volunteers' email and
//! phone unmasked (and filter by them), `admin` for administration; `admin` implies the
//! other three.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Read,
    Write,
    Contacts,
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 4] = [Scope::Read, Scope::Write, Scope::Contacts, Scope::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Contacts => "contacts",
            Scope::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|x| x.as_str() == s)
    }

    fn bit(self) -> u8 {
        match self {
            Scope::Read => 1,
            Scope::Write => 2,
            Scope::Contacts => 8,
            Scope::Admin => 4,
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The scopes a token grants.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Scopes(u8);

impl Scopes {
    /// Scopes from a token; names this API does not use are ignored (tokens often carry
    /// scopes for other services).
    pub fn parse_lenient<'a>(names: impl Iterator<Item = &'a str>) -> Scopes {
        Scopes(names.filter_map(Scope::parse).fold(0, |acc, s| acc | s.bit()))
    }

    pub fn of(scopes: &[Scope]) -> Scopes {
        Scopes(scopes.iter().fold(0, |acc, s| acc | s.bit()))
    }

    /// Whether the token may do what `needed` allows; admin implies everything.
    pub fn allows(self, needed: Scope) -> bool {
        self.0 & (needed.bit() | Scope::Admin.bit()) != 0
    }

    /// The granted names, space-separated (for messages).
    pub fn names(self) -> String {
        let v: Vec<&str> = Scope::ALL.into_iter().filter(|s| self.0 & s.bit() != 0).map(Scope::as_str).collect();
        if v.is_empty() { "none".into() } else { v.join(" ") }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_implies_the_rest() {
        let admin = Scopes::parse_lenient(["admin"].into_iter());
        assert!(Scope::ALL.into_iter().all(|s| admin.allows(s)));
        let read = Scopes::parse_lenient("read openid profile".split(' '));
        assert!(read.allows(Scope::Read));
        assert!(!read.allows(Scope::Write));
        assert!(!read.allows(Scope::Admin));
        assert_eq!(read.names(), "read");
        assert_eq!(Scopes::default().names(), "none");
        let write = Scopes::of(&[Scope::Write]);
        assert!(!write.allows(Scope::Read), "write does not imply read");
        let contacts = Scopes::parse_lenient("read contacts".split(' '));
        assert!(contacts.allows(Scope::Contacts) && !read.allows(Scope::Contacts));
        assert!(!contacts.allows(Scope::Write), "contacts implies nothing else");
        assert_eq!(contacts.names(), "read contacts");
    }
}
