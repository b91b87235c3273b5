//! Click statistics of a link, read from the rollups (never by counting raw clicks): the
//! total, a zero-filled series per hour or day, the top referrers and the agent classes.

use crate::error::LinksError;
use chrono::{DateTime, Duration, DurationRound, Utc};
use hop_kit::postgres::Pool;
use hop_kit::problem::FieldError;

/// The series' granularity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Hour,
    Day,
}

impl Unit {
    pub fn step(self) -> Duration {
        match self {
            Self::Hour => Duration::hours(1),
            Self::Day => Duration::days(1),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Hour => "hour",
            Self::Day => "day",
        }
    }

    /// Most points a series may have.
    fn max_points(self) -> i64 {
        match self {
            Self::Hour => 24 * 31,
            Self::Day => 366 * 5,
        }
    }
}

/// A validated stats request: `[from, to)` aligned to whole units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsQuery {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub unit: Unit,
    pub include_bots: bool,
}

impl StatsQuery {
    /// Defaults: the last 7 days, by day. `from` is rounded down and `to` up to the unit.
    pub fn parse(
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        unit: Option<Unit>,
        include_bots: bool,
        now: DateTime<Utc>,
    ) -> Result<Self, LinksError> {
        let unit = unit.unwrap_or(Unit::Day);
        let to = to.unwrap_or(now);
        let from = from.unwrap_or(to - Duration::days(7));
        if from >= to {
            return Err(LinksError::invalid("from", "must be before to"));
        }
        let align = |t: DateTime<Utc>| {
            t.duration_trunc(unit.step())
                .map_err(|_| LinksError::invalid("from", "is out of range"))
        };
        let from = align(from)?;
        let to_floor = align(to)?;
        let to = if to_floor == to {
            to
        } else {
            to_floor + unit.step()
        };
        let points = (to - from).num_seconds() / unit.step().num_seconds();
        if points > unit.max_points() {
            return Err(LinksError::Invalid(vec![FieldError::new(
                "to",
                format!(
                    "the range spans {points} {}s; at most {} are allowed",
                    unit.name(),
                    unit.max_points()
                ),
            )]));
        }
        Ok(Self {
            from,
            to,
            unit,
            include_bots,
        })
    }
}

/// What a stats request answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stats {
    pub total: i64,
    pub series: Vec<(DateTime<Utc>, i64)>,
    pub top_referrers: Vec<(String, i64)>,
    pub agent_classes: Vec<(String, i64)>,
}

/// How clicks without a Referer are listed among the referrers.
pub const DIRECT: &str = "(direct)";

/// How many referrers are listed.
const TOP_REFERRERS: i64 = 10;

/// Reads the rollups of link `link_id` for `query`.
pub async fn read(pool: &Pool, link_id: i64, query: &StatsQuery) -> Result<Stats, LinksError> {
    let client = pool.get().await?;
    let series = client
        .prepare_cached(
            "WITH counts AS ( \
               SELECT date_trunc($2, bucket) AS b, sum(clicks)::bigint AS n FROM click_counts \
               WHERE link_id = $1 AND bucket >= $3 AND bucket < $4 AND ($5 OR agent_class <> 'bot') \
               GROUP BY 1 \
             ) \
             SELECT s.b, COALESCE(counts.n, 0)::bigint \
             FROM generate_series($3, $4 - interval '1 microsecond', make_interval(secs => $6)) AS s(b) \
             LEFT JOIN counts ON counts.b = s.b ORDER BY s.b",
        )
        .await?;
    let classes = client
        .prepare_cached(
            "SELECT agent_class, sum(clicks)::bigint FROM click_counts \
             WHERE link_id = $1 AND bucket >= $2 AND bucket < $3 AND ($4 OR agent_class <> 'bot') \
             GROUP BY 1 ORDER BY 2 DESC, 1",
        )
        .await?;
    let referrers = client
        .prepare_cached(
            "SELECT referrer_host, sum(clicks)::bigint FROM click_referrers \
             WHERE link_id = $1 AND day >= $2::timestamptz::date AND day < $3::timestamptz::date + \
                   CASE WHEN $3::timestamptz::time = '00:00' THEN 0 ELSE 1 END \
               AND ($4 OR NOT is_bot) \
             GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT $5",
        )
        .await?;
    let referred = client
        .prepare_cached(
            "SELECT COALESCE(sum(clicks), 0)::bigint FROM click_referrers \
             WHERE link_id = $1 AND day >= $2::timestamptz::date AND day < $3::timestamptz::date + \
                   CASE WHEN $3::timestamptz::time = '00:00' THEN 0 ELSE 1 END \
               AND ($4 OR NOT is_bot)",
        )
        .await?;
    let step = query.unit.step().num_seconds() as f64;
    let (from, to, bots) = (&query.from, &query.to, &query.include_bots);
    let series = client
        .query(
            &series,
            &[&link_id, &query.unit.name(), from, to, bots, &step],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let agent_classes: Vec<(String, i64)> = client
        .query(&classes, &[&link_id, from, to, bots])
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let mut top_referrers: Vec<(String, i64)> = client
        .query(&referrers, &[&link_id, from, to, bots, &TOP_REFERRERS])
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let total: i64 = agent_classes.iter().map(|(_, n)| n).sum();
    // Clicks without a Referer have no referrer rows: they are the total less the rest.
    let referred: i64 = client
        .query_one(&referred, &[&link_id, from, to, bots])
        .await?
        .get(0);
    let direct = (total - referred).max(0);
    if direct > 0 {
        top_referrers.push((DIRECT.to_owned(), direct));
        top_referrers.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        top_referrers.truncate(TOP_REFERRERS as usize);
    }
    Ok(Stats {
        total,
        series,
        top_referrers,
        agent_classes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn ranges_align_to_whole_units() {
        let q = StatsQuery::parse(
            Some(at("2026-11-20T10:30:00Z")),
            Some(at("2026-11-22T05:00:00Z")),
            Some(Unit::Day),
            false,
            Utc::now(),
        )
        .unwrap();
        assert_eq!(
            (q.from, q.to),
            (at("2026-11-20T00:00:00Z"), at("2026-11-23T00:00:00Z"))
        );
        let q = StatsQuery::parse(
            Some(at("2026-11-20T10:30:00Z")),
            Some(at("2026-11-20T12:00:00Z")),
            Some(Unit::Hour),
            false,
            Utc::now(),
        )
        .unwrap();
        assert_eq!(
            (q.from, q.to),
            (at("2026-11-20T10:00:00Z"), at("2026-11-20T12:00:00Z"))
        );
    }

    #[test]
    fn bad_ranges_are_refused() {
        let now = Utc::now();
        assert!(
            StatsQuery::parse(
                Some(at("2026-11-22T00:00:00Z")),
                Some(at("2026-11-20T00:00:00Z")),
                None,
                false,
                now
            )
            .is_err()
        );
        assert!(
            StatsQuery::parse(
                Some(at("2025-01-01T00:00:00Z")),
                Some(at("2026-01-01T00:00:00Z")),
                Some(Unit::Hour),
                false,
                now
            )
            .is_err()
        );
        let default = StatsQuery::parse(None, None, None, false, now).unwrap();
        assert_eq!(default.unit, Unit::Day);
        assert!((default.to - default.from).num_days() >= 7);
    }
}
