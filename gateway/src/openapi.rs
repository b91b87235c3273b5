//! The OpenAPI 3.1 document of the public API, built from the code: the paths from each
//! handler's `#[utoipa::path]` as [`crate::routes`] registers it, the bodies from the types
//! the handlers answer with (and, for request bodies, the types that describe what
//! [`crate::body::Fields`] reads). Served at `GET /openapi.json`; `/docs` renders it
//! ([`crate::web`], Swagger UI embedded in the binary).
//!
//! What the handlers share is added here once: the security schemes, and a `default`
//! problem+json answer on every operation (any operation can answer 401, 408, 429 or 503
//! with a problem; docs/api.md lists every problem type).

use hop_kit::problem::{FieldError, Problem};
use std::sync::Arc;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, ResponseBuilder};

/// The parts no handler declares: information, tags, security schemes, the problem type
/// and the health and metrics routes (served by [`hop_kit::serve::admin_router`]).
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "hop",
        description = "The API of hop, a self-hosted URL shortener: create, list, change and \
                       delete short links, their click statistics and QR codes, tags, \
                       accounts and API keys. Errors are RFC 9457 problems \
                       (`application/problem+json`).",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    tags(
        (name = "links", description = "Short links, their stats and QR codes"),
        (name = "tags", description = "The caller's tags, across their links"),
        (name = "accounts", description = "Registration, sign-in and tokens"),
        (name = "api keys", description = "Long-lived keys for programs"),
        (name = "operations", description = "Health and metrics"),
        (name = "shlink", description = "Shlink's REST API v3, for Shlink's clients \
                                         (docs/shlink.md); errors are Shlink's problems"),
    ),
    paths(health, health_live, health_ready, metrics),
    components(schemas(
        Problem, FieldError, HealthReport, CheckReport,
        // Named by query parameters, which do not register their types.
        crate::routes::links::QrFormat, crate::routes::links::StatsUnit,
    )),
)]
struct Document;

/// The document, built once: the router's paths merged into [`Document`].
pub fn document(paths: OpenApi) -> Arc<String> {
    let mut doc = <Document as utoipa::OpenApi>::openapi();
    doc.merge(paths);
    <Shared as utoipa::Modify>::modify(&Shared, &mut doc);
    Arc::new(doc.to_json().expect("an OpenAPI document serializes"))
}

/// The security schemes, and the `default` problem answer of every operation.
struct Shared;

impl utoipa::Modify for Shared {
    fn modify(&self, doc: &mut OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "An access token from POST /auth/login or /auth/refresh (15 minutes).",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "apiKey",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("hop_...")
                    .description(Some(
                        "An API key from POST /auth/api-keys, as a bearer token.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "apiKeyHeader",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Api-Key",
                "An API key from POST /auth/api-keys.",
            ))),
        );
        components.responses.insert(
            "Problem".into(),
            RefOr::T(
                ResponseBuilder::new()
                    .description(
                        "A problem (RFC 9457): bad input (400, 413, 415), no or a bad \
                         credential (401), not allowed (403), not found (404), a method the \
                         route does not answer (405), too slow a request (408), too many \
                         requests (429, with Retry-After) or a backend that is down (503).",
                    )
                    .content(
                        hop_kit::problem::CONTENT_TYPE,
                        ContentBuilder::new()
                            .schema(Some(Ref::from_schema_name("Problem")))
                            .build(),
                    )
                    .build(),
            ),
        );
        for item in doc.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
                &mut item.head,
                &mut item.options,
                &mut item.trace,
            ];
            for operation in operations.into_iter().flatten() {
                operation
                    .responses
                    .responses
                    .entry("default".into())
                    .or_insert_with(|| RefOr::Ref(Ref::from_response_name("Problem")));
            }
        }
    }
}

/// What `/health` and `/health/ready` say.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // a description: hop_kit::health writes the JSON
struct HealthReport {
    /// `ok`, `degraded` or `unavailable` (`/health`); `ready` or `not_ready`
    /// (`/health/ready`); `alive` (`/health/live`).
    status: String,
    /// `/health` only.
    service: Option<String>,
    /// `/health` only.
    version: Option<String>,
    /// Each dependency, by name (`/health` and `/health/ready`).
    checks: Option<std::collections::BTreeMap<String, CheckReport>>,
}

/// One dependency's state.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // a description: hop_kit::health writes the JSON
struct CheckReport {
    /// `up`, `down` or `unknown`.
    status: String,
    /// Whether the service is not ready without it.
    required: bool,
}

/// Health, with each dependency.
///
/// 200 while the service is ready (some optional dependency may be down: `degraded`),
/// 503 when it is not.
#[utoipa::path(
    get, path = "/health", tag = "operations",
    responses(
        (status = 200, description = "Ready", body = HealthReport),
        (status = 503, description = "Not ready", body = HealthReport),
    ),
    security(()),
)]
#[allow(dead_code)] // a description: hop_kit::health answers
fn health() {}

/// Liveness: the process answers.
#[utoipa::path(
    get, path = "/health/live", tag = "operations",
    responses((status = 200, description = "Alive", body = HealthReport)),
    security(()),
)]
#[allow(dead_code)] // a description: hop_kit::health answers
fn health_live() {}

/// Readiness: whether to send this instance traffic.
#[utoipa::path(
    get, path = "/health/ready", tag = "operations",
    responses(
        (status = 200, description = "Ready", body = HealthReport),
        (status = 503, description = "Not ready (starting, draining or a required \
                                      dependency down)", body = HealthReport),
    ),
    security(()),
)]
#[allow(dead_code)] // a description: hop_kit::health answers
fn health_ready() {}

/// Prometheus metrics (text exposition format). The shipped nginx and Ingress keep this
/// route inside the deployment.
#[utoipa::path(
    get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "The metrics", content_type = "text/plain",
        body = String)),
    security(()),
)]
#[allow(dead_code)] // a description: hop_kit::serve answers
fn metrics() {}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every problem type hop can answer with (a `"/problems/..."` literal in the code that
    /// builds problems) is named in the document's Problem schema.
    #[test]
    fn the_problem_schema_names_every_problem_type() {
        let doc: serde_json::Value = serde_json::from_str(&document(OpenApi::default())).unwrap();
        let described =
            doc["components"]["schemas"]["Problem"]["properties"]["type"]["description"]
                .as_str()
                .unwrap()
                .to_owned();
        let sources = [
            include_str!("../../services/kit/src/problem.rs"),
            include_str!("error.rs"),
        ];
        let mut found = 0;
        for source in sources {
            for literal in source.split('"').filter(|s| s.starts_with("/problems/")) {
                found += 1;
                assert!(
                    described.contains(&format!("`{literal}`")),
                    "{literal} is not described"
                );
            }
        }
        assert!(found >= 15, "{found}");
    }
}
