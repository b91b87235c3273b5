//! `/auth/api-keys`: an account's API keys, managed with a session's access token (a key
//! cannot make, list or revoke keys). The secret is in the create answer only.

use crate::body::{Fields, JsonObject};
use crate::caller::AuthUser;
use crate::context::RequestId;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Extension, Json, Router};
use chrono::SecondsFormat;
use hop_kit::problem::Problem;
use hop_proto::auth::v1 as pb;
use serde::Serialize;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/auth/api-keys", get(list).post(create))
        .route("/auth/api-keys/{id}", delete(revoke))
}

/// A key as the API shows it: never its secret, except once in [`CreatedView`].
#[derive(Debug, Serialize)]
pub struct KeyView {
    id: String,
    name: String,
    /// `hop_` and the key's first characters, to tell keys apart.
    prefix: String,
    scopes: Vec<String>,
    expires_at: Option<String>,
    created_at: Option<String>,
    last_used_at: Option<String>,
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

#[derive(Debug, Serialize)]
struct CreatedView {
    #[serde(flatten)]
    key: KeyView,
    /// The secret: shown this once.
    key_secret: String,
}

/// `POST /auth/api-keys {name, scopes?, expires_at?}` → 201 the key with its secret.
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

/// `GET /auth/api-keys` → 200 `{items: [key…]}`, newest first, revoked ones left out.
async fn list(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    user: AuthUser,
) -> Result<Json<serde_json::Value>, ApiError> {
    user.require_session()?;
    let request = pb::ListApiKeysRequest {
        user_id: user.user_id,
    };
    let keys = state
        .auth()
        .list_api_keys(state.request(request, &request_id))
        .await?
        .into_inner();
    let items: Vec<KeyView> = keys.keys.into_iter().map(KeyView::from).collect();
    Ok(Json(serde_json::json!({ "items": items })))
}

/// `DELETE /auth/api-keys/{id}` → 204; the key stops working at once on every gateway.
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
