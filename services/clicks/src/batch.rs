//! From clicks to what is written: each click classified ([`crate::classify`]), then a
//! batch folded. Identical clicks in the same second become one raw row with a count
//! (decision 27), and the rollups' increments are summed, so each rollup row appears once
//! per statement. Postgres's work therefore follows the number of distinct links and
//! visitor kinds, not the click rate.

use crate::Click;
use crate::classify::{Classifier, country, referrer_host};
use chrono::{DateTime, NaiveDate, Utc};
use std::collections::HashMap;

/// User-Agents whose class is remembered before the cache starts over.
const AGENT_CACHE_MAX: usize = 10_000;

/// A click as stored, before folding.
struct Row {
    at: DateTime<Utc>,
    link_id: i64,
    referrer: Option<String>,
    agent_class: &'static str,
    country: Option<String>,
}

/// What makes two clicks identical in the raw table: the second, the link, the referrer
/// host, the agent class and the country. Identical clicks are written as one row with a
/// count (migration V5), so a busy link costs a row per second per kind of visitor.
type RawKey<'a> = (i64, i64, Option<&'a str>, &'static str, Option<&'a str>);

/// One raw row: a click's second, link, referrer host, agent class and country, and how
/// many identical clicks it stands for.
pub(crate) struct RawRow {
    pub(crate) at: DateTime<Utc>,
    pub(crate) link_id: i64,
    pub(crate) referrer: Option<String>,
    pub(crate) agent_class: &'static str,
    pub(crate) country: Option<String>,
    pub(crate) clicks: i32,
}

/// The hourly rollup's increments, as the columns of one `unnest` upsert.
#[derive(Default)]
pub(crate) struct HourlyIncrements {
    pub(crate) links: Vec<i64>,
    pub(crate) buckets: Vec<DateTime<Utc>>,
    pub(crate) classes: Vec<&'static str>,
    pub(crate) clicks: Vec<i64>,
}

/// The daily referrer rollup's increments, as the columns of one `unnest` upsert.
#[derive(Default)]
pub(crate) struct ReferrerIncrements {
    pub(crate) links: Vec<i64>,
    pub(crate) days: Vec<NaiveDate>,
    pub(crate) hosts: Vec<String>,
    pub(crate) bots: Vec<bool>,
    pub(crate) clicks: Vec<i64>,
}

/// A batch ready to write: classified, folded and owned, so a failed write is retried
/// as it is, without classifying again.
#[derive(Default)]
pub struct Batch {
    /// How many clicks the batch holds.
    pub(crate) clicks: usize,
    pub(crate) raw: Vec<RawRow>,
    pub(crate) hourly: HourlyIncrements,
    pub(crate) referrers: ReferrerIncrements,
}

impl Batch {
    /// How many clicks the batch stands for.
    pub fn clicks(&self) -> usize {
        self.clicks
    }

    /// How many raw rows it writes (identical clicks share one).
    pub fn raw_rows(&self) -> usize {
        self.raw.len()
    }

    /// Clicks of an import: the original system kept only a link and a time, so each is a
    /// direct click (no referrer) by an agent of class "other", folded like any other.
    pub fn imported(clicks: impl IntoIterator<Item = (DateTime<Utc>, i64)>) -> Self {
        let rows: Vec<Row> = clicks
            .into_iter()
            .map(|(at, link_id)| Row {
                at,
                link_id,
                referrer: None,
                agent_class: "other",
                country: None,
            })
            .collect();
        fold(&rows)
    }
}

/// Turns clicks into a [`Batch`]: classifies and folds them, remembering the class of each
/// User-Agent it has seen. That is a click writer's CPU work, about 10 ms for a batch of
/// 50,000; the redirect service runs it on a thread of its own at a lower priority.
#[derive(Default)]
pub struct Preparer {
    classifier: Classifier,
    agents: HashMap<Vec<u8>, &'static str>,
}

impl Preparer {
    /// Classifies `clicks` and folds them into one batch.
    pub fn prepare(&mut self, clicks: Vec<Click>) -> Batch {
        // Each click (and its header copies) is freed as soon as it is classified, off the
        // async workers: the clicks and their rows are never all in memory at once.
        let rows: Vec<Row> = clicks.into_iter().map(|c| self.classify(&c)).collect();
        fold(&rows)
    }

    fn classify(&mut self, click: &Click) -> Row {
        let agent_class = match click.user_agent() {
            Some(ua) => match self.agents.get(ua) {
                Some(class) => class,
                None => {
                    let class = self.classifier.agent_class(Some(ua));
                    if self.agents.len() >= AGENT_CACHE_MAX {
                        self.agents.clear();
                    }
                    self.agents.insert(ua.to_vec(), class);
                    class
                }
            },
            None => "other",
        };
        Row {
            at: DateTime::<Utc>::from(click.at),
            link_id: click.link_id,
            referrer: referrer_host(click.referer()),
            agent_class,
            country: country(click.country()),
        }
    }
}

/// Folds identical clicks (see [`RawKey`]) into one raw row each, in time order so the
/// COPY appends in order, and sums the rollups' increments, so each rollup row appears
/// once per statement.
fn fold(rows: &[Row]) -> Batch {
    let mut raw: HashMap<RawKey<'_>, i32> = HashMap::with_capacity(rows.len() / 4);
    let mut hourly: HashMap<(i64, i64, &'static str), i64> = HashMap::new();
    let mut referrers: HashMap<(i64, NaiveDate, &str, bool), i64> = HashMap::new();
    for row in rows {
        let second = row.at.timestamp();
        let count = raw
            .entry((
                second,
                row.link_id,
                row.referrer.as_deref(),
                row.agent_class,
                row.country.as_deref(),
            ))
            .or_default();
        *count = count.saturating_add(1);
        let hour = second - second.rem_euclid(3600);
        *hourly
            .entry((row.link_id, hour, row.agent_class))
            .or_default() += 1;
        // Only referred clicks: "direct" is the total less these, so the common case (no
        // Referer) costs no rollup row.
        if let Some(referrer) = row.referrer.as_deref() {
            let key = (
                row.link_id,
                row.at.date_naive(),
                referrer,
                row.agent_class == "bot",
            );
            *referrers.entry(key).or_default() += 1;
        }
    }
    let at = |second: i64| DateTime::<Utc>::from_timestamp(second, 0).unwrap_or_default();
    let mut raw: Vec<RawRow> = raw
        .into_iter()
        .map(
            |((second, link_id, referrer, agent_class, country), clicks)| RawRow {
                at: at(second),
                link_id,
                referrer: referrer.map(str::to_owned),
                agent_class,
                country: country.map(str::to_owned),
                clicks,
            },
        )
        .collect();
    raw.sort_unstable_by_key(|row| (row.at, row.link_id));
    let mut batch = Batch {
        clicks: rows.len(),
        raw,
        ..Batch::default()
    };
    for ((link, hour, class), n) in hourly {
        batch.hourly.links.push(link);
        batch.hourly.buckets.push(at(hour));
        batch.hourly.classes.push(class);
        batch.hourly.clicks.push(n);
    }
    for ((link, day, host, bot), n) in referrers {
        batch.referrers.links.push(link);
        batch.referrers.days.push(day);
        batch.referrers.hosts.push(host.to_owned());
        batch.referrers.bots.push(bot);
        batch.referrers.clicks.push(n);
    }
    batch
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(at: &str, link_id: i64, referrer: Option<&str>, country: Option<&str>) -> Row {
        Row {
            at: at.parse().unwrap(),
            link_id,
            referrer: referrer.map(str::to_owned),
            agent_class: "mobile",
            country: country.map(str::to_owned),
        }
    }

    #[test]
    fn identical_clicks_in_a_second_share_a_row_and_nothing_is_lost() {
        let rows = [
            row("2026-11-28T10:00:00.100Z", 1, None, None),
            row("2026-11-28T10:00:00.900Z", 1, None, None),
            row("2026-11-28T10:00:01.000Z", 1, None, None),
            row("2026-11-28T10:00:00.500Z", 2, None, None),
            row(
                "2026-11-28T10:00:00.500Z",
                1,
                Some("news.example.org"),
                None,
            ),
            row("2026-11-28T10:00:00.600Z", 1, None, Some("NL")),
            row("2026-11-28T10:00:00.700Z", 1, None, Some("NL")),
        ];
        let batch = fold(&rows);
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let (second, next) = (at("2026-11-28T10:00:00Z"), at("2026-11-28T10:00:01Z"));
        let count =
            |at: DateTime<Utc>, link: i64, referrer: Option<&str>, country: Option<&str>| {
                batch
                    .raw
                    .iter()
                    .find(|r| {
                        (r.at, r.link_id, r.referrer.as_deref(), r.country.as_deref())
                            == (at, link, referrer, country)
                    })
                    .map(|r| r.clicks)
            };
        assert_eq!(count(second, 1, None, None), Some(2));
        assert_eq!(count(next, 1, None, None), Some(1));
        assert_eq!(count(second, 2, None, None), Some(1));
        assert_eq!(count(second, 1, Some("news.example.org"), None), Some(1));
        assert_eq!(count(second, 1, None, Some("NL")), Some(2));
        assert_eq!(batch.raw.len(), 5);
        assert_eq!(batch.clicks, rows.len());
        let total: i32 = batch.raw.iter().map(|r| r.clicks).sum();
        assert_eq!(total as usize, rows.len());
        // In time order, so the COPY appends.
        assert!(batch.raw.windows(2).all(|w| w[0].at <= w[1].at));
        // The hourly rollup: link 1 and link 2 in hour 10:00, all mobile.
        let hourly: i64 = batch.hourly.clicks.iter().sum();
        assert_eq!(hourly, rows.len() as i64);
        assert_eq!(batch.hourly.links.len(), 2);
        // The referrer rollup holds only the referred click.
        assert_eq!(batch.referrers.hosts, ["news.example.org"]);
        assert_eq!(batch.referrers.clicks, [1]);
    }

    #[test]
    fn imported_clicks_are_direct_and_fold_like_recorded_ones() {
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let batch = Batch::imported([
            (at("2025-12-02T03:44:06Z"), 1),
            (at("2025-12-02T03:44:06Z"), 1),
            (at("2025-12-02T05:00:00Z"), 2),
        ]);
        assert_eq!((batch.clicks(), batch.raw_rows()), (3, 2));
        assert!(
            batch
                .raw
                .iter()
                .all(|r| r.referrer.is_none() && r.agent_class == "other")
        );
        // Direct clicks have no referrer rows: the stats count them as "(direct)".
        assert!(batch.referrers.links.is_empty());
        assert_eq!(batch.hourly.clicks.iter().sum::<i64>(), 3);
    }
}
