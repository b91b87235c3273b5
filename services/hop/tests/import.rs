//! `hop import` of the original system's export, into a real PostgreSQL and into the
//! embedded store: one suite, each test run on both backends.

use hop::import::{Sources, Summary};
use hop_testkit::TestStores;
use std::path::Path;

hop_testkit::on_both_backends!(
    the_shared_export_imports_whole_and_only_once,
    a_malformed_file_is_refused_with_line_numbers_and_nothing_is_written,
    click_events_become_clicks_and_rollups,
    duplicates_and_dangling_references_are_refused_with_their_lines,
    a_code_hop_gives_to_another_link_is_refused,
    references_to_huge_ids_are_checked_in_the_database,
    a_later_export_adds_its_new_links_beside_those_hop_has,
);

/// `hop import` into the test's database, whichever it is.
async fn run(db: &TestStores, sources: &Sources) -> anyhow::Result<Summary> {
    match db {
        TestStores::Servers { db, .. } => hop::import::run(&db.args, sources, false).await,
        TestStores::Embedded { sqlite, .. } => {
            hop::import::embedded::run(sqlite, sources, false).await
        }
    }
}

fn fixtures() -> Sources {
    Sources::in_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures"))
}

fn data_rows(path: &Path) -> i64 {
    let text = std::fs::read_to_string(path).unwrap();
    csv::Reader::from_reader(text.as_bytes()).records().count() as i64
}

/// An export in a folder of its own: each file's header, then the rows given.
fn export(users: &str, urls: &str, events: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (file, header, rows) in [
        ("seed-users.csv", "id,username,email,created_at", users),
        (
            "seed-urls.csv",
            "id,user_id,short_code,original_url,title,is_active,created_at,updated_at",
            urls,
        ),
        (
            "seed-events.csv",
            "id,url_id,user_id,event_type,timestamp,details",
            events,
        ),
    ] {
        std::fs::write(dir.path().join(file), format!("{header}\n{rows}")).unwrap();
    }
    dir
}

/// The one number `sql` selects (SQL both backends understand).
async fn count(db: &TestStores, sql: &str) -> i64 {
    let text = db
        .strings(&format!("SELECT CAST(({sql}) AS TEXT)"), &[])
        .await;
    text[0].parse().unwrap()
}

/// The definitions of `links`'s indexes and of the constraints they back on PostgreSQL
/// (none on the embedded store). A first import drops all but the primary key and builds
/// them after the load: they must come back exactly as the migrations made them, the
/// unique code as a constraint, not only an index.
async fn link_indexes(db: &TestStores) -> Vec<String> {
    match db.backend() {
        hop_testkit::Backend::Servers => {
            db.strings(
                "SELECT pg_get_indexdef(indexrelid) FROM pg_index \
                 WHERE indrelid = 'links'::regclass \
                 UNION ALL SELECT conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint \
                 WHERE conrelid = 'links'::regclass AND contype IN ('p', 'u') ORDER BY 1",
                &[],
            )
            .await
        }
        hop_testkit::Backend::Embedded => Vec::new(),
    }
}

/// The foreign keys of `link_events` on PostgreSQL, each with its object id and whether it
/// is validated (none on the embedded store): a first import drops them and adds them
/// again after the load, which must leave them as the migrations made them, checked.
async fn event_foreign_keys(db: &TestStores) -> Vec<(String, String)> {
    match db.backend() {
        hop_testkit::Backend::Servers => {
            let keys = db
                .strings(
                    "SELECT CAST(oid AS text) || ' ' || pg_get_constraintdef(oid) || \
                            CASE WHEN convalidated THEN ' (validated)' ELSE '' END \
                     FROM pg_constraint WHERE conrelid = 'link_events'::regclass AND contype = 'f' \
                     ORDER BY conname",
                    &[],
                )
                .await;
            keys.into_iter()
                .map(|key| {
                    let (oid, definition) = key.split_once(' ').unwrap();
                    (oid.to_owned(), definition.to_owned())
                })
                .collect()
        }
        hop_testkit::Backend::Embedded => Vec::new(),
    }
}

/// The owner index's object id on PostgreSQL: it changes when the index is built again.
async fn owner_index_oid(db: &TestStores) -> Option<String> {
    (db.backend() == hop_testkit::Backend::Servers).then_some(())?;
    let oid = db
        .strings(
            "SELECT CAST(CAST(to_regclass('links_owner_created_idx') AS oid) AS text)",
            &[],
        )
        .await;
    Some(oid[0].clone())
}

async fn the_shared_export_imports_whole_and_only_once(db: TestStores) {
    let sources = fixtures();
    let (indexes, owner_index) = (link_indexes(&db).await, owner_index_oid(&db).await);
    let foreign_keys = event_foreign_keys(&db).await;
    let summary = run(&db, &sources).await.unwrap();
    assert_eq!(link_indexes(&db).await, indexes, "every index as it was");
    let checked = event_foreign_keys(&db).await;
    let definitions = |keys: &[(String, String)]| -> Vec<String> {
        keys.iter()
            .map(|(_, definition)| definition.clone())
            .collect()
    };
    assert_eq!(
        definitions(&checked),
        definitions(&foreign_keys),
        "every foreign key as it was, validated"
    );
    if let (Some((before, definition)), Some((after, _))) = (foreign_keys.first(), checked.first())
    {
        assert!(definition.ends_with("(validated)"), "{definition}");
        assert_ne!(before, after, "into an empty hop, added after the load");
    }
    let rebuilt = owner_index_oid(&db).await;
    if owner_index.is_some() {
        assert_ne!(
            rebuilt, owner_index,
            "into an empty hop, built after the load"
        );
    }
    let (users, urls, events) = (
        data_rows(&sources.users),
        data_rows(&sources.urls),
        data_rows(&sources.events),
    );
    assert_eq!(summary.users_added as i64, users);
    assert_eq!(summary.links_added as i64, urls);
    assert_eq!((summary.events_added + summary.clicks_added) as i64, events);
    assert_eq!(count(&db, "SELECT count(*) FROM users").await, users);
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM users WHERE password_hash IS NULL"
        )
        .await,
        users,
        "no usable passwords"
    );
    assert_eq!(count(&db, "SELECT count(*) FROM links").await, urls);
    assert_eq!(
        count(&db, "SELECT count(*) FROM link_events").await
            + count(
                &db,
                "SELECT CAST(COALESCE(sum(clicks), 0) AS BIGINT) FROM clicks"
            )
            .await,
        events
    );

    // Codes, owners, titles and active flags are kept.
    let kept = db
        .strings(
            "SELECT l.target_url || ' ' || l.title || ' ' || \
                    CASE WHEN l.is_active THEN 'active' ELSE 'inactive' END || ' ' || u.email \
             FROM links l JOIN users u ON u.id = l.owner_id WHERE l.code = $1",
            &["r10UYL"],
        )
        .await;
    assert_eq!(
        kept,
        [
            "https://relay.cloud/ivory/kernel/1 Roadmap update garden active cobaltriver87@example.com"
        ]
    );
    assert_eq!(
        count(&db, "SELECT count(*) FROM links WHERE NOT is_active").await,
        377
    );

    let again = run(&db, &sources).await.unwrap();
    assert_eq!(
        owner_index_oid(&db).await,
        rebuilt,
        "a hop with links keeps its indexes live"
    );
    assert_eq!(
        event_foreign_keys(&db).await,
        checked,
        "and its events their foreign keys"
    );
    assert_eq!(
        (
            again.users_added,
            again.links_added,
            again.events_added,
            again.clicks_added
        ),
        (0, 0, 0, 0)
    );
    assert_eq!(again.users_present as i64, users);
    assert_eq!(count(&db, "SELECT count(*) FROM links").await, urls);
    assert_eq!(count(&db, "SELECT count(*) FROM link_events").await, events);
}

async fn a_malformed_file_is_refused_with_line_numbers_and_nothing_is_written(db: TestStores) {
    let dir = tempfile::tempdir().unwrap();
    let sources = fixtures();
    for (from, name) in [
        (&sources.users, "seed-users.csv"),
        (&sources.urls, "seed-urls.csv"),
        (&sources.events, "seed-events.csv"),
    ] {
        std::fs::copy(from, dir.path().join(name)).unwrap();
    }
    let urls = dir.path().join("seed-urls.csv");
    let mut lines: Vec<String> = std::fs::read_to_string(&urls)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    lines[16] = lines[16].replace("https://", "javascript://");
    lines[40] =
        "41,1,ab/cd,https://example.com,t,True,2025-01-01 00:00:00,2025-01-01 00:00:00".to_owned();
    lines[99] = "100,1".to_owned();
    std::fs::write(&urls, lines.join("\n") + "\n").unwrap();

    let error = run(&db, &Sources::in_dir(dir.path()))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("seed-urls.csv line 17: original_url must use http or https"),
        "{error}"
    );
    assert!(
        error.contains("seed-urls.csv line 41: short_code"),
        "{error}"
    );
    assert!(error.contains("seed-urls.csv line 100"), "{error}");
    assert!(error.contains("nothing was imported"), "{error}");
    assert_eq!(count(&db, "SELECT count(*) FROM users").await, 0);
    assert_eq!(count(&db, "SELECT count(*) FROM links").await, 0);
}

async fn click_events_become_clicks_and_rollups(db: TestStores) {
    let dir = export(
        "7,ada,ada@example.com,2025-01-01 00:00:00\n",
        "3,7,abc123,https://example.com/x,X,True,2025-01-01 00:00:00,2025-01-02 00:00:00\n",
        "1,3,7,created,2025-01-01 00:00:00,{}\n2,3,,click,2025-01-03 10:15:00,\n3,3,,click,2025-01-03 10:45:00,\n4,3,,click,2025-01-04 09:00:00,\n",
    );
    let summary = run(&db, &Sources::in_dir(dir.path())).await.unwrap();
    assert_eq!((summary.events_added, summary.clicks_added), (1, 3));
    assert_eq!(
        count(&db, "SELECT CAST(sum(clicks) AS BIGINT) FROM click_counts").await,
        3
    );
    assert_eq!(
        count(&db, "SELECT count(*) FROM click_counts").await,
        2,
        "two distinct hours"
    );
}

async fn duplicates_and_dangling_references_are_refused_with_their_lines(db: TestStores) {
    let dir = export(
        "7,ada,ada@example.com,2025-01-01 00:00:00\n\
         8,bob,ADA@example.com,2025-01-01 00:00:00\n",
        "3,7,abc123,https://example.com/x,X,True,2025-01-01 00:00:00,2025-01-02 00:00:00\n\
         4,9,abc123,https://example.com/y,Y,True,2025-01-01 00:00:00,2025-01-02 00:00:00\n",
        "1,3,7,created,2025-01-01 00:00:00,{}\n\
         1,5,,click,2025-01-03 10:15:00,\n",
    );
    let error = run(&db, &Sources::in_dir(dir.path()))
        .await
        .unwrap_err()
        .to_string();
    for expected in [
        "seed-users.csv line 3: email ada@example.com appears twice",
        "seed-urls.csv line 3: short_code abc123 appears twice",
        "seed-urls.csv line 3: user_id 9 is not in the users file",
        "seed-events.csv line 3: id 1 appears twice",
        "seed-events.csv line 3: url_id 5 is not in the urls file",
        "5 malformed row(s); nothing was imported",
    ] {
        assert!(error.contains(expected), "{expected:?} in {error}");
    }
    assert_eq!(count(&db, "SELECT count(*) FROM users").await, 0);
    assert_eq!(count(&db, "SELECT count(*) FROM links").await, 0);
    assert_eq!(
        count(
            &db,
            "SELECT CAST(coalesce(sum(last_id - first_id + 1), 0) AS BIGINT) FROM import_ranges"
        )
        .await,
        0
    );
}

async fn a_code_hop_gives_to_another_link_is_refused(db: TestStores) {
    let sources = fixtures();
    run(&db, &sources).await.unwrap();
    db.execute("UPDATE links SET target_url = 'https://elsewhere.example/' WHERE code = 'r10UYL'")
        .await;
    let events = count(
        &db,
        "SELECT CAST(coalesce(sum(last_id - first_id + 1), 0) AS BIGINT) FROM import_ranges",
    )
    .await;
    let error = run(&db, &sources).await.unwrap_err().to_string();
    assert!(
        error.contains("code r10UYL already belongs to another link"),
        "{error}"
    );
    assert!(error.contains("nothing was imported"), "{error}");
    assert_eq!(
        count(
            &db,
            "SELECT CAST(coalesce(sum(last_id - first_id + 1), 0) AS BIGINT) FROM import_ranges"
        )
        .await,
        events
    );
}

/// Ids too large for the importer's in-memory id sets: the references to them are checked
/// in the database instead, with the same words, and good references still pass.
async fn references_to_huge_ids_are_checked_in_the_database(db: TestStores) {
    let dir = export(
        "900000000,ada,ada@example.com,2025-01-01 00:00:00\n",
        "800000000,900000000,abc123,https://example.com/x,X,True,2025-01-01 00:00:00,2025-01-02 00:00:00\n\
         800000001,900000001,abc124,https://example.com/y,Y,True,2025-01-01 00:00:00,2025-01-02 00:00:00\n",
        "1,800000000,900000000,created,2025-01-01 00:00:00,{}\n\
         2,800000002,,click,2025-01-03 10:15:00,\n",
    );
    let error = run(&db, &Sources::in_dir(dir.path()))
        .await
        .unwrap_err()
        .to_string();
    for expected in [
        "seed-urls.csv line 3: user_id 900000001 is not in the users file",
        "seed-events.csv line 3: url_id 800000002 is not in the urls file",
        "2 malformed row(s); nothing was imported",
    ] {
        assert!(error.contains(expected), "{expected:?} in {error}");
    }
    assert_eq!(count(&db, "SELECT count(*) FROM links").await, 0);
}

/// An export imported into a hop that has links (the path that keeps every index and key
/// live): its new links are added with ids of their own, beside the ones matched by code,
/// with their events and clicks; the indexes and foreign keys are left as they were. The
/// first export's only event is a click, so `link_events` is still empty when the later
/// one comes: empty events are not a first import while hop has links.
async fn a_later_export_adds_its_new_links_beside_those_hop_has(db: TestStores) {
    let user = "7,ada,ada@example.com,2025-01-01 00:00:00\n";
    let first_link =
        "3,7,abc123,https://example.com/x,X,True,2025-01-01 00:00:00,2025-01-02 00:00:00\n";
    let first_event = "1,3,,click,2025-01-01 10:00:00,\n";
    let first = export(user, first_link, first_event);
    run(&db, &Sources::in_dir(first.path())).await.unwrap();
    assert_eq!(count(&db, "SELECT count(*) FROM link_events").await, 0);
    let (owner_index, foreign_keys) = (owner_index_oid(&db).await, event_foreign_keys(&db).await);

    let later = export(
        user,
        &format!(
            "{first_link}4,7,def456,https://example.com/y,Y,True,2025-02-01 00:00:00,2025-02-01 00:00:00\n"
        ),
        &format!(
            "{first_event}2,4,7,created,2025-02-01 00:00:00,{{}}\n3,4,,click,2025-02-03 10:15:00,\n"
        ),
    );
    let summary = run(&db, &Sources::in_dir(later.path())).await.unwrap();
    assert_eq!(
        (
            summary.links_added,
            summary.links_present,
            summary.events_added,
            summary.clicks_added
        ),
        (1, 1, 1, 1)
    );
    assert_eq!(owner_index_oid(&db).await, owner_index, "indexes kept live");
    assert_eq!(
        event_foreign_keys(&db).await,
        foreign_keys,
        "keys kept live"
    );
    assert_eq!(
        count(&db, "SELECT count(DISTINCT id) FROM links").await,
        2,
        "an id of its own"
    );
    let added = db
        .strings(
            "SELECT u.email || ' ' || l.target_url || ' ' || \
                    CAST((SELECT count(*) FROM link_events e WHERE e.link_id = l.id) AS TEXT) || ' ' || \
                    CAST((SELECT sum(c.clicks) FROM click_counts c WHERE c.link_id = l.id) AS TEXT) \
             FROM links l JOIN users u ON u.id = l.owner_id WHERE l.code = $1",
            &["def456"],
        )
        .await;
    assert_eq!(added, ["ada@example.com https://example.com/y 1 1"]);
}
