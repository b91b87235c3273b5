//! Time as hop passes it around: unix seconds for expiries and deny-list entries, and
//! `google.protobuf.Timestamp` on the wire. The one place either is converted.

use chrono::{DateTime, Utc};
use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch (0 for a clock set before it).
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// A time as a protobuf `Timestamp`.
pub fn to_proto(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

/// A protobuf `Timestamp` as a time; `None` when it names none (negative or overflowing
/// nanos, seconds out of range).
pub fn from_proto(t: &prost_types::Timestamp) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_and_impossible_ones_are_none() {
        let t = DateTime::parse_from_rfc3339("2026-12-02T10:11:12.345678Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(from_proto(&to_proto(t)), Some(t));
        let bad = prost_types::Timestamp {
            seconds: 0,
            nanos: -1,
        };
        assert_eq!(from_proto(&bad), None);
        assert!(unix_now() > 1_700_000_000);
    }
}
