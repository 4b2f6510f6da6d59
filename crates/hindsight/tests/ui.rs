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
