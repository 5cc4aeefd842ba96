//! Every problem `type` the API can answer with: what it means and how to fix it.
//!
//! One table feeds the `/docs/problems` page (each `type` URI resolves to its section),
//! `docs/errors.md`, and the OpenAPI document; a test fails when code answers with a
//! slug that is not here, so the reference cannot fall behind the code.

/// One kind of problem.
#[derive(Debug, Clone, Copy)]
pub struct ProblemType {
    pub slug: &'static str,
    pub status: u16,
    pub title: &'static str,
    /// When it happens.
    pub when: &'static str,
    /// What the client should do.
    pub fix: &'static str,
}

pub const PROBLEM_TYPES: &[ProblemType] = &[
    ProblemType {
        slug: "bad-request",
        status: 400,
        title: "Bad request",
        when: "The request could not be read: an unreadable body, a malformed query string, or a header the call does not accept (for example Idempotency-Key on a CSV import).",
        fix: "Read `detail`, correct the request and send it again.",
    },
    ProblemType {
        slug: "malformed-json",
        status: 400,
        title: "Malformed JSON",
        when: "The body is not valid JSON; `detail` gives the line and column where parsing stopped.",
        fix: "Send a JSON object; check quoting and trailing commas.",
    },
    ProblemType {
        slug: "invalid-query",
        status: 400,
        title: "Invalid query parameter",
        when: "A query parameter is unknown, repeated, or has a value it does not accept (a bad `limit`, `cursor`, date or UUID). `errors` names each parameter.",
        fix: "Use only the parameters the endpoint lists; pass `next_cursor` back unchanged.",
    },
    ProblemType {
        slug: "unauthorized",
        status: 401,
        title: "Unauthorized",
        when: "No bearer token, or one that was refused (expired, not yet valid, wrong signature, issuer or audience, unsupported algorithm). `WWW-Authenticate` says why.",
        fix: "Send `Authorization: Bearer <JWT>` with a valid token (`muster token` mints one for development).",
    },
    ProblemType {
        slug: "insufficient-scope",
        status: 403,
        title: "Insufficient scope",
        when: "The token is valid but lacks the scope the call needs: `read` for GETs, `write` for changes, `admin` for `/v1/admin`. `detail` names the missing scope.",
        fix: "Use a token with that scope (`admin` implies `read` and `write`).",
    },
    ProblemType {
        slug: "feature-disabled",
        status: 404,
        title: "Feature disabled",
        when: "The endpoint or option is behind a feature flag that is off for this caller.",
        fix: "Ask an administrator to enable the flag for you, or try again once it is rolled out.",
    },
    ProblemType {
        slug: "not-found",
        status: 404,
        title: "Not found",
        when: "No such route, or no row with that id (including ids that are not UUIDs).",
        fix: "Check the path and the id; ids come from the `id` field or the `Location` header.",
    },
    ProblemType {
        slug: "method-not-allowed",
        status: 405,
        title: "Method not allowed",
        when: "The path exists but not with this method. The `Allow` header lists the methods it takes.",
        fix: "Use one of the methods in `Allow`.",
    },
    ProblemType {
        slug: "body-timeout",
        status: 408,
        title: "Request body timed out",
        when: "The body stopped arriving: nothing came for longer than the server waits between two reads of a body (`MUSTER_BODY_READ_TIMEOUT`, 30 s by default). The connection is closed.",
        fix: "Send the body as fast as the connection allows, on a new connection; a stalled upload can be retried.",
    },
    ProblemType {
        slug: "conflict",
        status: 409,
        title: "Conflict",
        when: "The change clashes with stored data: a duplicate (an email, a volunteer already signed up), a row still referenced by others, a status change the rules forbid, or a request with the same Idempotency-Key still running.",
        fix: "Read `detail`: change the data, remove the references first, or retry after `Retry-After`.",
    },
    ProblemType {
        slug: "precondition-failed",
        status: 412,
        title: "Precondition failed",
        when: "`If-Match` named a version (ETag) that is no longer current, or was not an ETag this API issued.",
        fix: "GET the row again, reapply your change to it, and send it with the new ETag.",
    },
    ProblemType {
        slug: "body-too-large",
        status: 413,
        title: "Request body too large",
        when: "The body is over the limit (1 MiB, 16 MiB for batches, 100 MiB for CSV imports).",
        fix: "Send less: split the batch or the file.",
    },
    ProblemType {
        slug: "batch-too-large",
        status: 413,
        title: "Batch too large",
        when: "A batch holds more operations than `MUSTER_BATCH_MAX` (1000 by default).",
        fix: "Split it into several calls.",
    },
    ProblemType {
        slug: "unsupported-media-type",
        status: 415,
        title: "Unsupported media type",
        when: "The body is not `application/json` (or `text/csv` for an import).",
        fix: "Set the `Content-Type` header to match the body.",
    },
    ProblemType {
        slug: "validation",
        status: 422,
        title: "Invalid input",
        when: "The body is well-formed but a field is missing, unknown, read-only or invalid, or names a row that does not exist. `errors` has one `{field, message}` per problem.",
        fix: "Fix every field listed in `errors` and send the request again.",
    },
    ProblemType {
        slug: "idempotency-key-reused",
        status: 422,
        title: "Idempotency key reused",
        when: "An Idempotency-Key was sent again with a different body or path.",
        fix: "Use a new key for a new request; reuse a key only to retry the very same request.",
    },
    ProblemType {
        slug: "rate-limited",
        status: 429,
        title: "Too many requests",
        when: "The caller's rate budget is used up. `Retry-After` and the `RateLimit` headers say when it refills.",
        fix: "Wait `Retry-After` seconds; spread requests out or ask for a higher limit.",
    },
    ProblemType {
        slug: "headers-too-large",
        status: 431,
        title: "Request headers too large",
        when: "The request headers add up to more than 16 KiB.",
        fix: "Send fewer or smaller headers (large cookies are the usual cause).",
    },
    ProblemType {
        slug: "internal",
        status: 500,
        title: "Internal server error",
        when: "Something failed on the server. Nothing about it is shown; the cause is logged with the request id.",
        fix: "Retry later; if it persists, report the `request_id`.",
    },
    ProblemType {
        slug: "unavailable",
        status: 503,
        title: "Service unavailable",
        when: "A dependency (the database) is down or overloaded.",
        fix: "Retry after `Retry-After`; writes that got an error were not applied.",
    },
    ProblemType {
        slug: "timeout",
        status: 503,
        title: "Request timed out",
        when: "The request ran longer than the server's time limit and was abandoned.",
        fix: "Retry later, or split large work into smaller calls.",
    },
];

/// The reference page served at `/docs/problems`: one section per type, anchored by slug.
pub fn html() -> String {
    let mut sections = String::new();
    for p in PROBLEM_TYPES {
        sections.push_str(&format!(
            "<section id=\"{slug}\"><h2>{title} <small>{status} · <code>{slug}</code></small></h2>\
             <p><strong>When:</strong> {when}</p><p><strong>What to do:</strong> {fix}</p></section>\n",
            slug = p.slug,
            title = esc(p.title),
            status = p.status,
            when = esc(p.when),
            fix = esc(p.fix)
        ));
    }
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Muster problem types</title>\
         <link rel=\"stylesheet\" href=\"/docs/assets/problems.css\"></head><body><h1>Problem types</h1>\
         <p>Every error is <code>application/problem+json</code> (RFC 9457); its <code>type</code> links here.</p>\n\
         {sections}</body></html>"
    )
}

/// The same reference as Markdown, kept in `docs/errors.md`.
pub fn markdown() -> String {
    let mut out = String::from(
        "# Errors\n\nEvery error is `application/problem+json` (RFC 9457) with `type`, `title`, `status`, `detail` \
         and `request_id`; validation problems add `errors`, a list of `{field, message}`. The `type` is \
         `/docs/problems#<slug>`, served by the API itself. This page is generated from \
         `crates/api/src/problem_types.rs` (`UPDATE_DOCS=1 cargo test -p muster-api problem` rewrites it).\n\n\
         ```json\n{\n  \"type\": \"/docs/problems#validation\",\n  \"title\": \"Invalid input\",\n  \"status\": 422,\n  \
         \"detail\": \"1 field failed validation; see errors\",\n  \"request_id\": \"0192f0c1-7a3e-7cc5-9c3e-5f1f9a1b2c3d\",\n  \
         \"errors\": [{\"field\": \"email\", \"message\": \"must be an email address like name@example.org\"}]\n}\n```\n",
    );
    for p in PROBLEM_TYPES {
        out.push_str(&format!(
            "\n## {slug}\n\n**{status} {title}.** {when}\n\n*What to do:* {fix}\n",
            slug = p.slug,
            status = p.status,
            title = p.title,
            when = p.when,
            fix = p.fix
        ));
    }
    out
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn sources(dir: &Path, out: &mut String) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                sources(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push_str(&std::fs::read_to_string(&path).unwrap());
            }
        }
    }

    /// Every slug the code answers with is documented, with the status it is sent with.
    #[test]
    fn problem_types_cover_the_code() {
        let mut code = String::new();
        sources(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut code);
        let used = regex::Regex::new(r#"ApiError::new\(\s*StatusCode::([A-Z_]+),\s*"([a-z-]+)""#).unwrap();
        let mut seen = 0;
        for cap in used.captures_iter(&code) {
            let slug = &cap[2];
            let doc =
                PROBLEM_TYPES.iter().find(|p| p.slug == slug).unwrap_or_else(|| panic!("{slug} is not documented"));
            let status = match &cap[1] {
                "BAD_REQUEST" => 400,
                "UNAUTHORIZED" => 401,
                "FORBIDDEN" => 403,
                "NOT_FOUND" => 404,
                "METHOD_NOT_ALLOWED" => 405,
                "CONFLICT" => 409,
                "PRECONDITION_FAILED" => 412,
                "REQUEST_TIMEOUT" => 408,
                "PAYLOAD_TOO_LARGE" => 413,
                "UNSUPPORTED_MEDIA_TYPE" => 415,
                "UNPROCESSABLE_ENTITY" => 422,
                "TOO_MANY_REQUESTS" => 429,
                "REQUEST_HEADER_FIELDS_TOO_LARGE" => 431,
                "INTERNAL_SERVER_ERROR" => 500,
                "SERVICE_UNAVAILABLE" => 503,
                other => panic!("unmapped status {other}"),
            };
            assert_eq!(doc.status, status, "{slug}");
            seen += 1;
        }
        assert!(seen >= 15, "the scan found the problem constructors ({seen})");
        let mut slugs: Vec<_> = PROBLEM_TYPES.iter().map(|p| p.slug).collect();
        slugs.sort_unstable();
        slugs.dedup();
        assert_eq!(slugs.len(), PROBLEM_TYPES.len(), "slugs are unique");
    }

    /// `docs/errors.md` is this table; `UPDATE_DOCS=1` rewrites it.
    #[test]
    fn errors_page_matches_the_table() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/errors.md");
        let want = markdown();
        if std::env::var_os("UPDATE_DOCS").is_some() {
            std::fs::write(&path, &want).unwrap();
        }
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(have == want, "docs/errors.md is stale: run UPDATE_DOCS=1 cargo test -p muster-api problem");
    }
}
