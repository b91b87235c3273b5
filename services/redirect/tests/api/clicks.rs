//! Click recording: counted off the hot path, batched into the database, nothing lost at
//! shutdown, degrading (dropping and counting) while PostgreSQL is down. What a click
//! records runs on both backends; the PostgreSQL outage and its partitions run on it alone,
//! and the embedded store's retention (by date, as it has no partitions) on that alone.

use crate::helpers::*;
use hop_redirect::ClickSettings;
use hop_testkit::{PostgresServer, TestDb, TestStores, until};
use std::time::Duration;

hop_testkit::on_both_backends!(
    every_redirect_is_counted_within_two_seconds,
    not_found_and_gone_record_nothing,
    shutdown_writes_every_buffered_click,
    the_country_header_is_believed_only_from_trusted_proxies,
    recording_can_be_turned_off,
);

/// The one number `sql` selects (SQL both backends understand).
async fn number(db: &TestStores, sql: &str) -> i64 {
    db.strings(&format!("SELECT CAST(({sql}) AS TEXT)"), &[])
        .await[0]
        .parse()
        .unwrap()
}

async fn total(db: &TestStores) -> i64 {
    number(db, "SELECT COALESCE(sum(clicks), 0) FROM click_counts").await
}

/// Clicks in the raw table (identical clicks in the same second share a row).
async fn raw(db: &TestStores) -> i64 {
    number(db, "SELECT COALESCE(sum(clicks), 0) FROM clicks").await
}

async fn raw_rows(db: &TestStores) -> i64 {
    number(db, "SELECT count(*) FROM clicks").await
}

/// The PostgreSQL-only tests' count.
async fn total_in(db: &TestDb) -> i64 {
    db.client()
        .await
        .query_one(
            "SELECT COALESCE(sum(clicks), 0)::bigint FROM click_counts",
            &[],
        )
        .await
        .unwrap()
        .get(0)
}

const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1";
const DESKTOP: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36";

async fn every_redirect_is_counted_within_two_seconds(db: TestStores) {
    Seed::new("counted", "https://example.com/c")
        .insert_into(&db)
        .await;
    // The shipped settings (a flush a second), not the tests' faster ones.
    let app = spawn_recording(
        db.database(),
        db.shared(),
        cache(true, true),
        ClickSettings::default(),
    )
    .await;
    for i in 0..60 {
        let ua = [
            IPHONE,
            DESKTOP,
            "Googlebot/2.1 (+http://www.google.com/bot.html)",
        ][i % 3];
        let response = app
            .http
            .get(format!("{}/counted", app.base))
            .header("user-agent", ua)
            .header(
                "referer",
                if i % 2 == 0 {
                    "https://news.example.org/story"
                } else {
                    "https://mail.example.net/"
                },
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 302);
    }
    until(
        "the 60 redirects are counted",
        Duration::from_secs(2),
        || async { total(&db).await == 60 },
    )
    .await;
    assert_eq!(raw(&db).await, 60);
    // Six kinds of visitor (three agents, two referrers), all within a second or two:
    // identical clicks share a raw row, so there are far fewer rows than clicks.
    let rows = raw_rows(&db).await;
    assert!(
        (6..60).contains(&rows),
        "60 clicks of 6 kinds stored in {rows} raw rows"
    );
    let classes = db
        .strings(
            "SELECT agent_class || ':' || CAST(sum(clicks) AS TEXT) FROM click_counts \
             GROUP BY agent_class ORDER BY agent_class",
            &[],
        )
        .await;
    assert_eq!(classes, ["bot:20", "desktop:20", "mobile:20"]);
    let referrers = db
        .strings(
            "SELECT referrer_host || ':' || CAST(sum(clicks) AS TEXT) FROM click_referrers \
             GROUP BY referrer_host ORDER BY referrer_host",
            &[],
        )
        .await;
    assert_eq!(referrers, ["mail.example.net:30", "news.example.org:30"]);
}

async fn not_found_and_gone_record_nothing(db: TestStores) {
    Seed {
        active: false,
        ..Seed::new("paused", "https://example.com/p")
    }
    .insert_into(&db)
    .await;
    Seed {
        expires_in_secs: Some(-5),
        ..Seed::new("expired", "https://example.com/e")
    }
    .insert_into(&db)
    .await;
    let app = spawn_redirect_on(&db, cache(true, true)).await;
    assert_eq!(app.follow("paused").await.0, 410);
    assert_eq!(app.follow("expired").await.0, 410);
    assert_eq!(app.follow("unknown").await.0, 404);
    assert_eq!(app.follow("bad.shape").await.0, 404);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(total(&db).await, 0);
    assert_eq!(
        metric(&app.metrics().await, "hop_clicks_recorded_total", &[]),
        0.0
    );
}

async fn shutdown_writes_every_buffered_click(db: TestStores) {
    Seed::new("final", "https://example.com/f")
        .insert_into(&db)
        .await;
    // A minute between flushes: without the shutdown flush nothing would be written.
    let clicks = ClickSettings {
        click_flush_ms: 60_000,
        ..ClickSettings::default()
    };
    let app = spawn_recording(db.database(), db.shared(), cache(true, true), clicks).await;
    for _ in 0..150 {
        assert_eq!(app.follow("final").await.0, 302);
    }
    assert_eq!(total(&db).await, 0, "nothing written yet");
    app.shut_down().await;
    assert_eq!(total(&db).await, 150);
    assert_eq!(raw(&db).await, 150);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_postgres_down_redirects_go_on_drops_are_counted_and_recording_resumes() {
    let mut postgres = PostgresServer::start();
    let db = TestDb::at(&postgres.url("postgres")).await;
    Seed::new("sturdy", "https://example.com/s")
        .insert(&db)
        .await;
    let clicks = ClickSettings {
        click_buffer_size: 20,
        click_batch_max: 10,
        click_flush_ms: 100,
        ..ClickSettings::default()
    };
    let app = spawn_recording(
        db.args.clone(),
        hop_testkit::redis_args(),
        cache(true, true),
        clicks,
    )
    .await;
    assert_eq!(app.follow("sturdy").await.0, 302);
    until(
        "the first click is written",
        Duration::from_secs(2),
        || async { total_in(&db).await == 1 },
    )
    .await;

    postgres.stop();
    for _ in 0..200 {
        assert_eq!(
            app.follow("sturdy").await.0,
            302,
            "cached redirects keep working"
        );
    }
    let text = app.metrics().await;
    let dropped = metric(&text, "hop_clicks_dropped_total", &[]);
    assert!(dropped >= 150.0, "only {dropped} drops counted");

    postgres.restart();
    // What was held while Postgres was down is written, and new clicks are recorded again.
    for _ in 0..5 {
        assert_eq!(app.follow("sturdy").await.0, 302);
    }
    until(
        "recording resumes once Postgres is back",
        Duration::from_secs(10),
        || async {
            let written = metric(&app.metrics().await, "hop_clicks_written_total", &[]);
            let recorded = metric(&app.metrics().await, "hop_clicks_recorded_total", &[]);
            written == recorded
        },
    )
    .await;
    let text = app.metrics().await;
    let recorded = metric(&text, "hop_clicks_recorded_total", &[]) as i64;
    // Clicks made just after the restart may still meet a full buffer (the writer retries
    // on its next tick), so the drops are counted again at the end.
    let dropped = metric(&text, "hop_clicks_dropped_total", &[]) as i64;
    assert_eq!(total_in(&db).await, recorded);
    assert_eq!(
        recorded + dropped,
        206,
        "every click is either stored or counted as dropped"
    );
}

async fn the_country_header_is_believed_only_from_trusted_proxies(db: TestStores) {
    Seed::new("geo", "https://example.com/g")
        .insert_into(&db)
        .await;
    let trusting = ClickSettings {
        click_country_header: Some("cf-ipcountry".parse().unwrap()),
        click_trusted_proxies: hop_redirect::Nets(vec!["127.0.0.1/32".parse().unwrap()]),
        click_flush_ms: 100,
        ..ClickSettings::default()
    };
    let wary = ClickSettings {
        click_country_header: Some("cf-ipcountry".parse().unwrap()),
        click_flush_ms: 100,
        ..ClickSettings::default()
    };
    for (settings, expected) in [(trusting, Some("DE".to_owned())), (wary, None)] {
        for table in ["clicks", "click_counts", "click_referrers"] {
            db.execute(&format!("DELETE FROM {table}")).await;
        }
        let app = spawn_recording(db.database(), db.shared(), cache(true, true), settings).await;
        app.http
            .get(format!("{}/geo", app.base))
            .header("cf-ipcountry", "de")
            .send()
            .await
            .unwrap();
        until("the click is written", Duration::from_secs(2), || async {
            raw(&db).await == 1
        })
        .await;
        let country = db
            .strings("SELECT COALESCE(country, '-') FROM clicks", &[])
            .await;
        assert_eq!(country, [expected.unwrap_or_else(|| "-".to_owned())]);
    }
}

async fn recording_can_be_turned_off(db: TestStores) {
    Seed::new("quiet", "https://example.com/q")
        .insert_into(&db)
        .await;
    let off = ClickSettings {
        clicks_enabled: false,
        ..ClickSettings::default()
    };
    let app = spawn_recording(db.database(), db.shared(), cache(true, true), off).await;
    assert_eq!(app.follow("quiet").await.0, 302);
    app.shut_down().await;
    assert_eq!(total(&db).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_are_made_ahead_and_dropped_after_retention() {
    use hop_clicks::partitions::{DAYS_AHEAD, maintain, partition_name};
    let db = TestDb::new().await;
    let pool = hop_kit::postgres::pool(&db.args).unwrap();
    let client = db.client().await;
    client
        .batch_execute("CREATE TABLE clicks_20200101 PARTITION OF clicks FOR VALUES FROM ('2020-01-01') TO ('2020-01-02')")
        .await
        .unwrap();
    let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 27).unwrap();
    let dropped = maintain(&pool, 30, today).await.unwrap();
    assert_eq!(dropped, ["clicks_20200101"]);
    let partitions: Vec<String> = client
        .query("SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'clicks'::regclass ORDER BY 1", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    for offset in 0..=DAYS_AHEAD {
        let day = today + chrono::Days::new(offset);
        assert!(
            partitions.contains(&partition_name(day)),
            "{} missing from {partitions:?}",
            partition_name(day)
        );
    }
    assert!(!partitions.contains(&"clicks_20200101".to_owned()));
    // Idempotent: a second run creates and drops nothing new.
    assert!(maintain(&pool, 30, today).await.unwrap().is_empty());
    // A click lands in its day's partition.
    client
        .execute("INSERT INTO clicks (at, link_id, agent_class) VALUES ('2026-11-28 10:00:00+00', 1, 'other')", &[])
        .await
        .unwrap();
    let stored: i64 = client
        .query_one("SELECT sum(clicks)::bigint FROM clicks_20261128", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored, 1);
}

/// The embedded store has no partitions to drop: raw clicks older than the retention are
/// deleted by date, a chunk per writer job; the rollups, and so the stats, stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_raw_clicks_are_deleted_by_date_after_retention() {
    use hop_kit::sqlite::rusqlite::params;
    const DAY: i64 = 86_400;
    let stores = TestStores::embedded();
    let TestStores::Embedded { sqlite, .. } = &stores else {
        unreachable!("TestStores::embedded() is the embedded store")
    };
    let now = chrono::DateTime::parse_from_rfc3339("2026-11-27T12:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let today = now.timestamp() - now.timestamp().rem_euclid(DAY);
    // More old rows than one delete takes (10,000), on both sides of the 30-day cutoff.
    sqlite
        .write(move |c| {
            let mut insert =
                c.prepare("INSERT INTO clicks (at, link_id, agent_class) VALUES (?1, 1, 'other')")?;
            for i in 0..25_000 {
                insert.execute(params![today - 40 * DAY + i])?;
            }
            insert.execute(params![today - 30 * DAY - 1])?;
            insert.execute(params![today - 30 * DAY])?;
            insert.execute(params![today - DAY + 5])?;
            c.execute(
                "INSERT INTO click_counts (link_id, bucket, agent_class, clicks) \
                 VALUES (1, ?1, 'other', 25003)",
                params![today - 40 * DAY],
            )?;
            Ok(())
        })
        .await
        .unwrap();
    let dropped = hop_clicks::store::sqlite::drop_before(sqlite, 30, now)
        .await
        .unwrap();
    assert_eq!(
        dropped, 25_001,
        "everything before the cutoff day, in chunks"
    );
    let kept = stores
        .strings("SELECT CAST(at AS TEXT) FROM clicks ORDER BY at", &[])
        .await;
    assert_eq!(
        kept,
        [
            (today - 30 * DAY).to_string(),
            (today - DAY + 5).to_string()
        ]
    );
    assert_eq!(total(&stores).await, 25_003, "the rollups stay");
    // Idempotent: a second pass finds nothing more to delete.
    assert_eq!(
        hop_clicks::store::sqlite::drop_before(sqlite, 30, now)
            .await
            .unwrap(),
        0
    );
}
