//! Links belong to their owners: listing, changing and deleting, and every redirect
//! instance serving the change within a second.

use crate::helpers::*;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

async fn create(app: &TestApp, token: &str, body: Value) -> Value {
    let response = app.post_json("/links", &body, Some(token)).await;
    assert_eq!(response.status(), 201);
    response.json().await.unwrap()
}

async fn patch(app: &TestApp, token: &str, code: &str, body: Value) -> reqwest::Response {
    app.http
        .patch(format!("{}/links/{code}", app.api))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn delete(app: &TestApp, token: &str, code: &str) -> reqwest::Response {
    app.http
        .delete(format!("{}/links/{code}", app.api))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creating_needs_a_token_unless_anonymous_links_are_on() {
    let app = spawn_app_with(test_settings()).await;
    let anonymous = app
        .post_json("/links", &json!({"url": "https://example.com"}), None)
        .await;
    problem(anonymous, 401).await;
    let (token, _) = app.account("owner@example.com").await;
    let link = create(&app, &token, json!({"url": "https://example.com"})).await;
    let me: Value = app.get_as("/auth/me", &token).await.json().await.unwrap();
    assert_eq!(link["owner_id"], me["id"]);
    let seen_by_owner: Value = app
        .get_as(
            &format!("/links/{}", link["code"].as_str().unwrap()),
            &token,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(seen_by_owner["owner_id"], me["id"]);
    assert_eq!(app.rows().await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn others_cannot_touch_a_link() {
    let app = spawn_app_with(test_settings()).await;
    let (owner, _) = app.account("owner@example.com").await;
    let (stranger, _) = app.account("stranger@example.com").await;
    let link = create(&app, &owner, json!({"url": "https://example.com/mine"})).await;
    let code = link["code"].as_str().unwrap();

    problem(
        patch(
            &app,
            &stranger,
            code,
            json!({"url": "https://evil.example/"}),
        )
        .await,
        404,
    )
    .await;
    problem(delete(&app, &stranger, code).await, 404).await;
    let anonymous = app
        .http
        .delete(format!("{}/links/{code}", app.api))
        .send()
        .await
        .unwrap();
    problem(anonymous, 401).await;
    let public: Value = app
        .get_as(&format!("/links/{code}"), &stranger)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(public["url"], "https://example.com/mine", "nothing changed");
    assert!(
        public.get("owner_id").is_none(),
        "a stranger sees the public view"
    );
    let redirect = app
        .http
        .get(format!("{}/{code}", app.redirect))
        .send()
        .await
        .unwrap();
    assert_eq!(redirect.headers()["location"], "https://example.com/mine");
    let stranger_list: Value = app.get_as("/links", &stranger).await.json().await.unwrap();
    assert_eq!(stranger_list["items"].as_array().unwrap().len(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn my_links_page_newest_first() {
    let app = spawn_app_with(test_settings()).await;
    let (token, _) = app.account("lister@example.com").await;
    let mut codes = Vec::new();
    for i in 0..5 {
        codes.push(
            create(
                &app,
                &token,
                json!({"url": format!("https://example.com/{i}")}),
            )
            .await["code"]
                .clone(),
        );
    }
    codes.reverse();
    let first: Value = app
        .get_as("/links?limit=2", &token)
        .await
        .json()
        .await
        .unwrap();
    let page: Vec<_> = first["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["code"].clone())
        .collect();
    assert_eq!(page, codes[..2]);
    let cursor = first["next_cursor"].as_str().unwrap();
    let second: Value = app
        .get_as(&format!("/links?limit=2&cursor={cursor}"), &token)
        .await
        .json()
        .await
        .unwrap();
    let page: Vec<_> = second["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["code"].clone())
        .collect();
    assert_eq!(page, codes[2..4]);
    let cursor = second["next_cursor"].as_str().unwrap();
    let last: Value = app
        .get_as(&format!("/links?limit=2&cursor={cursor}"), &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(last["items"].as_array().unwrap().len(), 1);
    assert_eq!(last["next_cursor"], Value::Null);
    for bad in [
        "/links?limit=0",
        "/links?limit=101",
        "/links?limit=ten",
        "/links?cursor=forged",
    ] {
        problem(app.get_as(bad, &token).await, 400).await;
    }
    problem(
        app.http
            .get(format!("{}/links", app.api))
            .send()
            .await
            .unwrap(),
        401,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_reach_every_redirect_instance_within_a_second() {
    let app = spawn_app_with(test_settings()).await;
    let second = hop_redirect::build(hop_redirect::Config::for_test(
        app.stores.database(),
        app.stores.shared(),
    ))
    .await
    .unwrap();
    let instances = [app.redirect.clone(), format!("http://{}", second.addr())];
    tokio::spawn(second.run(app.stop.clone().cancelled_owned()));
    let (token, _) = app.account("editor@example.com").await;
    let link = create(&app, &token, json!({"url": "https://example.com/v1"})).await;
    let code = link["code"].as_str().unwrap().to_owned();
    // Warm both instances' caches with the first version.
    for base in &instances {
        let r = app.http.get(format!("{base}/{code}")).send().await.unwrap();
        assert_eq!(r.headers()["location"], "https://example.com/v1");
    }

    let edited = patch(
        &app,
        &token,
        &code,
        json!({"url": "https://example.com/v2", "redirect_type": 301, "title": "Two"}),
    )
    .await;
    assert_eq!(edited.status(), 200);
    let edited: Value = edited.json().await.unwrap();
    assert_eq!(edited["url"], "https://example.com/v2");
    assert_eq!(edited["title"], "Two");
    let changed_at = Instant::now();
    for base in &instances {
        await_redirect(&app, base, &code, changed_at, |r| {
            r.status() == 301 && r.headers()["location"] == "https://example.com/v2"
        })
        .await;
    }

    let paused = patch(
        &app,
        &token,
        &code,
        json!({"is_active": false, "title": null}),
    )
    .await;
    let paused: Value = paused.json().await.unwrap();
    assert_eq!(paused["title"], Value::Null);
    let changed_at = Instant::now();
    for base in &instances {
        await_redirect(&app, base, &code, changed_at, |r| r.status() == 410).await;
    }

    assert_eq!(delete(&app, &token, &code).await.status(), 204);
    let changed_at = Instant::now();
    for base in &instances {
        await_redirect(&app, base, &code, changed_at, |r| r.status() == 404).await;
    }
    problem(app.get_as(&format!("/links/{code}"), &token).await, 404).await;
    problem(delete(&app, &token, &code).await, 404).await;
    // The code is never handed out again, not even as an alias.
    let reuse = app
        .post_json(
            "/links",
            &json!({"url": "https://example.com/x", "alias": code}),
            Some(&token),
        )
        .await;
    if code.len() >= 3 {
        problem(reuse, 409).await;
    }
    let kinds = app
        .stores
        .strings(
            "SELECT kind FROM link_events e JOIN links l ON l.id = e.link_id \
             WHERE l.code = $1 ORDER BY e.id",
            &[&code],
        )
        .await;
    assert_eq!(kinds, ["created", "updated", "updated", "deleted"]);
}

/// Polls `base/code` until `ok`, failing if that takes over a second from `since`.
async fn await_redirect(
    app: &TestApp,
    base: &str,
    code: &str,
    since: Instant,
    ok: impl Fn(&reqwest::Response) -> bool,
) {
    let within = Duration::from_secs(1).saturating_sub(since.elapsed());
    let what = format!("{base}/{code} answers as expected, within 1 s");
    hop_testkit::until(&what, within, || async {
        let response = app.http.get(format!("{base}/{code}")).send().await.unwrap();
        ok(&response)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_patches_change_nothing() {
    let app = spawn_app_with(test_settings()).await;
    let (token, _) = app.account("patcher@example.com").await;
    let link = create(&app, &token, json!({"url": "https://example.com/keep"})).await;
    let code = link["code"].as_str().unwrap();
    let cases = [
        (json!({}), vec!["body"]),
        (json!({"url": "javascript:alert(1)"}), vec!["url"]),
        (json!({"is_active": "yes"}), vec!["is_active"]),
        (json!({"redirect_type": 200}), vec!["redirect_type"]),
        (
            json!({"expires_at": "2001-01-01T00:00:00Z"}),
            vec!["expires_at"],
        ),
        (json!({"title": 7}), vec!["title"]),
    ];
    for (body, expected) in cases {
        let response = patch(&app, &token, code, body.clone()).await;
        assert_eq!(fields(&problem(response, 400).await), expected, "{body}");
    }
    let unchanged: Value = app
        .get_as(&format!("/links/{code}"), &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(unchanged["url"], "https://example.com/keep");
    assert_eq!(unchanged["updated_at"], link["updated_at"]);
}
