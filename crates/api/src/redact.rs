//! Keeping secrets and volunteers' personal data out of logs.
//!
//! Two layers, because either alone leaks: the code that writes a log field masks what it
//! knows is sensitive (a query string, a report's URL, a database URL at start-up), and the
//! log writers pass every finished line through [`scrub`], which catches what nobody
//! expected to be there (an email inside a database error, a token pasted into a stack
//! trace). Masking keeps enough to correlate (`a***@example.org`, `+1******0132`) and
//! nothing that identifies a person or opens a door.

use regex::{Captures, Regex};
use std::borrow::Cow;
use std::sync::LazyLock;

/// Query parameters whose values are credentials: never logged, not even masked.
const SECRET_PARAMS: &[&str] = &[
    "token",
    "access_token",
    "id_token",
    "refresh_token",
    "password",
    "passwd",
    "pwd",
    "secret",
    "client_secret",
    "api_key",
    "apikey",
    "key",
    "code",
    "signature",
    "sig",
    "auth",
    "authorization",
    "jwt",
    "session",
];

/// A JWT: three base64url parts, the first an encoded JSON object (`eyJ`).
static JWT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*").expect("valid regex"));
/// An HTTP authorization credential after its scheme.
static AUTH_SCHEME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)\b(bearer|basic)(\s+)[A-Za-z0-9._~+/=-]{8,}").expect("valid regex"));
/// The password in a URL's userinfo: `scheme://user:password@`.
static URL_PASSWORD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"([A-Za-z][A-Za-z0-9+.-]*://)([^/\s:@"'\\]*):([^/\s@"'\\]+)@"#).expect("valid regex")
});
/// `name=value` for a credential-bearing name, in a query string or free text.
static SECRET_PARAM: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(r#"(?i)(^|[?&;\s"',(])({})=([^&\s"',;)\\]+)"#, SECRET_PARAMS.join("|"))).expect("valid regex")
});
/// An email address, also percent-encoded (`%40`) as in a query string.
static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"([A-Za-z0-9][A-Za-z0-9._+-]*)(@|%40)([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})")
        .expect("valid regex")
});
/// An E.164 phone number (how volunteers' phones are stored), also with `+` encoded.
static E164: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(\+|%2B|%2b)([1-9][0-9]{7,14})\b").expect("valid regex"));
/// A North American number as people type it: `(415) 555-0132`, `415-555-0132`.
static NANP: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\(?\b[0-9]{3}\)?[ .-][0-9]{3}[.-][0-9]{4}\b").expect("valid regex"));

/// `ana@example.org` → `a***@example.org`: the domain stays (useful, not personal).
pub fn mask_email(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => format!("{}***@{domain}", local.chars().next().unwrap_or('*')),
        None => "***".to_owned(),
    }
}

/// `+14155550132` → `+1******0132`: country code and last four digits, like a receipt.
pub fn mask_phone(phone: &str) -> String {
    let digits = phone.chars().filter(char::is_ascii_digit).count();
    if digits < 7 {
        return "*".repeat(phone.chars().count());
    }
    let mut seen = 0;
    phone
        .chars()
        .map(|c| {
            if !c.is_ascii_digit() {
                return c;
            }
            seen += 1;
            // E.164 keeps its leading (country) digit; every form keeps the last four
            let keep = (seen == 1 && phone.starts_with('+')) || seen > digits - 4;
            if keep { c } else { '*' }
        })
        .collect()
}

/// A URL safe to log: no password in the userinfo, no credential in the query string.
/// `postgres://muster:hunter2@db/muster` → `postgres://muster:***@db/muster`.
pub fn redact_url(url: &str) -> String {
    scrub(url).into_owned()
}

/// Masks secrets and personal data anywhere in `text`: JWTs, bearer/basic credentials,
/// URL passwords, credential query parameters, email addresses and phone numbers.
#[inline]
pub fn scrub(text: &str) -> Cow<'_, str> {
    // most text (every access line) holds none of the patterns: one pass over the bytes shows
    // that before any regex runs
    if may_match(text) { scrub_matching(text) } else { Cow::Borrowed(text) }
}

/// [`scrub`] for text that may hold a pattern: one pass of the set decides which occur.
#[inline(never)]
fn scrub_matching(text: &str) -> Cow<'_, str> {
    let hits = ANY.matches(text);
    if !hits.matched_any() {
        return Cow::Borrowed(text);
    }
    let mut out = Cow::Borrowed(text);
    let rules: [(&Regex, &Replacer); 7] = [
        (&JWT, &|_| "[redacted jwt]".to_owned()),
        (&AUTH_SCHEME, &|c| format!("{}{}[redacted]", &c[1], &c[2])),
        (&URL_PASSWORD, &|c| format!("{}{}:***@", &c[1], &c[2])),
        (&SECRET_PARAM, &|c| format!("{}{}=***", &c[1], &c[2])),
        (&EMAIL, &|c| format!("{}***{}{}", c[1].chars().next().unwrap_or('*'), &c[2], &c[3])),
        (&E164, &|c| format!("{}{}", &c[1], &mask_phone(&format!("+{}", &c[2]))[1..])),
        (&NANP, &|c| mask_phone(&c[0])),
    ];
    for (i, (re, with)) in rules.iter().enumerate() {
        if hits.matched(i) {
            replace(&mut out, re, with);
        }
    }
    out
}

/// How a match is rewritten.
type Replacer = dyn Fn(&Captures<'_>) -> String;

/// The seven patterns above as one set, in the order `scrub` applies them.
static ANY: LazyLock<regex::RegexSet> = LazyLock::new(|| {
    regex::RegexSet::new([
        JWT.as_str(),
        AUTH_SCHEME.as_str(),
        URL_PASSWORD.as_str(),
        SECRET_PARAM.as_str(),
        EMAIL.as_str(),
        E164.as_str(),
        NANP.as_str(),
    ])
    .expect("valid regex set")
});

/// False only when no pattern of [`ANY`] can match `text`: each needs a marker that one
/// pass over the bytes finds (`eyJ`, `bearer`/`basic`, `://`, a credential name before `=`,
/// `@` or `%40`, `+` or `%2B`, three digits, a separator, three digits). Text that isn't
/// ASCII goes to the regexes: their case-insensitive matching also folds `ſ` and the Kelvin
/// sign.
///
/// One pass with a byte table rather than a search per marker: a log line is full of `-`,
/// `.` and hex digits (ids, timestamps), and a vectorised search restarted at each of them
/// cost more than looking at every byte once. A word is looked for from its rarest letter,
/// one that no hex id holds: `eyJ` from the `J`, `bearer` from the `r`, `basic` from the `i`.
#[inline]
fn may_match(text: &str) -> bool {
    let b = text.as_bytes();
    for (i, &c) in b.iter().enumerate() {
        let mark = MARKS[usize::from(c)];
        if mark != QUIET && marks_a_pattern(b, i, mark) {
            return true;
        }
    }
    false
}

/// Whether the marker byte at `i` starts (or ends) text a pattern needs.
#[inline(never)]
fn marks_a_pattern(b: &[u8], i: usize, mark: u8) -> bool {
    match mark {
        ALWAYS => true,
        PERCENT => b.get(i + 1..i + 3).is_some_and(|code| code == b"40" || code.eq_ignore_ascii_case(b"2b")),
        COLON => b.get(i + 1..i + 3) == Some(b"//"),
        J => i >= 2 && &b[i - 2..i] == b"ey",
        R => i >= 5 && b[i - 5..=i].eq_ignore_ascii_case(b"bearer"),
        I => i >= 3 && b.get(i - 3..i + 2).is_some_and(|w| w.eq_ignore_ascii_case(b"basic")),
        EQUALS => secret_param(&b[..i]),
        _ => phone_shape(b, i),
    }
}

/// What a byte may start or mark, for [`may_match`].
const QUIET: u8 = 0;
const ALWAYS: u8 = 1;
const PERCENT: u8 = 2;
const COLON: u8 = 3;
const J: u8 = 4;
const R: u8 = 5;
const I: u8 = 6;
const EQUALS: u8 = 7;
const SEPARATOR: u8 = 8;

/// The ASCII marker bytes; every byte past ASCII is [`ALWAYS`].
const MARKED: [(u8, u8); 13] = [
    (b'@', ALWAYS),
    (b'+', ALWAYS),
    (b'%', PERCENT),
    (b':', COLON),
    (b'J', J),
    (b'r', R),
    (b'R', R),
    (b'i', I),
    (b'I', I),
    (b'=', EQUALS),
    (b' ', SEPARATOR),
    (b'.', SEPARATOR),
    (b'-', SEPARATOR),
];

static MARKS: [u8; 256] = {
    let mut t = [QUIET; 256];
    let mut c = 0x80;
    while c < 256 {
        t[c] = ALWAYS;
        c += 1;
    }
    let mut i = 0;
    while i < MARKED.len() {
        t[MARKED[i].0 as usize] = MARKED[i].1;
        i += 1;
    }
    t
};

/// `before` (the text up to an `=`) ends with one of [`SECRET_PARAMS`], in any case.
fn secret_param(before: &[u8]) -> bool {
    let name_len = before.iter().rev().take_while(|c| c.is_ascii_alphabetic() || **c == b'_').count();
    let name = &before[before.len() - name_len..];
    SECRET_PARAMS.iter().any(|p| p.as_bytes().eq_ignore_ascii_case(name))
}

/// The separator at `i` (a space, `.` or `-`) has three digits before it (maybe then `)`),
/// and after it three digits, `.` or `-` and four digits: the shape [`NANP`] needs.
fn phone_shape(b: &[u8], i: usize) -> bool {
    let digits = |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    let end = if i > 0 && b[i - 1] == b')' { i - 1 } else { i };
    end >= 3
        && digits(end - 3..end)
        && digits(i + 1..i + 4)
        && matches!(b.get(i + 4), Some(b'.' | b'-'))
        && digits(i + 5..i + 9)
}

/// Replaces in place, allocating only when something matched.
fn replace(text: &mut Cow<'_, str>, re: &Regex, with: impl Fn(&Captures<'_>) -> String) {
    if let Cow::Owned(s) = re.replace_all(text, |c: &Captures<'_>| with(c)) {
        *text = Cow::Owned(s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_the_examples_from_the_issue() {
        assert_eq!(mask_email("ana@example.org"), "a***@example.org");
        assert_eq!(mask_phone("+14155550132"), "+1******0132");
        assert_eq!(mask_phone("(415) 555-0132"), "(***) ***-0132");
        assert_eq!(mask_phone("12"), "**");
    }

    #[test]
    fn scrubs_personal_data_in_free_text() {
        assert_eq!(
            scrub("a volunteer ana.garcia@example.org already exists"),
            "a volunteer a***@example.org already exists"
        );
        assert_eq!(scrub("email=ana%40example.org&limit=2"), "email=a***%40example.org&limit=2");
        assert_eq!(scrub(r#"{"phone":"+14155550132"}"#), r#"{"phone":"+1******0132"}"#);
        assert_eq!(scrub("phone=%2B14155550132"), "phone=%2B1******0132");
        assert_eq!(scrub("call (415) 555-0132 now"), "call (***) ***-0132 now");
        assert_eq!(scrub("415-555-0132"), "***-***-0132");
    }

    #[test]
    fn scrubs_secrets() {
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLWJ5dGVz";
        assert_eq!(scrub(&format!("Authorization: Bearer {jwt}")), "Authorization: Bearer [redacted jwt]");
        assert_eq!(scrub("Authorization: Bearer abcdefgh12345678"), "Authorization: Bearer [redacted]");
        assert_eq!(scrub("Basic dXNlcjpwYXNzd29yZA=="), "Basic [redacted]");
        assert_eq!(
            redact_url("postgres://muster:hunter2@db.internal:5432/muster"),
            "postgres://muster:***@db.internal:5432/muster"
        );
        assert_eq!(redact_url("rediss://:s3cret@cache:6380/0"), "rediss://:***@cache:6380/0");
        assert_eq!(
            redact_url("https://app.example.org/cb?code=xyz&state=1"),
            "https://app.example.org/cb?code=***&state=1"
        );
        assert_eq!(scrub("GET /x?access_token=abc.def&page=2"), "GET /x?access_token=***&page=2");
        assert_eq!(scrub("password=hunter2 user=bob"), "password=*** user=bob");
    }

    #[test]
    fn leaves_ordinary_log_content_alone() {
        for fine in [
            r#"{"timestamp":"2026-11-07T14:00:00.123456Z","latency_ms":12.5,"status":201}"#,
            "request_id=0192f0c1-7a3e-7cc5-9c3e-5f1f9a1b2c3d route=/v1/volunteers/{id}",
            "postgres://postgres@127.0.0.1:5432/muster",
            "sqlite://muster.db",
            "the bearer token was refused: the token has expired",
            r#"Bearer realm="muster", error="invalid_token""#,
            "zip_code=02139&event_type=canvass",
            "starts_at 2026-11-07T14:00:00+00:00, capacity 50, 10.0.0.1",
        ] {
            assert_eq!(scrub(fine), fine);
        }
    }

    #[test]
    fn an_access_line_skips_the_regexes() {
        let line = r#"{"timestamp":"2026-11-28T06:09:18.187637Z","level":"INFO","message":"request","kind":"access","request_id":"01a220c5-b76a-7447-a4c4-56c6762121e1","method":"GET","route":"/v1/volunteers/{id}","path":"/v1/volunteers/01a220c5-922a-7000-8000-000000001929","query":"limit=20&zip_code=02139","status":200,"latency_ms":1.284,"sub":"bench-load","client_ip":"127.0.0.1","user_agent":"wrk","bytes":346,"target":"muster::access"}"#;
        assert!(!may_match(line));
        for marked in ["a b@c", "x=1&Token=2", "tel 415.555.0132", "(415) 555-0132", "%2b1415", "BASIC x", "ſession=1"]
        {
            assert!(may_match(marked), "{marked}");
        }
    }

    use proptest::strategy::Strategy;

    proptest::proptest! {
        /// The byte scans never skip text a pattern matches.
        #[test]
        fn the_quick_check_never_skips_a_match(
            parts in proptest::collection::vec(proptest::prop_oneof![
                "[a-zA-Z0-9 ._:/()=&?;,'\"-]{0,12}",
                proptest::sample::select(vec![
                    "eyJhbGci.eyJzdWIi.c2ln", "Bearer abcdefgh1234", "bAsIc\tdXNlcjpw", "https://u:p@h",
                    "token=", "API_KEY=", "a.b@ex.org", "x%40ex.org", "+14155550132", "%2B14155550132",
                    "415-555-0132", "(415) 555.0132", "K", "ſ", "é",
                ]).prop_map(str::to_owned),
            ], 0..8)
        ) {
            let text = parts.concat();
            if ANY.is_match(&text) {
                proptest::prop_assert!(may_match(&text), "{:?} matches a pattern but was skipped", text);
            }
        }
    }
}
