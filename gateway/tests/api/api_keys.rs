//! API keys end to end: made with a session, shown once, stored hashed, accepted as a
//! bearer token or `X-Api-Key`, held to their scopes on every route, rate limited per key,
//! and revoked on every gateway at once (on both backends through HOP_TEST_BACKEND).

use crate::helpers::*;
use hop_gateway::{Limit, Settings};
use serde_json::{Value, json};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// A new key of `token`'s account: (id, secret).
async fn new_key(app: &TestApp, token: &str, body: Value) -> (String, String) {
    let created = app.post_json("/auth/api-keys", &body, Some(token)).await;
    assert_eq!(created.status(), 201, "{:?}", created.text().await);
    assert_eq!(created.headers()["cache-control"], "no-store");
    let key: Value = created.json().await.unwrap();
    let secret = key["key_secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("hop_") && secret.len() == 47, "{secret}");
    assert!(secret.starts_with(key["prefix"].as_str().unwrap()));
    (key["id"].as_str().unwrap().to_owned(), secret)
}

async fn with_key(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    key: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = app
        .http
        .request(method, format!("{}{path}", app.api))
        .header("x-api-key", key);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_shown_once_stored_hashed_and_held_to_their_scopes() {
    let app = spawn_app_with(test_settings()).await;
    let (token, _) = app.account("keys@example.com").await;
    let (_, writer) = new_key(
        &app,
        &token,
        json!({"name": "CI job", "scopes": ["links:write"]}),
    )
    .await;
    let (_, reader) = new_key(
        &app,
        &token,
        json!({"name": "dashboard", "scopes": ["links:read", "stats:read"]}),
    )
    .await;
    let (all_id, all) = new_key(&app, &token, json!({"name": "everything"})).await;

    // The list never shows a secret.
    let list = app.get_as("/auth/api-keys", &token).await;
    assert_eq!(list.status(), 200);
    let text = list.text().await.unwrap();
    for secret in [&writer, &reader, &all] {
        assert!(!text.contains(&secret[4..]), "a secret in the list: {text}");
    }
    let listed: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(listed["items"].as_array().unwrap().len(), 3);
    assert_eq!(listed["items"][0]["name"], "everything", "newest first");
    assert_eq!(
        listed["items"][0]["scopes"],
        json!(["links:read", "links:write", "stats:read"])
    );

    // The database holds no usable key: nothing it stores is, or contains, a secret.
    let stored = app
        .stores
        .strings(
            "SELECT name || ' ' || prefix || ' ' || scopes FROM api_keys",
            &[],
        )
        .await;
    assert_eq!(stored.len(), 3);
    for row in &stored {
        for secret in [&writer, &reader, &all] {
            assert!(!row.contains(&secret[4..]), "{row}");
        }
    }

    // links:write: create (bearer or X-Api-Key), change, delete; nothing else.
    let created = app
        .post_json(
            "/links",
            &json!({"url": "https://example.com/by-key", "alias": "by-key"}),
            Some(&writer),
        )
        .await;
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    assert!(
        created["owner_id"].is_string(),
        "owned by the key's account"
    );
    use reqwest::Method;
    let patch = Some(json!({"title": "set by a key"}));
    assert_eq!(
        with_key(&app, Method::PATCH, "/links/by-key", &writer, patch.clone())
            .await
            .status(),
        200
    );
    for (method, path) in [
        (Method::GET, "/links"),
        (Method::GET, "/links/by-key/stats"),
    ] {
        let body = problem(with_key(&app, method, path, &writer, None).await, 403).await;
        assert!(body["detail"].as_str().unwrap().contains("scope"), "{body}");
    }

    // links:read + stats:read: read, list, stats; no writes.
    for path in ["/links", "/links/by-key", "/links/by-key/stats"] {
        let response = with_key(&app, Method::GET, path, &reader, None).await;
        assert_eq!(response.status(), 200, "{path}");
    }
    let refused = app
        .post_json(
            "/links",
            &json!({"url": "https://example.com/no"}),
            Some(&reader),
        )
        .await;
    problem(refused, 403).await;
    problem(
        with_key(&app, Method::PATCH, "/links/by-key", &reader, patch).await,
        403,
    )
    .await;
    problem(
        with_key(&app, Method::DELETE, "/links/by-key", &reader, None).await,
        403,
    )
    .await;

    // A key cannot manage keys, nor log out.
    problem(app.get_as("/auth/api-keys", &all).await, 403).await;
    problem(
        app.post_json("/auth/api-keys", &json!({"name": "more"}), Some(&all))
            .await,
        403,
    )
    .await;
    problem(
        app.post_json("/auth/logout", &json!({}), Some(&all)).await,
        403,
    )
    .await;
    assert_eq!(
        with_key(&app, Method::DELETE, "/links/by-key", &writer, None)
            .await
            .status(),
        204
    );

    // Its last use is recorded.
    let listed: Value = app
        .get_as("/auth/api-keys", &token)
        .await
        .json()
        .await
        .unwrap();
    let used = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["last_used_at"].is_string())
        .count();
    assert_eq!(used, 3, "{listed}");

    // Revoked: 401 at once, and gone from the list.
    let revoked = app
        .http
        .delete(format!("{}/auth/api-keys/{all_id}", app.api))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 204);
    problem(app.get_as("/links", &all).await, 401).await;
    let listed: Value = app
        .get_as("/auth/api-keys", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["items"].as_array().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_keys_and_bad_key_requests_are_refused() {
    let app = spawn_app_with(test_settings()).await;
    let (token, _) = app.account("badkeys@example.com").await;
    let (other, _) = app.account("otherkeys@example.com").await;
    let (id, key) = new_key(&app, &other, json!({"name": "theirs"})).await;
    let unknown = format!("hop_{}", "A".repeat(43));
    for presented in [unknown.as_str(), "hop_short", "hop_", &format!("{key}x")] {
        problem(app.get_as("/links", presented).await, 401).await;
        let response = app
            .http
            .get(format!("{}/links", app.api))
            .header("x-api-key", presented)
            .send()
            .await
            .unwrap();
        problem(response, 401).await;
    }
    // Two credentials at once: refused, not guessed.
    let both = app
        .http
        .get(format!("{}/links", app.api))
        .header("x-api-key", &key)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    problem(both, 401).await;

    for (body, field) in [
        (json!({"name": ""}), "name"),
        (json!({}), "name"),
        (json!({"name": "x".repeat(101)}), "name"),
        (json!({"name": "k", "scopes": ["links:admin"]}), "scopes"),
        (json!({"name": "k", "scopes": "links:read"}), "scopes"),
        (json!({"name": "k", "scopes": [1]}), "scopes"),
        (
            json!({"name": "k", "expires_at": "2001-01-01T00:00:00Z"}),
            "expires_at",
        ),
        (json!({"name": "k", "expires_at": "tomorrow"}), "expires_at"),
    ] {
        let body = problem(
            app.post_json("/auth/api-keys", &body, Some(&token)).await,
            400,
        )
        .await;
        assert_eq!(fields(&body), vec![field.to_owned()], "{body}");
    }
    // Someone else's key: not found, and it keeps working.
    for path in [format!("/auth/api-keys/{id}"), "/auth/api-keys/nope".into()] {
        let response = app
            .http
            .delete(format!("{}{path}", app.api))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        problem(response, 404).await;
    }
    assert_eq!(app.get_as("/links", &key).await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_key_stops_at_another_gateway_at_once_and_an_expired_one_on_time() {
    let app = spawn_app_with(test_settings()).await;
    let stop = CancellationToken::new();
    let second = spawn_gateway_with(
        &app.links_url,
        &app.auth_url,
        test_settings(),
        app.stores.shared(),
        &stop,
    )
    .await;
    let (token, _) = app.account("revoke@example.com").await;
    let (id, key) = new_key(&app, &token, json!({"name": "bot"})).await;
    let at_second = || {
        app.http
            .get(format!("{second}/links"))
            .bearer_auth(&key)
            .send()
    };
    // The second gateway has checked the key and keeps the answer.
    assert_eq!(at_second().await.unwrap().status(), 200);
    let revoked = app
        .http
        .delete(format!("{}/auth/api-keys/{id}", app.api))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 204);
    hop_testkit::until(
        "the other gateway refuses the revoked key",
        Duration::from_secs(5),
        || async { at_second().await.unwrap().status() == 401 },
    )
    .await;

    let soon = (chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339();
    let (_, short_lived) =
        new_key(&app, &token, json!({"name": "brief", "expires_at": soon})).await;
    assert_eq!(app.get_as("/links", &short_lived).await.status(), 200);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    problem(app.get_as("/links", &short_lived).await, 401).await;
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_key_has_its_own_rate_limit() {
    let app = spawn_app_with(Settings {
        rate_limit_api_key: Limit::Per {
            count: 3,
            window: Duration::from_secs(60),
        },
        ..test_settings()
    })
    .await;
    clear_of_a_window_edge().await;
    let (token, _) = app.account("limited@example.com").await;
    let (_, first) = new_key(&app, &token, json!({"name": "one"})).await;
    let (_, second) = new_key(&app, &token, json!({"name": "two"})).await;
    for _ in 0..3 {
        assert_eq!(app.get_as("/links", &first).await.status(), 200);
    }
    let limited = app.get_as("/links", &first).await;
    assert!(limited.headers().contains_key("retry-after"));
    problem(limited, 429).await;
    assert_eq!(app.get_as("/links", &second).await.status(), 200);
    // The account's session is not held back by its keys.
    assert_eq!(app.get_as("/links", &token).await.status(), 200);
}
