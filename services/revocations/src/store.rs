//! The deny-list in Redis: a sorted set (`<prefix>revoked_sessions`) of revoked session
//! ids, each scored with the unix time it stops mattering, and a channel
//! (`<prefix>sessions:revoked`) on which each revocation is announced, so replicas learn
//! of it at once. The auth service writes both ([`Publisher`]); gateways read both
//! ([`crate::Replica`]). Without Redis, one `hop up` process keeps the same set and channel
//! on its in-process bus.

use crate::Revocation;
use hop_kit::redis::{Redis, RedisError};
use hop_kit::shared::{ScoredSet, Shared};
use std::sync::Arc;

pub(crate) const REVOKED_SESSIONS: &str = "revoked_sessions";
pub(crate) const REVOCATION_CHANNEL: &str = "sessions:revoked";

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

/// The auth service's side: revocations listed, and announced when asked to, in Redis or
/// on the process's bus (the same set and channel names, in memory).
#[derive(Clone)]
pub enum Publisher {
    Redis(Redis),
    InProcess {
        set: Arc<ScoredSet>,
        topic: std::sync::Arc<hop_kit::shared::Topic>,
    },
}

impl Publisher {
    pub fn new(shared: &Shared) -> Self {
        match shared {
            Shared::Redis(redis) => Self::Redis(Redis::clone(redis)),
            Shared::InProcess(bus) => Self::InProcess {
                set: bus.scored_set(REVOKED_SESSIONS),
                topic: bus.topic(REVOCATION_CHANNEL),
            },
        }
    }

    /// The Redis client it writes with (its reconnections tell auth to rebuild the set);
    /// none in process, where the set cannot be lost.
    pub fn redis(&self) -> Option<&Redis> {
        match self {
            Self::Redis(redis) => Some(redis),
            Self::InProcess { .. } => None,
        }
    }

    /// Lists `revocations`, drops entries that ended before `now`, and announces each
    /// when `announce`. Atomic, and past the breaker: a revocation is rare and must not be
    /// skipped while the breaker cools down (it still fails at once while Redis is
    /// disconnected). In process it cannot fail.
    pub async fn list(
        &self,
        revocations: &[Revocation],
        now: i64,
        announce: bool,
    ) -> Result<(), RedisError> {
        let redis = match self {
            Self::Redis(redis) => redis,
            Self::InProcess { set, topic } => {
                set.remove_below(now);
                for revocation in revocations {
                    set.add_max(&revocation.session_id, revocation.until);
                    if announce {
                        // Every gateway replica of the process has it on return (one
                        // not started yet loads the set when it starts).
                        topic.publish(&revocation.encode());
                    }
                }
                return Ok(());
            }
        };
        let mut args = Vec::with_capacity(2 + revocations.len() * 3);
        args.push(now.to_string());
        args.push(if announce {
            channel_name(redis)
        } else {
            String::new()
        });
        for revocation in revocations {
            args.push(revocation.session_id.clone());
            args.push(revocation.until.to_string());
            args.push(revocation.encode());
        }
        redis
            .eval_past_breaker::<i64>(REVOKE_SESSIONS, vec![set_name(redis)], args)
            .await
            .map(drop)
    }
}

/// The sessions listed at `now`, wherever the list is kept: in Redis, or on the
/// process's bus.
pub async fn listed_in(shared: &Shared, now: i64) -> Result<Vec<Revocation>, RedisError> {
    match shared {
        Shared::Redis(redis) => listed(redis, now).await,
        Shared::InProcess(bus) => Ok(bus
            .scored_set(REVOKED_SESSIONS)
            .at_least(now)
            .into_iter()
            .map(|(session, until)| Revocation::new(session, until))
            .collect()),
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
