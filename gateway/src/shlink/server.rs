//! `/rest/v3/domains`, `/rest/health` (and `/rest/v3/health`) and `/rest/v3/mercure-info`:
//! what Shlink's clients ask about the server itself.

use super::problem::{ShlinkError, ShlinkKey};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use hop_kit::health::Health;
use hop_kit::problem::Problem;
use hop_proto::api_key::Scope;
use serde::Serialize;
use std::sync::Arc;
use utoipa::ToSchema;

/// The deployment, as the Shlink routes describe it.
#[derive(Clone)]
pub struct Info(Arc<(Vec<Health>, String)>);

impl Info {
    pub fn new(health: Vec<Health>, public_base_url: &str) -> Self {
        let host = url::Url::parse(public_base_url)
            .ok()
            .and_then(|u| {
                let host = u.host_str()?.to_owned();
                Some(match u.port() {
                    Some(port) => format!("{host}:{port}"),
                    None => host,
                })
            })
            .unwrap_or_default();
        Self(Arc::new((health, host)))
    }
}

/// A domain's redirects: hop has none.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = ShlinkRedirects)]
pub struct Redirects {
    base_url_redirect: Option<String>,
    regular404_redirect: Option<String>,
    invalid_short_url_redirect: Option<String>,
}

const NO_REDIRECTS: Redirects = Redirects {
    base_url_redirect: None,
    regular404_redirect: None,
    invalid_short_url_redirect: None,
};

/// A domain.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = ShlinkDomain)]
pub struct Domain {
    domain: String,
    is_default: bool,
    redirects: Redirects,
}

/// The domains.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = ShlinkDomainData)]
pub struct DomainData {
    data: Vec<Domain>,
    default_redirects: Redirects,
}

/// `GET /rest/v3/domains`'s answer.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ShlinkDomainList)]
pub struct DomainList {
    domains: DomainData,
}

/// Health, as Shlink reports it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ShlinkHealthStatus)]
pub struct HealthStatus {
    /// `pass` or `fail`.
    status: &'static str,
    version: &'static str,
}

/// List domains (Shlink).
///
/// The one domain hop serves, with no per-domain redirects. Needs `links:read`.
#[utoipa::path(
    get, path = "/rest/v3/domains", tag = "shlink",
    responses((status = 200, description = "The domains", body = DomainList)),
    security(("apiKeyHeader" = []), ("apiKey" = [])),
)]
pub async fn domains(
    Extension(info): Extension<Info>,
    key: ShlinkKey,
) -> Result<Json<DomainList>, ShlinkError> {
    key.require(Scope::LinksRead)?;
    let domain = Domain {
        domain: info.0.1.clone(),
        is_default: true,
        redirects: NO_REDIRECTS,
    };
    Ok(Json(DomainList {
        domains: DomainData {
            data: vec![domain],
            default_redirects: NO_REDIRECTS,
        },
    }))
}

/// Health (Shlink).
///
/// `pass` while hop is ready, `fail` (503) when it is not. Needs no key, as Shlink's.
#[utoipa::path(
    get, path = "/rest/health", tag = "shlink",
    responses(
        (status = 200, description = "Ready", body = HealthStatus,
            content_type = "application/health+json"),
        (status = 503, description = "Not ready", body = HealthStatus,
            content_type = "application/health+json"),
    ),
    security(()),
)]
pub async fn health(Extension(info): Extension<Info>) -> Response {
    let ready = info.0.0.iter().all(Health::is_ready);
    let status = if ready {
        http::StatusCode::OK
    } else {
        http::StatusCode::SERVICE_UNAVAILABLE
    };
    let body = HealthStatus {
        status: if ready { "pass" } else { "fail" },
        version: hop_kit::VERSION,
    };
    (
        status,
        [
            (http::header::CONTENT_TYPE, "application/health+json"),
            (http::header::CACHE_CONTROL, "no-store"),
        ],
        serde_json::to_string(&body).unwrap_or_default(),
    )
        .into_response()
}

/// Health (Shlink), at the versioned path the JS SDK calls.
#[utoipa::path(
    get, path = "/rest/v3/health", tag = "shlink",
    responses(
        (status = 200, description = "Ready", body = HealthStatus,
            content_type = "application/health+json"),
        (status = 503, description = "Not ready", body = HealthStatus,
            content_type = "application/health+json"),
    ),
    security(()),
)]
pub async fn health_v3(info: Extension<Info>) -> Response {
    health(info).await
}

/// Mercure hub (Shlink).
///
/// hop has no Mercure hub: 501, as Shlink without one.
#[utoipa::path(
    get, path = "/rest/v3/mercure-info", tag = "shlink",
    responses((status = 501, description = "No Mercure hub", body = Problem,
        content_type = "application/problem+json")),
    security(("apiKeyHeader" = []), ("apiKey" = [])),
)]
pub async fn mercure_info(key: ShlinkKey) -> ShlinkError {
    match key.require(Scope::LinksRead) {
        Ok(_) => ShlinkError::mercure_not_configured(),
        Err(e) => e,
    }
}
