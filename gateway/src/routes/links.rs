//! `/links`: create a link, read, list, change and delete them, their stats and QR codes.

use crate::body::{BodyLimit, Fields, JsonObject};
use crate::caller::{AuthFailure, AuthUser, ClientIp, MaybeUser};
use crate::context::RequestId;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chrono::{DateTime, SecondsFormat, Utc};
use hop_kit::problem::{FieldError, Problem};
use hop_proto::api_key::Scope;
use hop_proto::links::v1 as pb;
use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

#[allow(deprecated)] // the older path stays routed, marked deprecated in the document
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(create_legacy))
        .routes(routes!(bulk).layer(Extension(BodyLimit(BULK_BODY_LIMIT))))
        .routes(routes!(read, update, remove))
        .routes(routes!(stats))
        .routes(routes!(qr))
}

/// A link as the API shows it. The owner-only fields are absent from the public view.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Link)]
pub struct LinkView {
    /// The short code: `short_url` ends with it.
    code: String,
    short_url: String,
    /// Where the link sends its visitors.
    url: String,
    title: Option<String>,
    is_active: bool,
    /// The redirect status: 301, 302, 307 or 308.
    redirect_type: i32,
    /// Sorted, lowercase.
    tags: Vec<String>,
    #[schema(format = DateTime)]
    expires_at: Option<String>,
    #[schema(format = DateTime)]
    created_at: Option<String>,
    /// Owner only.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    updated_at: Option<String>,
    /// Owner only (and the creator of an anonymous link, for whom it is null).
    // `Some(None)` (JSON null) for an anonymous link seen by its creator.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    owner_id: Option<Option<String>>,
}

/// The body of a create, alone or as an item of a bulk create. Read field by field by
/// [`create_request`], which reports every bad field at once.
#[derive(ToSchema)]
#[allow(dead_code)] // a description: the body is read through `Fields`
pub struct NewLink {
    /// An http or https URL, at most 2,048 bytes, not pointing at this deployment or at
    /// a private address.
    #[schema(max_length = 2048, example = "https://example.com/a/long/path")]
    url: String,
    /// A custom code: 3 to 64 letters, digits, `-` or `_`, not a reserved word.
    #[schema(min_length = 3, max_length = 64, pattern = "^[A-Za-z0-9_-]+$")]
    alias: Option<String>,
    #[schema(max_length = 200)]
    title: Option<String>,
    #[schema(format = DateTime)]
    expires_at: Option<String>,
    /// 301, 302 (the default), 307 or 308.
    redirect_type: Option<i32>,
    /// At most 20 tags of 1 to 50 characters; normalised to lowercase, sorted, unique.
    #[schema(max_items = 20)]
    tags: Option<Vec<String>>,
}

/// The body of `PATCH /links/{code}`: each field present is changed; `title` and
/// `expires_at` may be null to clear them.
#[derive(ToSchema)]
#[allow(dead_code)] // a description: the body is read through `Fields`
pub struct LinkChange {
    #[schema(max_length = 2048)]
    url: Option<String>,
    #[schema(max_length = 200)]
    title: Option<String>,
    is_active: Option<bool>,
    #[schema(format = DateTime)]
    expires_at: Option<String>,
    redirect_type: Option<i32>,
    /// Replaces the link's tags.
    #[schema(max_items = 20)]
    tags: Option<Vec<String>>,
}

/// One page of the caller's links.
#[derive(Serialize, ToSchema)]
pub struct LinkPage {
    items: Vec<LinkView>,
    /// Pass as `cursor` for the next page; null on the last one.
    next_cursor: Option<String>,
}

impl LinkView {
    /// Every field: for the owner, and for the creator in the create response.
    pub fn full(link: pb::Link) -> Self {
        // Ids are strings in the HTTP API, as they always were.
        let owner = link.owner_id.map(|id| id.to_string());
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
            tags: link.tags,
            expires_at: link.expires_at.and_then(rfc3339),
            created_at: link.created_at.and_then(rfc3339),
            updated_at: None,
            owner_id: None,
        }
    }
}

fn rfc3339(t: prost_types::Timestamp) -> Option<String> {
    let t = hop_kit::time::from_proto(&t)?;
    Some(t.to_rfc3339_opts(SecondsFormat::Millis, true))
}

/// Create a link.
///
/// Needs a token or a key with `links:write`, unless the deployment allows anonymous
/// links (ANONYMOUS_LINKS), whose creators are limited per IP.
#[utoipa::path(
    post, path = "/links", tag = "links",
    request_body = NewLink,
    responses(
        (status = 201, description = "Created", body = LinkView,
            headers(("Location" = String, description = "The link's API path"))),
        (status = 409, description = "The alias is taken", body = Problem,
            content_type = "application/problem+json"),
    ),
    security((), ("token" = []), ("apiKey" = []), ("apiKeyHeader" = [])),
)]
async fn create(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    MaybeUser(user): MaybeUser,
    ip: ClientIp,
    body: JsonObject,
) -> Result<Response, ApiError> {
    let actor = match (&user, state.settings().anonymous_links) {
        (Some(user), _) => {
            user.require(Scope::LinksWrite)?;
            let limit = state.settings().rate_limit_create_user;
            state
                .limiter()
                .check("create_user", &user.user_id.to_string(), limit)
                .await?;
            Some(user.user_id)
        }
        (None, true) => {
            let limit = state.settings().rate_limit_create_anon_ip;
            state
                .limiter()
                .check("create_anon_ip", &ip.limit_key(), limit)
                .await?;
            None
        }
        (None, false) => return Err(AuthFailure::Missing.into()),
    };
    let request = create_request(body, actor)?;
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

/// Create a link: the older path of `POST /links`, kept for clients that use it.
#[utoipa::path(
    post, path = "/links/create", tag = "links",
    request_body = NewLink,
    responses(
        (status = 201, description = "Created", body = LinkView,
            headers(("Location" = String, description = "The link's API path"))),
        (status = 409, description = "The alias is taken", body = Problem,
            content_type = "application/problem+json"),
    ),
    security((), ("token" = []), ("apiKey" = []), ("apiKeyHeader" = [])),
)]
#[deprecated = "POST /links does the same"]
async fn create_legacy(
    state: State<AppState>,
    request_id: Extension<RequestId>,
    user: MaybeUser,
    ip: ClientIp,
    body: JsonObject,
) -> Result<Response, ApiError> {
    create(state, request_id, user, ip, body).await
}

/// A create's body as the links service takes it: `{url, alias?, title?, expires_at?,
/// redirect_type?, tags?}`, each field's type checked (its meaning is links').
fn create_request(body: JsonObject, actor: Option<i64>) -> Result<pb::CreateLinkRequest, ApiError> {
    let mut fields = Fields::new(body);
    let url = fields.required_string("url");
    let alias = fields.optional_string("alias");
    let title = fields.optional_string("title");
    let expires_at = fields.optional_timestamp("expires_at");
    let redirect_type = fields.optional_integer("redirect_type");
    let tags = fields
        .optional_strings("tags", MAX_TAGS_SENT)
        .unwrap_or_default();
    fields.finish()?;
    Ok(pb::CreateLinkRequest {
        url,
        alias,
        title,
        expires_at: expires_at.map(hop_kit::time::to_proto),
        // Out of i32 range is as invalid as any other non-redirect status; links says so.
        redirect_type: redirect_type.map_or(0, |r| i32::try_from(r).unwrap_or(-1)),
        actor_user_id: actor,
        tags,
    })
}

/// Read a link.
///
/// Anyone may read a link's public fields; its owner sees every field.
#[utoipa::path(
    get, path = "/links/{code}", tag = "links",
    params(("code" = String, Path, description = "The link's short code", example = "example")),
    responses((status = 200, description = "The link", body = LinkView)),
    security((), ("token" = []), ("apiKey" = []), ("apiKeyHeader" = [])),
)]
async fn read(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    MaybeUser(user): MaybeUser,
    Path(code): Path<String>,
) -> Result<Json<LinkView>, ApiError> {
    if let Some(user) = &user {
        user.require(Scope::LinksRead)?;
    }
    if hop_proto::link::ShortCode::parse(&code).is_none() {
        return Err(Problem::not_found("no link has this code").into());
    }
    let actor = user.map(|u| u.user_id);
    let request = pb::GetLinkRequest {
        code,
        actor_user_id: actor,
    };
    let link = state
        .links()
        .get_link(state.request(request, &request_id))
        .await?
        .into_inner();
    let owner = actor.is_some() && link.owner_id == actor;
    Ok(Json(if owner {
        LinkView::full(link)
    } else {
        LinkView::public(link)
    }))
}

/// Query of `GET /links`.
#[derive(Debug, serde::Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Page {
    /// Links per page, 1 to 100 (default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Only links whose code, target or title contain this (case-insensitive).
    q: Option<String>,
    /// Only links carrying this tag.
    tag: Option<String>,
}

/// List the caller's links.
///
/// Newest first, a page at a time; `q` searches, `tag` filters.
#[utoipa::path(
    get, path = "/links", tag = "links",
    params(Page),
    responses((status = 200, description = "A page of links", body = LinkPage)),
    security(("token" = []), ("apiKey" = []), ("apiKeyHeader" = [])),
)]
async fn list(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    user: AuthUser,
    Query(page): Query<Page>,
) -> Result<Json<LinkPage>, ApiError> {
    user.require(Scope::LinksRead)?;
    let limit = match page.limit.as_deref() {
        None => None,
        Some(raw) => Some(
            raw.parse::<u32>()
                .ok()
                .filter(|l| (1..=100).contains(l))
                .ok_or_else(|| {
                    Problem::validation(vec![FieldError::new(
                        "limit",
                        "must be a whole number from 1 to 100",
                    )])
                })?,
        ),
    };
    let request = pb::ListLinksRequest {
        actor_user_id: Some(user.user_id),
        limit,
        // `?cursor=` with nothing after it is the first page, as it always was.
        cursor: page.cursor.filter(|c| !c.is_empty()),
        query: page.q.filter(|q| !q.trim().is_empty()),
        tag: page.tag.filter(|t| !t.trim().is_empty()),
    };
    let page = state
        .links()
        .list_links(state.request(request, &request_id))
        .await?
        .into_inner();
    Ok(Json(LinkPage {
        items: page.items.into_iter().map(LinkView::full).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// Change a link.
///
/// The owner changes the fields the body names; `title` and `expires_at` may be null to
/// clear them.
#[utoipa::path(
    patch, path = "/links/{code}", tag = "links",
    params(("code" = String, Path, description = "The link's short code", example = "example")),
    request_body = LinkChange,
    responses((status = 200, description = "The changed link", body = LinkView)),
    security(("token" = []), ("apiKey" = []), ("apiKeyHeader" = [])),
)]
async fn update(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    user: AuthUser,
    Path(code): Path<String>,
    body: JsonObject,
) -> Result<Json<LinkView>, ApiError> {
    user.require(Scope::LinksWrite)?;
    let mut fields = Fields::new(body);
    let url = fields.optional_string("url");
    let title = fields.nullable_string("title");
    let is_active = fields.optional_bool("is_active");
    let expires_at = fields.nullable_timestamp("expires_at");
    let redirect_type = fields.optional_integer("redirect_type");
    let tags = fields.optional_strings("tags", MAX_TAGS_SENT);
    fields.finish()?;
    // Each field the body has is named in the mask; a null title or expiry is named and
    // absent, which clears it.
    let mask = update_mask(&[
        ("url", url.is_some()),
        ("title", title.is_some()),
        ("is_active", is_active.is_some()),
        ("expires_at", expires_at.is_some()),
        ("redirect_type", redirect_type.is_some()),
        ("tags", tags.is_some()),
    ]);
    let request = pb::UpdateLinkRequest {
        code,
        actor_user_id: Some(user.user_id),
        update_mask: Some(mask),
        url: url.unwrap_or_default(),
        title: title.flatten(),
        is_active: is_active.unwrap_or_default(),
        expires_at: expires_at.flatten().map(hop_kit::time::to_proto),
        // Out of i32 range is as invalid as any other non-redirect status; links says so.
        redirect_type: redirect_type.map_or(0, |r| i32::try_from(r).unwrap_or(-1)),
        tags: tags.unwrap_or_default(),
    };
    let link = state
        .links()
        .update_link(state.request(request, &request_id))
        .await?
        .into_inner();
    Ok(Json(LinkView::full(link)))
}

/// Delete a link.
///
/// The owner deletes a link; its code is never given out again.
#[utoipa::path(
    delete, path = "/links/{code}", tag = "links",
    params(("code" = String, Path, description = "The link's short code", example = "example")),
    responses((status = 204, description = "Deleted")),
    security(("token" = []), ("apiKey" = []), ("apiKeyHeader" = [])),
)]
async fn remove(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    user: AuthUser,
    Path(code): Path<String>,
) -> Result<http::StatusCode, ApiError> {
    user.require(Scope::LinksWrite)?;
    let request = pb::DeleteLinkRequest {
        code,
        actor_user_id: Some(user.user_id),
    };
    state
        .links()
        .delete_link(state.request(request, &request_id))
        .await?;
    Ok(http::StatusCode::NO_CONTENT)
}

/// Query of `GET /links/{code}/stats`.
#[derive(Debug, serde::Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatsParams {
    /// Start of the series (default: 30 days ago).
    #[param(format = DateTime)]
    from: Option<String>,
    /// End of the series (default: now).
    #[param(format = DateTime)]
    to: Option<String>,
    /// Bucket size (default: day).
    #[param(value_type = Option<StatsUnit>)]
    unit: Option<String>,
    /// Count clicks by bots too (default false).
    #[param(value_type = Option<bool>)]
    include_bots: Option<String>,
}

/// A stats bucket size.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)] // a description: the query is read as a string
pub enum StatsUnit {
    Hour,
    Day,
}

/// A link's clicks.
#[derive(Serialize, ToSchema)]
pub struct LinkStats {
    code: String,
    include_bots: bool,
    total: u64,
    series: Vec<StatsPoint>,
    top_referrers: Vec<ReferrerCount>,
    /// Clicks per agent class (`browser`, `bot`, ...).
    agent_classes: BTreeMap<String, u64>,
}

/// The clicks of one bucket.
#[derive(Serialize, ToSchema)]
pub struct StatsPoint {
    #[schema(format = DateTime)]
    bucket: Option<String>,
    clicks: u64,
}

/// The clicks from one referring host (`(direct)` for none).
#[derive(Serialize, ToSchema)]
pub struct ReferrerCount {
    host: String,
    clicks: u64,
}

/// A link's click statistics.
///
/// The owner's series of clicks, top referrers and agent classes; needs `stats:read`.
#[utoipa::path(
    get, path = "/links/{code}/stats", tag = "links",
    params(("code" = String, Path, description = "The link's short code", example = "example"), StatsParams),
    responses((status = 200, description = "The link's clicks", body = LinkStats)),
    security(("token" = []), ("apiKey" = []), ("apiKeyHeader" = [])),
)]
async fn stats(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    user: AuthUser,
    Path(code): Path<String>,
    Query(params): Query<StatsParams>,
) -> Result<Json<LinkStats>, ApiError> {
    user.require(Scope::StatsRead)?;
    let mut errors = Vec::new();
    let mut time = |field: &str, raw: Option<String>| {
        let raw = raw?;
        match DateTime::parse_from_rfc3339(&raw) {
            Ok(t) => Some(hop_kit::time::to_proto(t.with_timezone(&Utc))),
            Err(_) => {
                errors.push(FieldError::new(field, "must be an RFC 3339 timestamp"));
                None
            }
        }
    };
    let (from, to) = (time("from", params.from), time("to", params.to));
    let unit = match params.unit.as_deref() {
        None => pb::TimeUnit::Unspecified,
        Some("hour") => pb::TimeUnit::Hour,
        Some("day") => pb::TimeUnit::Day,
        Some(_) => {
            errors.push(FieldError::new("unit", "must be hour or day"));
            pb::TimeUnit::Unspecified
        }
    };
    let include_bots = match params.include_bots.as_deref() {
        None | Some("false") | Some("0") => false,
        Some("true") | Some("1") => true,
        Some(_) => {
            errors.push(FieldError::new("include_bots", "must be true or false"));
            false
        }
    };
    if !errors.is_empty() {
        return Err(Problem::validation(errors).into());
    }
    let request = pb::GetLinkStatsRequest {
        code,
        actor_user_id: Some(user.user_id),
        from,
        to,
        unit: unit as i32,
        include_bots,
    };
    let stats = state
        .links()
        .get_link_stats(state.request(request, &request_id))
        .await?
        .into_inner();
    Ok(Json(LinkStats {
        code: stats.code,
        include_bots,
        total: stats.total,
        series: stats
            .series
            .into_iter()
            .map(|p| StatsPoint {
                bucket: p.bucket.and_then(rfc3339),
                clicks: p.clicks,
            })
            .collect(),
        top_referrers: stats
            .top_referrers
            .into_iter()
            .map(|r| ReferrerCount {
                host: r.name,
                clicks: r.clicks,
            })
            .collect(),
        agent_classes: stats
            .agent_classes
            .into_iter()
            .map(|c| (c.name, c.clicks))
            .collect(),
    }))
}

/// Query of `GET /links/{code}/qr`.
#[derive(Debug, serde::Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct QrParams {
    /// `svg` (the default) or `png`.
    #[param(value_type = Option<QrFormat>)]
    format: Option<String>,
    /// Pixels, 64 to 2048 (default 256).
    #[param(value_type = Option<u32>, minimum = 64, maximum = 2048)]
    size: Option<String>,
}

/// A QR code's image format.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)] // a description: the query is read as a string
pub enum QrFormat {
    Svg,
    Png,
}

/// An image's bytes.
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary)]
#[allow(dead_code)] // a description of a binary body
pub struct Image(Vec<u8>);

/// A link's QR code.
///
/// The QR code of an active link's short URL, as SVG or PNG. Anyone may ask; an inactive or
/// expired link has none (410).
#[utoipa::path(
    get, path = "/links/{code}/qr", tag = "links",
    params(("code" = String, Path, description = "The link's short code", example = "example"), QrParams),
    responses(
        (status = 200, description = "The QR code", content(
            (Image = "image/svg+xml"),
            (Image = "image/png"),
        )),
        (status = 410, description = "The link is inactive or has expired", body = Problem,
            content_type = "application/problem+json"),
    ),
    security(()),
)]
async fn qr(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    Path(code): Path<String>,
    Query(params): Query<QrParams>,
) -> Result<Response, ApiError> {
    use crate::qr::{DEFAULT_SIZE, Format, MAX_SIZE, MIN_SIZE};
    let mut errors = Vec::new();
    let format = match params.format.as_deref() {
        None => Format::Svg,
        Some(raw) => Format::parse(raw).unwrap_or_else(|| {
            errors.push(FieldError::new("format", "must be svg or png"));
            Format::Svg
        }),
    };
    let size = match params.size.as_deref() {
        None => DEFAULT_SIZE,
        Some(raw) => raw
            .parse::<u32>()
            .ok()
            .filter(|s| (MIN_SIZE..=MAX_SIZE).contains(s))
            .unwrap_or_else(|| {
                errors.push(FieldError::new(
                    "size",
                    format!("must be a whole number of pixels from {MIN_SIZE} to {MAX_SIZE}"),
                ));
                DEFAULT_SIZE
            }),
    };
    if !errors.is_empty() {
        return Err(Problem::validation(errors).into());
    }
    if hop_proto::link::ShortCode::parse(&code).is_none() {
        return Err(Problem::not_found("no link has this code").into());
    }
    let request = pb::GetLinkRequest {
        code,
        actor_user_id: None,
    };
    let link = state
        .links()
        .get_link(state.request(request, &request_id))
        .await?
        .into_inner();
    if !is_live(&link) {
        return Err(Problem::gone("this link is inactive or has expired").into());
    }
    let image = crate::qr::render(&link.short_url, format, size).map_err(Problem::bad_request)?;
    let filename = format!("{}.{}", link.code, format.extension());
    Ok((
        [
            (http::header::CONTENT_TYPE, format.content_type().to_owned()),
            (
                http::header::CACHE_CONTROL,
                "public, max-age=300".to_owned(),
            ),
            (
                http::header::CONTENT_DISPOSITION,
                format!("inline; filename=\"{filename}\""),
            ),
        ],
        image,
    )
        .into_response())
}

/// The field mask of an update: the fields (links' names) whose flag is set.
pub fn update_mask(named: &[(&str, bool)]) -> prost_types::FieldMask {
    let paths = named
        .iter()
        .filter(|(_, present)| *present)
        .map(|(name, _)| (*name).to_owned())
        .collect();
    prost_types::FieldMask { paths }
}

/// Whether a link redirects now: active and not past its expiry.
pub fn is_live(link: &pb::Link) -> bool {
    let expired = link
        .expires_at
        .as_ref()
        .and_then(hop_kit::time::from_proto)
        .is_some_and(|t| t <= Utc::now());
    link.is_active && !expired
}

/// Most tags a request may send for one link: more than links keeps (20) so that links
/// names the limit, few enough that a body cannot make it work hard.
const MAX_TAGS_SENT: usize = 100;

/// Most links one `POST /links/bulk` may carry.
pub const MAX_BULK: usize = 1000;
/// The body limit of `POST /links/bulk`: 1,000 links of the longest URL and title fit.
pub const BULK_BODY_LIMIT: usize = 4 * 1024 * 1024;

/// The body of `POST /links/bulk`.
#[derive(ToSchema)]
#[allow(dead_code)] // a description: the body is read through `Fields`
pub struct NewLinks {
    /// 1 to 1,000 links, each the body of `POST /links` (`NewLink`). More is not a
    /// malformed body but too large a one: 413. An invalid item is not a bad request: it is
    /// answered in its own result (400 and its problem), so an item here is any JSON value
    /// (`null` and a number included).
    #[schema(value_type = Vec<Value>, min_items = 1)]
    links: Vec<NewLink>,
}

/// What a bulk create did, item by item.
#[derive(Serialize, ToSchema)]
pub struct BulkResults {
    created: usize,
    failed: usize,
    /// One per item sent, in the same order.
    results: Vec<BulkResult>,
}

/// One item's result: its link, or its problem.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum BulkResult {
    Created {
        /// 201.
        status: u16,
        link: LinkView,
    },
    Failed {
        /// The status the item would have had alone (400, 409, ...).
        status: u16,
        problem: Problem,
    },
}

/// Create up to 1,000 links.
///
/// Each item is validated and stored on its own: one result per item, in request order;
/// a bad item stops no other and leaves nothing of itself written. Needs `links:write`.
#[utoipa::path(
    post, path = "/links/bulk", tag = "links",
    request_body = NewLinks,
    responses(
        (status = 200, description = "One result per item", body = BulkResults),
        (status = 413, description = "Over 1,000 links, or a body over 4 MiB", body = Problem,
            content_type = "application/problem+json"),
    ),
    security(("token" = []), ("apiKey" = []), ("apiKeyHeader" = [])),
)]
async fn bulk(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    user: AuthUser,
    JsonObject(mut body): JsonObject,
) -> Result<Response, ApiError> {
    user.require(Scope::LinksWrite)?;
    let items = match body.remove("links") {
        Some(serde_json::Value::Array(items)) => items,
        Some(other) => {
            return Err(Problem::validation(vec![FieldError::new(
                "links",
                format!("must be a list of links, not {}", crate::body::kind(&other)),
            )])
            .into());
        }
        None => {
            return Err(Problem::validation(vec![FieldError::new("links", "is required")]).into());
        }
    };
    if let Some(unknown) = body.keys().next() {
        return Err(Problem::validation(vec![FieldError::new(
            unknown.clone(),
            "is not a field of a bulk create (only links)",
        )])
        .into());
    }
    if items.len() > MAX_BULK {
        return Err(Problem::payload_too_large(BULK_BODY_LIMIT)
            .with_detail(format!(
                "a bulk create carries at most {MAX_BULK} links; this one has {}",
                items.len()
            ))
            .into());
    }
    if items.is_empty() {
        return Err(Problem::validation(vec![FieldError::new(
            "links",
            format!("must have 1 to {MAX_BULK} items"),
        )])
        .into());
    }
    let limit = state.settings().rate_limit_bulk_user;
    state
        .limiter()
        .check("bulk_user", &user.user_id.to_string(), limit)
        .await?;
    // Each item's shape is checked here, its meaning by links; `sent[i]` is the index in
    // the links request of item i, or its problem.
    let mut requests = Vec::new();
    let mut sent: Vec<Result<usize, Problem>> = Vec::with_capacity(items.len());
    for item in items {
        let serde_json::Value::Object(map) = item else {
            sent.push(Err(Problem::malformed(format!(
                "a link must be a JSON object, not {}",
                crate::body::kind(&item)
            ))));
            continue;
        };
        match create_request(JsonObject(map), Some(user.user_id)) {
            Err(ApiError(problem)) => sent.push(Err(problem)),
            Ok(request) => {
                sent.push(Ok(requests.len()));
                requests.push(request);
            }
        }
    }
    let mut answers = if requests.is_empty() {
        Vec::new()
    } else {
        let request = pb::CreateLinksRequest {
            items: requests,
            actor_user_id: Some(user.user_id),
        };
        state
            .links()
            .create_links(state.request(request, &request_id))
            .await?
            .into_inner()
            .results
    }
    .into_iter()
    .map(Some)
    .collect::<Vec<_>>();
    let (mut created, mut failed) = (0, 0);
    let results: Vec<BulkResult> = sent
        .into_iter()
        .map(|item| {
            let answer = match item {
                Err(problem) => Err(problem),
                Ok(at) => match answers
                    .get_mut(at)
                    .and_then(Option::take)
                    .and_then(|a| a.result)
                {
                    Some(pb::create_link_result::Result::Link(link)) => Ok(link),
                    Some(pb::create_link_result::Result::Error(e)) => {
                        let status = tonic::Status::with_details(
                            tonic::Code::from_i32(e.code),
                            e.message,
                            e.details.into(),
                        );
                        Err(crate::error::problem_from_status(&status))
                    }
                    None => Err(Problem::internal()),
                },
            };
            match answer {
                Ok(link) => {
                    created += 1;
                    BulkResult::Created {
                        status: 201,
                        link: LinkView::full(link),
                    }
                }
                Err(problem) => {
                    failed += 1;
                    BulkResult::Failed {
                        status: problem.status,
                        problem,
                    }
                }
            }
        })
        .collect();
    Ok(Json(BulkResults {
        created,
        failed,
        results,
    })
    .into_response())
}
