//! The read model on a Redis Cluster of the test's own (three masters, three replicas):
//! a batch whose entries fall in many hash slots is written and announced whole, a
//! redirect-side fill keeps the newest entry, and when a master is killed its replica
//! takes over and the same clients go on, with no restart. Then on Sentinel, and on one
//! Redis, where a batch is announced in one message.

use hop_kit::redis::Redis;
use hop_kit::shared::Shared;
use hop_proto::link::RedirectType;
use hop_read_model::invalidations::{Event, listen};
use hop_read_model::{CachedLink, ReadEntry, Reader, Writer};
use hop_testkit::RedisCluster;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const TTL: Duration = Duration::from_secs(600);
/// Recorded among the codes heard when the subscriber reports lost messages.
const MISSED: &str = "(missed)";

fn entry(id: i64, version: i64) -> ReadEntry {
    ReadEntry::Live {
        version,
        link: CachedLink {
            id,
            url: format!("https://example.com/{id}"),
            redirect_type: RedirectType::from_status(302).unwrap(),
            is_active: true,
            expires_at: None,
        },
    }
}

/// Codes 0..n under a prefix of the test's own; their keys spread over the slots.
fn codes(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("c{i:04}")).collect()
}

/// One entry per code, at `version` (ids from 1).
fn batch(codes: &[String], version: i64) -> Vec<(&str, ReadEntry)> {
    codes
        .iter()
        .enumerate()
        .map(|(i, code)| (code.as_str(), entry(i as i64 + 1, version)))
        .collect()
}

/// Writes `batch` until the code `probe` reads back as `expected` and every code of the
/// batch has been heard: the writer, the reader and the subscriber all work again.
async fn written_and_heard(
    what: &str,
    writer: &Writer,
    reader: &Reader,
    seen: &Arc<Mutex<HashSet<String>>>,
    batch: &[(&str, ReadEntry)],
    probe: (&str, ReadEntry),
) {
    seen.lock().unwrap().clear();
    hop_testkit::until(what, Duration::from_secs(30), || async {
        writer.put_many(batch).await;
        let stored = reader.get(probe.0).await.ok().flatten().as_ref() == Some(&probe.1);
        let seen = seen.lock().unwrap();
        stored && batch.iter().all(|(c, _)| seen.contains(*c))
    })
    .await;
}

/// Every code announced on the invalidation channel, as redirect hears it.
fn heard(shared: &Shared, stop: CancellationToken) -> Arc<Mutex<HashSet<String>>> {
    let seen = Arc::new(Mutex::new(HashSet::new()));
    let sink = seen.clone();
    listen(shared, stop, move |event| {
        match event {
            Event::Changed(code) => {
                sink.lock().unwrap().insert(code.to_owned());
            }
            // A burst must fit the subscriber's queue (hop_kit::redis::SUBSCRIBER_BACKLOG):
            // "missed" would make every redirect instance drop its whole L1.
            Event::Missed => {
                sink.lock().unwrap().insert(MISSED.to_owned());
            }
            Event::Subscribed { .. } | Event::Unsubscribed => {}
        }
    })
    .unwrap();
    seen
}

async fn subscribed(seen: &Arc<Mutex<HashSet<String>>>, writer: &Writer) {
    // A probe code announced until the subscription hears it.
    hop_testkit::until(
        "the invalidation subscriber hears",
        Duration::from_secs(10),
        || async {
            writer.put_many(&[("probe", entry(0, 1))]).await;
            seen.lock().unwrap().contains("probe")
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_read_model_works_on_a_cluster_and_survives_a_master_failing() {
    let mut cluster = RedisCluster::start();
    let args = hop_testkit::redis_args_for(&cluster.url());
    let redis = Redis::connect(&args).unwrap();
    assert!(redis.is_cluster());
    let shared = Shared::Redis(redis.clone());
    let writer = Writer::new(&shared, TTL);
    let reader = Reader::new(redis.clone(), TTL);
    let stop = CancellationToken::new();
    let seen = heard(&shared, stop.clone());
    subscribed(&seen, &writer).await;

    // One batch over many slots (a bulk create): every entry stored, every code heard.
    let codes = codes(200);
    let first = batch(&codes, 10);
    let slots: HashSet<u16> = codes
        .iter()
        .map(|c| fred::util::redis_keyslot(hop_read_model::link_key(&redis, c).as_bytes()))
        .collect();
    assert!(
        slots.len() > 100,
        "the batch spans many slots ({})",
        slots.len()
    );
    writer.put_many(&first).await;
    for (code, written) in &first {
        assert_eq!(
            reader.get(code).await.unwrap().as_ref(),
            Some(written),
            "{code}"
        );
    }
    hop_testkit::until(
        "every code of the batch is announced",
        Duration::from_secs(5),
        || async {
            let seen = seen.lock().unwrap();
            codes.iter().all(|c| seen.contains(c))
        },
    )
    .await;
    assert!(
        !seen.lock().unwrap().contains(MISSED),
        "the burst overflowed the subscriber"
    );

    // A fill from an older read keeps the newer entry; a newer one replaces it.
    writer.put_many(&[("filled", entry(900, 10))]).await;
    assert!(!reader.fill("filled", entry(900, 5)).await.unwrap());
    assert!(reader.fill("filled", entry(900, 11)).await.unwrap());
    assert_eq!(reader.get("filled").await.unwrap(), Some(entry(900, 11)));

    // A master dies; its replica is promoted; the same clients carry on.
    let master = cluster.masters()[0];
    cluster.kill_master(master);
    cluster.wait_until_served(Duration::from_secs(30));
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let mut failed = Vec::new();
        for (code, written) in &first {
            match reader.get(code).await {
                Ok(Some(found)) if &found == written => {}
                other => failed.push(format!("{code}: {other:?}")),
            }
        }
        if failed.is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "reads still fail 20 s after the failover ({} of {}), e.g. {:?}",
            failed.len(),
            first.len(),
            &failed[..failed.len().min(3)]
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    written_and_heard(
        "a batch is written and announced after the failover",
        &writer,
        &reader,
        &seen,
        &batch(&codes, 20),
        ("c0199", entry(200, 20)),
    )
    .await;
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_read_model_follows_a_sentinel_failover() {
    let mut sentinel = hop_testkit::RedisSentinel::start();
    let args = hop_testkit::redis_args_for(&sentinel.url());
    let redis = Redis::connect(&args).unwrap();
    assert!(!redis.is_cluster());
    let shared = Shared::Redis(redis.clone());
    let writer = Writer::new(&shared, TTL);
    let reader = Reader::new(redis.clone(), TTL);
    let stop = CancellationToken::new();
    let seen = heard(&shared, stop.clone());
    subscribed(&seen, &writer).await;

    let codes = codes(20);
    writer.put_many(&batch(&codes, 10)).await;
    assert_eq!(reader.get("c0007").await.unwrap(), Some(entry(8, 10)));

    // The primary dies; the sentinels promote the replica; the client asks them and
    // reconnects to it by itself.
    let promoted = sentinel.kill_primary();
    sentinel.wait_for_primary(promoted, Duration::from_secs(30));
    written_and_heard(
        "writes, reads and announcements resume on the promoted replica",
        &writer,
        &reader,
        &seen,
        &batch(&codes, 20),
        ("c0007", entry(8, 20)),
    )
    .await;
    stop.cancel();
}

/// On one Redis (the machine's, under a prefix of the test's own), a batch is one message
/// on the channel, however many codes it announces, and the subscriber hears each code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_is_one_message_on_one_redis() {
    use fred::prelude::*;

    let redis = Redis::connect(&hop_testkit::redis_args()).unwrap();
    if redis.is_cluster() {
        // TEST_REDIS_URL names a cluster: a batch is a message per hash slot there, which
        // the cluster test above checks.
        return;
    }
    let shared = Shared::Redis(redis.clone());
    let writer = Writer::new(&shared, TTL);
    let stop = CancellationToken::new();
    let seen = heard(&shared, stop.clone());
    subscribed(&seen, &writer).await;

    let raw = redis.subscriber().unwrap();
    let mut messages = raw.message_rx();
    let _connection = raw.connect();
    raw.wait_for_connect().await.unwrap();
    raw.subscribe(hop_read_model::invalidation_channel(&redis))
        .await
        .unwrap();
    let codes = codes(1000);
    writer.put_many(&batch(&codes, 10)).await;
    hop_testkit::until(
        "every code of the batch is heard",
        Duration::from_secs(5),
        || async {
            let seen = seen.lock().unwrap();
            codes.iter().all(|c| seen.contains(c))
        },
    )
    .await;
    let message = tokio::time::timeout(Duration::from_secs(5), messages.recv())
        .await
        .expect("the batch's message")
        .unwrap();
    let text = message.value.as_str().unwrap().into_owned();
    assert_eq!(
        text.split(' ').count(),
        1000,
        "all of the batch in one message"
    );
    assert!(
        tokio::time::timeout(Duration::from_millis(300), messages.recv())
            .await
            .is_err(),
        "and no other"
    );
    stop.cancel();
    let _ = raw.quit().await;
}
