//! `/auth/api-keys`: an account's API keys, managed with a session's access token (a key
//! cannot make, list or revoke keys). The secret is in the create answer only.

use crate::body::{Fields, JsonObject};
use crate::caller::AuthUser;
use crate::context::RequestId;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chrono::SecondsFormat;
use hop_kit::problem::Problem;
use hop_proto::auth::v1 as pb;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(revoke))
}

/// A key as the API shows it: never its secret, except once in [`CreatedView`].
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ApiKey)]
pub struct KeyView {
    id: String,
    name: String,
    /// `hop_` and the key's first characters, to tell keys apart.
    prefix: String,
    #[schema(value_type = Vec<KeyScope>)]
    scopes: Vec<String>,
    #[schema(format = DateTime)]
    expires_at: Option<String>,
    #[schema(format = DateTime)]
    created_at: Option<String>,
    #[schema(format = DateTime)]
    last_used_at: Option<String>,
}

/// What a key may do.
#[derive(ToSchema)]
#[allow(dead_code)] // a description: scopes are strings on the wire
pub enum KeyScope {
    #[schema(rename = "links:read")]
    LinksRead,
    #[schema(rename = "links:write")]
    LinksWrite,
    #[schema(rename = "stats:read")]
    StatsRead,
}

/// The body of `POST /auth/api-keys`.
#[derive(ToSchema)]
#[allow(dead_code)] // a description: the body is read through `Fields`
pub struct NewApiKey {
    /// 1 to 100 characters.
    #[schema(min_length = 1, max_length = 100)]
    name: String,
    /// Default: all three.
    #[schema(max_items = 3)]
    scopes: Option<Vec<KeyScope>>,
    /// Default: never.
    #[schema(format = DateTime)]
    expires_at: Option<String>,
}

/// The caller's live keys.
#[derive(Serialize, ToSchema)]
pub struct KeyList {
    items: Vec<KeyView>,
}

fn rfc3339(t: Option<&prost_types::Timestamp>) -> Option<String> {
    t.and_then(hop_kit::time::from_proto)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
}

impl From<pb::ApiKey> for KeyView {
    fn from(key: pb::ApiKey) -> Self {
        Self {
            id: key.id.to_string(),
            prefix: format!("{}{}", hop_proto::api_key::KEY_PREFIX, key.prefix),
            expires_at: rfc3339(key.expires_at.as_ref()),
            created_at: rfc3339(key.created_at.as_ref()),
            last_used_at: rfc3339(key.last_used_at.as_ref()),
            name: key.name,
            scopes: key.scopes,
        }
    }
}

/// A new key with its secret, shown this once.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = CreatedApiKey)]
struct CreatedView {
    #[serde(flatten)]
    key: KeyView,
    /// The secret, shown this once (`hop_...`): send it as `Authorization: Bearer` or
    /// `X-Api-Key`.
    key_secret: String,
}

/// Create an API key.
///
/// Its secret is in this answer only; hop keeps a hash. Needs a session token.
#[utoipa::path(
    post, path = "/auth/api-keys", tag = "api keys",
    request_body = NewApiKey,
    responses((status = 201, description = "The key and its secret", body = CreatedView)),
    security(("token" = [])),
)]
async fn create(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    user: AuthUser,
    body: JsonObject,
) -> Result<Response, ApiError> {
    user.require_session()?;
    let mut fields = Fields::new(body);
    let name = fields.required_string("name");
    let scopes = fields.optional_strings("scopes", 3).unwrap_or_default();
    let expires_at = fields.optional_timestamp("expires_at");
    fields.finish()?;
    let request = pb::CreateApiKeyRequest {
        user_id: user.user_id,
        name,
        scopes,
        expires_at: expires_at.map(hop_kit::time::to_proto),
    };
    let created = state
        .auth()
        .create_api_key(state.request(request, &request_id))
        .await?
        .into_inner();
    let key = created.key.ok_or_else(|| ApiError(Problem::internal()))?;
    let view = CreatedView {
        key: KeyView::from(key),
        key_secret: created.secret,
    };
    Ok((
        http::StatusCode::CREATED,
        [(http::header::CACHE_CONTROL, "no-store")],
        Json(view),
    )
        .into_response())
}

/// List the caller's API keys.
///
/// Newest first, revoked ones left out; never their secrets. Needs a session token.
#[utoipa::path(
    get, path = "/auth/api-keys", tag = "api keys",
    responses((status = 200, description = "The caller's keys", body = KeyList)),
    security(("token" = [])),
)]
async fn list(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    user: AuthUser,
) -> Result<Json<KeyList>, ApiError> {
    user.require_session()?;
    let request = pb::ListApiKeysRequest {
        user_id: user.user_id,
    };
    let keys = state
        .auth()
        .list_api_keys(state.request(request, &request_id))
        .await?
        .into_inner();
    Ok(Json(KeyList {
        items: keys.keys.into_iter().map(KeyView::from).collect(),
    }))
}

/// Revoke an API key.
///
/// The key stops working at once on every gateway. Needs a session token.
#[utoipa::path(
    delete, path = "/auth/api-keys/{id}", tag = "api keys",
    params(("id" = String, Path, description = "The key's id")),
    responses((status = 204, description = "Revoked")),
    security(("token" = [])),
)]
async fn revoke(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<http::StatusCode, ApiError> {
    user.require_session()?;
    let id: i64 = id
        .parse()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| Problem::not_found("no such API key"))?;
    let request = pb::RevokeApiKeyRequest {
        user_id: user.user_id,
        key_id: id,
    };
    let answer = state
        .auth()
        .revoke_api_key(state.request(request, &request_id))
        .await?
        .into_inner();
    state
        .verifier()
        .revoked_here(&hop_proto::api_key::revocation_id(id), answer.listed);
    Ok(http::StatusCode::NO_CONTENT)
}
