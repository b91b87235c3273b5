//! `hop import`: the original system's CSV exports (users, urls, events) into hop.
//!
//! Every file is read and checked first; a malformed row stops the import with its file
//! and line before anything is written. Then everything is written in one transaction, so
//! an import either happens whole or not at all. It is idempotent: users are matched by
//! email, links by code (and must point where they did), and events by their source id in
//! `import_ledger`, so a second run adds nothing.
//!
//! Links keep their 6-character codes, owners, titles and active flags. Click events become
//! clicks (and rollups); the rest become link events. Users come in without a usable
//! password: they set one with `hop users set-password`.

use anyhow::{Context as _, bail};
use chrono::{DateTime, NaiveDateTime, Utc};
use hop_kit::config::DatabaseArgs;
use hop_kit::link::{ShortCode, TargetUrl, parse_title};
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

/// Rows per statement.
const CHUNK: usize = 1000;
/// Malformed rows listed in the error before "and N more".
const SHOWN_ERRORS: usize = 20;

/// The three files of an export.
#[derive(Debug, Clone)]
pub struct Sources {
    pub users: PathBuf,
    pub urls: PathBuf,
    pub events: PathBuf,
}

impl Sources {
    /// `seed-users.csv`, `seed-urls.csv` and `seed-events.csv` in `dir`.
    pub fn in_dir(dir: &Path) -> Self {
        Self {
            users: dir.join("seed-users.csv"),
            urls: dir.join("seed-urls.csv"),
            events: dir.join("seed-events.csv"),
        }
    }
}

/// What an import did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    pub users_added: u64,
    pub users_present: u64,
    pub links_added: u64,
    pub links_present: u64,
    pub events_added: u64,
    pub clicks_added: u64,
    pub events_present: u64,
}

struct User {
    id: i64,
    username: Option<String>,
    email: String,
    created_at: DateTime<Utc>,
}

struct Url {
    line: u64,
    id: i64,
    user_id: i64,
    code: String,
    url: String,
    title: Option<String>,
    is_active: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

struct Event {
    id: i64,
    url_id: i64,
    user_id: Option<i64>,
    kind: &'static str,
    at: DateTime<Utc>,
    details: serde_json::Value,
}

/// Problems found while reading, by file and line.
#[derive(Default)]
struct Problems(Vec<String>);

impl Problems {
    fn add(&mut self, file: &Path, line: u64, message: impl std::fmt::Display) {
        let name = file.file_name().map_or_else(
            || file.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        self.0.push(format!("{name} line {line}: {message}"));
    }

    fn into_result(self) -> anyhow::Result<()> {
        if self.0.is_empty() {
            return Ok(());
        }
        let mut message = format!("{} malformed row(s); nothing was imported\n", self.0.len());
        for problem in self.0.iter().take(SHOWN_ERRORS) {
            message.push_str("  ");
            message.push_str(problem);
            message.push('\n');
        }
        if self.0.len() > SHOWN_ERRORS {
            message.push_str(&format!("  … and {} more\n", self.0.len() - SHOWN_ERRORS));
        }
        bail!(message.trim_end().to_owned())
    }
}

fn time(raw: &str) -> Result<DateTime<Utc>, String> {
    NaiveDateTime::parse_from_str(raw.trim(), "%Y-%m-%d %H:%M:%S")
        .map(|t| t.and_utc())
        .or_else(|_| DateTime::parse_from_rfc3339(raw.trim()).map(|t| t.with_timezone(&Utc)))
        .map_err(|_| format!("{raw:?} is not a time (YYYY-MM-DD HH:MM:SS)"))
}

fn id(raw: &str, field: &str) -> Result<i64, String> {
    raw.trim()
        .parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("{field}: {raw:?} is not a positive id"))
}

/// Reads a CSV whose header must be exactly `columns`; calls `row` for each record.
fn read(
    path: &Path,
    columns: &[&str],
    problems: &mut Problems,
    mut row: impl FnMut(u64, &csv::StringRecord) -> Result<(), String>,
) -> anyhow::Result<()> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_path(path)
        .with_context(|| format!("opening {}", path.display()))?;
    let header: Vec<String> = reader
        .headers()
        .with_context(|| format!("reading the header of {}", path.display()))?
        .iter()
        .map(|h| h.trim().to_owned())
        .collect();
    if header != columns {
        bail!(
            "{}: the header must be {}, not {}",
            path.display(),
            columns.join(","),
            header.join(",")
        );
    }
    for record in reader.records() {
        match record {
            Ok(record) => {
                let line = record.position().map_or(0, csv::Position::line);
                if record.len() != columns.len() {
                    problems.add(
                        path,
                        line,
                        format!("{} fields, expected {}", record.len(), columns.len()),
                    );
                } else if let Err(e) = row(line, &record) {
                    problems.add(path, line, e);
                }
            }
            Err(e) => {
                let line = e.position().map_or(0, csv::Position::line);
                problems.add(path, line, e);
            }
        }
    }
    Ok(())
}

fn parse_users(path: &Path, problems: &mut Problems) -> anyhow::Result<Vec<User>> {
    let mut users = Vec::new();
    let mut emails = HashSet::new();
    read(
        path,
        &["id", "username", "email", "created_at"],
        problems,
        |_, r| {
            let email =
                hop_auth::credentials::Email::parse(&r[2]).map_err(|e| format!("email {e}"))?;
            if !emails.insert(email.as_str().to_owned()) {
                return Err(format!("email {} appears twice", email.as_str()));
            }
            users.push(User {
                id: id(&r[0], "id")?,
                username: Some(r[1].trim().to_owned()).filter(|u| !u.is_empty()),
                email: email.as_str().to_owned(),
                created_at: time(&r[3])?,
            });
            Ok(())
        },
    )?;
    Ok(users)
}

fn parse_urls(
    path: &Path,
    users: &HashSet<i64>,
    problems: &mut Problems,
) -> anyhow::Result<Vec<Url>> {
    let mut urls = Vec::new();
    let mut codes = HashSet::new();
    let columns = [
        "id",
        "user_id",
        "short_code",
        "original_url",
        "title",
        "is_active",
        "created_at",
        "updated_at",
    ];
    read(path, &columns, problems, |line, r| {
        let user_id = id(&r[1], "user_id")?;
        if !users.contains(&user_id) {
            return Err(format!("user_id {user_id} is not in the users file"));
        }
        let code = ShortCode::parse(r[2].trim())
            .ok_or_else(|| format!("short_code {:?} is not a code", &r[2]))?;
        if !codes.insert(code.as_str().to_owned()) {
            return Err(format!("short_code {} appears twice", code.as_str()));
        }
        let url = TargetUrl::parse(&r[3]).map_err(|e| format!("original_url {e}"))?;
        let is_active = match r[5].trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "t" => true,
            "false" | "0" | "f" => false,
            other => return Err(format!("is_active {other:?} is not true or false")),
        };
        urls.push(Url {
            line,
            id: id(&r[0], "id")?,
            user_id,
            code: code.as_str().to_owned(),
            url: url.into_string(),
            title: parse_title(&r[4]).map_err(|e| format!("title {e}"))?,
            is_active,
            created_at: time(&r[6])?,
            updated_at: time(&r[7])?,
        });
        Ok(())
    })?;
    Ok(urls)
}

fn parse_events(
    path: &Path,
    urls: &HashSet<i64>,
    users: &HashSet<i64>,
    problems: &mut Problems,
) -> anyhow::Result<Vec<Event>> {
    let mut events = Vec::new();
    let columns = [
        "id",
        "url_id",
        "user_id",
        "event_type",
        "timestamp",
        "details",
    ];
    read(path, &columns, problems, |_, r| {
        let url_id = id(&r[1], "url_id")?;
        if !urls.contains(&url_id) {
            return Err(format!("url_id {url_id} is not in the urls file"));
        }
        let user_id = match r[2].trim() {
            "" => None,
            raw => Some(id(raw, "user_id")?)
                .filter(|u| users.contains(u))
                .map(Some)
                .ok_or_else(|| format!("user_id {raw} is not in the users file"))?,
        };
        let kind = match r[3].trim() {
            "created" => "created",
            "updated" => "updated",
            "deleted" => "deleted",
            "click" | "clicked" | "redirect" => "click",
            other => {
                return Err(format!(
                    "event_type {other:?} is not created, updated, deleted or click"
                ));
            }
        };
        let details = match r[5].trim() {
            "" => serde_json::json!({}),
            raw => serde_json::from_str(raw).map_err(|e| format!("details are not JSON: {e}"))?,
        };
        events.push(Event {
            id: id(&r[0], "id")?,
            url_id,
            user_id,
            kind,
            at: time(&r[4])?,
            details,
        });
        Ok(())
    })?;
    Ok(events)
}

/// Imports `sources` into the database of `db` (migrating it first).
pub async fn run(
    db: &DatabaseArgs,
    sources: &Sources,
    show_progress: bool,
) -> anyhow::Result<Summary> {
    let mut problems = Problems::default();
    let users = parse_users(&sources.users, &mut problems)?;
    let user_ids: HashSet<i64> = users.iter().map(|u| u.id).collect();
    let urls = parse_urls(&sources.urls, &user_ids, &mut problems)?;
    let url_ids: HashSet<i64> = urls.iter().map(|u| u.id).collect();
    let events = parse_events(&sources.events, &url_ids, &user_ids, &mut problems)?;
    problems.into_result()?;

    hop_kit::postgres::migrate(db).await?;
    let (mut client, connection) = db
        .migration_config()?
        .connect(tokio_postgres::NoTls)
        .await
        .context("connecting to PostgreSQL")?;
    tokio::spawn(connection);
    let progress = bar(
        show_progress,
        (users.len() + urls.len() + events.len()) as u64,
    );
    let tx = client.transaction().await?;
    let mut summary = Summary::default();
    let owners = import_users(&tx, &users, &mut summary, &progress).await?;
    let links = import_links(&tx, &urls, &owners, &mut summary, &progress).await?;
    import_events(&tx, &events, &links, &owners, &mut summary, &progress).await?;
    tx.commit().await.context("committing the import")?;
    progress.finish_and_clear();
    Ok(summary)
}

fn bar(show: bool, total: u64) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} importing [{bar:40}] {pos}/{len} rows ({per_sec}, {eta} left)",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// Users by email; returns source user id → hop user id.
async fn import_users(
    tx: &tokio_postgres::Transaction<'_>,
    users: &[User],
    summary: &mut Summary,
    progress: &ProgressBar,
) -> anyhow::Result<HashMap<i64, i64>> {
    for chunk in users.chunks(CHUNK) {
        let emails: Vec<&str> = chunk.iter().map(|u| u.email.as_str()).collect();
        let names: Vec<Option<&str>> = chunk.iter().map(|u| u.username.as_deref()).collect();
        let created: Vec<DateTime<Utc>> = chunk.iter().map(|u| u.created_at).collect();
        let added = tx
            .execute(
                "INSERT INTO users (email, username, password_hash, created_at, updated_at) \
                 SELECT e, n, NULL, c, c FROM unnest($1::text[], $2::text[], $3::timestamptz[]) AS t(e, n, c) \
                 ON CONFLICT (email) DO NOTHING",
                &[&emails, &names, &created],
            )
            .await
            .context("importing users")?;
        summary.users_added += added;
        summary.users_present += chunk.len() as u64 - added;
        progress.inc(chunk.len() as u64);
    }
    let emails: Vec<&str> = users.iter().map(|u| u.email.as_str()).collect();
    let rows = tx
        .query(
            "SELECT email, id FROM users WHERE email = ANY($1)",
            &[&emails],
        )
        .await?;
    let by_email: HashMap<String, i64> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    Ok(users
        .iter()
        .filter_map(|u| Some((u.id, *by_email.get(&u.email)?)))
        .collect())
}

/// Links by code; returns source url id → hop link id.
async fn import_links(
    tx: &tokio_postgres::Transaction<'_>,
    urls: &[Url],
    owners: &HashMap<i64, i64>,
    summary: &mut Summary,
    progress: &ProgressBar,
) -> anyhow::Result<HashMap<i64, i64>> {
    let codes: Vec<&str> = urls.iter().map(|u| u.code.as_str()).collect();
    let existing: HashMap<String, (i64, String)> = tx
        .query(
            "SELECT code, id, target_url FROM links WHERE code = ANY($1)",
            &[&codes],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), (r.get(1), r.get(2))))
        .collect();
    let clashes: Vec<String> = urls
        .iter()
        .filter(|u| {
            existing
                .get(&u.code)
                .is_some_and(|(_, target)| *target != u.url)
        })
        .map(|u| {
            format!(
                "line {}: code {} already belongs to another link",
                u.line, u.code
            )
        })
        .collect();
    if !clashes.is_empty() {
        bail!(
            "{} code(s) of the urls file are taken in hop; nothing was imported\n  {}",
            clashes.len(),
            clashes.join("\n  ")
        );
    }
    let fresh: Vec<&Url> = urls
        .iter()
        .filter(|u| !existing.contains_key(&u.code))
        .collect();
    let ids = lease_ids(tx, fresh.len()).await?;
    for (chunk, ids) in fresh.chunks(CHUNK).zip(ids.chunks(CHUNK)) {
        let codes: Vec<&str> = chunk.iter().map(|u| u.code.as_str()).collect();
        let targets: Vec<&str> = chunk.iter().map(|u| u.url.as_str()).collect();
        let titles: Vec<Option<&str>> = chunk.iter().map(|u| u.title.as_deref()).collect();
        let owner: Vec<Option<i64>> = chunk
            .iter()
            .map(|u| owners.get(&u.user_id).copied())
            .collect();
        let active: Vec<bool> = chunk.iter().map(|u| u.is_active).collect();
        let created: Vec<DateTime<Utc>> = chunk.iter().map(|u| u.created_at).collect();
        let updated: Vec<DateTime<Utc>> = chunk
            .iter()
            .map(|u| u.updated_at.max(u.created_at))
            .collect();
        summary.links_added += tx
            .execute(
                "INSERT INTO links (id, code, target_url, title, owner_id, is_active, created_at, updated_at) \
                 SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::bigint[], \
                                      $6::boolean[], $7::timestamptz[], $8::timestamptz[])",
                &[&ids, &codes, &targets, &titles, &owner, &active, &created, &updated],
            )
            .await
            .context("importing links")?;
        progress.inc(chunk.len() as u64);
    }
    summary.links_present += (urls.len() - fresh.len()) as u64;
    progress.inc((urls.len() - fresh.len()) as u64);
    let rows = tx
        .query("SELECT code, id FROM links WHERE code = ANY($1)", &[&codes])
        .await?;
    let by_code: HashMap<String, i64> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    Ok(urls
        .iter()
        .filter_map(|u| Some((u.id, *by_code.get(&u.code)?)))
        .collect())
}

/// `n` fresh link ids, leased in whole blocks of the `link_ids` sequence like the links
/// service does, so imported links never collide with minted ones.
async fn lease_ids(tx: &tokio_postgres::Transaction<'_>, n: usize) -> anyhow::Result<Vec<i64>> {
    if n == 0 {
        return Ok(Vec::new());
    }
    let size: i64 = tx
        .query_one(
            "SELECT seqincrement FROM pg_sequence WHERE seqrelid = 'link_ids'::regclass",
            &[],
        )
        .await?
        .get(0);
    let blocks = (n as i64 + size - 1) / size;
    let starts = tx
        .query(
            "SELECT nextval('link_ids') FROM generate_series(1, $1::bigint)",
            &[&blocks],
        )
        .await?;
    Ok(starts
        .iter()
        .flat_map(|r| {
            let start: i64 = r.get(0);
            start..start + size
        })
        .take(n)
        .collect())
}

/// Events by source id (through the ledger): clicks through `hop-clicks` (the raw table
/// and the rollups), the rest into `link_events`.
async fn import_events(
    tx: &tokio_postgres::Transaction<'_>,
    events: &[Event],
    links: &HashMap<i64, i64>,
    owners: &HashMap<i64, i64>,
    summary: &mut Summary,
    progress: &ProgressBar,
) -> anyhow::Result<()> {
    for chunk in events.chunks(CHUNK) {
        let sources: Vec<i64> = chunk.iter().map(|e| e.id).collect();
        let fresh: HashSet<i64> = tx
            .query(
                "INSERT INTO import_ledger (kind, source_id) SELECT 'event', unnest($1::bigint[]) \
                 ON CONFLICT DO NOTHING RETURNING source_id",
                &[&sources],
            )
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
        summary.events_present += (chunk.len() - fresh.len()) as u64;
        let new: Vec<&Event> = chunk.iter().filter(|e| fresh.contains(&e.id)).collect();
        let (clicks, others): (Vec<&Event>, Vec<&Event>) =
            new.into_iter().partition(|e| e.kind == "click");
        let link = |e: &Event| links.get(&e.url_id).copied().unwrap_or_default();
        if !others.is_empty() {
            let ids: Vec<i64> = others.iter().map(|e| link(e)).collect();
            let users: Vec<Option<i64>> = others
                .iter()
                .map(|e| e.user_id.and_then(|u| owners.get(&u).copied()))
                .collect();
            let kinds: Vec<&str> = others.iter().map(|e| e.kind).collect();
            let at: Vec<DateTime<Utc>> = others.iter().map(|e| e.at).collect();
            let details: Vec<serde_json::Value> =
                others.iter().map(|e| e.details.clone()).collect();
            summary.events_added += tx
                .execute(
                    "INSERT INTO link_events (link_id, user_id, kind, at, details) \
                     SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::timestamptz[], $5::jsonb[])",
                    &[&ids, &users, &kinds, &at, &details],
                )
                .await
                .context("importing link events")?;
        }
        if !clicks.is_empty() {
            // Through the clicks' owner, like a recorded click: folded, with the rollups.
            let batch = hop_clicks::Batch::imported(clicks.iter().map(|e| (e.at, link(e))));
            hop_clicks::store::write(tx, &batch)
                .await
                .context("importing clicks")?;
            summary.clicks_added += batch.clicks() as u64;
        }
        progress.inc(chunk.len() as u64);
    }
    Ok(())
}
