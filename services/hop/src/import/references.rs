//! References between the files of an export (a link's user, an event's link and user),
//! checked as the rows stream past instead of by anti-joins over millions of staged rows
//! in PostgreSQL. Each file's ids are kept as a bitmap (a bit per possible id), so the
//! users and links of a 10-million-link export cost a few megabytes. An id past
//! [`MAX_ID`] (or below 0) makes that file's set give up, and the references to it are
//! checked in PostgreSQL instead, as they always were ([`super::checks`]).

use super::rows::{Event, Problems, Url, User};

/// The largest id a bitmap holds: 2^28 bits are 32 MiB.
pub const MAX_ID: i64 = 1 << 28;

/// The ids one file holds.
#[derive(Default)]
pub struct IdSet {
    words: Vec<u64>,
    gave_up: bool,
}

impl IdSet {
    pub fn insert(&mut self, id: i64) {
        if !(0..MAX_ID).contains(&id) {
            self.gave_up = true;
            self.words = Vec::new();
        }
        if self.gave_up {
            return;
        }
        let (word, bit) = ((id / 64) as usize, id % 64);
        if word >= self.words.len() {
            // Grown by doubling, so a file read in id order reallocates a few dozen times.
            let len = (word + 1)
                .max(self.words.len() * 2)
                .min((MAX_ID / 64) as usize);
            self.words.resize(len, 0);
        }
        self.words[word] |= 1 << bit;
    }

    /// Whether `id` is in the set; `None` once the set gave up.
    pub fn contains(&self, id: i64) -> Option<bool> {
        if self.gave_up {
            return None;
        }
        if !(0..MAX_ID).contains(&id) {
            return Some(false);
        }
        let (word, bit) = ((id / 64) as usize, id % 64);
        Some(self.words.get(word).is_some_and(|w| w & (1 << bit) != 0))
    }

    /// Whether every reference to this file could be checked here.
    pub fn complete(&self) -> bool {
        !self.gave_up
    }
}

/// The ids seen so far and the references to ids the export does not have, one list per
/// kind of reference (the order and words of the PostgreSQL checks they replace).
#[derive(Default)]
pub struct References {
    pub users: IdSet,
    pub urls: IdSet,
    /// `seed-urls.csv` rows whose `user_id` is not in the users file.
    pub url_users: Problems,
    /// `seed-events.csv` rows whose `url_id` is not in the urls file.
    pub event_urls: Problems,
    /// `seed-events.csv` rows whose `user_id` is not in the users file.
    pub event_users: Problems,
}

/// A staged row: what it adds to the ids seen, and the references it makes.
pub trait Refers {
    fn refer(&self, references: &mut References, line: u64);
}

impl Refers for User {
    fn refer(&self, references: &mut References, _line: u64) {
        references.users.insert(self.id);
    }
}

impl Refers for Url {
    fn refer(&self, references: &mut References, line: u64) {
        references.urls.insert(self.id);
        if references.users.contains(self.user_id) == Some(false) {
            let message = format!("user_id {} is not in the users file", self.user_id);
            references.url_users.add(URLS, line, message);
        }
    }
}

impl Refers for Event {
    fn refer(&self, references: &mut References, line: u64) {
        if references.urls.contains(self.url_id) == Some(false) {
            let message = format!("url_id {} is not in the urls file", self.url_id);
            references.event_urls.add(EVENTS, line, message);
        }
        if let Some(user) = self.user_id
            && references.users.contains(user) == Some(false)
        {
            let message = format!("user_id {user} is not in the users file");
            references.event_users.add(EVENTS, line, message);
        }
    }
}

/// The files as the checks name them.
pub const USERS: &str = "seed-users.csv";
pub const URLS: &str = "seed-urls.csv";
pub const EVENTS: &str = "seed-events.csv";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_found_and_missing_ones_are_not() {
        let mut set = IdSet::default();
        for id in [0, 1, 63, 64, 1_000_000] {
            set.insert(id);
        }
        for id in [0, 1, 63, 64, 1_000_000] {
            assert_eq!(set.contains(id), Some(true), "{id}");
        }
        for id in [2, 65, 999_999, 1_000_001, -1, MAX_ID] {
            assert_eq!(set.contains(id), Some(false), "{id}");
        }
        assert!(set.complete());
    }

    #[test]
    fn an_id_out_of_range_gives_up_rather_than_guess() {
        let mut set = IdSet::default();
        set.insert(5);
        set.insert(MAX_ID);
        assert_eq!(set.contains(5), None);
        assert!(!set.complete());
        let mut negative = IdSet::default();
        negative.insert(-3);
        assert_eq!(negative.contains(7), None);
    }
}
