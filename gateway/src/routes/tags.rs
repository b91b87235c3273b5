//! `/tags`: the caller's tags, with how many links carry each and their clicks; renaming and
//! deleting one across all of the caller's links. Tags are set on links themselves
//! (`tags` on create and `PATCH /links/{code}`).

use crate::body::{Fields, JsonObject};
use crate::caller::AuthUser;
use crate::context::RequestId;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Extension, Json, Router};
use hop_proto::api_key::Scope;
use hop_proto::links::v1 as pb;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/tags", get(list))
        .route("/tags/{name}", axum::routing::patch(rename).delete(remove))
}

/// `GET /tags` → 200 `{items: [{name, links, clicks}]}`, by name.
async fn list(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    user: AuthUser,
) -> Result<Json<serde_json::Value>, ApiError> {
    user.require(Scope::LinksRead)?;
    let request = pb::ListTagsRequest {
        actor_user_id: Some(user.user_id),
    };
    let tags = state
        .links()
        .list_tags(state.request(request, &request_id))
        .await?
        .into_inner();
    let items: Vec<serde_json::Value> = tags
        .tags
        .into_iter()
        .map(|t| serde_json::json!({"name": t.name, "links": t.links, "clicks": t.clicks}))
        .collect();
    Ok(Json(serde_json::json!({ "items": items })))
}

/// `PATCH /tags/{name} {name}` → 200 `{links}`: renamed on every link of the caller (a link
/// that has both keeps one).
async fn rename(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    user: AuthUser,
    Path(from): Path<String>,
    body: JsonObject,
) -> Result<Json<serde_json::Value>, ApiError> {
    user.require(Scope::LinksWrite)?;
    let mut fields = Fields::new(body);
    let to = fields.required_string("name");
    fields.finish()?;
    let request = pb::RenameTagRequest {
        actor_user_id: Some(user.user_id),
        from,
        to,
    };
    let changed = state
        .links()
        .rename_tag(state.request(request, &request_id))
        .await?
        .into_inner();
    Ok(Json(serde_json::json!({ "links": changed.links })))
}

/// `DELETE /tags/{name}` → 200 `{links}`: removed from every link of the caller.
async fn remove(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    user: AuthUser,
    Path(name): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    user.require(Scope::LinksWrite)?;
    let request = pb::DeleteTagRequest {
        actor_user_id: Some(user.user_id),
        name,
    };
    let changed = state
        .links()
        .delete_tag(state.request(request, &request_id))
        .await?
        .into_inner();
    Ok(Json(serde_json::json!({ "links": changed.links })))
}
