//! The auth service's settings (environment variables listed in `hop --help`).

use crate::accounts::TokenSettings;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Auth")]
#[group(id = "auth_settings")]
pub struct Settings {
    /// Sign access tokens with this PKCS#8 PEM Ed25519 key (`openssl genpkey -algorithm
    /// ed25519`) instead of one derived from SECRET_KEY.
    #[arg(
        long,
        env = "AUTH_SIGNING_KEY_FILE",
        value_name = "AUTH_SIGNING_KEY_FILE"
    )]
    pub auth_signing_key_file: Option<PathBuf>,
    /// The key that signed tokens before the current one (a PKCS#8 PEM file). It signs
    /// nothing; its public half is published beside the current key's, so the tokens it
    /// signed verify until they expire while a rotation rolls out.
    #[arg(
        long,
        env = "AUTH_PREVIOUS_SIGNING_KEY_FILE",
        value_name = "AUTH_PREVIOUS_SIGNING_KEY_FILE"
    )]
    pub auth_previous_signing_key_file: Option<PathBuf>,
    /// The `iss` claim of access tokens.
    #[arg(long, env = "AUTH_ISSUER", value_name = "AUTH_ISSUER", default_value = hop_proto::token::DEFAULT_ISSUER)]
    pub auth_issuer: String,
    /// The `aud` claim of access tokens.
    #[arg(long, env = "AUTH_AUDIENCE", value_name = "AUTH_AUDIENCE", default_value = hop_proto::token::DEFAULT_AUDIENCE)]
    pub auth_audience: String,
    /// Lifetime of an access token, in seconds.
    #[arg(long, env = "ACCESS_TOKEN_TTL_SECS", value_name = "ACCESS_TOKEN_TTL_SECS", default_value_t = 900, value_parser = clap::value_parser!(u64).range(30..=86_400))]
    pub access_token_ttl_secs: u64,
    /// Lifetime of a session (and its refresh tokens), in seconds.
    #[arg(long, env = "REFRESH_TOKEN_TTL_SECS", value_name = "REFRESH_TOKEN_TTL_SECS", default_value_t = 2_592_000, value_parser = clap::value_parser!(u64).range(60..))]
    pub refresh_token_ttl_secs: u64,
    /// Password hashes computed at once (each takes one core for tens of ms). Default: half
    /// the cores, at least one.
    #[arg(long, env = "AUTH_HASH_CONCURRENCY", value_name = "AUTH_HASH_CONCURRENCY", value_parser = clap::value_parser!(u64).range(1..=256))]
    pub auth_hash_concurrency: Option<u64>,
    /// How long a login or registration waits for a hashing slot before it is refused, in ms.
    #[arg(
        long,
        env = "AUTH_HASH_QUEUE_MS",
        value_name = "AUTH_HASH_QUEUE_MS",
        default_value_t = 5000
    )]
    pub auth_hash_queue_ms: u64,
}

impl Settings {
    /// The defaults, without reading the environment (tests and tools).
    pub fn test_defaults() -> Self {
        Self {
            auth_signing_key_file: None,
            auth_previous_signing_key_file: None,
            auth_issuer: hop_proto::token::DEFAULT_ISSUER.into(),
            auth_audience: hop_proto::token::DEFAULT_AUDIENCE.into(),
            access_token_ttl_secs: 900,
            refresh_token_ttl_secs: 2_592_000,
            auth_hash_concurrency: None,
            auth_hash_queue_ms: 5000,
        }
    }

    pub fn tokens(&self) -> TokenSettings {
        TokenSettings {
            issuer: self.auth_issuer.clone(),
            audience: self.auth_audience.clone(),
            access_ttl: Duration::from_secs(self.access_token_ttl_secs),
            refresh_ttl: Duration::from_secs(self.refresh_token_ttl_secs),
        }
    }

    pub fn hash_concurrency(&self) -> usize {
        match self.auth_hash_concurrency {
            Some(n) => n as usize,
            None => std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1)),
        }
    }

    pub fn hash_queue_timeout(&self) -> Duration {
        Duration::from_millis(self.auth_hash_queue_ms)
    }
}
