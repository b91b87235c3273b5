//! Redis: one client per service instance with bounded, fail-fast commands behind a
//! circuit breaker.
//!
//! Redis is a cache here, never the source of truth, so every caller has a fallback. What
//! matters is that a dead or slow Redis costs no latency: each command fails at once while
//! the connection is down (`fail_fast`), is bounded by REDIS_TIMEOUT_MS, and after
//! REDIS_BREAKER_FAILURES consecutive failures the breaker skips Redis entirely for
//! REDIS_BREAKER_COOLDOWN_MS before letting one probe call through.
//!
//! The same client runs on one Redis, on a Redis Cluster (`redis-cluster://`: fred routes
//! each key to its slot's master and follows failovers) and behind Sentinel
//! (`redis-sentinel://`: fred asks the sentinels for the current primary). Every script
//! hop runs touches one key, except the read model's batch write, which splits itself by
//! [`Redis::slot`] on a cluster.

mod breaker;

pub use breaker::{Breaker, Permit};

use crate::config::ConfigError;
use fred::clients::{Client, SubscriberClient, WithOptions};
use fred::prelude::*;
use std::sync::Arc;
use std::time::Duration;

/// Counts one more event in the fixed window `KEYS[1]`, which lives `ARGV[1]` seconds from
/// its first event; the count so far. One script rather than `EXPIRE … NX` (Redis 7 only),
/// and atomic, so no counter is ever left without its expiry.
const INCR_WINDOW: &str = r#"
local count = redis.call('INCR', KEYS[1])
if count == 1 then
  redis.call('EXPIRE', KEYS[1], ARGV[1])
end
return count
"#;

/// Messages a subscriber's queue holds before the slowest reader misses some: a few bulk
/// creates' announcements (1,000 codes each) at once. fred's default is 32.
pub const SUBSCRIBER_BACKLOG: usize = 4096;

/// Why a Redis call produced no answer.
#[derive(Debug, thiserror::Error)]
pub enum RedisError {
    #[error("redis skipped: circuit breaker open")]
    BreakerOpen,
    #[error("redis command failed: {0}")]
    Command(#[from] fred::error::Error),
    #[error("redis call task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// A Redis client scoped to hop's key prefix. Cheap to clone (one pointer).
#[derive(Clone)]
pub struct Redis {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    commands: WithOptions<Client>,
    probes: WithOptions<Client>,
    config: fred::types::config::Config,
    prefix: Arc<str>,
    breaker: Arc<Breaker>,
    clustered: bool,
    /// How long one connection attempt may take.
    connect_within: Duration,
}

impl Redis {
    /// Starts connecting in the background and returns at once: a service starts (degraded)
    /// while Redis is down, and the client reconnects on its own when Redis comes back.
    pub fn connect(args: &RedisArgs) -> Result<Self, ConfigError> {
        let url = args
            .require("hop")?
            .redis_url
            .as_deref()
            .unwrap_or_default();
        let mut config = Config::from_url(url)
            .map_err(|e| ConfigError::new("REDIS_URL", format!("is not a Redis URL: {e}")))?;
        // rediss://, rediss-cluster:// and rediss-sentinel:// speak TLS.
        if url.starts_with("rediss") {
            let tls = crate::tls::client_config(args.redis_ca_file.as_deref(), "REDIS_CA_FILE")?;
            config.tls = Some(fred::types::config::TlsConnector::from(tls).into());
        }
        let timeout = Duration::from_millis(args.redis_timeout_ms);
        let client = builder(&config, timeout)
            .build()
            .map_err(|e| ConfigError::new("REDIS_URL", e.to_string()))?;
        let _connection_task = client.connect();
        let commands = client.with_options(&Options {
            fail_fast: true,
            timeout: Some(timeout),
            max_attempts: Some(1),
            ..Options::default()
        });
        // Probes wait for a connection in progress (up to the timeout) instead of failing
        // fast, so a service that just started does not report Redis down.
        let probes = client.with_options(&Options {
            timeout: Some(timeout.max(Duration::from_secs(1))),
            max_attempts: Some(1),
            ..Options::default()
        });
        let clustered = config.server.is_clustered();
        Ok(Self {
            inner: Arc::new(Inner {
                client,
                commands,
                probes,
                clustered,
                connect_within: connect_timeout(timeout),
                config,
                prefix: Arc::from(args.redis_key_prefix.as_str()),
                breaker: Arc::new(Breaker::new(
                    args.redis_breaker_failures,
                    Duration::from_millis(args.redis_breaker_cooldown_ms),
                )),
            }),
        })
    }

    /// `<prefix><kind>:<id>`, e.g. `hop:link:abc1234`.
    pub fn key(&self, kind: &str, id: &str) -> String {
        let mut key = String::with_capacity(self.inner.prefix.len() + kind.len() + id.len() + 1);
        key.push_str(&self.inner.prefix);
        key.push_str(kind);
        key.push(':');
        key.push_str(id);
        key
    }

    /// `<prefix><name>`: a pub/sub channel or a single key.
    pub fn name(&self, name: &str) -> String {
        format!("{}{name}", self.inner.prefix)
    }

    /// `<prefix><name>`: a pub/sub channel name.
    pub fn channel(&self, name: &str) -> String {
        self.name(name)
    }

    /// Waits until the first connection attempt has ended, connected or not, for at most
    /// the connection timeout. On a cluster the client first learns the slots from one
    /// node and then connects to every master, which takes a few round trips; commands
    /// sent before that fail fast, and a rate limit would count them on this instance only.
    pub async fn first_connection(&self) {
        let bound = self.inner.connect_within;
        let _ = tokio::time::timeout(bound, self.inner.client.wait_for_connect()).await;
    }

    /// Whether this is a Redis Cluster, where one script or transaction may only touch
    /// keys of one hash slot.
    pub fn is_cluster(&self) -> bool {
        self.inner.clustered
    }

    /// The cluster hash slot of `key` (CRC16 of the key, or of its `{hash tag}`).
    pub fn slot(key: &str) -> u16 {
        fred::util::redis_keyslot(key.as_bytes())
    }

    pub fn breaker(&self) -> &Breaker {
        &self.inner.breaker
    }

    pub async fn get(&self, key: &str) -> Result<Option<String>, RedisError> {
        self.guarded(self.inner.commands.get::<Option<String>, _>(key))
            .await
    }

    pub async fn set_ex(&self, key: &str, value: String, ttl: Duration) -> Result<(), RedisError> {
        let expire = Expiration::EX(ttl.as_secs().max(1) as i64);
        self.guarded(
            self.inner
                .commands
                .set::<(), _, _>(key, value, Some(expire), None, false),
        )
        .await
    }

    pub async fn del(&self, key: &str) -> Result<(), RedisError> {
        self.guarded(self.inner.commands.del::<(), _>(key)).await
    }

    pub async fn publish(&self, channel: &str, message: &str) -> Result<(), RedisError> {
        self.guarded(self.inner.commands.publish::<(), _, _>(channel, message))
            .await
    }

    /// Counts one more event in the fixed window `key` (created with a lifetime of
    /// `window`); the count so far.
    pub async fn incr_window(&self, key: &str, window: Duration) -> Result<u64, RedisError> {
        let ttl = window.as_secs().max(1).to_string();
        self.guarded(
            self.inner
                .commands
                .eval::<u64, _, _, _>(INCR_WINDOW, key, vec![ttl]),
        )
        .await
    }

    /// Runs a Lua `script` on `keys` with `args`, behind the breaker. The scripts belong to
    /// the contract they implement (the read model, the session deny-list); this client
    /// only carries them.
    pub async fn eval<R>(
        &self,
        script: &'static str,
        keys: Vec<String>,
        args: Vec<String>,
    ) -> Result<R, RedisError>
    where
        R: FromValue,
    {
        self.guarded(self.inner.commands.eval::<R, _, _, _>(script, keys, args))
            .await
    }

    /// Like [`Self::eval`], past the breaker: for a write that is rare and must not be
    /// skipped while the breaker cools down (a revocation). It still fails at once while
    /// Redis is disconnected, and its outcome still counts for the breaker.
    pub async fn eval_past_breaker<R>(
        &self,
        script: &'static str,
        keys: Vec<String>,
        args: Vec<String>,
    ) -> Result<R, RedisError>
    where
        R: FromValue,
    {
        let permit = self.inner.breaker.bypass();
        settle(
            permit,
            self.inner
                .commands
                .eval::<R, _, _, _>(script, keys, args)
                .await,
        )
    }

    pub async fn exists(&self, key: &str) -> Result<bool, RedisError> {
        self.guarded(self.inner.commands.exists::<u64, _>(key))
            .await
            .map(|n| n > 0)
    }

    /// A health probe. Bypasses the breaker so it sees recovery first.
    pub async fn ping(&self) -> Result<(), String> {
        self.inner
            .probes
            .ping::<()>(None)
            .await
            .map_err(|e| e.to_string())
    }

    /// Fires on every (re)connection of the command connection, the first included (which
    /// may have happened already).
    pub fn reconnections(&self) -> tokio::sync::broadcast::Receiver<Server> {
        self.inner.client.reconnect_rx()
    }

    /// A dedicated pub/sub connection with the same settings; it resubscribes on reconnect.
    /// Its message queue holds [`SUBSCRIBER_BACKLOG`] messages, so a burst (a bulk create
    /// announces up to 1,000 codes in one script) reaches the handler whole instead of
    /// overflowing into "messages were lost".
    pub fn subscriber(&self) -> Result<SubscriberClient, RedisError> {
        let subscriber = Builder::from_config(self.inner.config.clone())
            .with_performance_config(|p| p.broadcast_channel_capacity = SUBSCRIBER_BACKLOG)
            .set_policy(ReconnectPolicy::new_constant(0, 500))
            .build_subscriber_client()?;
        Ok(subscriber)
    }

    /// Closes the connection (graceful shutdown).
    pub async fn quit(&self) {
        let _ = self.inner.client.quit().await;
    }

    async fn guarded<T>(
        &self,
        call: impl Future<Output = Result<T, fred::error::Error>>,
    ) -> Result<T, RedisError> {
        let Some(permit) = self.inner.breaker.allow() else {
            return Err(RedisError::BreakerOpen);
        };
        // If this future is dropped mid-call, so is the permit: a probe gives its slot back.
        settle(permit, call.await)
    }
}

/// Reports a call's outcome to the breaker through its permit.
fn settle<T>(permit: Permit<'_>, result: Result<T, fred::error::Error>) -> Result<T, RedisError> {
    match result {
        Ok(value) => {
            permit.success();
            Ok(value)
        }
        Err(e) => {
            permit.failure();
            Err(e.into())
        }
    }
}

/// The bound on one connection attempt: the command timeout, but at least 500 ms.
fn connect_timeout(timeout: Duration) -> Duration {
    timeout.max(Duration::from_millis(500))
}

fn builder(config: &fred::types::config::Config, timeout: Duration) -> Builder {
    let mut builder = Builder::from_config(config.clone());
    builder
        .with_connection_config(|c| {
            c.connection_timeout = connect_timeout(timeout);
            c.internal_command_timeout = timeout.max(Duration::from_secs(1));
            c.max_command_attempts = 1;
            c.tcp.nodelay = Some(true);
        })
        .with_performance_config(|p| {
            p.default_command_timeout = timeout;
        })
        .set_policy(ReconnectPolicy::new_constant(0, 500));
    builder
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failing() -> impl Future<Output = Result<(), fred::error::Error>> {
        std::future::ready(Err(fred::error::Error::new(
            fred::error::ErrorKind::Timeout,
            "timed out",
        )))
    }

    #[tokio::test]
    async fn a_probe_cancelled_mid_call_does_not_leave_the_breaker_open() {
        let mut args = RedisArgs::from_url("redis://127.0.0.1:9", "breaker-test:");
        args.redis_breaker_failures = 1;
        args.redis_breaker_cooldown_ms = 10;
        let redis = Redis::connect(&args).unwrap();
        assert!(redis.guarded(failing()).await.is_err());
        assert!(redis.breaker().is_open());
        tokio::time::sleep(Duration::from_millis(20)).await;
        // The probe's caller goes away (a client disconnects) before Redis answers.
        let probe = redis.guarded(std::future::pending::<Result<(), fred::error::Error>>());
        assert!(
            tokio::time::timeout(Duration::from_millis(10), probe)
                .await
                .is_err()
        );
        let next = redis.guarded(std::future::ready(Ok::<_, fred::error::Error>(())));
        assert!(next.await.is_ok(), "the next call probes");
        assert!(!redis.breaker().is_open());
    }
}

/// Where Redis is and how hop uses it.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Redis")]
pub struct RedisArgs {
    /// Redis URL: `redis://[:password@]host:port[/db]` for one Redis;
    /// `redis-cluster://[:password@]host:port?node=host2:port2&node=...` for a Redis
    /// Cluster (any nodes: the rest are discovered); `redis-sentinel://[:password@]host:26379/db?sentinelServiceName=NAME&node=host2:26379`
    /// for a primary behind Sentinel. `rediss`, `rediss-cluster` and `rediss-sentinel` speak
    /// TLS. Unset, `hop up` does in process what Redis does for it (no Redis tier) and `hop
    /// serve` refuses to start.
    #[arg(
        long,
        env = "REDIS_URL",
        value_name = "REDIS_URL",
        hide_env_values = true
    )]
    pub redis_url: Option<String>,
    /// Prefix of every key and channel hop uses, so deployments can share a Redis.
    #[arg(
        long,
        env = "REDIS_KEY_PREFIX",
        value_name = "REDIS_KEY_PREFIX",
        default_value = "hop:"
    )]
    pub redis_key_prefix: String,
    /// Bound on each Redis command, in ms. A slower Redis counts as down.
    #[arg(long, env = "REDIS_TIMEOUT_MS", value_name = "REDIS_TIMEOUT_MS", default_value_t = 250, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    pub redis_timeout_ms: u64,
    /// Consecutive Redis failures that open the circuit breaker (Redis is then skipped).
    #[arg(long, env = "REDIS_BREAKER_FAILURES", value_name = "REDIS_BREAKER_FAILURES", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub redis_breaker_failures: u32,
    /// How long an open breaker skips Redis before one probe call, in ms.
    #[arg(
        long,
        env = "REDIS_BREAKER_COOLDOWN_MS",
        value_name = "REDIS_BREAKER_COOLDOWN_MS",
        default_value_t = 2000
    )]
    pub redis_breaker_cooldown_ms: u64,
    /// Lifetime of a link entry in Redis, in seconds.
    #[arg(long, env = "REDIS_LINK_TTL_SECS", value_name = "REDIS_LINK_TTL_SECS", default_value_t = 86_400, value_parser = clap::value_parser!(u64).range(1..))]
    pub redis_link_ttl_secs: u64,
    /// PEM file of the CA that signed a rediss:// server's certificate. Unset: the
    /// system's CA certificates.
    #[arg(long, env = "REDIS_CA_FILE", value_name = "REDIS_CA_FILE")]
    pub redis_ca_file: Option<std::path::PathBuf>,
}

impl RedisArgs {
    /// These settings, which must name a Redis (`hop serve`: its processes share it).
    pub fn require(&self, command: &str) -> Result<&Self, ConfigError> {
        if self.redis_url.is_some() {
            return Ok(self);
        }
        Err(ConfigError::new(
            "REDIS_URL",
            format!(
                "is not set: `{command}` needs Redis, which the services of a split deployment \
                 share (read model, revocations, rate limits). Set REDIS_URL=redis://host:6379; \
                 `hop up` alone runs without it"
            ),
        ))
    }

    /// Settings for a URL and key prefix, with every other value at its default.
    pub fn from_url(url: &str, prefix: &str) -> Self {
        Self {
            redis_url: Some(url.to_owned()),
            redis_key_prefix: prefix.to_owned(),
            redis_timeout_ms: 250,
            redis_breaker_failures: 3,
            redis_breaker_cooldown_ms: 2000,
            redis_link_ttl_secs: 86_400,
            redis_ca_file: None,
        }
    }
}
