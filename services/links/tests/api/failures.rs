use crate::helpers::*;
use hop_testkit::{PostgresServer, RedisServer, TestDb};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creates_succeed_while_redis_is_down() {
    let db = TestDb::new().await;
    let mut redis = RedisServer::start();
    let links = spawn_links_with(db.args.clone(), hop_testkit::redis_args_for(&redis.url())).await;
    links.create("https://example.com/before").await.unwrap();
    redis.stop();
    let link = links.create("https://example.com/during").await.unwrap();
    assert_eq!(
        links.get(&link.code).await.unwrap().url,
        "https://example.com/during"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_database_is_unavailable_not_an_internal_error() {
    let mut postgres = PostgresServer::start();
    let db = TestDb::at(&postgres.url("postgres")).await;
    let links = spawn_links(&db).await;
    links.create("https://example.com/ok").await.unwrap();
    postgres.stop();
    let status = links.create("https://example.com/down").await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    let status = links.get("abcdefg").await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    // Back up: the pool reconnects on its own.
    postgres.restart();
    hop_testkit::until(
        "links recovers once Postgres is back",
        Duration::from_secs(5),
        || async { links.create("https://example.com/again").await.is_ok() },
    )
    .await;
}
