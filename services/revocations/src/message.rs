//! The revocation message: what the deny-list holds for a session and what the channel
//! carries, one type for both sides.

/// A revoked session, listed until `until` (unix seconds): the time its last access token
/// expires, after which the entry no longer matters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    pub session_id: String,
    pub until: i64,
}

impl Revocation {
    pub fn new(session_id: impl Into<String>, until: i64) -> Self {
        Self {
            session_id: session_id.into(),
            until,
        }
    }

    /// The channel message: `<session id> <until>` (a session id never holds a space).
    pub fn encode(&self) -> String {
        format!("{} {}", self.session_id, self.until)
    }

    /// `None` for anything [`Self::encode`] did not produce.
    pub fn decode(message: &str) -> Option<Self> {
        let (session_id, until) = message.split_once(' ')?;
        if session_id.is_empty() || until.contains(' ') {
            return None;
        }
        Some(Self::new(session_id, until.parse().ok()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_foreign_ones_are_refused() {
        let revocation = Revocation::new("3f2a-session", 1_764_000_000);
        assert_eq!(
            Revocation::decode(&revocation.encode()),
            Some(revocation.clone())
        );
        for foreign in ["", "only-a-session", " 17", "s x", "s 1 2", "s 1.5"] {
            assert_eq!(Revocation::decode(foreign), None, "{foreign:?}");
        }
    }
}
