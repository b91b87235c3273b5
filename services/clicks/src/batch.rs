//! From clicks to what is written: each click classified ([`crate::classify`]), then
//! folded into a [`Batch`]. Identical clicks in the same second become one raw row with a
//! count (decision 27), and the rollups' increments are summed, so each rollup row appears
//! once per write. A batch keeps folding until it is written: the redirect service folds
//! everything of one flush interval into one batch, however many times it drains its
//! buffer meanwhile, so Postgres's work follows the number of distinct links and visitor
//! kinds per interval, not the click rate.

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
type RawKey = (i64, i64, Option<String>, &'static str, Option<String>);

/// An hourly rollup row's key: the link, the hour (as a Unix second) and the agent class.
type HourlyKey = (i64, i64, &'static str);

/// A daily referrer rollup row's key: the link, the day, the referrer host and whether
/// the agent is a bot.
type ReferrerKey = (i64, NaiveDate, String, bool);

/// One raw row: a click's second, link, referrer host, agent class and country, and how
/// many identical clicks it stands for.
pub(crate) struct RawRow<'a> {
    pub(crate) at: DateTime<Utc>,
    pub(crate) link_id: i64,
    pub(crate) referrer: Option<&'a str>,
    pub(crate) agent_class: &'static str,
    pub(crate) country: Option<&'a str>,
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
pub(crate) struct ReferrerIncrements<'a> {
    pub(crate) links: Vec<i64>,
    pub(crate) days: Vec<NaiveDate>,
    pub(crate) hosts: Vec<&'a str>,
    pub(crate) bots: Vec<bool>,
    pub(crate) clicks: Vec<i64>,
}

/// Clicks ready to write: classified, folded and owned, so a failed write is retried as
/// it is, without classifying again. More clicks fold into it until it is written
/// ([`Preparer::prepare_into`]).
#[derive(Default)]
pub struct Batch {
    /// How many clicks the batch holds.
    clicks: usize,
    raw: HashMap<RawKey, i32>,
    hourly: HashMap<HourlyKey, i64>,
    referrers: HashMap<ReferrerKey, i64>,
}

/// A Unix second as a timestamp (every second the fold produces comes from one).
fn at(second: i64) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp(second, 0).unwrap_or_default()
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

    /// How many rollup rows it upserts, hourly and referrer rows together.
    pub fn rollup_rows(&self) -> usize {
        self.hourly.len() + self.referrers.len()
    }

    /// Clicks of an import: the original system kept only a link and a time, so each is a
    /// direct click (no referrer) by an agent of class "other", folded like any other.
    pub fn imported(clicks: impl IntoIterator<Item = (DateTime<Utc>, i64)>) -> Self {
        let mut batch = Self::default();
        for (at, link_id) in clicks {
            batch.add(Row {
                at,
                link_id,
                referrer: None,
                agent_class: "other",
                country: None,
            });
        }
        batch
    }

    /// Folds one click in: its raw row's count and both rollups' increments.
    fn add(&mut self, row: Row) {
        self.clicks += 1;
        let second = row.at.timestamp();
        let hour = second - second.rem_euclid(3600);
        *self
            .hourly
            .entry((row.link_id, hour, row.agent_class))
            .or_default() += 1;
        // Only referred clicks: "direct" is the total less these, so the common case (no
        // Referer) costs no rollup row.
        if let Some(referrer) = &row.referrer {
            let key = (
                row.link_id,
                row.at.date_naive(),
                referrer.clone(),
                row.agent_class == "bot",
            );
            *self.referrers.entry(key).or_default() += 1;
        }
        let count = self
            .raw
            .entry((
                second,
                row.link_id,
                row.referrer,
                row.agent_class,
                row.country,
            ))
            .or_default();
        *count = count.saturating_add(1);
    }

    /// The raw rows in time order, so the COPY appends in order.
    pub(crate) fn raw(&self) -> Vec<RawRow<'_>> {
        let mut rows: Vec<RawRow<'_>> = self
            .raw
            .iter()
            .map(
                |((second, link_id, referrer, agent_class, country), &clicks)| RawRow {
                    at: at(*second),
                    link_id: *link_id,
                    referrer: referrer.as_deref(),
                    agent_class,
                    country: country.as_deref(),
                    clicks,
                },
            )
            .collect();
        rows.sort_unstable_by_key(|row| (row.at, row.link_id));
        rows
    }

    /// The hourly rollup's increments, one per row.
    pub(crate) fn hourly(&self) -> HourlyIncrements {
        let mut columns = HourlyIncrements::default();
        for (&(link, hour, class), &n) in &self.hourly {
            columns.links.push(link);
            columns.buckets.push(at(hour));
            columns.classes.push(class);
            columns.clicks.push(n);
        }
        columns
    }

    /// The referrer rollup's increments, one per row.
    pub(crate) fn referrers(&self) -> ReferrerIncrements<'_> {
        let mut columns = ReferrerIncrements::default();
        for ((link, day, host, bot), &n) in &self.referrers {
            columns.links.push(*link);
            columns.days.push(*day);
            columns.hosts.push(host);
            columns.bots.push(*bot);
            columns.clicks.push(n);
        }
        columns
    }
}

/// Turns clicks into a [`Batch`]: classifies and folds them, remembering the class of each
/// User-Agent it has seen. That is a click writer's CPU work, about 10 ms for 50,000
/// clicks; the redirect service runs it on a thread of its own at a lower priority.
#[derive(Default)]
pub struct Preparer {
    classifier: Classifier,
    agents: HashMap<Vec<u8>, &'static str>,
}

impl Preparer {
    /// Classifies `clicks` and folds them into a new batch.
    pub fn prepare(&mut self, clicks: Vec<Click>) -> Batch {
        let mut batch = Batch::default();
        self.prepare_into(&mut batch, clicks);
        batch
    }

    /// Classifies `clicks` and folds them into `batch`, with what it already holds.
    pub fn prepare_into(&mut self, batch: &mut Batch, clicks: Vec<Click>) {
        // Each click (and its header copies) is freed as soon as it is folded, off the
        // async workers.
        for click in clicks {
            let row = self.classify(&click);
            drop(click);
            batch.add(row);
        }
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
        let len = rows.len();
        let mut batch = Batch::default();
        for row in rows {
            batch.add(row);
        }
        let raw = batch.raw();
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let (second, next) = (at("2026-11-28T10:00:00Z"), at("2026-11-28T10:00:01Z"));
        let count = |at: DateTime<Utc>,
                     link: i64,
                     referrer: Option<&str>,
                     country: Option<&str>| {
            raw.iter()
                .find(|r| (r.at, r.link_id, r.referrer, r.country) == (at, link, referrer, country))
                .map(|r| r.clicks)
        };
        assert_eq!(count(second, 1, None, None), Some(2));
        assert_eq!(count(next, 1, None, None), Some(1));
        assert_eq!(count(second, 2, None, None), Some(1));
        assert_eq!(count(second, 1, Some("news.example.org"), None), Some(1));
        assert_eq!(count(second, 1, None, Some("NL")), Some(2));
        assert_eq!(raw.len(), 5);
        assert_eq!(batch.clicks(), len);
        let total: i32 = raw.iter().map(|r| r.clicks).sum();
        assert_eq!(total as usize, len);
        // In time order, so the COPY appends.
        assert!(raw.windows(2).all(|w| w[0].at <= w[1].at));
        // The hourly rollup: link 1 and link 2 in hour 10:00, all mobile.
        let hourly = batch.hourly();
        assert_eq!(hourly.clicks.iter().sum::<i64>(), len as i64);
        assert_eq!(hourly.links.len(), 2);
        // The referrer rollup holds only the referred click.
        let referrers = batch.referrers();
        assert_eq!(referrers.hosts, ["news.example.org"]);
        assert_eq!(referrers.clicks, [1]);
        assert_eq!(batch.rollup_rows(), 3);
    }

    #[test]
    fn clicks_prepared_into_a_batch_fold_with_what_it_holds() {
        let value = |s: &str| http::HeaderValue::from_str(s).unwrap();
        let click = |link_id| {
            Click::new(
                link_id,
                Some(&value("https://news.example.org/a")),
                Some(&value("curl/8")),
                None,
            )
        };
        let mut preparer = Preparer::default();
        let mut batch = preparer.prepare(vec![click(1), click(2)]);
        preparer.prepare_into(&mut batch, vec![click(1), click(1)]);
        assert_eq!(batch.clicks(), 4);
        // Each link's rollup rows appear once however many drains fed the batch; the raw
        // rows fold too, unless the drains straddled a second.
        let hourly = batch.hourly();
        assert_eq!(hourly.links.len(), 2);
        let of_link_1: i64 = (0..2)
            .filter(|&i| hourly.links[i] == 1)
            .map(|i| hourly.clicks[i])
            .sum();
        assert_eq!(of_link_1, 3);
        assert_eq!(batch.referrers().links.len(), 2);
        assert!(batch.raw_rows() <= 4);
        assert_eq!(batch.raw().iter().map(|r| r.clicks).sum::<i32>(), 4);
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
                .raw()
                .iter()
                .all(|r| r.referrer.is_none() && r.agent_class == "other")
        );
        // Direct clicks have no referrer rows: the stats count them as "(direct)".
        assert!(batch.referrers().links.is_empty());
        assert_eq!(batch.hourly().clicks.iter().sum::<i64>(), 3);
    }
}
