//! The cache tiers: L1, then Redis, then the database. What does not need Redis runs on
//! both backends (the embedded store's last tier is SQLite); the Redis tier on its own.

use crate::helpers::*;
use hop_testkit::{Backend, TestDb, TestStores, until};
use std::time::Duration;

hop_testkit::on_both_backends!(
    l1_keeps_serving_after_the_stores_forget,
    with_caches_off_every_request_reads_the_database,
    concurrent_misses_on_one_code_make_one_lookup,
    unknown_codes_are_remembered_briefly,
);

/// The name of the last tier in `hop_redirect_cache_requests_total`: the database's.
fn database_tier(db: &TestStores) -> &'static str {
    match db.backend() {
        Backend::Servers => "postgres",
        Backend::Embedded => "sqlite",
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_answers_before_postgres_unless_bypassed() {
    let db = TestDb::new().await;
    let redis = hop_testkit::redis_args();
    let tiered = spawn_redirect_with(db.args.clone(), redis.clone(), cache(true, true)).await;
    let bypass = spawn_redirect_with(db.args.clone(), redis, cache(false, false)).await;
    tiered.until_redis_up().await;
    tiered
        .put_redis("inredis", &cached("https://example.com/from-redis"))
        .await;
    assert_eq!(
        tiered.follow("inredis").await,
        (302, Some("https://example.com/from-redis".into()))
    );
    assert_eq!(tiered.tier("redis", "hit").await, 1.0);
    assert_eq!(
        bypass.follow("inredis").await.0,
        404,
        "with Redis bypassed only Postgres answers"
    );
    assert_eq!(
        bypass.tier("redis", "miss").await + bypass.tier("redis", "hit").await,
        0.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_l1_off_every_request_reads_redis() {
    let db = TestDb::new().await;
    let app = spawn_redirect(&db, cache(false, true)).await;
    app.put_redis("moving", &cached("https://example.com/one"))
        .await;
    assert_eq!(
        app.follow("moving").await.1.unwrap(),
        "https://example.com/one"
    );
    app.put_redis("moving", &cached("https://example.com/two"))
        .await;
    assert_eq!(
        app.follow("moving").await.1.unwrap(),
        "https://example.com/two"
    );
    assert_eq!(app.tier("redis", "hit").await, 2.0);
    assert_eq!(
        app.tier("l1", "hit").await + app.tier("l1", "miss").await,
        0.0
    );
}

async fn l1_keeps_serving_after_the_stores_forget(db: TestStores) {
    Seed::new("sticky", "https://example.com/sticky")
        .insert_into(&db)
        .await;
    let app = spawn_redirect_on(&db, cache(true, true)).await;
    assert_eq!(app.follow("sticky").await.0, 302);
    assert_eq!(
        db.execute("DELETE FROM links WHERE code = 'sticky'").await,
        1
    );
    if db.backend() == Backend::Servers {
        connected(app.redis())
            .await
            .del(&format!("{}link:sticky", app.redis().redis_key_prefix))
            .await
            .unwrap();
    }
    assert_eq!(app.follow("sticky").await.0, 302, "served from L1");
    assert_eq!(app.tier("l1", "hit").await, 1.0);
    assert_eq!(app.tier(database_tier(&db), "hit").await, 1.0);
}

async fn with_caches_off_every_request_reads_the_database(db: TestStores) {
    Seed::new("direct", "https://example.com/direct")
        .insert_into(&db)
        .await;
    let app = spawn_redirect_on(&db, cache(false, false)).await;
    for _ in 0..3 {
        assert_eq!(app.follow("direct").await.0, 302);
    }
    assert_eq!(app.tier(database_tier(&db), "hit").await, 3.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_answer_fills_redis() {
    let db = TestDb::new().await;
    Seed::new("filled", "https://example.com/filled")
        .insert(&db)
        .await;
    let app = spawn_redirect(&db, cache(false, true)).await;
    assert_eq!(app.follow("filled").await.0, 302);
    let redis = connected(app.redis()).await;
    let key = format!("{}link:filled", app.redis().redis_key_prefix);
    until("the miss fills Redis", Duration::from_secs(2), || async {
        redis.get(&key).await.unwrap().is_some()
    })
    .await;
    assert_eq!(app.follow("filled").await.0, 302);
    assert_eq!(app.tier("redis", "hit").await, 1.0);
}

async fn concurrent_misses_on_one_code_make_one_lookup(db: TestStores) {
    Seed::new("popular", "https://example.com/popular")
        .insert_into(&db)
        .await;
    let app = std::sync::Arc::new(spawn_redirect_on(&db, cache(true, false)).await);
    let mut requests = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let app = app.clone();
        requests.spawn(async move { app.follow("popular").await.0 });
    }
    assert!(requests.join_all().await.iter().all(|s| *s == 302));
    assert_eq!(app.tier(database_tier(&db), "hit").await, 1.0);
}

async fn unknown_codes_are_remembered_briefly(db: TestStores) {
    let app = spawn_redirect_on(&db, cache(true, false)).await;
    assert_eq!(app.follow("ghost").await.0, 404);
    assert_eq!(app.follow("ghost").await.0, 404);
    assert_eq!(
        app.tier(database_tier(&db), "miss").await,
        1.0,
        "the second 404 came from L1"
    );
}
