//! The internal gRPC boundary: every call to links or auth proves it comes from a hop
//! service of the same deployment (docs/security.md, "Internal gRPC").
//!
//! The proof is a [`ServiceToken`]: 32 bytes derived from SECRET_KEY under its own HKDF
//! label, sent as the `x-hop-service-token` metadata entry. Callers add it with the token
//! as a tonic interceptor ([`ServiceChannel`]); servers check it with [`RequireServiceToken`]
//! in constant time before any RPC runs. `grpc.health.v1` stays open so balancers and
//! probes need no secret. Anyone who can reach the port but does not hold SECRET_KEY gets
//! UNAUTHENTICATED and nothing else.
//!
//! A client reaches its service through a [`Transport`]: HTTP/2 to a listener, or — in
//! `hop up` — a call into the service's routes in this process, with no listener and no
//! port for anyone else on the machine, behind the same token check and the same deadline.

use base64::Engine as _;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use subtle::ConstantTimeEq as _;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

/// The metadata key (an HTTP/2 header) that carries the credential.
pub const METADATA_KEY: &str = "x-hop-service-token";

/// What a call without the credential is told (UNAUTHENTICATED). The gateway recognises it:
/// its own calls refused means its SECRET_KEY differs from the service's, a deployment
/// fault to log and answer 503, not a client's 401.
pub const REFUSED: &str = "internal gRPC calls must carry the deployment's service token";

/// The HKDF label of the credential; a new version means a new credential.
const LABEL: &str = "internal grpc service token v1";

/// Paths served without the credential: health checking, for balancers and probes.
const OPEN_PREFIXES: &[&str] = &["/grpc.health.v1.Health/"];

/// The credential of one deployment. `Debug` never prints it.
#[derive(Clone)]
pub struct ServiceToken {
    /// The metadata value: URL-safe base64 of the derived key.
    value: Arc<str>,
    header: tonic::metadata::MetadataValue<tonic::metadata::Ascii>,
}

impl std::fmt::Debug for ServiceToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServiceToken(..)")
    }
}

impl ServiceToken {
    pub fn derive(secret: &crate::secret::Secret) -> Self {
        let value = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret.derive(LABEL));
        let header = value.parse().expect("base64 is a valid metadata value");
        Self {
            value: value.into(),
            header,
        }
    }

    /// The value to send (for `grpcurl -H 'x-hop-service-token: …'`; `hop service-token`).
    pub fn expose(&self) -> &str {
        &self.value
    }

    /// Whether `presented` is this token, compared in constant time.
    pub fn matches(&self, presented: &[u8]) -> bool {
        bool::from(self.value.as_bytes().ct_eq(presented))
    }
}

/// The client side: every request through the channel carries the token.
impl tonic::service::Interceptor for ServiceToken {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        request
            .metadata_mut()
            .insert(METADATA_KEY, self.header.clone());
        Ok(request)
    }
}

/// A channel to a hop gRPC service that authenticates every call.
pub type ServiceChannel = InterceptedService<Transport, ServiceToken>;

/// `transport`, carrying `token` on every call.
pub fn authenticated(transport: impl Into<Transport>, token: ServiceToken) -> ServiceChannel {
    InterceptedService::new(transport.into(), token)
}

/// How a client reaches a hop gRPC service.
#[derive(Clone)]
pub enum Transport {
    /// HTTP/2 to the service's listener (`hop serve`).
    Remote(Channel),
    /// The service's routes, called in this process (`hop up`): the same token check as a
    /// listener's, and calls bounded by `timeout` as a [`Channel`]'s are.
    Local {
        routes: Checked<tonic::service::Routes>,
        timeout: Duration,
    },
}

impl Transport {
    /// Calls into `routes` in process, checked against `token`, each call bounded by
    /// `timeout` (an expired call is CANCELLED, as on a channel).
    pub fn local(routes: tonic::service::Routes, token: ServiceToken, timeout: Duration) -> Self {
        Self::Local {
            routes: RequireServiceToken::new(token).layer_routes(routes),
            timeout,
        }
    }
}

impl From<Channel> for Transport {
    fn from(channel: Channel) -> Self {
        Self::Remote(channel)
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type TransportFuture = std::pin::Pin<
    Box<
        dyn std::future::Future<Output = Result<http::Response<tonic::body::Body>, BoxError>>
            + Send,
    >,
>;

impl tower::Service<http::Request<tonic::body::Body>> for Transport {
    type Response = http::Response<tonic::body::Body>;
    type Error = BoxError;
    type Future = TransportFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        match self {
            Self::Remote(channel) => channel.poll_ready(cx).map_err(Into::into),
            Self::Local { routes, .. } => {
                tower::Service::<http::Request<tonic::body::Body>>::poll_ready(routes, cx)
                    .map_err(|never| match never {})
            }
        }
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        match self {
            Self::Remote(channel) => {
                let call = channel.call(request);
                Box::pin(async move { call.await.map_err(Into::into) })
            }
            Self::Local { routes, timeout } => {
                let (call, timeout) = (routes.call(request), *timeout);
                Box::pin(async move {
                    match tokio::time::timeout(timeout, call).await {
                        Ok(answered) => answered.map_err(|never| match never {}),
                        Err(_) => Err(Box::new(tonic::Status::cancelled("Timeout expired")) as _),
                    }
                })
            }
        }
    }
}

/// The server side, as a tower layer over every gRPC route.
#[derive(Clone, Debug)]
pub struct RequireServiceToken {
    token: ServiceToken,
}

impl RequireServiceToken {
    pub fn new(token: ServiceToken) -> Self {
        Self { token }
    }
}

impl RequireServiceToken {
    /// `routes` behind the check.
    pub fn layer_routes(&self, routes: tonic::service::Routes) -> Checked<tonic::service::Routes> {
        tower::Layer::layer(self, routes)
    }
}

impl<S> tower::Layer<S> for RequireServiceToken {
    type Service = Checked<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Checked {
            inner,
            token: self.token.clone(),
        }
    }
}

/// A service whose calls are refused unless they carry the deployment's token.
#[derive(Clone, Debug)]
pub struct Checked<S> {
    inner: S,
    token: ServiceToken,
}

impl<S, B> tower::Service<http::Request<B>> for Checked<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Self::Response, S::Error>> + Send>,
    >;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let open = OPEN_PREFIXES
            .iter()
            .any(|prefix| request.uri().path().starts_with(prefix));
        let proven = request
            .headers()
            .get(METADATA_KEY)
            .is_some_and(|v| self.token.matches(v.as_bytes()));
        if open || proven {
            return Box::pin(self.inner.call(request));
        }
        tracing::warn!(path = request.uri().path(), "grpc_call_unauthenticated");
        let status = tonic::Status::unauthenticated(REFUSED);
        Box::pin(std::future::ready(Ok(status.into_http())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    #[test]
    fn the_token_is_the_deployments_own() {
        let a = ServiceToken::derive(&Secret::parse("deployment one secret").unwrap());
        let again = ServiceToken::derive(&Secret::parse("deployment one secret").unwrap());
        let b = ServiceToken::derive(&Secret::parse("deployment two secret").unwrap());
        assert!(a.matches(again.expose().as_bytes()));
        assert!(!a.matches(b.expose().as_bytes()));
        assert!(!a.matches(b""));
        assert!(!a.matches(&a.expose().as_bytes()[1..]));
        assert_eq!(format!("{a:?}"), "ServiceToken(..)");
        assert_ne!(a.expose(), "deployment one secret");
    }
}
