//! Tags: set on create and edit (normalised, bounded), a filter of the list, and `/tags`
//! (counts, rename, delete), on both backends through HOP_TEST_BACKEND.

use crate::helpers::*;
use serde_json::{Value, json};
use std::time::Duration;

async fn codes(app: &TestApp, path: &str, token: &str) -> Vec<String> {
    let body: Value = app.get_as(path, token).await.json().await.unwrap();
    body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .map(|l| l["code"].as_str().unwrap().to_owned())
        .collect()
}

async fn tags(app: &TestApp, token: &str) -> Value {
    let response = app.get_as("/tags", token).await;
    assert_eq!(response.status(), 200);
    response.json::<Value>().await.unwrap()["items"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_are_set_filtered_counted_renamed_and_deleted() {
    let app = spawn_app_with(test_settings()).await;
    let (token, _) = app.account("tags@example.com").await;
    let (other, _) = app.account("othertags@example.com").await;
    for (alias, tags) in [
        ("tag-one", json!(["  Rust ", "rust", "Web  Dev"])),
        ("tag-two", json!(["rust"])),
        ("tag-three", json!(["news", "web dev"])),
        ("tag-none", json!([])),
    ] {
        let created = app
            .post_json(
                "/links",
                &json!({"url": format!("https://example.com/{alias}"), "alias": alias, "tags": tags}),
                Some(&token),
            )
            .await;
        assert_eq!(created.status(), 201, "{:?}", created.text().await);
    }
    // Someone else's tag of the same name is theirs.
    app.post_json(
        "/links",
        &json!({"url": "https://example.com/theirs", "tags": ["rust"]}),
        Some(&other),
    )
    .await;
    let one: Value = app
        .get_as("/links/tag-one", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        one["tags"],
        json!(["rust", "web dev"]),
        "normalised, sorted"
    );

    assert_eq!(
        codes(&app, "/links?tag=rust", &token).await,
        ["tag-two", "tag-one"]
    );
    assert_eq!(
        codes(&app, "/links?tag=RUST", &token).await,
        ["tag-two", "tag-one"]
    );
    assert_eq!(
        codes(&app, "/links?tag=web%20dev", &token).await,
        ["tag-three", "tag-one"]
    );
    assert!(codes(&app, "/links?tag=nothing", &token).await.is_empty());

    // A click on tag-two counts for rust (bots left out).
    let redirect = app
        .http
        .get(format!("{}/tag-two", app.redirect))
        .header(
            "user-agent",
            "Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(redirect.status(), 302);
    hop_testkit::until("the click is counted", Duration::from_secs(10), || async {
        tags(&app, &token).await[1]["clicks"] == 1
    })
    .await;
    assert_eq!(
        tags(&app, &token).await,
        json!([
            {"name": "news", "links": 1, "clicks": 0},
            {"name": "rust", "links": 2, "clicks": 1},
            {"name": "web dev", "links": 2, "clicks": 0},
        ])
    );

    // Edit: the whole list.
    let patched = app
        .http
        .patch(format!("{}/links/tag-none", app.api))
        .bearer_auth(&token)
        .json(&json!({"tags": ["News"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 200);
    assert_eq!(
        patched.json::<Value>().await.unwrap()["tags"],
        json!(["news"])
    );

    // Rename rust into web dev: tag-one has both and keeps one.
    let renamed = app
        .http
        .patch(format!("{}/tags/rust", app.api))
        .bearer_auth(&token)
        .json(&json!({"name": "Web Dev"}))
        .send()
        .await
        .unwrap();
    assert_eq!(renamed.status(), 200);
    assert_eq!(renamed.json::<Value>().await.unwrap()["links"], 2);
    let one: Value = app
        .get_as("/links/tag-one", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(one["tags"], json!(["web dev"]));
    let names: Vec<Value> = tags(&app, &token)
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].clone())
        .collect();
    assert_eq!(names, [json!("news"), json!("web dev")]);
    // The other account's rust is untouched.
    assert_eq!(tags(&app, &other).await[0]["name"], "rust");

    let deleted = app
        .http
        .delete(format!("{}/tags/news", app.api))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 200);
    assert_eq!(deleted.json::<Value>().await.unwrap()["links"], 2);
    assert_eq!(tags(&app, &token).await.as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_tags_are_refused_and_change_nothing() {
    let app = spawn_app_with(test_settings()).await;
    let (token, _) = app.account("badtags@example.com").await;
    let before = app.rows().await;
    let many: Vec<String> = (0..21).map(|i| format!("t{i}")).collect();
    for tags in [
        json!(["x".repeat(51)]),
        json!([""]),
        json!(["   "]),
        json!(many),
        json!("rust"),
        json!([1]),
    ] {
        let body = problem(
            app.post_json(
                "/links",
                &json!({"url": "https://example.com/t", "tags": tags}),
                Some(&token),
            )
            .await,
            400,
        )
        .await;
        assert_eq!(fields(&body), ["tags"], "{body}");
    }
    assert_eq!(app.rows().await, before);

    app.post_json(
        "/links",
        &json!({"url": "https://example.com/t", "alias": "tagged", "tags": ["keep"]}),
        Some(&token),
    )
    .await;
    let rename = |from: &str, body: Value| {
        app.http
            .patch(format!("{}/tags/{from}", app.api))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    problem(rename("nothing", json!({"name": "x"})).await.unwrap(), 404).await;
    let body = problem(rename("keep", json!({"name": ""})).await.unwrap(), 400).await;
    assert_eq!(fields(&body), ["name"]);
    let body = problem(rename("keep", json!({})).await.unwrap(), 400).await;
    assert_eq!(fields(&body), ["name"]);
    let gone = app
        .http
        .delete(format!("{}/tags/nothing", app.api))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    problem(gone, 404).await;
    let tagged: Value = app
        .get_as("/links/tagged", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(tagged["tags"], json!(["keep"]));

    // A key may list tags with links:read, and change them only with links:write.
    let key: Value = app
        .post_json(
            "/auth/api-keys",
            &json!({"name": "reader", "scopes": ["links:read"]}),
            Some(&token),
        )
        .await
        .json()
        .await
        .unwrap();
    let reader = key["key_secret"].as_str().unwrap();
    assert_eq!(app.get_as("/tags", reader).await.status(), 200);
    let refused = app
        .http
        .delete(format!("{}/tags/keep", app.api))
        .bearer_auth(reader)
        .send()
        .await
        .unwrap();
    problem(refused, 403).await;
    problem(app.get("/tags").await, 401).await;
}
