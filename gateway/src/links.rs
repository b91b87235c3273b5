//! `/links`: create a link, read one.

use crate::body::{Fields, JsonObject};
use crate::context::RequestId;
use crate::error::ApiError;
use crate::server::AppState;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use chrono::{DateTime, SecondsFormat, Utc};
use hop_kit::problem::Problem;
use hop_proto::links::v1 as pb;
use serde::Serialize;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/links", post(create))
        .route("/links/create", post(create))
        .route("/links/{code}", get(read))
}

/// A link as the API shows it. The owner-only fields are absent from the public view.
#[derive(Debug, Serialize)]
pub struct LinkView {
    code: String,
    short_url: String,
    url: String,
    title: Option<String>,
    is_active: bool,
    redirect_type: i32,
    expires_at: Option<String>,
    created_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    updated_at: Option<String>,
    /// `Some(None)` (JSON null) for an anonymous link seen by its creator.
    #[serde(skip_serializing_if = "Option::is_none")]
    owner_id: Option<Option<String>>,
}

impl LinkView {
    /// Every field: for the owner, and for the creator in the create response.
    pub fn full(link: pb::Link) -> Self {
        let owner = Some(link.owner_id.clone()).filter(|o| !o.is_empty());
        let updated_at = link.updated_at.and_then(rfc3339);
        Self {
            updated_at,
            owner_id: Some(owner),
            ..Self::public(link)
        }
    }

    /// What anyone may see.
    pub fn public(link: pb::Link) -> Self {
        Self {
            code: link.code,
            short_url: link.short_url,
            url: link.url,
            title: link.title,
            is_active: link.is_active,
            redirect_type: link.redirect_type,
            expires_at: link.expires_at.and_then(rfc3339),
            created_at: link.created_at.and_then(rfc3339),
            updated_at: None,
            owner_id: None,
        }
    }
}

fn rfc3339(t: prost_types::Timestamp) -> Option<String> {
    let t = DateTime::<Utc>::from_timestamp(t.seconds, u32::try_from(t.nanos).ok()?)?;
    Some(t.to_rfc3339_opts(SecondsFormat::Millis, true))
}

fn timestamp(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

/// `POST /links` and `POST /links/create`: `{url, alias?, title?, expires_at?, redirect_type?}`.
async fn create(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    body: JsonObject,
) -> Result<Response, ApiError> {
    let mut fields = Fields::new(body);
    let url = fields.required_string("url");
    let alias = fields.optional_string("alias");
    let title = fields.optional_string("title");
    let expires_at = fields.optional_timestamp("expires_at");
    let redirect_type = fields.optional_integer("redirect_type");
    fields.finish()?;
    let request = pb::CreateLinkRequest {
        url,
        alias,
        title,
        expires_at: expires_at.map(timestamp),
        // Out of i32 range is as invalid as any other non-redirect status; links says so.
        redirect_type: redirect_type.map_or(0, |r| i32::try_from(r).unwrap_or(-1)),
        actor_user_id: String::new(),
    };
    let link = state
        .links()
        .create_link(state.request(request, &request_id))
        .await?
        .into_inner();
    let location = format!("/links/{}", link.code);
    Ok((
        http::StatusCode::CREATED,
        [(http::header::LOCATION, location)],
        Json(LinkView::full(link)),
    )
        .into_response())
}

/// `GET /links/{code}`: public metadata.
async fn read(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    Path(code): Path<String>,
) -> Result<Json<LinkView>, ApiError> {
    if hop_kit::link::ShortCode::parse(&code).is_none() {
        return Err(Problem::not_found("no link has this code").into());
    }
    let request = pb::GetLinkRequest {
        code,
        actor_user_id: String::new(),
    };
    let link = state
        .links()
        .get_link(state.request(request, &request_id))
        .await?
        .into_inner();
    Ok(Json(LinkView::public(link)))
}
