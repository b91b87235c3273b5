//! `/rest/v3/tags*`: the caller's tags (hop's `/tags`), as Shlink lists, counts, renames
//! and deletes them.

use super::problem::{ShlinkError, ShlinkKey};
use super::query::Params;
use super::short_urls::VisitsSummary;
use crate::body::{Fields, JsonObject};
use crate::context::RequestId;
use crate::state::AppState;
use axum::extract::{RawQuery, State};
use axum::{Extension, Json};
use hop_proto::api_key::Scope;
use hop_proto::links::v1 as pb;
use serde::Serialize;
use utoipa::{IntoParams, ToSchema};

/// Tag names.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ShlinkTagNames)]
pub struct TagNames {
    data: Vec<String>,
}

/// `GET /rest/v3/tags`'s answer.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ShlinkTagList)]
pub struct TagList {
    tags: TagNames,
}

/// A tag with its short URLs and their visits.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = ShlinkTagStats)]
pub struct TagStats {
    tag: String,
    short_urls_count: u64,
    visits_summary: VisitsSummary,
    /// `visitsSummary.total` (Shlink's older field).
    visits_count: u64,
}

/// Tags with their stats.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ShlinkTagStatsData)]
pub struct TagStatsData {
    data: Vec<TagStats>,
}

/// `GET /rest/v3/tags/stats`'s answer.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ShlinkTagStatsList)]
pub struct TagStatsList {
    tags: TagStatsData,
}

/// The body of `PUT /rest/v3/tags`.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)] // a description: the body is read through `Fields`
pub struct TagRenaming {
    old_name: String,
    #[schema(min_length = 1, max_length = 50)]
    new_name: String,
}

/// The query of `DELETE /rest/v3/tags`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // a description: read from the raw query by `Params`
pub struct TagsToDelete {
    /// The tags to remove (at most 20).
    #[param(rename = "tags[]")]
    tags: Option<Vec<String>>,
}

async fn tag_counts(
    state: &AppState,
    request_id: &RequestId,
    actor: i64,
) -> Result<Vec<pb::TagCount>, ShlinkError> {
    let request = pb::ListTagsRequest {
        actor_user_id: Some(actor),
    };
    Ok(state
        .links()
        .list_tags(state.request(request, request_id))
        .await?
        .into_inner()
        .tags)
}

/// List tags (Shlink).
///
/// The key owner's tags, by name. Needs `links:read`.
#[utoipa::path(
    get, path = "/rest/v3/tags", tag = "shlink",
    responses((status = 200, description = "The tags", body = TagList)),
    security(("apiKeyHeader" = []), ("apiKey" = [])),
)]
pub async fn list(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    key: ShlinkKey,
) -> Result<Json<TagList>, ShlinkError> {
    let actor = key.require(Scope::LinksRead)?;
    let tags = tag_counts(&state, &request_id, actor).await?;
    let data = tags.into_iter().map(|t| t.name).collect();
    Ok(Json(TagList {
        tags: TagNames { data },
    }))
}

/// Tag stats (Shlink).
///
/// Each tag with its short URLs and their visits. Needs `links:read`.
#[utoipa::path(
    get, path = "/rest/v3/tags/stats", tag = "shlink",
    responses((status = 200, description = "The tags' stats", body = TagStatsList)),
    security(("apiKeyHeader" = []), ("apiKey" = [])),
)]
pub async fn stats(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    key: ShlinkKey,
) -> Result<Json<TagStatsList>, ShlinkError> {
    let actor = key.require(Scope::LinksRead)?;
    let tags = tag_counts(&state, &request_id, actor).await?;
    let data = tags
        .into_iter()
        .map(|t| {
            let visits = pb::Visits {
                humans: t.clicks,
                bots: t.bot_clicks,
            };
            TagStats {
                visits_count: t.clicks + t.bot_clicks,
                tag: t.name,
                short_urls_count: t.links,
                visits_summary: VisitsSummary::of(Some(&visits)),
            }
        })
        .collect();
    Ok(Json(TagStatsList {
        tags: TagStatsData { data },
    }))
}

/// Rename a tag (Shlink).
///
/// On every link of the key owner. Needs `links:write`.
#[utoipa::path(
    put, path = "/rest/v3/tags", tag = "shlink",
    request_body = TagRenaming,
    responses((status = 204, description = "Renamed")),
    security(("apiKeyHeader" = []), ("apiKey" = [])),
)]
pub async fn rename(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    key: ShlinkKey,
    body: JsonObject,
) -> Result<http::StatusCode, ShlinkError> {
    let actor = key.require(Scope::LinksWrite)?;
    let mut fields = Fields::new(body);
    let from = fields.required_string("oldName");
    let to = fields.required_string("newName");
    fields.finish()?;
    let request = pb::RenameTagRequest {
        actor_user_id: Some(actor),
        from: from.clone(),
        to,
    };
    match state
        .links()
        .rename_tag(state.request(request, &request_id))
        .await
    {
        Ok(_) => Ok(http::StatusCode::NO_CONTENT),
        Err(status) if status.code() == tonic::Code::NotFound => {
            Err(ShlinkError::tag_not_found(&from))
        }
        Err(status) => Err(status.into()),
    }
}

/// Delete tags (Shlink).
///
/// From every link of the key owner; a tag no link carries is already gone. Needs
/// `links:write`.
#[utoipa::path(
    delete, path = "/rest/v3/tags", tag = "shlink",
    params(TagsToDelete),
    responses((status = 204, description = "Deleted")),
    security(("apiKeyHeader" = []), ("apiKey" = [])),
)]
pub async fn remove(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    key: ShlinkKey,
    RawQuery(query): RawQuery,
) -> Result<http::StatusCode, ShlinkError> {
    let actor = key.require(Scope::LinksWrite)?;
    let tags = Params::parse(query).all("tags");
    if tags.len() > hop_proto::link::MAX_TAGS {
        return Err(ShlinkError::invalid(
            &["tags"],
            format!("at most {} tags at once", hop_proto::link::MAX_TAGS),
        ));
    }
    for name in tags {
        let request = pb::DeleteTagRequest {
            actor_user_id: Some(actor),
            name,
        };
        match state
            .links()
            .delete_tag(state.request(request, &request_id))
            .await
        {
            Ok(_) => {}
            Err(status) if status.code() == tonic::Code::NotFound => {}
            Err(status) => return Err(status.into()),
        }
    }
    Ok(http::StatusCode::NO_CONTENT)
}
