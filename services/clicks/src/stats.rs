//! What a stats request asks and what it answers: a link's total, a zero-filled series per
//! hour or day, the top referrers and the agent classes. [`crate::store::read_stats`]
//! reads them from the rollups, never by counting raw clicks.

use chrono::{DateTime, Duration, DurationRound, Utc};
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
    ) -> Result<Self, FieldError> {
        let unit = unit.unwrap_or(Unit::Day);
        let to = to.unwrap_or(now);
        let from = from.unwrap_or(to - Duration::days(7));
        if from >= to {
            return Err(FieldError::new("from", "must be before to"));
        }
        let align = |t: DateTime<Utc>| {
            t.duration_trunc(unit.step())
                .map_err(|_| FieldError::new("from", "is out of range"))
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
            return Err(FieldError::new(
                "to",
                format!(
                    "the range spans {points} {}s; at most {} are allowed",
                    unit.name(),
                    unit.max_points()
                ),
            ));
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
pub(crate) const TOP_REFERRERS: i64 = 10;

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
