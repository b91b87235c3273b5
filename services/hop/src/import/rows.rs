//! The rows of an export, read one at a time and checked on their own: every field's shape
//! (ids, times, emails, codes, URLs, titles, flags, event types, JSON details). What needs
//! more than one row is checked once everything is staged ([`super::checks`]), except the
//! references between files, which are checked as the rows stream past
//! ([`super::references`]).

use anyhow::{Context as _, bail};
use chrono::{DateTime, NaiveDateTime, Utc};
use hop_proto::link::{ShortCode, TargetUrl, parse_title};
use std::path::Path;

/// Malformed rows listed in the error before "and N more".
pub const SHOWN_ERRORS: usize = 20;

pub struct User {
    pub id: i64,
    pub username: Option<String>,
    pub email: String,
    pub created_at: DateTime<Utc>,
}

pub struct Url {
    pub id: i64,
    pub user_id: i64,
    pub code: String,
    pub url: String,
    pub title: Option<String>,
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub struct Event {
    pub id: i64,
    pub url_id: i64,
    pub user_id: Option<i64>,
    pub kind: &'static str,
    pub at: DateTime<Utc>,
    pub details: serde_json::Value,
}

/// A row of the export, known by the id the original system gave it.
pub trait Sourced {
    fn source_id(&self) -> i64;
}

impl Sourced for User {
    fn source_id(&self) -> i64 {
        self.id
    }
}

impl Sourced for Url {
    fn source_id(&self) -> i64 {
        self.id
    }
}

impl Sourced for Event {
    fn source_id(&self) -> i64 {
        self.id
    }
}

/// Problems found, by file and line: the first [`SHOWN_ERRORS`] kept, the rest counted, so
/// an export that is wrong on every line costs no memory.
#[derive(Default)]
pub struct Problems {
    shown: Vec<String>,
    count: u64,
}

impl Problems {
    pub fn add(&mut self, file: &str, line: u64, message: impl std::fmt::Display) {
        self.count += 1;
        if self.shown.len() < SHOWN_ERRORS {
            self.shown.push(format!("{file} line {line}: {message}"));
        }
    }

    /// Takes in `other`'s problems after these, within the same limit of those listed.
    pub fn absorb(&mut self, other: Problems) {
        let room = SHOWN_ERRORS.saturating_sub(self.shown.len());
        let listed = other.shown.len().min(room);
        self.shown.extend(other.shown.into_iter().take(listed));
        self.count += other.count;
    }

    /// Counts `n` more problems that are not listed.
    pub fn count_more(&mut self, n: u64) {
        self.count += n;
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn into_result(self) -> anyhow::Result<()> {
        if self.count == 0 {
            return Ok(());
        }
        let mut message = format!("{} malformed row(s); nothing was imported\n", self.count);
        for problem in &self.shown {
            message.push_str("  ");
            message.push_str(problem);
            message.push('\n');
        }
        let hidden = self.count - self.shown.len() as u64;
        if hidden > 0 {
            message.push_str(&format!("  … and {hidden} more\n"));
        }
        bail!(message.trim_end().to_owned())
    }
}

/// The file name as problems name it (`seed-urls.csv`).
pub fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
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

/// A CSV file read a record at a time; its header must be exactly `columns`.
pub struct Reader {
    name: String,
    inner: csv::Reader<std::io::BufReader<CountingFile>>,
    columns: usize,
    record: csv::StringRecord,
    read: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

/// A file that counts the bytes read from it (for the progress bar).
struct CountingFile {
    file: std::fs::File,
    read: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl std::io::Read for CountingFile {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.file.read(buf)?;
        self.read
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
}

impl Reader {
    pub fn open(
        path: &Path,
        columns: &[&str],
        read: std::sync::Arc<std::sync::atomic::AtomicU64>,
    ) -> anyhow::Result<Self> {
        let file =
            std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let counting = CountingFile {
            file,
            read: read.clone(),
        };
        let mut inner = csv::ReaderBuilder::new()
            .has_headers(true)
            .from_reader(std::io::BufReader::with_capacity(1 << 16, counting));
        let header: Vec<String> = inner
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
        Ok(Self {
            name: file_name(path),
            inner,
            columns: columns.len(),
            record: csv::StringRecord::new(),
            read,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Bytes read so far from every file sharing the counter.
    pub fn bytes_read(&self) -> u64 {
        self.read.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The next record and its line, a problem, or `None` at the end.
    pub fn next(&mut self) -> Option<(u64, Result<&csv::StringRecord, String>)> {
        match self.inner.read_record(&mut self.record) {
            Ok(false) => None,
            Ok(true) => {
                let line = self.record.position().map_or(0, csv::Position::line);
                if self.record.len() != self.columns {
                    let message =
                        format!("{} fields, expected {}", self.record.len(), self.columns);
                    return Some((line, Err(message)));
                }
                Some((line, Ok(&self.record)))
            }
            Err(e) => {
                let line = e.position().map_or(0, csv::Position::line);
                Some((line, Err(e.to_string())))
            }
        }
    }
}

pub const USER_COLUMNS: [&str; 4] = ["id", "username", "email", "created_at"];

pub fn user(r: &csv::StringRecord) -> Result<User, String> {
    let email = hop_auth::Email::parse(&r[2]).map_err(|e| format!("email {e}"))?;
    Ok(User {
        id: id(&r[0], "id")?,
        username: Some(r[1].trim().to_owned()).filter(|u| !u.is_empty()),
        email: email.as_str().to_owned(),
        created_at: time(&r[3])?,
    })
}

pub const URL_COLUMNS: [&str; 8] = [
    "id",
    "user_id",
    "short_code",
    "original_url",
    "title",
    "is_active",
    "created_at",
    "updated_at",
];

pub fn url(r: &csv::StringRecord) -> Result<Url, String> {
    let user_id = id(&r[1], "user_id")?;
    let code = ShortCode::parse(r[2].trim())
        .ok_or_else(|| format!("short_code {:?} is not a code", &r[2]))?;
    let url = TargetUrl::parse(&r[3]).map_err(|e| format!("original_url {e}"))?;
    let is_active = match r[5].trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "t" => true,
        "false" | "0" | "f" => false,
        other => return Err(format!("is_active {other:?} is not true or false")),
    };
    Ok(Url {
        id: id(&r[0], "id")?,
        user_id,
        code: code.as_str().to_owned(),
        url: url.into_string(),
        title: parse_title(&r[4]).map_err(|e| format!("title {e}"))?,
        is_active,
        created_at: time(&r[6])?,
        updated_at: time(&r[7])?,
    })
}

pub const EVENT_COLUMNS: [&str; 6] = [
    "id",
    "url_id",
    "user_id",
    "event_type",
    "timestamp",
    "details",
];

pub fn event(r: &csv::StringRecord) -> Result<Event, String> {
    let url_id = id(&r[1], "url_id")?;
    let user_id = match r[2].trim() {
        "" => None,
        raw => Some(id(raw, "user_id")?),
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
    Ok(Event {
        id: id(&r[0], "id")?,
        url_id,
        user_id,
        kind,
        at: time(&r[4])?,
        details,
    })
}
