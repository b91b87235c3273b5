//! Every bad input is a 4xx problem+json and leaves nothing behind.

use crate::helpers::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_that_are_not_json_objects() {
    let app = spawn_app().await;
    for body in [
        "not json",
        "{\"url\":",
        "\"a string\"",
        "[1,2]",
        "42",
        "null",
        "true",
        "",
    ] {
        let response = app.post_raw("/links", "application/json", body).await;
        let problem = problem(response, 400).await;
        assert_eq!(problem["type"], "/problems/malformed-body", "{body:?}");
    }
    let response = app.post_raw("/links", "text/plain", "{}").await;
    problem(response, 415).await;
    assert_eq!(app.rows().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_types_and_missing_fields() {
    let app = spawn_app().await;
    let cases = [
        (json!({}), vec!["url"]),
        (json!({"url": null}), vec!["url"]),
        (json!({"url": 5}), vec!["url"]),
        (json!({"url": ["https://example.com"]}), vec!["url"]),
        (
            json!({"url": "https://example.com", "alias": 7}),
            vec!["alias"],
        ),
        (
            json!({"url": "https://example.com", "title": {"a": 1}}),
            vec!["title"],
        ),
        (
            json!({"url": "https://example.com", "redirect_type": "301"}),
            vec!["redirect_type"],
        ),
        (
            json!({"url": "https://example.com", "redirect_type": 301.5}),
            vec!["redirect_type"],
        ),
        (
            json!({"url": "https://example.com", "expires_at": 1700000000}),
            vec!["expires_at"],
        ),
        (
            json!({"url": "https://example.com", "expires_at": "next tuesday"}),
            vec!["expires_at"],
        ),
        (json!({"url": true, "alias": false}), vec!["url", "alias"]),
    ];
    for (body, expected) in cases {
        let problem = problem(app.create(body.clone()).await, 400).await;
        assert_eq!(fields(&problem), expected, "{body}");
    }
    assert_eq!(app.rows().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_urls() {
    let app = spawn_app().await;
    let too_long = format!("https://example.com/{}", "a".repeat(2040));
    let cases = [
        "javascript:alert(document.cookie)",
        "JavaScript:alert(1)",
        "data:text/html;base64,PHNjcmlwdD4=",
        "ftp://example.com/file",
        "file:///etc/passwd",
        "http://",
        "//example.com/protocol-relative",
        "example.com",
        "",
        "   ",
        &too_long,
        "https://sho.rt/loop",
        "https://SHO.RT./loop",
        "http://sho.rt:8443/loop",
        "https://user:password@example.com/",
    ];
    for url in cases {
        let problem = problem(app.create(json!({"url": url})).await, 400).await;
        assert_eq!(fields(&problem), ["url"], "{url:?}: {problem}");
    }
    assert_eq!(app.rows().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_aliases_and_collisions() {
    let app = spawn_app().await;
    let cases = [
        "ab",
        "",
        "a",
        &"x".repeat(65),
        "has space",
        "slash/es",
        "dot.ted",
        "ünïcode",
        "<script>",
        "auth",
        "Links",
        "HEALTH",
        "metrics",
        "admin",
    ];
    for alias in cases {
        let body = json!({"url": "https://example.com", "alias": alias});
        let response = app.create(body).await;
        if alias.is_empty() {
            // An empty alias means "mint one for me".
            assert_eq!(response.status(), 201);
            continue;
        }
        let problem = problem(response, 400).await;
        assert_eq!(fields(&problem), ["alias"], "{alias:?}");
    }
    assert_eq!(app.rows().await, 1);
    let first = app
        .create(json!({"url": "https://example.com/1", "alias": "taken"}))
        .await;
    assert_eq!(first.status(), 201);
    let second = app
        .create(json!({"url": "https://example.com/2", "alias": "taken"}))
        .await;
    let conflict = problem(second, 409).await;
    assert!(conflict["detail"].as_str().unwrap().contains("taken"));
    assert_eq!(app.rows().await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_over_the_limit_are_413() {
    let app = spawn_app().await;
    let big = json!({"url": format!("https://example.com/{}", "a".repeat(BODY_LIMIT))}).to_string();
    problem(
        app.post_raw("/links", "application/json", big.clone())
            .await,
        413,
    )
    .await;
    // Without a Content-Length (chunked), the limit still holds while reading.
    let stream = futures_stream(big.into_bytes());
    let response = app
        .http
        .post(format!("{}/links", app.api))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    problem(response, 413).await;
    assert_eq!(app.rows().await, 0);
}

fn futures_stream(
    bytes: Vec<u8>,
) -> impl futures_core::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    ChunkStream(bytes.chunks(512).map(<[u8]>::to_vec).collect())
}

struct ChunkStream(std::collections::VecDeque<Vec<u8>>);

impl futures_core::Stream for ChunkStream {
    type Item = Result<Vec<u8>, std::io::Error>;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        std::task::Poll::Ready(self.0.pop_front().map(Ok))
    }
}
