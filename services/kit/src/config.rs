//! What every setting shares: [`ConfigError`] (a value that cannot work, named by its
//! variable), the parsers of values several groups use, and the public address.
//!
//! Each group of settings is a clap [`clap::Args`] with `env` on every field, so
//! `hop --help` lists the variable and its default, and a bad value fails at start with
//! a message naming the variable. The groups live beside the code that uses them:
//! [`crate::postgres::DatabaseArgs`], [`crate::redis::RedisArgs`],
//! [`crate::telemetry::LogArgs`] and [`crate::telemetry::TraceArgs`],
//! [`crate::grpc::GrpcArgs`], [`crate::secret::SecretArgs`],
//! [`crate::grpc_tls::GrpcTlsArgs`], [`crate::serve::HttpLimits`]. The original
//! project's names are kept (`DATABASE_HOST`, `REDIS_URL`, `LOG_LEVEL`, …).

/// Where the public reaches hop.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Public address")]
pub struct PublicArgs {
    /// Base of every short URL (short_url = PUBLIC_BASE_URL/code). Links to its host are refused.
    #[arg(long, env = "PUBLIC_BASE_URL", value_name = "PUBLIC_BASE_URL", default_value = "http://localhost:8080", value_parser = parse_base_url)]
    pub public_base_url: String,
}

/// A configuration value that cannot work, named by its environment variable.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {variable} {message}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub message: String,
}

impl ConfigError {
    pub fn new(variable: &'static str, message: impl Into<String>) -> Self {
        Self {
            variable,
            message: message.into(),
        }
    }
}

/// A SQL identifier safe to splice into `search_path`.
pub fn parse_identifier(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !s.as_bytes()[0].is_ascii_digit();
    if ok {
        Ok(s.to_owned())
    } else {
        Err("must be a lower-case identifier ([a-z_][a-z0-9_]*, at most 63 bytes)".into())
    }
}

/// A public base URL: absolute http(s), no query or fragment, no trailing slash.
pub fn parse_base_url(s: &str) -> Result<String, String> {
    let url = url::Url::parse(s).map_err(|e| format!("is not an absolute URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err("must be an http(s) URL with a host".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("must not have a query or fragment".into());
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_strict() {
        assert!(parse_identifier("public").is_ok());
        assert!(parse_identifier("t_1").is_ok());
        assert!(parse_identifier("x; drop table links").is_err());
        assert!(parse_identifier("1abc").is_err());
        assert!(parse_identifier("").is_err());
    }

    #[test]
    fn base_urls_lose_their_trailing_slash() {
        assert_eq!(parse_base_url("https://hop.sh/").unwrap(), "https://hop.sh");
        assert_eq!(
            parse_base_url("http://localhost:8080").unwrap(),
            "http://localhost:8080"
        );
        assert_eq!(parse_base_url("https://x.io/s/").unwrap(), "https://x.io/s");
        assert!(parse_base_url("ftp://x").is_err());
        assert!(parse_base_url("hop.sh").is_err());
        assert!(parse_base_url("https://x.io/?a=b").is_err());
    }
}
