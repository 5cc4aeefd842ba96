//! The machinery the checks share: one [`Call`] per check (the operation it exercises, the
//! status it expects, what else must hold), sent by [`Suite::check`], which records the
//! outcome and hands back the response only when the check passed, so a later check that
//! needs its id is skipped, with the reason, instead of failing on a placeholder.
//!
//! The suite also keeps the ledger of what it created (read from every successful create,
//! whatever the check expected), which [`crate::cleanup`] deletes at the end.

use crate::report::{CheckResult, Outcome, Report};
use crate::{Options, RunError, Tokens};
use base64::Engine;
use reqwest::Method;
use reqwest::header::{self, HeaderMap, HeaderName};
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

/// Checks whose answer is a 429 they did not ask for wait this long at most, once.
const RETRY_429_UP_TO: Duration = Duration::from_secs(5);

/// A scope a check needs (the server's rule: GETs read, changes write, `/v1/admin` admin;
/// volunteers' checks also `contacts`, to see the email and phone they verify).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Scope {
    Read,
    Write,
    ReadContacts,
    WriteContacts,
    Admin,
}

impl Scope {
    fn claim(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "read write",
            Scope::ReadContacts => "read contacts",
            Scope::WriteContacts => "read write contacts",
            Scope::Admin => "admin",
        }
    }

    fn needed(method: &Method, path: &str) -> Scope {
        let contacts = path.starts_with("/v1/volunteers");
        if path.starts_with("/v1/admin/") {
            Scope::Admin
        } else if *method == Method::GET || path.starts_with("/ofrep/") {
            if contacts { Scope::ReadContacts } else { Scope::Read }
        } else if contacts {
            Scope::WriteContacts
        } else {
            Scope::Write
        }
    }
}

/// How a check authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Auth {
    /// The least scope the operation needs.
    Needed,
    /// No Authorization header.
    Anonymous,
    /// A token that grants only this scope (to provoke a 403).
    Only(Scope),
    /// A valid token whose signature was changed.
    BadSignature,
    /// A token that expired a minute ago.
    Expired,
}

/// One check: what it is called, the operation it exercises, the status it expects, and
/// the request. Build with [`Call::new`] and the builder methods.
pub(crate) struct Call {
    name: String,
    op: &'static str,
    method: Method,
    template: &'static str,
    args: Vec<Option<String>>,
    query: String,
    headers: Vec<(HeaderName, String)>,
    body: Option<(&'static str, Vec<u8>)>,
    auth: Auth,
    expect: u16,
    note: &'static str,
    documented: bool,
    /// An earlier check this one needs did not pass.
    unmet: bool,
    verify: Vec<Verify>,
}

/// One more thing an answer must show; the error says what was wrong.
type Verify = Box<dyn Fn(&Resp) -> Result<(), String> + Send + Sync>;

impl Call {
    /// `op` is the operation as the OpenAPI document writes it: `"GET /v1/events/{id}"`.
    pub fn new(name: impl Into<String>, op: &'static str, expect: u16) -> Call {
        let (method, template) = op.split_once(' ').expect("an operation is METHOD /path");
        Call {
            name: name.into(),
            op,
            method: Method::from_bytes(method.as_bytes()).expect("an HTTP method"),
            template,
            args: Vec::new(),
            query: String::new(),
            headers: Vec::new(),
            body: None,
            auth: Auth::Needed,
            expect,
            note: "",
            documented: true,
            unmet: false,
            verify: Vec::new(),
        }
    }

    /// Fills the next `{placeholder}` of the path; `None` (an earlier check failed) skips.
    pub fn arg(mut self, value: &Option<String>) -> Call {
        self.args.push(value.clone());
        self
    }

    /// Skips unless `value` is known (it comes from an earlier check).
    pub fn needs(mut self, value: &Option<String>) -> Call {
        self.unmet |= value.is_none();
        self
    }

    /// The query string, without `?`.
    pub fn query(mut self, q: impl Into<String>) -> Call {
        self.query = q.into();
        self
    }

    pub fn header(mut self, name: HeaderName, value: impl Into<String>) -> Call {
        self.headers.push((name, value.into()));
        self
    }

    pub fn json(mut self, body: &Value) -> Call {
        self.body = Some(("application/json", body.to_string().into_bytes()));
        self
    }

    /// A body sent as it is, with this content type.
    pub fn raw(mut self, content_type: &'static str, body: Vec<u8>) -> Call {
        self.body = Some((content_type, body));
        self
    }

    pub fn auth(mut self, auth: Auth) -> Call {
        self.auth = auth;
        self
    }

    /// What else the expectation says, shown beside the status (`"304 If-None-Match"`).
    pub fn note(mut self, note: &'static str) -> Call {
        self.note = note;
        self
    }

    /// A check of a path the document does not list (an unknown route, `/docs`).
    pub fn undocumented(mut self) -> Call {
        self.documented = false;
        self
    }

    /// One more thing the answer must show; the error says what was wrong.
    pub fn verify(mut self, f: impl Fn(&Resp) -> Result<(), String> + Send + Sync + 'static) -> Call {
        self.verify.push(Box::new(f));
        self
    }

    /// The answer must be a problem (RFC 9457) of this type slug with `request_id`.
    pub fn problem(self, slug: &'static str) -> Call {
        self.verify(move |r| r.is_problem(slug))
    }

    /// The problem's `errors` must name this field.
    pub fn field_error(self, field: &'static str) -> Call {
        self.verify(move |r| {
            let named = r.body["errors"].as_array().is_some_and(|e| e.iter().any(|x| x["field"] == field));
            if named { Ok(()) } else { Err(format!("errors do not name `{field}`: {}", r.snippet())) }
        })
    }

    fn writes(&self) -> bool {
        self.method != Method::GET && !self.template.starts_with("/ofrep/")
    }

    fn expect_text(&self) -> String {
        if self.note.is_empty() { self.expect.to_string() } else { format!("{} {}", self.expect, self.note) }
    }
}

/// An answer: status, headers and the body (parsed when it is JSON, else `Null`).
pub(crate) struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
    pub body: Value,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// A string field of the body.
    pub fn str(&self, field: &str) -> Option<String> {
        self.body.get(field).and_then(Value::as_str).map(str::to_owned)
    }

    pub fn id(&self) -> Option<String> {
        self.str("id")
    }

    /// The `data` array of a list.
    pub fn data(&self) -> &[Value] {
        self.body["data"].as_array().map_or(&[], Vec::as_slice)
    }

    /// Ids in the `data` array.
    pub fn ids(&self) -> Vec<String> {
        self.data().iter().filter_map(|r| r["id"].as_str().map(str::to_owned)).collect()
    }

    /// The body's start, for reasons.
    pub fn snippet(&self) -> String {
        let t = self.text.trim();
        match t.char_indices().nth(200) {
            Some((i, _)) => format!("{}…", &t[..i]),
            None => t.to_owned(),
        }
    }

    fn is_problem(&self, slug: &str) -> Result<(), String> {
        let ct = self.header("content-type").unwrap_or("");
        if !ct.starts_with("application/problem+json") {
            return Err(format!("content-type is {ct:?}, not application/problem+json"));
        }
        let ty = self.body["type"].as_str().unwrap_or("");
        if !ty.ends_with(&format!("#{slug}")) {
            return Err(format!("problem type is {ty:?}, expected #{slug}: {}", self.snippet()));
        }
        if self.body["status"] != self.status {
            return Err(format!("problem status {} differs from the HTTP status {}", self.body["status"], self.status));
        }
        for field in ["title", "detail", "request_id"] {
            if !self.body[field].is_string() {
                return Err(format!("the problem has no `{field}`"));
            }
        }
        Ok(())
    }
}

/// Where the suite's tokens come from, and the subjects of this run.
struct TokenBook {
    tokens: Tokens,
    run_mark: String,
    /// Scopes and subject of a given token (read from its claims, unverified).
    given_scopes: Option<BTreeSet<String>>,
    given_sub: Option<String>,
    minted: HashMap<(String, Scope, bool), String>,
}

impl TokenBook {
    /// The token for a check of `area`, or why there is none.
    fn token(&mut self, area: &str, auth: Auth, needed: Scope) -> Result<Option<String>, String> {
        let (scope, lifetime) = match auth {
            Auth::Anonymous => return Ok(None),
            Auth::Needed | Auth::BadSignature => (needed, 600),
            Auth::Only(s) => (s, 600),
            Auth::Expired => (needed, -60),
        };
        let token = match &self.tokens {
            Tokens::Given(t) => {
                if matches!(auth, Auth::Only(_) | Auth::Expired) {
                    return Err("needs MUSTER_JWT_SECRET to mint a token of its own (only --token was given)".into());
                }
                if let Some(granted) = &self.given_scopes
                    && !granted.contains("admin")
                    && !scope.claim().split(' ').all(|s| granted.contains(s))
                {
                    return Err(format!("the given token lacks the `{}` scope", scope.claim().replace(' ', "` and `")));
                }
                t.clone()
            }
            Tokens::Minted(minter) => {
                let key = (area.to_owned(), scope, lifetime < 0);
                match self.minted.get(&key) {
                    Some(t) => t.clone(),
                    None => {
                        let t = minter.mint(&self.subject(area), scope.claim(), lifetime)?;
                        self.minted.insert(key, t.clone());
                        t
                    }
                }
            }
        };
        Ok(Some(if auth == Auth::BadSignature { corrupt_signature(&token) } else { token }))
    }

    /// The subject the checks of `area` call as.
    fn subject(&self, area: &str) -> String {
        match (&self.tokens, &self.given_sub) {
            (Tokens::Given(_), Some(sub)) => sub.clone(),
            (Tokens::Given(_), None) => "unknown".into(),
            (Tokens::Minted(_), _) => format!("{}-{area}", self.run_mark),
        }
    }
}

/// The same token with another signature: the first signature byte changes.
fn corrupt_signature(token: &str) -> String {
    let Some(dot) = token.rfind('.') else { return format!("{token}x") };
    let (head, sig) = token.split_at(dot + 1);
    let mut sig: Vec<u8> = sig.bytes().collect();
    if let Some(b) = sig.first_mut() {
        *b = if *b == b'A' { b'B' } else { b'A' };
    }
    format!("{head}{}", String::from_utf8_lossy(&sig))
}

/// The claims of a token, read without checking its signature.
fn claims(token: &str) -> Option<Value> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// What the suite created, in order, for the cleanup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Created {
    /// A row of `/v1/<collection>`.
    Row(&'static str, String),
    Flag(String),
    RateLimit(String),
}

pub(crate) struct Suite {
    http: reqwest::Client,
    base: String,
    pub run_id: String,
    /// `e2e-<run id>`: in every name, tag, email, key and subject the run writes.
    pub mark: String,
    pub read_only: bool,
    /// The area the next checks belong to (their subject, when tokens are minted).
    area: &'static str,
    tokens: TokenBook,
    /// The target's operations (`"GET /v1/events/{id}"`), or why they are unknown.
    documented: Result<BTreeSet<String>, String>,
    pub build: Option<String>,
    pub created: Vec<Created>,
    results: Vec<CheckResult>,
    started: Instant,
    started_at: chrono::DateTime<chrono::Utc>,
    seq: u32,
    target: String,
}

impl Suite {
    /// Reads the target's document and version; an unreachable target is an error.
    pub async fn connect(opts: &Options) -> Result<Suite, RunError> {
        let url = reqwest::Url::parse(&opts.target)
            .map_err(|e| RunError::BadOptions(format!("--target {:?} is not a URL: {e}", opts.target)))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(RunError::BadOptions(format!("--target {:?} must be an http:// or https:// URL", opts.target)));
        }
        let base = opts.target.trim_end_matches('/').to_owned();
        let http = reqwest::Client::builder()
            .timeout(opts.timeout)
            .connect_timeout(opts.timeout.min(Duration::from_secs(5)))
            .user_agent(concat!("muster-e2e/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| RunError::BadOptions(format!("cannot make an HTTP client: {e}")))?;
        let started_at = chrono::Utc::now();
        let run_id =
            format!("{}-{}", started_at.format("%Y%m%dt%H%M%S"), &uuid::Uuid::now_v7().simple().to_string()[26..]);
        let mark = format!("e2e-{run_id}");
        let doc = match http.get(format!("{base}/openapi.json")).send().await {
            Err(e) if e.is_connect() || e.is_timeout() || e.is_request() => {
                return Err(RunError::Unreachable(format!("{base}/openapi.json: {}", error_chain(&e))));
            }
            Err(e) => Err(format!("reading {base}/openapi.json failed: {}", error_chain(&e))),
            Ok(r) if !r.status().is_success() => Err(format!("{base}/openapi.json answered {}", r.status().as_u16())),
            Ok(r) => r.json::<Value>().await.map_err(|e| format!("{base}/openapi.json is not JSON: {e}")),
        };
        let documented = doc.and_then(|d| {
            let ops = crate::coverage::operations(&d);
            if ops.is_empty() { Err("the target's /openapi.json lists no operations".into()) } else { Ok(ops) }
        });
        let build = match http.get(format!("{base}/version")).send().await {
            Ok(r) if r.status().is_success() => r.json::<Value>().await.ok().and_then(|v| {
                let build = v["build"].as_str()?;
                Some(match v["commit"].as_str() {
                    Some(commit) => format!("{build} ({commit})"),
                    None => build.to_owned(),
                })
            }),
            _ => None,
        };
        let (given_scopes, given_sub) = match &opts.tokens {
            Tokens::Given(t) => {
                let c = claims(t);
                let scopes = c
                    .as_ref()
                    .and_then(|c| c["scope"].as_str().map(|s| s.split_whitespace().map(str::to_owned).collect()));
                let sub = c.as_ref().and_then(|c| c["sub"].as_str().map(str::to_owned));
                (scopes, sub)
            }
            Tokens::Minted(_) => (None, None),
        };
        Ok(Suite {
            http,
            base,
            run_id,
            tokens: TokenBook {
                tokens: opts.tokens.clone(),
                run_mark: mark.clone(),
                given_scopes,
                given_sub,
                minted: HashMap::new(),
            },
            mark,
            read_only: opts.read_only,
            area: "main",
            documented,
            build,
            created: Vec::new(),
            results: Vec::new(),
            started: Instant::now(),
            started_at,
            seq: 0,
            target: opts.target.clone(),
        })
    }

    /// The checks that follow belong to `area`; minted tokens give each area its own
    /// subject, and so its own rate budget.
    pub fn area(&mut self, area: &'static str) {
        self.area = area;
    }

    /// The subject of the current area's calls.
    pub fn subject(&self) -> String {
        self.tokens.subject(self.area)
    }

    /// Runs `call` as a check; the answer when it passed.
    pub async fn check(&mut self, call: Call) -> Option<Resp> {
        let mut result = CheckResult {
            name: call.name.clone(),
            operation: call.op.to_owned(),
            expect: call.expect_text(),
            status: None,
            outcome: Outcome::Skip,
            latency_ms: 0.0,
            reason: None,
        };
        match self.prepare(&call) {
            Err(why) => {
                result.reason = Some(why);
                self.results.push(result);
                None
            }
            Ok((path, token)) => {
                let (outcome, resp) = self.send(&call, &path, token.as_deref(), &mut result).await;
                result.outcome = outcome;
                self.results.push(result);
                resp.filter(|_| outcome == Outcome::Pass)
            }
        }
    }

    /// Records a check that could not be run, with the reason.
    pub fn skip(&mut self, name: &str, op: &'static str, expect: u16, why: impl Into<String>) {
        self.results.push(CheckResult {
            name: name.to_owned(),
            operation: op.to_owned(),
            expect: expect.to_string(),
            status: None,
            outcome: Outcome::Skip,
            latency_ms: 0.0,
            reason: Some(why.into()),
        });
    }

    /// Records a check the suite judged itself (coverage, cleanup).
    pub fn record(&mut self, name: &str, op: &str, outcome: Outcome, reason: Option<String>) {
        self.results.push(CheckResult {
            name: name.to_owned(),
            operation: op.to_owned(),
            expect: "-".into(),
            status: None,
            outcome,
            latency_ms: 0.0,
            reason,
        });
    }

    /// The concrete path and the token, or why the check is skipped.
    fn prepare(&mut self, call: &Call) -> Result<(String, Option<String>), String> {
        if let Ok(ops) = &self.documented
            && call.documented
            && !ops.contains(call.op)
        {
            return Err("not in the target's /openapi.json".into());
        }
        if self.read_only && call.writes() {
            return Err("--read-only: this check writes".into());
        }
        if call.unmet {
            return Err("an earlier check it builds on did not pass, or gave nothing to build on".into());
        }
        let mut path = String::with_capacity(call.template.len() + 40);
        let mut args = call.args.iter();
        let mut rest = call.template;
        while let Some(open) = rest.find('{') {
            let close = rest[open..].find('}').map_or(rest.len(), |c| open + c + 1);
            path.push_str(&rest[..open]);
            match args.next() {
                Some(Some(v)) => path.push_str(v),
                Some(None) => {
                    return Err(format!("needs the {} of an earlier check, which did not pass", &rest[open..close]));
                }
                None => panic!("{}: no value for {}", call.op, &rest[open..close]),
            }
            rest = &rest[close..];
        }
        path.push_str(rest);
        if !call.query.is_empty() {
            path.push('?');
            path.push_str(&call.query);
        }
        let needed = Scope::needed(&call.method, call.template);
        let token = self.tokens.token(self.area, call.auth, needed)?;
        Ok((path, token))
    }

    async fn send(
        &mut self,
        call: &Call,
        path: &str,
        token: Option<&str>,
        result: &mut CheckResult,
    ) -> (Outcome, Option<Resp>) {
        let mut retried = false;
        loop {
            self.seq += 1;
            let request_id = format!("{}-{}", self.mark, self.seq);
            let mut req = self
                .http
                .request(call.method.clone(), format!("{}{path}", self.base))
                .header("x-request-id", &request_id);
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            for (name, value) in &call.headers {
                req = req.header(name, value);
            }
            if let Some((ct, body)) = &call.body {
                req = req.header(header::CONTENT_TYPE, *ct).body(body.clone());
            }
            let sent = Instant::now();
            let answer = req.send().await;
            let resp = match answer {
                Ok(r) => {
                    let status = r.status().as_u16();
                    let headers = r.headers().clone();
                    match r.text().await {
                        Ok(text) => {
                            let body = serde_json::from_str(&text).unwrap_or(Value::Null);
                            Resp { status, headers, text, body }
                        }
                        Err(e) => {
                            result.status = Some(status);
                            result.reason =
                                Some(format!("reading the body failed: {} ({request_id})", error_chain(&e)));
                            return (Outcome::Fail, None);
                        }
                    }
                }
                Err(e) => {
                    result.latency_ms = ms(sent.elapsed());
                    result.reason = Some(format!("no answer: {} ({request_id})", error_chain(&e)));
                    return (Outcome::Fail, None);
                }
            };
            result.latency_ms = ms(sent.elapsed());
            result.status = Some(resp.status);
            self.note_created(call, &resp);
            if resp.status == 429 && call.expect != 429 && !retried {
                let wait = resp.header("retry-after").and_then(|s| s.parse::<u64>().ok()).map(Duration::from_secs);
                if let Some(wait) = wait.filter(|w| *w <= RETRY_429_UP_TO) {
                    tokio::time::sleep(wait).await;
                    retried = true;
                    continue;
                }
            }
            if resp.status != call.expect {
                let detail = resp.body["detail"].as_str().map_or_else(|| resp.snippet(), str::to_owned);
                result.reason = Some(format!("expected {}, got {}: {detail} ({request_id})", call.expect, resp.status));
                return (Outcome::Fail, None);
            }
            // every response, whatever the check: the request id echoed, the build named
            if resp.header("x-request-id") != Some(request_id.as_str()) {
                result.reason = Some(format!(
                    "X-Request-Id {:?} does not echo the request's ({request_id})",
                    resp.header("x-request-id")
                ));
                return (Outcome::Fail, None);
            }
            if resp.header("x-muster-build").is_none() {
                result.reason = Some(format!("no X-Muster-Build header ({request_id})"));
                return (Outcome::Fail, None);
            }
            for verify in &call.verify {
                if let Err(why) = verify(&resp) {
                    result.reason = Some(format!("{why} ({request_id})"));
                    return (Outcome::Fail, None);
                }
            }
            return (Outcome::Pass, Some(resp));
        }
    }

    /// Keeps what a write created in the ledger, whatever the check expected.
    fn note_created(&mut self, call: &Call, resp: &Resp) {
        let t = call.template;
        let collection = |path: &str| -> Option<&'static str> {
            let name = path.strip_prefix("/v1/")?;
            ["candidates", "volunteers", "events", "attendances"].into_iter().find(|c| *c == name)
        };
        match (&call.method, resp.status) {
            (&Method::POST, 201) => {
                if let (Some(c), Some(id)) = (collection(t), resp.id()) {
                    self.created.push(Created::Row(c, id));
                }
            }
            (&Method::POST, 200) if t.ends_with("/batch") => {
                if let Some(c) = collection(t.trim_end_matches("/batch")) {
                    for r in resp.body["results"].as_array().into_iter().flatten() {
                        if r["status"] == 201
                            && let Some(id) = r["data"]["id"].as_str()
                        {
                            self.created.push(Created::Row(c, id.to_owned()));
                        }
                    }
                }
            }
            (&Method::PUT, 200 | 201) if t == "/v1/admin/flags/{key}" => {
                if let Some(k) = resp.str("key") {
                    self.created.push(Created::Flag(k));
                }
            }
            (&Method::PUT, 200) if t == "/v1/admin/rate-limits/{subject}" => {
                if let Some(s) = resp.str("subject") {
                    self.created.push(Created::RateLimit(s));
                }
            }
            _ => {}
        }
    }

    /// The coverage check: every operation of the target's document is named by a check.
    pub fn coverage_check(&mut self) {
        let (outcome, reason) = match &self.documented {
            Err(why) => (Outcome::Fail, Some(why.clone())),
            Ok(ops) => {
                let named: BTreeSet<String> = self.results.iter().map(|r| r.operation.clone()).collect();
                let missing = crate::coverage::uncovered(ops, &named);
                if missing.is_empty() {
                    (Outcome::Pass, None)
                } else {
                    (Outcome::Fail, Some(format!("no check covers: {}", missing.join(", "))))
                }
            }
        };
        let n = self.documented.as_ref().map_or(0, BTreeSet::len);
        self.record(
            &format!("every operation of /openapi.json has a check ({n})"),
            "GET /openapi.json",
            outcome,
            reason,
        );
    }

    /// A plain authorised GET outside any check (for cleanup and read-only lookups).
    pub async fn fetch(&mut self, path: &str) -> Option<Resp> {
        self.quiet(Method::GET, path).await
    }

    /// A plain authorised DELETE outside any check; its status.
    pub async fn remove(&mut self, path: &str) -> Option<u16> {
        self.quiet(Method::DELETE, path).await.map(|r| r.status)
    }

    async fn quiet(&mut self, method: Method, path: &str) -> Option<Resp> {
        let needed = Scope::needed(&method, path.split('?').next().unwrap_or(path));
        let token = self.tokens.token(self.area, Auth::Needed, needed).ok().flatten();
        for _ in 0..2 {
            self.seq += 1;
            let mut req = self
                .http
                .request(method.clone(), format!("{}{path}", self.base))
                .header("x-request-id", format!("{}-{}", self.mark, self.seq));
            if let Some(t) = &token {
                req = req.bearer_auth(t);
            }
            let r = req.send().await.ok()?;
            let status = r.status().as_u16();
            let headers = r.headers().clone();
            let text = r.text().await.ok()?;
            let body = serde_json::from_str(&text).unwrap_or(Value::Null);
            let resp = Resp { status, headers, text, body };
            match resp.header("retry-after").and_then(|s| s.parse::<u64>().ok()).map(Duration::from_secs) {
                Some(wait) if status == 429 && wait <= RETRY_429_UP_TO => tokio::time::sleep(wait).await,
                _ => return Some(resp),
            }
        }
        None
    }

    /// In a read-only run, the id of the first row at `list` (a path with `?limit=1`), so
    /// the reads have something to read; otherwise `made`.
    pub async fn or_existing(&mut self, made: Option<String>, list: &str) -> Option<String> {
        if made.is_some() || !self.read_only {
            return made;
        }
        self.fetch(list).await.filter(|r| r.status == 200).and_then(|r| r.ids().into_iter().next())
    }

    /// Sends `n` authorised GETs to `path` outside any check (to spend a budget); the last answer.
    pub async fn spend(&mut self, path: &str, n: usize) -> Option<Resp> {
        let mut last = None;
        for _ in 0..n {
            let token = self.tokens.token(self.area, Auth::Needed, Scope::Read).ok().flatten();
            self.seq += 1;
            let mut req = self.http.get(format!("{}{path}", self.base));
            if let Some(t) = &token {
                req = req.bearer_auth(t);
            }
            let r = req.send().await.ok()?;
            let status = r.status().as_u16();
            let headers = r.headers().clone();
            last = Some(Resp { status, headers, text: String::new(), body: Value::Null });
            if status == 429 {
                break;
            }
        }
        last
    }

    pub fn finish(self, interrupted: bool) -> Report {
        Report::new(
            self.run_id,
            self.target,
            self.build,
            self.started_at,
            self.started.elapsed(),
            interrupted,
            self.results,
        )
    }
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 10_000.0).round() / 10.0
}

/// An error with its causes, which is where reqwest says what went wrong.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// A header value for `If-Match` / `If-None-Match` from an ETag that was read.
pub(crate) fn etag_of(resp: &Option<Resp>) -> Option<String> {
    resp.as_ref().and_then(|r| r.header("etag").map(str::to_owned))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_corrupted_signature_differs_only_there() {
        let t = "aaa.bbb.Acd";
        assert_eq!(corrupt_signature(t), "aaa.bbb.Bcd");
        assert_eq!(corrupt_signature("aaa.bbb.xyz"), "aaa.bbb.Ayz");
    }

    #[test]
    fn claims_are_read_without_the_signature() {
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"sub":"ana","scope":"read write"}"#);
        let c = claims(&format!("h.{payload}.s")).unwrap();
        assert_eq!(c["sub"], "ana");
        assert!(claims("not a token").is_none());
    }

    #[test]
    fn scopes_follow_the_server_rule() {
        assert_eq!(Scope::needed(&Method::GET, "/v1/events"), Scope::Read);
        assert_eq!(Scope::needed(&Method::POST, "/ofrep/v1/evaluate/flags"), Scope::Read);
        assert_eq!(Scope::needed(&Method::POST, "/v1/events"), Scope::Write);
        assert_eq!(Scope::needed(&Method::GET, "/v1/admin/flags"), Scope::Admin);
        assert_eq!(Scope::needed(&Method::GET, "/v1/volunteers/{id}"), Scope::ReadContacts);
        assert_eq!(Scope::needed(&Method::POST, "/v1/volunteers/batch"), Scope::WriteContacts);
    }
}
