//! Dependencies that die: a Redis and a Postgres that the tests start, then stop.

use crate::helpers::*;
use hop_testkit::{PostgresServer, RedisServer, TestDb, until};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_cached_links_still_served_and_postgres_answers_the_rest() {
    let db = TestDb::new().await;
    Seed::new("cached", "https://example.com/cached")
        .insert(&db)
        .await;
    for i in 0..20 {
        Seed::new(&format!("cold{i}"), "https://example.com/cold")
            .insert(&db)
            .await;
    }
    let mut redis = RedisServer::start();
    let app = spawn_redirect_with(
        db.args.clone(),
        hop_testkit::redis_args_for(&redis.url()),
        cache(true, true),
    )
    .await;
    assert_eq!(app.follow("cached").await.0, 302);

    redis.stop();
    assert_eq!(
        app.follow("cached").await.0,
        302,
        "an L1 hit needs no Redis"
    );
    for i in 0..20 {
        assert_eq!(
            app.follow(&format!("cold{i}")).await.0,
            302,
            "Postgres answers uncached codes"
        );
    }
    // The breaker opened after a few failures: later lookups skipped Redis entirely, so a
    // dead Redis costs no time per request.
    let (errors, skipped) = (
        app.tier("redis", "error").await,
        app.tier("redis", "skipped").await,
    );
    assert!(errors <= 4.0, "{errors} calls hit the dead Redis");
    assert!(skipped >= 16.0, "only {skipped} lookups skipped Redis");
    until(
        "/health reports the instance degraded",
        Duration::from_secs(5),
        || async {
            let h: serde_json::Value = app.get("/health").await.json().await.unwrap();
            h["status"] == "degraded"
        },
    )
    .await;
    assert_eq!(
        app.get("/health/ready").await.status(),
        200,
        "Redis is optional"
    );

    // Back up: the breaker's probe lets Redis in again. (Asked before the client has
    // reconnected, a lookup of "after" would go to Postgres, which has no such code, and
    // L1 would remember the miss for CACHE_L1_NEGATIVE_TTL_SECS: wait for the client.)
    redis.restart();
    app.put_redis("after", &cached("https://example.com/after"))
        .await;
    app.until_redis_up().await;
    until(
        "the instance serves again once Redis is back",
        Duration::from_secs(10),
        || async { app.follow("after").await.0 == 302 },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_down_cached_links_still_served_unknown_codes_503() {
    let mut postgres = PostgresServer::start();
    let db = TestDb::at(&postgres.url("postgres")).await;
    Seed::new("inl1", "https://example.com/l1")
        .insert(&db)
        .await;
    let app = spawn_redirect(&db, cache(true, true)).await;
    assert_eq!(app.follow("inl1").await.0, 302);
    app.put_redis("inredis", &cached("https://example.com/redis"))
        .await;

    postgres.stop();
    assert_eq!(app.follow("inl1").await.0, 302, "from L1");
    assert_eq!(app.follow("inredis").await.0, 302, "from Redis");
    let response = app.get("/unknowncode").await;
    assert_eq!(response.status(), 503, "not a false 404");
    assert_eq!(response.headers()["retry-after"], "1");
    until(
        "/health reports Postgres down",
        Duration::from_secs(6),
        || async {
            let h: serde_json::Value = app.get("/health").await.json().await.unwrap();
            h["checks"]["postgres"]["status"] == "down"
        },
    )
    .await;
    assert_eq!(
        app.get("/health/ready").await.status(),
        200,
        "with Redis up the instance still serves, so it stays in the load balancer"
    );

    postgres.restart();
    until(
        "the instance answers again once Postgres is back",
        Duration::from_secs(10),
        || async { app.follow("unknowncode").await.0 == 404 },
    )
    .await;
}
