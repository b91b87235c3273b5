//! Click statistics through the API: owner only, from the rollups.

use crate::helpers::*;
use serde_json::{Value, json};
use std::time::Duration;

const MOBILE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1";
const BOT: &str = "Googlebot/2.1 (+http://www.google.com/bot.html)";

/// Creates a link to `url` as the holder of `token`; its code.
async fn create_owned(app: &TestApp, token: &str, url: &str) -> String {
    let link: Value = app
        .post_json("/links", &json!({ "url": url }), Some(token))
        .await
        .json()
        .await
        .unwrap();
    link["code"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_sees_totals_series_referrers_and_agents() {
    let app = spawn_app_with(test_settings()).await;
    let (owner, _) = app.account("stats@example.com").await;
    let (stranger, _) = app.account("nosy@example.com").await;
    let code = create_owned(&app, &owner, "https://example.com/measured").await;
    for i in 0..14 {
        let (ua, referer) = match i {
            0..8 => (MOBILE, Some("https://news.example.org/a")),
            8..12 => (BOT, Some("https://crawl.example.net/")),
            _ => (MOBILE, None),
        };
        let mut request = app
            .http
            .get(format!("{}/{code}", app.redirect))
            .header("user-agent", ua);
        if let Some(referer) = referer {
            request = request.header("referer", referer);
        }
        let r = request.send().await.unwrap();
        assert_eq!(r.status(), 302);
    }
    let path = format!("/links/{code}/stats");
    let counted = |now: &Value| now["total"] == 10;
    let stats: Value = hop_testkit::eventually(
        "the 10 human clicks are counted",
        Duration::from_secs(6),
        || async {
            let now: Value = app.get_as(&path, &owner).await.json().await.unwrap();
            counted(&now).then_some(now)
        },
    )
    .await;
    let series = stats["series"].as_array().unwrap();
    assert_eq!(
        series.len(),
        8,
        "seven days by day, zero-filled, today included: {stats}"
    );
    assert_eq!(
        series
            .iter()
            .map(|p| p["clicks"].as_u64().unwrap())
            .sum::<u64>(),
        10
    );
    assert_eq!(
        stats["top_referrers"],
        json!([{"host": "news.example.org", "clicks": 8}, {"host": "(direct)", "clicks": 2}])
    );
    assert_eq!(stats["agent_classes"], json!({"mobile": 10}));

    let with_bots: Value = app
        .get_as(
            &format!("{path}?include_bots=true&unit=hour&from={}", hour_ago()),
            &owner,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(with_bots["total"], 14);
    assert_eq!(with_bots["agent_classes"], json!({"mobile": 10, "bot": 4}));
    assert!(
        with_bots["series"].as_array().unwrap().len() >= 2,
        "an hour ago until now, by hour"
    );

    problem(app.get_as(&path, &stranger).await, 404).await;
    problem(
        app.http
            .get(format!("{}{path}", app.api))
            .send()
            .await
            .unwrap(),
        401,
    )
    .await;
    for bad in [
        "?unit=week",
        "?from=yesterday",
        "?include_bots=maybe",
        "?from=2026-11-20T00:00:00Z&to=2026-11-10T00:00:00Z",
        "?unit=hour&from=2020-01-01T00:00:00Z",
    ] {
        problem(app.get_as(&format!("{path}{bad}"), &owner).await, 400).await;
    }
}

fn hour_ago() -> String {
    (chrono::Utc::now() - chrono::Duration::hours(1))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// With DATABASE_READ_URL, stats come from the read replica: paused replica replay freezes
/// what the owner sees (clicks written to the primary meanwhile do not show) until replay
/// resumes. A primary and a streaming replica of the test's own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_are_read_from_a_read_replica() {
    let primary = hop_testkit::PostgresServer::start();
    let replica = primary.start_replica();
    let mut db = hop_testkit::TestDb::at(&primary.url("postgres")).await;
    db.args.database_read_url = vec![replica.url("postgres")];
    db.args.database_read_max_lag_ms = 60_000;
    let stores = hop_testkit::TestStores::Servers {
        db: Box::new(db),
        redis: Box::new(hop_testkit::redis_args()),
    };
    let app = spawn_app_on(test_settings(), stores).await;
    let (owner, _) = app.account("replicated@example.com").await;
    let code = create_owned(&app, &owner, "https://example.com/r").await;
    let path = format!("/links/{code}/stats");
    let follow = |n: usize| {
        let (app, code) = (&app, &code);
        async move {
            for _ in 0..n {
                let r = app
                    .http
                    .get(format!("{}/{code}", app.redirect))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 302);
            }
        }
    };
    let total = || async {
        let now: Value = app.get_as(&path, &owner).await.json().await.unwrap();
        now["total"].as_u64().unwrap()
    };
    follow(3).await;
    hop_testkit::until("3 clicks counted", Duration::from_secs(10), || async {
        total().await == 3
    })
    .await;

    replica.psql("SELECT pg_wal_replay_pause()");
    follow(2).await;
    // The primary has all 5; the owner still sees the paused replica's 3.
    let schema = match &app.stores {
        hop_testkit::TestStores::Servers { db, .. } => db.schema().to_owned(),
        hop_testkit::TestStores::Embedded { .. } => unreachable!("built on servers"),
    };
    hop_testkit::until(
        "the primary has the 5 clicks",
        Duration::from_secs(10),
        || async {
            primary.psql(&format!(
                "SELECT coalesce(sum(clicks), 0) FROM {schema}.click_counts"
            )) == "5"
        },
    )
    .await;
    assert_eq!(total().await, 3, "read from the paused replica");

    replica.psql("SELECT pg_wal_replay_resume()");
    hop_testkit::until(
        "the replica replays the 2 new clicks",
        Duration::from_secs(10),
        || async { total().await == 5 },
    )
    .await;
}
