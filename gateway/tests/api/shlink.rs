//! The Shlink-compatible API (`/rest/v3`) on both backends (HOP_TEST_BACKEND): numbered
//! pages in every order with tag and text filters, visit counts split into bots and people,
//! raw visits, and Shlink-shaped refusals. The Shlink JS SDK drives the same routes from
//! scripts/shlink-test.sh.

use crate::helpers::*;
use serde_json::{Value, json};
use std::time::Duration;

const MOBILE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1";
const BOT: &str = "Googlebot/2.1 (+http://www.google.com/bot.html)";

async fn api_key(app: &TestApp, token: &str) -> String {
    let created: Value = app
        .post_json("/auth/api-keys", &json!({"name": "shlink"}), Some(token))
        .await
        .json()
        .await
        .unwrap();
    created["key_secret"].as_str().unwrap().to_owned()
}

async fn shlink(app: &TestApp, key: &str, path: &str) -> (u16, Value) {
    let response = app
        .http
        .get(format!("{}/rest/v3{path}", app.api))
        .header("x-api-key", key)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

fn codes(page: &Value) -> Vec<&str> {
    page["shortUrls"]["data"]
        .as_array()
        .unwrap_or_else(|| panic!("{page}"))
        .iter()
        .map(|s| s["shortCode"].as_str().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_urls_page_filter_order_and_count_their_visits() {
    let app = spawn_app_with(test_settings()).await;
    let (token, _) = app.account("shlink@example.com").await;
    let key = api_key(&app, &token).await;
    for (alias, url, title, tags) in [
        (
            "sl-bravo",
            "https://b.example.com/",
            "Bravo",
            json!(["news", "rust"]),
        ),
        (
            "sl-alpha",
            "https://c.example.com/",
            "alpha",
            json!(["rust"]),
        ),
        ("sl-charlie", "https://a.example.com/", "Charlie", json!([])),
    ] {
        let body = json!({"url": url, "alias": alias, "title": title, "tags": tags});
        let created = app.post_json("/links", &body, Some(&token)).await;
        assert_eq!(created.status(), 201);
    }
    let (status, all) = shlink(&app, &key, "/short-urls").await;
    assert_eq!(status, 200, "{all}");
    assert_eq!(
        codes(&all),
        ["sl-charlie", "sl-alpha", "sl-bravo"],
        "newest first"
    );
    assert_eq!(all["shortUrls"]["pagination"]["totalItems"], 3);
    let (_, by_code) = shlink(
        &app,
        &key,
        "/short-urls?orderBy=shortCode-ASC&itemsPerPage=2&page=2",
    )
    .await;
    assert_eq!(codes(&by_code), ["sl-charlie"]);
    assert_eq!(by_code["shortUrls"]["pagination"]["pagesCount"], 2);
    assert_eq!(by_code["shortUrls"]["pagination"]["itemsInCurrentPage"], 1);
    let (_, by_url) = shlink(&app, &key, "/short-urls?orderBy=longUrl-DESC").await;
    assert_eq!(codes(&by_url), ["sl-alpha", "sl-bravo", "sl-charlie"]);
    let (_, by_title) = shlink(&app, &key, "/short-urls?orderBy=title-ASC").await;
    assert_eq!(
        codes(&by_title),
        ["sl-bravo", "sl-charlie", "sl-alpha"],
        "byte order"
    );
    let (_, any) = shlink(&app, &key, "/short-urls?tags[]=news&tags[]=rust").await;
    assert_eq!(codes(&any), ["sl-alpha", "sl-bravo"]);
    let (_, all_tags) = shlink(
        &app,
        &key,
        "/short-urls?tags[]=news&tags[]=rust&tagsMode=all",
    )
    .await;
    assert_eq!(codes(&all_tags), ["sl-bravo"]);
    let (_, searched) = shlink(&app, &key, "/short-urls?searchTerm=CHARLIE").await;
    assert_eq!(codes(&searched), ["sl-charlie"]);
    let (_, past) = shlink(&app, &key, "/short-urls?page=9").await;
    assert_eq!(codes(&past), Vec::<&str>::new());
    // Empty values are absent ones, as Shlink's clients send them.
    let (status, defaults) = shlink(
        &app,
        &key,
        "/short-urls?page=&itemsPerPage=&tagsMode=&orderBy=shortCode-ASC&searchTerm=&excludeMaxVisitsReached=",
    )
    .await;
    assert_eq!(status, 200, "{defaults}");
    assert_eq!(codes(&defaults), ["sl-alpha", "sl-bravo", "sl-charlie"]);

    // Three people and two bots follow one link.
    for ua in [MOBILE, MOBILE, BOT, MOBILE, BOT] {
        let r = app
            .http
            .get(format!("{}/sl-bravo", app.redirect))
            .header("user-agent", ua)
            .header("referer", "https://news.example.org/item")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 302);
    }
    let visits: Value =
        hop_testkit::eventually("the visits are stored", Duration::from_secs(6), || async {
            let (_, v) = shlink(&app, &key, "/short-urls/sl-bravo/visits").await;
            (v["visits"]["pagination"]["totalItems"] == 5).then_some(v)
        })
        .await;
    let first = &visits["visits"]["data"][0];
    assert_eq!(first["referer"], "news.example.org");
    assert_eq!(visits["visits"]["data"].as_array().unwrap().len(), 5);
    let bots = visits["visits"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["potentialBot"] == true)
        .count();
    assert_eq!(bots, 2);
    let (_, humans) = shlink(
        &app,
        &key,
        "/short-urls/sl-bravo/visits?excludeBots=true&itemsPerPage=2",
    )
    .await;
    assert_eq!(humans["visits"]["pagination"]["totalItems"], 3);
    assert_eq!(humans["visits"]["data"].as_array().unwrap().len(), 2);
    let summary: Value =
        hop_testkit::eventually("the rollups count them", Duration::from_secs(6), || async {
            let (_, s) = shlink(&app, &key, "/short-urls/sl-bravo").await;
            (s["visitsSummary"]["total"] == 5).then_some(s)
        })
        .await;
    assert_eq!(
        summary["visitsSummary"],
        json!({"total": 5, "nonBots": 3, "bots": 2})
    );
    let (_, listed) = shlink(&app, &key, "/short-urls?searchTerm=bravo").await;
    assert_eq!(listed["shortUrls"]["data"][0]["visitsSummary"]["bots"], 2);
    let (_, overview) = shlink(&app, &key, "/visits").await;
    assert_eq!(
        overview["visits"]["nonOrphanVisits"],
        json!({"total": 5, "nonBots": 3, "bots": 2})
    );
    let (_, stats) = shlink(&app, &key, "/tags/stats").await;
    let news = stats["tags"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["tag"] == "news")
        .unwrap()
        .clone();
    assert_eq!(news["shortUrlsCount"], 1);
    assert_eq!(
        news["visitsSummary"],
        json!({"total": 5, "nonBots": 3, "bots": 2})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_shlink_requests_get_shlink_problems() {
    let app = spawn_app_with(test_settings()).await;
    let (token, _) = app.account("shlink-bad@example.com").await;
    let key = api_key(&app, &token).await;
    for (path, field) in [
        ("/short-urls?itemsPerPage=0", "itemsPerPage"),
        ("/short-urls?itemsPerPage=5000", "itemsPerPage"),
        ("/short-urls?page=-1", "page"),
        ("/short-urls?page=%20", "page"),
        (
            "/short-urls?excludeMaxVisitsReached=maybe",
            "excludeMaxVisitsReached",
        ),
        ("/short-urls/nosuch/visits?excludeBots=%20", "excludeBots"),
        ("/short-urls?orderBy=visits-DESC", "orderBy"),
        ("/short-urls?orderBy=shortCode-UP", "orderBy"),
        ("/short-urls?tagsMode=some", "tagsMode"),
        ("/short-urls?startDate=2020-01-01T00:00:00Z", "startDate"),
        ("/short-urls/nosuch/visits?startDate=yesterday", "startDate"),
    ] {
        let (status, refused) = shlink(&app, &key, path).await;
        assert_eq!(status, 400, "{path}: {refused}");
        assert_eq!(
            refused["type"], "https://shlink.io/api/error/invalid-data",
            "{path}"
        );
        assert_eq!(
            refused["invalidElements"],
            json!([field]),
            "{path}: {refused}"
        );
    }
    let (status, refused) = shlink(&app, &key, "/short-urls/nosuchcode").await;
    assert_eq!(status, 404);
    assert_eq!(
        refused["type"],
        "https://shlink.io/api/error/short-url-not-found"
    );
    assert_eq!(refused["shortCode"], "nosuchcode");
    let (status, refused) = shlink(&app, &key, "/short-urls/nosuchcode/visits").await;
    assert_eq!(
        (status, refused["shortCode"].clone()),
        (404, json!("nosuchcode"))
    );
    for path in ["/rest/v3/nope", "/rest/v2/short-urls", "/rest"] {
        let response = app.get(path).await;
        let problem = problem(response, 404).await;
        assert_eq!(
            problem["type"], "https://shlink.io/api/error/not-found",
            "{path}"
        );
    }
    let response = app.get("/rest/v3/short-urls").await;
    let missing = problem(response, 401).await;
    assert_eq!(
        missing["type"],
        "https://shlink.io/api/error/missing-authentication"
    );
    // A session token is hop's API's, not a Shlink key.
    let response = app.get_as("/rest/v3/short-urls", &token).await;
    assert_eq!(
        problem(response, 401).await["type"],
        "https://shlink.io/api/error/missing-authentication"
    );
    let malformed = app
        .http
        .post(format!("{}/rest/v3/short-urls", app.api))
        .header("x-api-key", &key)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    problem(malformed, 400).await;
    let unsupported = app
        .http
        .post(format!("{}/rest/v3/short-urls", app.api))
        .header("x-api-key", &key)
        .json(&json!({"longUrl": "https://example.com/", "validSince": "2030-01-01T00:00:00Z"}))
        .send()
        .await
        .unwrap();
    let unsupported = problem(unsupported, 400).await;
    assert_eq!(unsupported["invalidElements"], json!(["validSince"]));
    // The gateway alone here may not be ready yet: pass or fail, said Shlink's way.
    let health = app.get("/rest/health").await;
    let status = health.status().as_u16();
    assert_eq!(health.headers()["content-type"], "application/health+json");
    let body: Value = health.json().await.unwrap();
    let expected = if status == 200 { "pass" } else { "fail" };
    assert!(matches!(status, 200 | 503), "{status}");
    assert_eq!(body["status"], expected);
}
