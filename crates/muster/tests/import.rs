//! CSV import of volunteers, on SQLite and PostgreSQL.

mod support;

use reqwest::StatusCode;
use serde_json::{Value, json};
use support::TestApp;

on_both_backends!(
    imports_a_spreadsheet_export,
    bad_rows_are_reported_by_line,
    dry_run_writes_nothing,
    upsert_updates_by_email,
    refuses_what_is_not_an_import,
    streams_a_large_file,
    an_upload_cut_short_keeps_whole_chunks_of_a_prefix,
);

async fn upload(app: &TestApp, query: &str, csv: impl Into<reqwest::Body>) -> support::Resp {
    app.import_csv(&app.token, query, csv).await
}

async fn imports_a_spreadsheet_export(app: TestApp) {
    let csv = "\u{feff}First_Name,last_name,email,phone,zip_code,tags\r\n\
               Ana,Garcia,ana@example.org,(415) 555-0132,02139,spanish; driver\r\n\
               \"O'Brien, Jr.\",\"Smith \"\"Smitty\"\"\",ob@example.org,,94103,\r\n";
    let r = upload(&app, "", csv).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        (r.body["rows"].clone(), r.body["created"].clone(), r.body["failed"].clone()),
        (json!(2), json!(2), json!(0))
    );
    let ana = app.get("/v1/volunteers?email=ana@example.org").await.body["data"][0].clone();
    assert_eq!(ana["phone"], "+14155550132");
    assert_eq!(ana["tags"], json!(["spanish", "driver"]));
    let ob = app.get("/v1/volunteers?email=ob@example.org").await.body["data"][0].clone();
    assert_eq!(ob["first_name"], "O'Brien, Jr.");
    assert_eq!(ob["last_name"], "Smith \"Smitty\"");
    assert_eq!(ob["phone"], Value::Null);
}

async fn bad_rows_are_reported_by_line(app: TestApp) {
    app.volunteer("taken@example.org").await;
    let csv = "first_name,last_name,email\n\
               Ana,Garcia,ana@example.org\n\
               Ben,Bad,not-an-email\n\
               Cy,Short\n\
               Dee,Dup,ANA@example.org\n\
               \n\
               Eve,Taken,taken@example.org\n\
               Fay,\"multi\nline\",fay@example.org\n\
               Gus,Good,gus@example.org\n";
    let r = upload(&app, "", csv).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["rows"], 7);
    assert_eq!(r.body["created"], 3, "{}", r.body);
    assert_eq!(r.body["failed"], 4);
    let lines: Vec<u64> = r.body["errors"].as_array().unwrap().iter().map(|e| e["line"].as_u64().unwrap()).collect();
    assert_eq!(lines, [3, 4, 5, 7]);
    let errs = r.body["errors"].as_array().unwrap();
    assert_eq!(errs[0]["errors"][0]["field"], "email");
    assert!(errs[2]["errors"][0]["message"].as_str().unwrap().contains("line 2"), "{}", errs[2]);
    assert!(errs[3]["errors"][0]["message"].as_str().unwrap().contains("email"), "{}", errs[3]);
    let gus = app.get("/v1/volunteers?email=gus@example.org").await;
    assert_eq!(gus.body["data"].as_array().unwrap().len(), 1, "rows after a multi-line cell are read right");
}

async fn dry_run_writes_nothing(app: TestApp) {
    let csv = "first_name,last_name,email\nAna,Garcia,ana@example.org\nBen,Bad,nope\n";
    let r = upload(&app, "?dry_run=true", csv).await;
    assert_eq!(
        (r.body["created"].clone(), r.body["failed"].clone(), r.body["dry_run"].clone()),
        (json!(1), json!(1), json!(true))
    );
    assert!(app.get("/v1/volunteers").await.body["data"].as_array().unwrap().is_empty());
}

async fn upsert_updates_by_email(app: TestApp) {
    app.create(
        "volunteers",
        json!({"first_name": "Old", "last_name": "Name", "email": "keep@example.org", "zip_code": "02139"}),
    )
    .await;
    let csv = "first_name,last_name,email,zip_code\nNew,Name,KEEP@example.org,\nZed,Zee,zed@example.org,94103\n";
    let plain = upload(&app, "", csv).await;
    assert_eq!((plain.body["created"].clone(), plain.body["failed"].clone()), (json!(1), json!(1)));
    let r = upload(&app, "?upsert=true", csv).await;
    assert_eq!(
        (r.body["created"].clone(), r.body["updated"].clone(), r.body["failed"].clone()),
        (json!(0), json!(2), json!(0)),
        "{}",
        r.body
    );
    let kept = app.get("/v1/volunteers?email=keep@example.org").await.body["data"][0].clone();
    assert_eq!(kept["first_name"], "New");
    assert_eq!(kept["zip_code"], "02139", "an empty cell leaves the value alone");
}

async fn refuses_what_is_not_an_import(app: TestApp) {
    upload(&app, "", "first_name,last_name,email,favourite_colour\nA,B,a@example.org,red\n").await.problem(422);
    upload(&app, "", "first_name,email\nA,a@example.org\n").await.problem(422);
    upload(&app, "", "").await.problem(422);
    upload(&app, "?dry_run=maybe", "first_name,last_name,email\n").await.problem(400);
    let json = app.post("/v1/volunteers/import", &json!({"rows": []})).await;
    json.problem(415);
    let keyed = app
        .client
        .post(format!("{}/v1/volunteers/import", app.base))
        .bearer_auth(&app.token)
        .header("content-type", "text/csv")
        .header("idempotency-key", "k")
        .body("first_name,last_name,email\n")
        .send()
        .await
        .unwrap();
    assert_eq!(keyed.status(), StatusCode::BAD_REQUEST);
}

async fn streams_a_large_file(app: TestApp) {
    let mut csv = String::from("first_name,last_name,email,phone,zip_code,tags\n");
    for i in 0..20_000 {
        csv.push_str(&format!("Vol,Number{i},vol{i}@example.org,+1617555{:04},02139,big;import\n", i % 10_000));
    }
    let r = upload(&app, "", csv).await;
    assert_eq!(r.body["created"], 20_000, "{}", r.body);
    assert_eq!(r.body["failed"], 0);
}

/// The client sends 5,250 of 6,000 rows and hangs up: the ten 500-row chunks read before the
/// end are committed, in order, and nothing of the chunk being filled.
async fn an_upload_cut_short_keeps_whole_chunks_of_a_prefix(app: TestApp) {
    let mut csv = String::from("first_name,last_name,email,zip_code\n");
    let mut cut = 0;
    for i in 0..6_000 {
        if i == 5_250 {
            cut = csv.len();
        }
        csv.push_str(&format!("Cut,Short{i},cut{i}@example.org,02139\n"));
    }
    let addr = app.base.trim_start_matches("http://").to_owned();
    let head = format!(
        "POST /v1/volunteers/import HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: text/csv\r\nContent-Length: {}\r\n\r\n",
        app.token,
        csv.len()
    );
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.write_all(head.as_bytes()).unwrap();
        s.write_all(&csv.as_bytes()[..cut]).unwrap();
        // dropped: the connection closes with the body short of its Content-Length
    })
    .await
    .unwrap();
    let emails: Vec<String> = (0..6_000).map(|i| format!("cut{i}@example.org")).collect();
    let mut stored = Default::default();
    for _ in 0..100 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        stored = app.state.store.volunteer_ids_by_email(&emails).await.unwrap();
        if stored.len() >= 5_000 {
            break;
        }
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let again = app.state.store.volunteer_ids_by_email(&emails).await.unwrap();
    assert_eq!(again.len(), stored.len(), "nothing is written after the import ended");
    let mut lines: Vec<usize> = stored.keys().map(|e| e[3..e.find('@').unwrap()].parse().unwrap()).collect();
    lines.sort_unstable();
    assert_eq!(lines, (0..5_000).collect::<Vec<_>>(), "rows 0..5000: ten whole chunks, in file order");
    let v = app.get(&format!("/v1/volunteers/{}", stored["cut4999@example.org"])).await.body;
    assert_eq!((v["last_name"].as_str(), v["zip_code"].as_str()), (Some("Short4999"), Some("02139")), "whole rows");
}
