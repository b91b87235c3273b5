//! What handlers share: the gRPC clients, the verifier (and the web app's cookie sessions),
//! the rate limiter and the settings.
//! The routes take it as axum state; the caller extractors take their part of it through
//! [`FromRef`].

use crate::caller::Verifier;
use crate::caller::browser::BrowserSessions;
use crate::context::RequestId;
use crate::ratelimit::RateLimiter;
use crate::settings::Settings;
use axum::extract::FromRef;
use hop_kit::grpc::REQUEST_ID_HEADER;
use hop_kit::service_auth::ServiceChannel;
use hop_proto::auth::v1::auth_service_client::AuthServiceClient;
use hop_proto::links::v1::link_service_client::LinkServiceClient;
use std::sync::Arc;

/// What handlers share.
#[derive(Clone)]
pub struct AppState {
    links: LinkServiceClient<ServiceChannel>,
    auth: AuthServiceClient<ServiceChannel>,
    verifier: Arc<Verifier>,
    browser: Arc<BrowserSessions>,
    limiter: Arc<RateLimiter>,
    settings: Arc<Settings>,
}

impl AppState {
    pub fn new(
        links: LinkServiceClient<ServiceChannel>,
        auth: AuthServiceClient<ServiceChannel>,
        verifier: Arc<Verifier>,
        browser: Arc<BrowserSessions>,
        limiter: Arc<RateLimiter>,
        settings: Arc<Settings>,
    ) -> Self {
        Self {
            links,
            auth,
            verifier,
            browser,
            limiter,
            settings,
        }
    }

    pub fn links(&self) -> LinkServiceClient<ServiceChannel> {
        self.links.clone()
    }

    pub fn auth(&self) -> AuthServiceClient<ServiceChannel> {
        self.auth.clone()
    }

    pub fn verifier(&self) -> &Verifier {
        &self.verifier
    }

    /// The web app's cookie sessions and CSRF tokens.
    pub fn browser(&self) -> &BrowserSessions {
        &self.browser
    }

    pub fn limiter(&self) -> &RateLimiter {
        &self.limiter
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// A gRPC request carrying the request id, the trace context and the deadline.
    pub fn request<T>(&self, message: T, request_id: &RequestId) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        request.set_timeout(self.settings.grpc_timeout());
        if let Ok(value) = request_id.0.parse() {
            request.metadata_mut().insert(REQUEST_ID_HEADER, value);
        }
        hop_kit::telemetry::otel::inject_metadata(request.metadata_mut());
        request
    }
}

impl FromRef<AppState> for Arc<Verifier> {
    fn from_ref(state: &AppState) -> Self {
        state.verifier.clone()
    }
}

impl FromRef<AppState> for Arc<RateLimiter> {
    fn from_ref(state: &AppState) -> Self {
        state.limiter.clone()
    }
}

impl FromRef<AppState> for Arc<Settings> {
    fn from_ref(state: &AppState) -> Self {
        state.settings.clone()
    }
}
