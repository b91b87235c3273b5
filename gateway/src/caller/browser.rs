//! Browser sessions: the web app's callers, signed in with a cookie instead of a bearer
//! header, on the very sessions the API's tokens use.
//!
//! - `hop_session` holds the token pair a login returned (`<access>~<refresh>`), HttpOnly,
//!   `SameSite=Lax`, `Secure` when PUBLIC_BASE_URL is https. Each request verifies the
//!   access token like a bearer token (signature, expiry, the session deny-list); once it
//!   has expired, the refresh token is rotated for a new pair, which replaces the cookie.
//!   A revoked session (sign-out, sign-out everywhere, a password change, a refresh token
//!   presented twice) ends the cookie at once, on every gateway.
//! - Two requests of one browser may present the same refresh token at once (two tabs):
//!   the first rotation's result is shared with the second for [`REFRESH_GRACE`], so the
//!   second does not look like a stolen copy and end the session. Past the grace, an old
//!   refresh token goes to the auth service and is treated as the copy it is.
//! - CSRF: `hop_csrf` holds a random nonce; every state-changing form carries
//!   `HMAC(key, nonce | session id)`, the key derived from SECRET_KEY, and the web app's
//!   form extractor compares it in constant time. A cross-site post carries neither the
//!   cookie (SameSite) nor the token, and forging the token needs the key.
//!
//! The cookies never authenticate the JSON API: `/links` and `/auth` read only the
//! `Authorization` header, so they need no CSRF defence.

use super::{AuthFailure, AuthUser, Verifier};
use crate::context::RequestId;
use base64::Engine as _;
use hmac::{KeyInit, Mac};
use hop_kit::secret::Secret;
use hop_kit::service_auth::ServiceChannel;
use hop_proto::auth::v1 as pb;
use hop_proto::auth::v1::auth_service_client::AuthServiceClient;
use std::time::{Duration, Instant};

pub const SESSION_COOKIE: &str = "hop_session";
pub const CSRF_COOKIE: &str = "hop_csrf";
/// How long a browser keeps the cookies: the refresh token's default lifetime. A session
/// that ends sooner ends the cookie at its next use.
pub const COOKIE_MAX_AGE: Duration = Duration::from_secs(30 * 24 * 3600);
/// How long one rotation's result answers a second presentation of the same refresh token.
pub const REFRESH_GRACE: Duration = Duration::from_secs(30);
/// Rotations remembered for the grace at most.
const REFRESHED_CAPACITY: usize = 10_000;
/// The HKDF label of the CSRF key.
const CSRF_LABEL: &str = "web csrf token v1";

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// A token pair as the cookie carries it.
#[derive(Debug, Clone)]
pub struct Pair {
    pub access: String,
    pub refresh: String,
}

impl Pair {
    pub fn from_tokens(tokens: pb::TokenPair) -> Self {
        Self {
            access: tokens.access_token,
            refresh: tokens.refresh_token,
        }
    }

    fn parse(value: &str) -> Option<Self> {
        let (access, refresh) = value.split_once('~')?;
        let ok = |s: &str| {
            !s.is_empty()
                && s.len() <= 4096
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        };
        (ok(access) && ok(refresh)).then(|| Self {
            access: access.to_owned(),
            refresh: refresh.to_owned(),
        })
    }

    fn value(&self) -> String {
        format!("{}~{}", self.access, self.refresh)
    }
}

/// What a request's cookies came to.
pub enum Resolved {
    /// No session cookie.
    Anonymous,
    /// A live session; `renewed` is the pair to store when the access token was rotated.
    Session {
        user: AuthUser,
        renewed: Option<Pair>,
    },
    /// The cookie's session has ended (or the cookie is garbage): clear it.
    Ended,
    /// The keys, the deny-list or the auth service could not be consulted.
    Unavailable,
}

/// The web app's side of caller authentication.
pub struct BrowserSessions {
    auth: AuthServiceClient<ServiceChannel>,
    grpc_timeout: Duration,
    csrf_key: [u8; 32],
    secure: bool,
    refreshed: quick_cache::sync::Cache<String, (Instant, Pair)>,
}

impl BrowserSessions {
    /// `secure`: whether cookies are `Secure` (PUBLIC_BASE_URL is https).
    pub fn new(
        auth: AuthServiceClient<ServiceChannel>,
        grpc_timeout: Duration,
        secret: &Secret,
        secure: bool,
    ) -> Self {
        Self {
            auth,
            grpc_timeout,
            csrf_key: secret.derive(CSRF_LABEL),
            secure,
            refreshed: quick_cache::sync::Cache::new(REFRESHED_CAPACITY),
        }
    }

    /// The caller behind a `hop_session` cookie value.
    pub async fn resolve(
        &self,
        verifier: &Verifier,
        cookie: Option<&str>,
        request_id: &RequestId,
    ) -> Resolved {
        let Some(value) = cookie else {
            return Resolved::Anonymous;
        };
        let Some(pair) = Pair::parse(value) else {
            return Resolved::Ended;
        };
        match verifier.authenticate(&pair.access, request_id).await {
            Ok(user) => {
                return Resolved::Session {
                    user,
                    renewed: None,
                };
            }
            Err(AuthFailure::Unavailable | AuthFailure::Limited(_)) => {
                return Resolved::Unavailable;
            }
            Err(AuthFailure::Revoked) => return Resolved::Ended,
            // Expired (or otherwise unusable): rotate.
            Err(AuthFailure::Invalid | AuthFailure::Missing) => {}
        }
        let renewed = match self.rotate(&pair.refresh, request_id).await {
            Ok(pair) => pair,
            Err(code) if is_unavailable(code) => return Resolved::Unavailable,
            Err(_) => return Resolved::Ended,
        };
        match verifier.authenticate(&renewed.access, request_id).await {
            Ok(user) => Resolved::Session {
                user,
                renewed: Some(renewed),
            },
            Err(AuthFailure::Unavailable) => Resolved::Unavailable,
            Err(_) => Resolved::Ended,
        }
    }

    /// A new pair for `refresh`: one rotation however many requests present it within the
    /// grace.
    async fn rotate(&self, refresh: &str, request_id: &RequestId) -> Result<Pair, tonic::Code> {
        if let Some((at, _)) = self.refreshed.get(refresh)
            && at.elapsed() > REFRESH_GRACE
        {
            self.refreshed.remove(refresh);
        }
        let (_, pair) = self
            .refreshed
            .get_or_insert_async(refresh, async {
                let mut request = tonic::Request::new(pb::RefreshRequest {
                    refresh_token: refresh.to_owned(),
                });
                request.set_timeout(self.grpc_timeout);
                if let Ok(value) = request_id.0.parse() {
                    request
                        .metadata_mut()
                        .insert(hop_kit::grpc::REQUEST_ID_HEADER, value);
                }
                let tokens = self
                    .auth
                    .clone()
                    .refresh(request)
                    .await
                    .map_err(|status| status.code())?
                    .into_inner();
                Ok::<_, tonic::Code>((Instant::now(), Pair::from_tokens(tokens)))
            })
            .await?;
        Ok(pair)
    }

    /// `Set-Cookie` storing `pair`.
    pub fn session_cookie(&self, pair: &Pair) -> String {
        self.cookie(SESSION_COOKIE, &pair.value(), COOKIE_MAX_AGE)
    }

    /// `Set-Cookie` ending the session cookie.
    pub fn clear_session_cookie(&self) -> String {
        self.cookie(SESSION_COOKIE, "", Duration::ZERO)
    }

    /// A new CSRF nonce and the `Set-Cookie` storing it.
    pub fn new_nonce(&self) -> (String, String) {
        let nonce = random_token();
        let cookie = self.cookie(CSRF_COOKIE, &nonce, COOKIE_MAX_AGE);
        (nonce, cookie)
    }

    /// The CSRF token of forms shown with this nonce to this session (or to a signed-out
    /// visitor).
    pub fn csrf_token(&self, nonce: &str, session_id: Option<&str>) -> String {
        let mut mac = HmacSha256::new_from_slice(&self.csrf_key).expect("any key length");
        mac.update(nonce.as_bytes());
        mac.update(b"|");
        mac.update(session_id.unwrap_or_default().as_bytes());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    fn cookie(&self, name: &str, value: &str, max_age: Duration) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!(
            "{name}={value}; Path=/; Max-Age={}; HttpOnly; SameSite=Lax{secure}",
            max_age.as_secs()
        )
    }
}

/// Whether a nonce from a cookie has the shape [`BrowserSessions::new_nonce`] gives.
pub fn is_nonce(value: &str) -> bool {
    value.len() == 22
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
}

fn random_token() -> String {
    let bytes: [u8; 16] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn is_unavailable(code: tonic::Code) -> bool {
    matches!(
        hop_kit::error::ErrorCode::from_grpc(code),
        hop_kit::error::ErrorCode::Unavailable
            | hop_kit::error::ErrorCode::Timeout
            | hop_kit::error::ErrorCode::Internal
            | hop_kit::error::ErrorCode::Overloaded
    )
}

/// The value of cookie `name` in a request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sessions(secure: bool) -> BrowserSessions {
        let channel = tonic::transport::Endpoint::from_static("http://127.0.0.1:1").connect_lazy();
        let token = hop_kit::service_auth::ServiceToken::derive(
            &Secret::parse("0123456789abcdef-test").unwrap(),
        );
        let client = AuthServiceClient::new(hop_kit::service_auth::authenticated(
            hop_kit::service_auth::Transport::Remote(channel),
            token,
        ));
        BrowserSessions::new(
            client,
            Duration::from_secs(1),
            &Secret::parse("0123456789abcdef-test").unwrap(),
            secure,
        )
    }

    #[tokio::test]
    async fn csrf_tokens_are_bound_to_the_nonce_and_the_session() {
        let s = sessions(false);
        let (nonce, _) = s.new_nonce();
        assert!(is_nonce(&nonce));
        let token = s.csrf_token(&nonce, Some("sid-1"));
        assert_eq!(token, s.csrf_token(&nonce, Some("sid-1")));
        assert_ne!(token, s.csrf_token(&nonce, Some("sid-2")));
        assert_ne!(token, s.csrf_token(&nonce, None));
        let (other, _) = s.new_nonce();
        assert_ne!(token, s.csrf_token(&other, Some("sid-1")));
        // Another deployment's key gives other tokens.
        let theirs = BrowserSessions::new(
            s.auth.clone(),
            Duration::from_secs(1),
            &Secret::parse("0123456789abcdef-other").unwrap(),
            false,
        );
        assert_ne!(token, theirs.csrf_token(&nonce, Some("sid-1")));
    }

    #[tokio::test]
    async fn cookies_are_http_only_lax_and_secure_on_https() {
        let pair = Pair {
            access: "a.b.c".into(),
            refresh: "r_1".into(),
        };
        let plain = sessions(false).session_cookie(&pair);
        assert!(plain.starts_with("hop_session=a.b.c~r_1;"), "{plain}");
        assert!(plain.contains("HttpOnly") && plain.contains("SameSite=Lax"));
        assert!(!plain.contains("Secure"));
        assert!(sessions(true).session_cookie(&pair).ends_with("; Secure"));
        assert!(sessions(false).clear_session_cookie().contains("Max-Age=0"));
    }

    #[test]
    fn cookie_values_are_found_and_checked() {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            http::header::COOKIE,
            "a=1; hop_session=x.y~z; hop_csrf=n".parse().unwrap(),
        );
        assert_eq!(cookie(&headers, "hop_session"), Some("x.y~z"));
        assert_eq!(cookie(&headers, "hop_csrf"), Some("n"));
        assert_eq!(cookie(&headers, "nope"), None);
        assert!(Pair::parse("x.y~z").is_some());
        for bad in ["", "~", "x~", "~y", "x y~z", "x~y\"", "nosep"] {
            assert!(Pair::parse(bad).is_none(), "{bad:?}");
        }
    }
}
