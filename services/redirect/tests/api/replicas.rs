//! Redirect misses read from a PostgreSQL streaming replica of the test's own
//! (`pg_basebackup -R` from a throwaway primary, DATABASE_READ_URL): reads go to the
//! replica; a code the replica has not replayed yet is found on the primary (302, never
//! 404); a replica that lags past DATABASE_READ_MAX_LAG_MS or dies is out of rotation,
//! and back once healthy; with the primary down, the replica still serves.

use crate::helpers::{Seed, TestRedirect, cache, metric, spawn_redirect_with};
use hop_testkit::{PostgresServer, TestDb};
use std::time::Duration;

/// `hop_dependency_up{dependency="postgres-replica-1"}`.
async fn replica_up(app: &TestRedirect) -> f64 {
    metric(
        &app.metrics().await,
        "hop_dependency_up",
        &[("dependency", "postgres-replica-1")],
    )
}

async fn until_replica(app: &TestRedirect, up: bool, what: &str) {
    hop_testkit::until(what, Duration::from_secs(20), || async {
        replica_up(app).await == f64::from(u8::from(up))
    })
    .await;
}

/// Waits until the replica has replayed everything the primary wrote so far.
fn caught_up(primary: &PostgresServer, replica: &PostgresServer) {
    let target = primary.psql("SELECT pg_current_wal_lsn()");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while replica.psql(&format!(
        "SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn"
    )) != "t"
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the replica never caught up"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misses_read_the_replica_and_fall_back_to_the_primary() {
    let mut primary = PostgresServer::start();
    let mut replica = primary.start_replica();
    let mut db = TestDb::at(&primary.url("postgres")).await;
    db.args.database_read_url = vec![replica.url("postgres")];
    db.args.database_read_max_lag_ms = 1000;
    Seed::new("replayed", "https://example.com/replayed")
        .insert(&db)
        .await;
    caught_up(&primary, &replica);
    // No L1 and no Redis: every request reads the database tier.
    let app = spawn_redirect_with(
        db.args.clone(),
        hop_testkit::redis_args(),
        cache(false, false),
    )
    .await;
    until_replica(&app, true, "the replica is in rotation").await;

    // Reads go to the replica.
    assert_eq!(app.follow("replayed").await.0, 302);
    assert_eq!(app.tier("postgres-replica", "hit").await, 1.0);
    assert_eq!(app.tier("postgres", "hit").await, 0.0);

    // A code created a moment ago that the replica has not replayed: the primary has it.
    replica.psql("SELECT pg_wal_replay_pause()");
    Seed::new("fresh", "https://example.com/fresh")
        .insert(&db)
        .await;
    assert_eq!(
        app.follow("fresh").await.0,
        302,
        "found on the primary, not a 404"
    );
    assert_eq!(app.tier("postgres-replica", "miss").await, 1.0);
    assert_eq!(app.tier("postgres", "hit").await, 1.0);
    // A code that exists nowhere is a 404 after both were asked.
    assert_eq!(app.follow("nowhere").await.0, 404);

    // Paused past the lag bound: out of rotation, the primary serves.
    until_replica(&app, false, "a lagging replica leaves the rotation").await;
    let on_replica = app.tier("postgres-replica", "hit").await;
    assert_eq!(app.follow("replayed").await.0, 302);
    assert_eq!(app.tier("postgres-replica", "hit").await, on_replica);

    // Replay resumes: back in rotation, and it has the fresh code now.
    replica.psql("SELECT pg_wal_replay_resume()");
    caught_up(&primary, &replica);
    until_replica(&app, true, "a caught-up replica is back in rotation").await;
    assert_eq!(app.follow("fresh").await.0, 302);
    assert_eq!(app.tier("postgres-replica", "hit").await, on_replica + 1.0);

    // The primary dies: the replica still answers redirects.
    primary.stop();
    assert_eq!(app.follow("replayed").await.0, 302, "served by the replica");

    // The replica dies too, and the primary comes back: out of rotation, the primary
    // serves, with no error for the user.
    primary.restart();
    replica.stop();
    until_replica(&app, false, "a dead replica leaves the rotation").await;
    assert_eq!(app.follow("fresh").await.0, 302);
    replica.restart();
    until_replica(&app, true, "a restarted replica is back in rotation").await;
    app.shut_down().await;
}
