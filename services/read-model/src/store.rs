//! The read model in Redis: where an entry lives, the script that keeps the newest, the
//! writer links uses and the reader redirect uses.
//!
//! Entries carry the link's version (`updated_at` in microseconds) and Redis keeps the
//! newest (a Lua check), so neither racing writers nor a redirect instance refilling Redis
//! from an older read can put a stale entry back.

use crate::ReadEntry;
use hop_kit::redis::{Redis, RedisError};
use hop_kit::shared::Shared;
use std::collections::BTreeMap;
use std::time::Duration;

/// Redis key kind of an entry: `<REDIS_KEY_PREFIX>link:<code>`.
const LINK_KEY: &str = "link";

/// Channel (under the key prefix) on which links announces every changed code, so redirect
/// instances drop their L1 copy.
pub(crate) const INVALIDATION_CHANNEL: &str = "links:invalidate";

/// Writes entries that are newer than what Redis holds, then publishes.
///
/// `KEYS` are the entries' keys; `ARGV` is `ttl, channel`, then `value, version` for each
/// key in order, then the codes to announce, published on `channel` as one message (see
/// [`announced_codes`]). An entry is written unless its key holds an entry (`v<format>
/// <version> …`) at least as new. Returns how many entries were written. One script:
/// atomic, and one round trip for a whole batch.
const WRITE_NEWER_THEN_PUBLISH: &str = r#"
local ttl, channel, written = ARGV[1], ARGV[2], 0
for i = 1, #KEYS do
  local value, version = ARGV[1 + 2 * i], tonumber(ARGV[2 + 2 * i])
  local current = redis.call('GET', KEYS[i])
  local held = current and tonumber(string.match(current, '^v%d+ (%d+) '))
  if not held or held < version then
    redis.call('SET', KEYS[i], value, 'EX', ttl)
    written = written + 1
  end
end
local first = 3 + 2 * #KEYS
if first <= #ARGV then
  redis.call('PUBLISH', channel, table.concat(ARGV, ' ', first, #ARGV))
end
return written
"#;

/// The codes of one message on the invalidation channel: a batch's codes in one message,
/// separated by spaces (codes have none), so a bulk create of 1,000 links is one PUBLISH
/// and one message for each subscriber, not 1,000. A message of one code (an operator's
/// `PUBLISH <prefix>links:invalidate <code>`, or an older links service) is one code.
pub(crate) fn announced_codes(message: &str) -> impl Iterator<Item = &str> {
    message.split_ascii_whitespace()
}

/// The key of `code`'s entry.
pub fn link_key(redis: &Redis, code: &str) -> String {
    redis.key(LINK_KEY, code)
}

/// The invalidation channel's full name.
pub fn invalidation_channel(redis: &Redis) -> String {
    redis.channel(INVALIDATION_CHANNEL)
}

/// Writes `entries` (code, entry) that are newer than what Redis holds, then publishes
/// every code in `announce` (empty: none), atomically and in one round trip, so a
/// subscriber that hears a code finds its entry. How many entries were written.
///
/// On a Redis Cluster a script may only touch keys of one hash slot, so a batch is split
/// by slot into one script call each, sent concurrently, and each call announces its own
/// codes: a subscriber that hears a code still finds its entry.
async fn write_newer(
    redis: &Redis,
    entries: &[(&str, ReadEntry)],
    ttl: Duration,
    announce: bool,
) -> Result<u64, RedisError> {
    if !redis.is_cluster() || entries.len() < 2 {
        let all: Vec<&(&str, ReadEntry)> = entries.iter().collect();
        let (keys, args) = script_input(redis, &all, ttl, announce);
        return redis.eval(WRITE_NEWER_THEN_PUBLISH, keys, args).await;
    }
    let mut by_slot: BTreeMap<u16, Vec<&(&str, ReadEntry)>> = BTreeMap::new();
    for item in entries {
        by_slot
            .entry(Redis::slot(&link_key(redis, item.0)))
            .or_default()
            .push(item);
    }
    let mut calls = tokio::task::JoinSet::new();
    for group in by_slot.values() {
        let (keys, args) = script_input(redis, group, ttl, announce);
        let redis = redis.clone();
        calls.spawn(async move {
            redis
                .eval::<u64>(WRITE_NEWER_THEN_PUBLISH, keys, args)
                .await
        });
    }
    let mut written = 0;
    while let Some(call) = calls.join_next().await {
        written += call??;
    }
    Ok(written)
}

/// The keys and arguments of [`WRITE_NEWER_THEN_PUBLISH`] for `entries`.
fn script_input(
    redis: &Redis,
    entries: &[&(&str, ReadEntry)],
    ttl: Duration,
    announce: bool,
) -> (Vec<String>, Vec<String>) {
    let keys = entries
        .iter()
        .map(|(code, _)| link_key(redis, code))
        .collect();
    let mut args = Vec::with_capacity(2 + entries.len() * 3);
    args.push(ttl.as_secs().max(1).to_string());
    args.push(if announce {
        invalidation_channel(redis)
    } else {
        String::new()
    });
    for (_, entry) in entries {
        args.push(entry.encode());
        args.push(entry.version().to_string());
    }
    if announce {
        args.extend(entries.iter().map(|(code, _)| (*code).to_owned()));
    }
    (keys, args)
}

/// The links service's side: every change written through and announced. Without Redis
/// (one `hop up` process) there is no entry to write: the change is only announced, on the
/// process's bus, so the redirect handler drops its L1 copy.
#[derive(Clone)]
pub enum Writer {
    Redis { redis: Redis, ttl: Duration },
    InProcess(std::sync::Arc<hop_kit::shared::Topic>),
}

impl Writer {
    /// The writer for a service's shared state; `ttl` is the entries' lifetime in Redis.
    pub fn new(shared: &Shared, ttl: Duration) -> Self {
        match shared {
            Shared::Redis(redis) => Self::Redis {
                redis: Redis::clone(redis),
                ttl,
            },
            Shared::InProcess(bus) => Self::InProcess(bus.topic(INVALIDATION_CHANNEL)),
        }
    }

    /// Writes the current state of each link (live, or a tombstone once deleted) and
    /// announces their codes, in one round trip. Failures are logged, not returned: the
    /// database holds the truth, redirect falls back to it, and L1 entries expire on their
    /// own.
    pub async fn put_many(&self, entries: &[(&str, ReadEntry)]) {
        if entries.is_empty() {
            return;
        }
        match self {
            Self::Redis { redis, ttl } => {
                if let Err(e) = write_newer(redis, entries, *ttl, true).await {
                    tracing::warn!(links = entries.len(), error = %e, "read_model_write_failed");
                }
            }
            Self::InProcess(topic) => {
                // Every redirect handler of the process has dropped its copy on return.
                for (code, _) in entries {
                    topic.publish(code);
                }
            }
        }
    }
}

/// The redirect service's side: an entry looked up, and an entry found in Postgres put
/// back.
#[derive(Clone)]
pub struct Reader {
    redis: Redis,
    ttl: Duration,
}

impl Reader {
    pub fn new(redis: Redis, ttl: Duration) -> Self {
        Self { redis, ttl }
    }

    /// `code`'s entry; `None` when Redis has none (or one in a format this build does not
    /// read, which is a miss, never an error).
    pub async fn get(&self, code: &str) -> Result<Option<ReadEntry>, RedisError> {
        let value = self.redis.get(&link_key(&self.redis, code)).await?;
        Ok(value.as_deref().and_then(ReadEntry::decode))
    }

    /// Puts `entry` back unless Redis holds a newer one (links wrote an update in the
    /// meantime); whether it was written. Announces nothing: the entry is not a change.
    pub async fn fill(&self, code: &str, entry: ReadEntry) -> Result<bool, RedisError> {
        write_newer(&self.redis, &[(code, entry)], self.ttl, false)
            .await
            .map(|written| written == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::announced_codes;

    #[test]
    fn a_message_carries_one_code_or_a_batch() {
        assert_eq!(announced_codes("abc").collect::<Vec<_>>(), ["abc"]);
        assert_eq!(
            announced_codes("abc de-f g_h").collect::<Vec<_>>(),
            ["abc", "de-f", "g_h"]
        );
        assert_eq!(announced_codes("").count(), 0);
        assert_eq!(announced_codes(" abc  ").collect::<Vec<_>>(), ["abc"]);
    }
}
