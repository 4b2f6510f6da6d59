//! The debugger is served by the binary itself: `/ui/` and its assets,
//! embedded at build time, with a policy that allows nothing from
//! elsewhere. (Browser tests drive it; this checks what is served.)

mod common;

use common::Server;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_debugger_page_and_its_assets_are_served_from_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let get = |path: &str| http.get(format!("{}{path}", server.url)).send();

    let r = get("/ui").await.unwrap();
    assert_eq!((r.status().as_u16(), r.headers()["location"].to_str().unwrap()), (308, "/ui/"));
    let r = get("/ui/").await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/html; charset=utf-8");
    assert!(r.headers()["content-security-policy"].to_str().unwrap().starts_with("default-src 'self'"));
    let html = r.text().await.unwrap();
    assert!(html.contains(r#"<script type="module" src="app.js">"#), "{html}");
    for (file, kind) in [("app.js", "text/javascript"), ("app.css", "text/css")] {
        let r = get(&format!("/ui/{file}")).await.unwrap();
        assert_eq!(r.status(), 200, "{file}");
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with(kind));
        assert!(!r.text().await.unwrap().is_empty());
    }
    assert_eq!(get("/ui/nope.js").await.unwrap().status(), 404);
    // The page only uses the public API: nothing in it names another origin.
    let js = get("/ui/app.js").await.unwrap().text().await.unwrap();
    assert!(!js.contains("http://") && !js.contains("https://"), "no external requests");
}

/// The debugger types its calls from `ui/openapi.json` (openapi-typescript
/// generates `ui/src/openapi.d.ts` from it; `scripts/ui.sh` checks that
/// is current): the copy must be the document the server serves.
/// `HINDSIGHT_BLESS=1` rewrites it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_debuggers_copy_of_the_openapi_document_is_current() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let served: serde_json::Value =
        reqwest::get(format!("{}/openapi.json", server.url)).await.unwrap().json().await.unwrap();
    let copy = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ui/openapi.json");
    if std::env::var_os("HINDSIGHT_BLESS").is_some() {
        std::fs::write(&copy, serde_json::to_string_pretty(&served).unwrap() + "\n").unwrap();
    }
    let committed: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&copy).unwrap()).unwrap();
    assert!(
        committed == served,
        "ui/openapi.json is not what the server serves: run HINDSIGHT_BLESS=1 cargo test -p hindsight --test ui, then scripts/ui.sh build"
    );
}
