//! Every statement on the click tables: the raw `clicks` and the two rollups,
//! `click_counts` (per link, hour and agent class) and `click_referrers` (per link, day,
//! referrer host and bot flag; referred clicks only, so "direct" is the total less these).
//! Writers and readers of these tables go through here: the redirect service's click
//! writer, `hop import`, and the links service's stats. One implementation per database:
//! [`postgres`] (COPY, daily partitions) and [`sqlite`] (batched inserts, retention by
//! date).

pub mod postgres;
pub mod sqlite;

use crate::batch::Batch;
use crate::stats::{DIRECT, Stats, StatsQuery, TOP_REFERRERS};
use chrono::{DateTime, Utc};
use hop_kit::database::Database;
use hop_kit::error::Backend;

/// Writes `batch` in its own transaction. Nothing of a batch is written unless all of it
/// is.
pub async fn write_batch(database: &Database, batch: &Batch) -> Result<(), Backend> {
    match database {
        Database::Postgres(pool) => postgres::write_batch(pool, batch).await,
        Database::Sqlite(db) => sqlite::write_batch(db, batch).await,
    }
}

/// A link's clicks, people's and bots' apart.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub humans: u64,
    pub bots: u64,
}

impl std::ops::AddAssign for Totals {
    fn add_assign(&mut self, other: Self) {
        self.humans += other.humans;
        self.bots += other.bots;
    }
}

/// Every click of each of `link_ids`, from the hourly rollup; a link without clicks is
/// absent.
pub async fn totals(
    database: &Database,
    link_ids: &[i64],
) -> Result<std::collections::HashMap<i64, Totals>, Backend> {
    match database {
        Database::Postgres(pool) => postgres::totals(pool, link_ids).await,
        Database::Sqlite(db) => sqlite::totals(db, link_ids).await,
    }
}

/// One raw click, as the visits of a link list it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Visit {
    pub at: DateTime<Utc>,
    /// The referring page's host; `None` for a direct visit.
    pub referrer_host: Option<String>,
    pub agent_class: String,
    pub country: Option<String>,
}

/// Which raw clicks of a link to list: `[from, to)`, bots or not, a page of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VisitsQuery {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub exclude_bots: bool,
    pub offset: i64,
    pub limit: i64,
}

/// A page of link `link_id`'s raw clicks, newest first, one per click (a row that folded
/// identical clicks counts as each of them), and how many there are in all. Raw clicks are
/// kept for CLICK_RETENTION_DAYS; the rollups (and so [`totals`]) outlive them.
pub async fn visits(
    database: &Database,
    link_id: i64,
    query: &VisitsQuery,
) -> Result<(Vec<Visit>, u64), Backend> {
    match database {
        Database::Postgres(pool) => postgres::visits(pool, link_id, query).await,
        Database::Sqlite(db) => sqlite::visits(db, link_id, query).await,
    }
}

/// Reads the rollups of link `link_id` for `query`.
pub async fn read_stats(
    database: &Database,
    link_id: i64,
    query: &StatsQuery,
) -> Result<Stats, Backend> {
    match database {
        Database::Postgres(pool) => postgres::read_stats(pool, link_id, query).await,
        Database::Sqlite(db) => sqlite::read_stats(db, link_id, query).await,
    }
}

/// The answer from what both databases read: clicks without a Referer have no referrer
/// rows, so "(direct)" is the total less the `referred` ones, ranked with the rest.
fn assemble(
    series: Vec<(DateTime<Utc>, i64)>,
    agent_classes: Vec<(String, i64)>,
    mut top_referrers: Vec<(String, i64)>,
    referred: i64,
) -> Stats {
    let total: i64 = agent_classes.iter().map(|(_, n)| n).sum();
    let direct = (total - referred).max(0);
    if direct > 0 {
        top_referrers.push((DIRECT.to_owned(), direct));
        top_referrers.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        top_referrers.truncate(TOP_REFERRERS as usize);
    }
    Stats {
        total,
        series,
        top_referrers,
        agent_classes,
    }
}
