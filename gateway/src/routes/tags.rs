//! `/tags`: the caller's tags, with how many links carry each and their clicks; renaming and
//! deleting one across all of the caller's links. Tags are set on links themselves
//! (`tags` on create and `PATCH /links/{code}`).

use crate::body::{Fields, JsonObject};
use crate::caller::AuthUser;
use crate::context::RequestId;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::{Extension, Json};
use hop_proto::api_key::Scope;
use hop_proto::links::v1 as pb;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(rename, remove))
}

/// The caller's tags.
#[derive(Serialize, ToSchema)]
pub struct TagList {
    items: Vec<TagView>,
}

/// A tag with how many of the caller's links carry it and their clicks.
#[derive(Serialize, ToSchema)]
#[schema(as = Tag)]
pub struct TagView {
    name: String,
    links: u64,
    clicks: u64,
}

/// How many links a rename or delete changed.
#[derive(Serialize, ToSchema)]
pub struct TagChange {
    links: u64,
}

/// The body of `PATCH /tags/{name}`.
#[derive(ToSchema)]
#[allow(dead_code)] // a description: the body is read through `Fields`
pub struct TagRename {
    /// The new name: 1 to 50 characters, normalised to lowercase.
    #[schema(min_length = 1, max_length = 50)]
    name: String,
}

/// List the caller's tags.
///
/// By name, each with its link and click counts. Needs `links:read`.
#[utoipa::path(
    get, path = "/tags", tag = "tags",
    responses((status = 200, description = "The caller's tags", body = TagList)),
    security(("token" = []), ("apiKey" = []), ("apiKeyHeader" = [])),
)]
async fn list(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    user: AuthUser,
) -> Result<Json<TagList>, ApiError> {
    user.require(Scope::LinksRead)?;
    let request = pb::ListTagsRequest {
        actor_user_id: Some(user.user_id),
    };
    let tags = state
        .links()
        .list_tags(state.request(request, &request_id))
        .await?
        .into_inner();
    let items = tags
        .tags
        .into_iter()
        .map(|t| TagView {
            name: t.name,
            links: t.links,
            clicks: t.clicks,
        })
        .collect();
    Ok(Json(TagList { items }))
}

/// Rename a tag.
///
/// Renamed on every link of the caller (a link that has both keeps one). Needs
/// `links:write`.
#[utoipa::path(
    patch, path = "/tags/{name}", tag = "tags",
    params(("name" = String, Path, description = "The tag", example = "rust")),
    request_body = TagRename,
    responses((status = 200, description = "How many links changed", body = TagChange)),
    security(("token" = []), ("apiKey" = []), ("apiKeyHeader" = [])),
)]
async fn rename(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    user: AuthUser,
    Path(from): Path<String>,
    body: JsonObject,
) -> Result<Json<TagChange>, ApiError> {
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
    Ok(Json(TagChange {
        links: changed.links,
    }))
}

/// Delete a tag.
///
/// Removed from every link of the caller. Needs `links:write`.
#[utoipa::path(
    delete, path = "/tags/{name}", tag = "tags",
    params(("name" = String, Path, description = "The tag", example = "rust")),
    responses((status = 200, description = "How many links changed", body = TagChange)),
    security(("token" = []), ("apiKey" = []), ("apiKeyHeader" = [])),
)]
async fn remove(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    user: AuthUser,
    Path(name): Path<String>,
) -> Result<Json<TagChange>, ApiError> {
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
    Ok(Json(TagChange {
        links: changed.links,
    }))
}
