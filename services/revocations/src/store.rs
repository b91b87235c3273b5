//! The deny-list in Redis: a sorted set (`<prefix>revoked_sessions`) of revoked session
//! ids, each scored with the unix time it stops mattering, and a channel
//! (`<prefix>sessions:revoked`) on which each revocation is announced, so replicas learn
//! of it at once. The auth service writes both ([`Publisher`]); gateways read both
//! ([`crate::Replica`]).

use crate::Revocation;
use hop_kit::redis::{Redis, RedisError};

const REVOKED_SESSIONS: &str = "revoked_sessions";
const REVOCATION_CHANNEL: &str = "sessions:revoked";

/// Lists sessions in the deny-list `KEYS[1]`: `ARGV[1]` is now (unix seconds; entries that
/// ended before it are dropped), `ARGV[2]` the channel to announce each one on (empty:
/// none), then `session id, until, message` triples. An entry already listed until later
/// keeps its score. The message is [`Revocation::encode`]'s, built on the Rust side.
const REVOKE_SESSIONS: &str = r#"
local set, channel = KEYS[1], ARGV[2]
redis.call('ZREMRANGEBYSCORE', set, '-inf', '(' .. ARGV[1])
for i = 3, #ARGV, 3 do
  local session, ends = ARGV[i], ARGV[i + 1]
  local held = redis.call('ZSCORE', set, session)
  if not held or tonumber(held) < tonumber(ends) then
    redis.call('ZADD', set, ends, session)
  end
  if channel ~= '' then
    redis.call('PUBLISH', channel, ARGV[i + 2])
  end
end
return 1
"#;

/// The members of sorted set `KEYS[1]` scored at least `ARGV[1]`, with their scores.
const LIVE_MEMBERS: &str = r#"
return redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], '+inf', 'WITHSCORES')
"#;

pub(crate) fn set_name(redis: &Redis) -> String {
    redis.name(REVOKED_SESSIONS)
}

pub(crate) fn channel_name(redis: &Redis) -> String {
    redis.channel(REVOCATION_CHANNEL)
}

/// The auth service's side: revocations listed, and announced when asked to.
#[derive(Clone)]
pub struct Publisher {
    redis: Redis,
}

impl Publisher {
    pub fn new(redis: Redis) -> Self {
        Self { redis }
    }

    /// The Redis client it writes with (its reconnections tell auth to rebuild the set).
    pub fn redis(&self) -> &Redis {
        &self.redis
    }

    /// Lists `revocations`, drops entries that ended before `now`, and announces each
    /// when `announce`. Atomic, and past the breaker: a revocation is rare and must not be
    /// skipped while the breaker cools down (it still fails at once while Redis is
    /// disconnected).
    pub async fn list(
        &self,
        revocations: &[Revocation],
        now: i64,
        announce: bool,
    ) -> Result<(), RedisError> {
        let mut args = Vec::with_capacity(2 + revocations.len() * 3);
        args.push(now.to_string());
        args.push(if announce {
            channel_name(&self.redis)
        } else {
            String::new()
        });
        for revocation in revocations {
            args.push(revocation.session_id.clone());
            args.push(revocation.until.to_string());
            args.push(revocation.encode());
        }
        self.redis
            .eval_past_breaker::<i64>(REVOKE_SESSIONS, vec![set_name(&self.redis)], args)
            .await
            .map(drop)
    }
}

/// The deny-list entries still in force at `now`, as Redis holds them.
pub async fn listed(redis: &Redis, now: i64) -> Result<Vec<Revocation>, RedisError> {
    let flat: Vec<String> = redis
        .eval(LIVE_MEMBERS, vec![set_name(redis)], vec![now.to_string()])
        .await?;
    Ok(flat
        .chunks(2)
        .filter_map(|pair| {
            Some(Revocation::new(
                pair.first()?.clone(),
                pair.get(1)?.parse::<f64>().ok()? as i64,
            ))
        })
        .collect())
}
