//! `/rest/v3/short-urls*`: Shlink's short URLs on hop's links. A hop link is a Shlink short
//! URL with no `validSince`, no `maxVisits`, not crawlable and not forwarding its query;
//! asking for any of those is a clear `invalid-data` problem, not a silent no.

use super::problem::{ShlinkError, ShlinkKey};
use super::query::{self, Params};
use crate::body::{Fields, JsonObject};
use crate::context::RequestId;
use crate::state::AppState;
use axum::extract::{Path, RawQuery, State};
use axum::{Extension, Json};
use chrono::SecondsFormat;
use hop_proto::api_key::Scope;
use hop_proto::links::v1 as pb;
use serde::Serialize;
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

/// A time as Shlink writes it (ISO 8601 with an offset, to the second).
pub fn atom(t: Option<&prost_types::Timestamp>) -> Option<String> {
    t.and_then(hop_kit::time::from_proto)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, false))
}

/// Visits, people's and bots' apart.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = ShlinkVisitsSummary)]
pub struct VisitsSummary {
    pub total: u64,
    pub non_bots: u64,
    pub bots: u64,
}

impl VisitsSummary {
    pub fn of(visits: Option<&pb::Visits>) -> Self {
        let (humans, bots) = visits.map_or((0, 0), |v| (v.humans, v.bots));
        Self {
            total: humans + bots,
            non_bots: humans,
            bots,
        }
    }
}

/// Per-device long URLs: hop has none.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ShlinkDeviceLongUrls)]
pub struct DeviceLongUrls {
    android: Option<String>,
    ios: Option<String>,
    desktop: Option<String>,
}

/// A short URL's limits: hop has only an end date (`validUntil`).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = ShlinkMeta)]
pub struct Meta {
    /// Always null.
    valid_since: Option<String>,
    #[schema(format = DateTime)]
    valid_until: Option<String>,
    /// Always null.
    max_visits: Option<u64>,
}

/// A hop link as Shlink's short URL.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = ShlinkShortUrl)]
pub struct ShortUrl {
    short_code: String,
    short_url: String,
    long_url: String,
    device_long_urls: DeviceLongUrls,
    #[schema(format = DateTime)]
    date_created: Option<String>,
    visits_summary: VisitsSummary,
    /// `visitsSummary.total` (Shlink's older field).
    visits_count: u64,
    tags: Vec<String>,
    meta: Meta,
    /// Always null: the default domain.
    domain: Option<String>,
    title: Option<String>,
    /// Always false.
    crawlable: bool,
    /// Always false.
    forward_query: bool,
    /// Always false.
    has_redirect_rules: bool,
}

impl ShortUrl {
    pub fn of(link: &pb::Link, visits: Option<&pb::Visits>) -> Self {
        let summary = VisitsSummary::of(visits);
        Self {
            short_code: link.code.clone(),
            short_url: link.short_url.clone(),
            long_url: link.url.clone(),
            device_long_urls: DeviceLongUrls {
                android: None,
                ios: None,
                desktop: None,
            },
            date_created: atom(link.created_at.as_ref()),
            visits_count: summary.total,
            visits_summary: summary,
            tags: link.tags.clone(),
            meta: Meta {
                valid_since: None,
                valid_until: atom(link.expires_at.as_ref()),
                max_visits: None,
            },
            domain: None,
            title: link.title.clone(),
            crawlable: false,
            forward_query: false,
            has_redirect_rules: false,
        }
    }
}

/// The body of a create.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)] // a description: the body is read through `Fields`
pub struct ShortUrlCreate {
    #[schema(max_length = 2048, example = "https://example.com/a/long/path")]
    long_url: String,
    /// 3 to 64 letters, digits, `-` or `_`, not a reserved word.
    #[schema(min_length = 3, max_length = 64, pattern = "^[A-Za-z0-9_-]+$")]
    custom_slug: Option<String>,
    #[schema(max_items = 20)]
    tags: Option<Vec<String>>,
    #[schema(max_length = 200)]
    title: Option<String>,
    #[schema(format = DateTime)]
    valid_until: Option<String>,
}

/// The body of an edit: each field present is changed; `title` and `validUntil` may be
/// null to clear them.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)] // a description: the body is read through `Fields`
pub struct ShortUrlEdit {
    #[schema(max_length = 2048)]
    long_url: Option<String>,
    #[schema(max_length = 200)]
    title: Option<String>,
    #[schema(max_items = 20)]
    tags: Option<Vec<String>>,
    #[schema(format = DateTime)]
    valid_until: Option<String>,
}

/// Shlink's pagination block.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = ShlinkPagination)]
pub struct Pagination {
    current_page: u32,
    pages_count: u64,
    items_per_page: u32,
    items_in_current_page: usize,
    total_items: u64,
}

impl Pagination {
    pub fn of(page: u32, per_page: u32, here: usize, total: u64) -> Self {
        Self {
            current_page: page,
            pages_count: total.div_ceil(u64::from(per_page)),
            items_per_page: per_page,
            items_in_current_page: here,
            total_items: total,
        }
    }
}

/// A page of short URLs.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ShlinkShortUrlPage)]
pub struct ShortUrlPage {
    data: Vec<ShortUrl>,
    pagination: Pagination,
}

/// `GET /rest/v3/short-urls`'s answer.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = ShlinkShortUrlList)]
pub struct ShortUrlList {
    short_urls: ShortUrlPage,
}

/// The query of `GET /rest/v3/short-urls` (read from the raw query by [`Params`], which
/// takes `tags[]` repeated).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code, non_snake_case)] // a description, in Shlink's parameter names
pub struct ShortUrlsQuery {
    /// 1-based (default 1).
    #[param(schema_with = query::page_param)]
    page: Option<u32>,
    /// 1 to 200 (default 10).
    #[param(schema_with = query::items_per_page_param)]
    itemsPerPage: Option<u32>,
    /// Only short URLs whose code, long URL or title contain this.
    searchTerm: Option<String>,
    /// Only short URLs with any (tagsMode=any, the default) or all of these tags.
    #[param(rename = "tags[]")]
    tags: Option<Vec<String>>,
    /// `any` or `all`; empty is the default (any), as Shlink's clients send it.
    #[param(value_type = Option<String>, pattern = "^(any|all)?$")]
    tagsMode: Option<String>,
    /// `field-DIR`: dateCreated, shortCode, longUrl or title, ASC or DESC; empty is the
    /// default (newest first).
    #[param(pattern = "^((dateCreated|shortCode|longUrl|title)(-(ASC|DESC))?)?$")]
    orderBy: Option<String>,
    /// Accepted: no hop short URL has a visits limit.
    #[param(schema_with = query::flag_param)]
    excludeMaxVisitsReached: Option<bool>,
    /// The default domain only (`DEFAULT`).
    domain: Option<String>,
}

/// The visits of the caller's link `code`.
async fn visits_of(
    state: &AppState,
    request_id: &RequestId,
    actor: i64,
    code: &str,
) -> Result<Option<pb::Visits>, ShlinkError> {
    let request = pb::CountVisitsRequest {
        actor_user_id: Some(actor),
        codes: vec![code.to_owned()],
    };
    let mut counts = state
        .links()
        .count_visits(state.request(request, request_id))
        .await
        .map_err(|s| ShlinkError::about_code(s.into(), code))?
        .into_inner();
    Ok(counts.by_code.remove(code))
}

/// Refuses what hop has no counterpart for; `null`, `false` (and an absent field) are
/// what hop does anyway.
fn refuse_unsupported(fields: &mut Fields) -> Result<(), ShlinkError> {
    let unsupported = [
        ("validSince", "a start date (validSince)"),
        ("maxVisits", "a visits limit (maxVisits)"),
        ("crawlable", "crawlable short URLs"),
        ("forwardQuery", "forwarding the query string (forwardQuery)"),
        ("deviceLongUrls", "device-specific long URLs"),
        ("findIfExists", "findIfExists"),
        (
            "shortCodeLength",
            "a custom short code length (shortCodeLength)",
        ),
    ];
    for (field, what) in unsupported {
        match fields.take(field) {
            None | Some(Value::Null) | Some(Value::Bool(false)) => {}
            Some(_) => return Err(ShlinkError::unsupported(field, what)),
        }
    }
    Ok(())
}

fn check_domain(value: Option<Value>) -> Result<(), ShlinkError> {
    match value {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(d)) if d == "DEFAULT" || d.is_empty() => Ok(()),
        Some(_) => Err(ShlinkError::unsupported(
            "domain",
            "other domains than the deployment's own",
        )),
    }
}

/// Create a short URL (Shlink).
///
/// `longUrl`, `customSlug`, `tags`, `title`, `validUntil`; 200 with the short URL, as
/// Shlink answers. Shlink fields hop lacks (`maxVisits`, `validSince`, ...) are refused.
/// Needs `links:write`.
#[utoipa::path(
    post, path = "/rest/v3/short-urls", tag = "shlink",
    request_body = ShortUrlCreate,
    responses((status = 200, description = "The short URL", body = ShortUrl)),
    security(("apiKeyHeader" = []), ("apiKey" = [])),
)]
pub async fn create(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    key: ShlinkKey,
    body: JsonObject,
) -> Result<Json<ShortUrl>, ShlinkError> {
    let actor = key.require(Scope::LinksWrite)?;
    let limit = state.settings().rate_limit_create_user;
    state
        .limiter()
        .check("create_user", &actor.to_string(), limit)
        .await?;
    let mut fields = Fields::new(body);
    refuse_unsupported(&mut fields)?;
    check_domain(fields.take("domain"))?;
    fields.take("validateUrl"); // deprecated by Shlink, and hop checks URLs anyway
    let url = fields.required_string("longUrl");
    let alias = fields.optional_string("customSlug");
    let title = fields.optional_string("title");
    let expires_at = fields.optional_timestamp("validUntil");
    let tags = fields.optional_strings("tags", 100).unwrap_or_default();
    fields.finish()?;
    let slug = alias.clone().unwrap_or_default();
    let request = pb::CreateLinkRequest {
        url,
        alias,
        title,
        expires_at: expires_at.map(hop_kit::time::to_proto),
        redirect_type: 0,
        actor_user_id: Some(actor),
        tags,
    };
    let link = state
        .links()
        .create_link(state.request(request, &request_id))
        .await
        .map_err(|s| ShlinkError::about_code(s.into(), &slug))?
        .into_inner();
    Ok(Json(ShortUrl::of(&link, None)))
}

/// What `orderBy` may name, as hop orders.
fn order(raw: Option<&str>) -> Result<(pb::LinkOrder, bool), ShlinkError> {
    let Some(raw) = raw else {
        return Ok((pb::LinkOrder::Created, true));
    };
    let (field, dir) = raw.split_once('-').unwrap_or((raw, "ASC"));
    let descending = match dir.to_ascii_uppercase().as_str() {
        "ASC" => false,
        "DESC" => true,
        _ => {
            return Err(ShlinkError::invalid(
                &["orderBy"],
                "the direction must be ASC or DESC",
            ));
        }
    };
    let order = match field {
        "dateCreated" => pb::LinkOrder::Created,
        "shortCode" => pb::LinkOrder::Code,
        "longUrl" => pb::LinkOrder::Target,
        "title" => pb::LinkOrder::Title,
        "visits" | "nonBotVisits" => {
            return Err(ShlinkError::unsupported("orderBy", "ordering by visits"));
        }
        _ => {
            return Err(ShlinkError::invalid(
                &["orderBy"],
                "orderBy must be dateCreated, shortCode, longUrl or title, with -ASC or -DESC",
            ));
        }
    };
    Ok((order, descending))
}

/// List short URLs (Shlink).
///
/// The key owner's short URLs, a numbered page, searched, filtered by tags and ordered.
/// Needs `links:read`.
#[utoipa::path(
    get, path = "/rest/v3/short-urls", tag = "shlink",
    params(ShortUrlsQuery),
    responses((status = 200, description = "A page of short URLs", body = ShortUrlList)),
    security(("apiKeyHeader" = []), ("apiKey" = [])),
)]
pub async fn list(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    key: ShlinkKey,
    RawQuery(query): RawQuery,
) -> Result<Json<ShortUrlList>, ShlinkError> {
    let actor = key.require(Scope::LinksRead)?;
    let params = Params::parse(query);
    let page = params.number("page", 1)?;
    let per_page = params.number("itemsPerPage", 10)?;
    let all_tags = match params.one("tagsMode") {
        None | Some("any") => false,
        Some("all") => true,
        Some(_) => {
            return Err(ShlinkError::invalid(
                &["tagsMode"],
                "tagsMode must be any or all",
            ));
        }
    };
    let (order, descending) = order(params.one("orderBy"))?;
    for unsupported in ["startDate", "endDate", "excludeTags", "apiKeyName"] {
        if params.one(unsupported).is_some() {
            return Err(ShlinkError::unsupported(
                unsupported,
                &format!("filtering short URLs by {unsupported}"),
            ));
        }
    }
    if params.flag("excludePastValidUntil")? {
        return Err(ShlinkError::unsupported(
            "excludePastValidUntil",
            "leaving out expired short URLs from a list",
        ));
    }
    // No hop link has a visits limit: excludeMaxVisitsReached leaves none out.
    params.flag("excludeMaxVisitsReached")?;
    check_domain(params.one("domain").map(Value::from))?;
    let request = pb::ListLinksPageRequest {
        actor_user_id: Some(actor),
        page,
        per_page,
        query: params
            .one("searchTerm")
            .filter(|term| !term.trim().is_empty())
            .map(str::to_owned),
        tags: params.all("tags"),
        all_tags,
        order: order as i32,
        descending,
    };
    let found = state
        .links()
        .list_links_page(state.request(request, &request_id))
        .await?
        .into_inner();
    let data: Vec<ShortUrl> = found
        .items
        .iter()
        .filter_map(|item| Some(ShortUrl::of(item.link.as_ref()?, item.visits.as_ref())))
        .collect();
    let pagination = Pagination::of(page, per_page, data.len(), found.total);
    Ok(Json(ShortUrlList {
        short_urls: ShortUrlPage { data, pagination },
    }))
}

/// The caller's link `code`: theirs, or Shlink's 404.
async fn owned(
    state: &AppState,
    request_id: &RequestId,
    actor: i64,
    code: &str,
) -> Result<pb::Link, ShlinkError> {
    if hop_proto::link::ShortCode::parse(code).is_none() {
        return Err(ShlinkError::short_url_not_found(code));
    }
    let request = pb::GetLinkRequest {
        code: code.to_owned(),
        actor_user_id: Some(actor),
    };
    let link = state
        .links()
        .get_link(state.request(request, request_id))
        .await
        .map_err(|s| ShlinkError::about_code(s.into(), code))?
        .into_inner();
    match link.owner_id == Some(actor) {
        true => Ok(link),
        false => Err(ShlinkError::short_url_not_found(code)),
    }
}

/// Read a short URL (Shlink).
///
/// One of the key owner's short URLs, with its visits summary. Needs `links:read`.
#[utoipa::path(
    get, path = "/rest/v3/short-urls/{code}", tag = "shlink",
    params(("code" = String, Path, description = "The short code", example = "example")),
    responses((status = 200, description = "The short URL", body = ShortUrl)),
    security(("apiKeyHeader" = []), ("apiKey" = [])),
)]
pub async fn read(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    key: ShlinkKey,
    Path(code): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<ShortUrl>, ShlinkError> {
    let actor = key.require(Scope::LinksRead)?;
    check_domain(Params::parse(query).one("domain").map(Value::from))?;
    let link = owned(&state, &request_id, actor, &code).await?;
    let visits = visits_of(&state, &request_id, actor, &code).await?;
    Ok(Json(ShortUrl::of(&link, visits.as_ref())))
}

/// Edit a short URL (Shlink).
///
/// `longUrl`, `title` (null clears), `tags`, `validUntil` (null clears). Needs
/// `links:write`.
#[utoipa::path(
    patch, path = "/rest/v3/short-urls/{code}", tag = "shlink",
    params(("code" = String, Path, description = "The short code", example = "example")),
    request_body = ShortUrlEdit,
    responses((status = 200, description = "The edited short URL", body = ShortUrl)),
    security(("apiKeyHeader" = []), ("apiKey" = [])),
)]
pub async fn update(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    key: ShlinkKey,
    Path(code): Path<String>,
    body: JsonObject,
) -> Result<Json<ShortUrl>, ShlinkError> {
    let actor = key.require(Scope::LinksWrite)?;
    let mut fields = Fields::new(body);
    refuse_unsupported(&mut fields)?;
    let url = fields.optional_string("longUrl");
    let title = fields.nullable_string("title");
    let expires_at = fields.nullable_timestamp("validUntil");
    let tags = fields.optional_strings("tags", 100);
    fields.finish()?;
    let mask = crate::routes::links::update_mask(&[
        ("url", url.is_some()),
        ("title", title.is_some()),
        ("expires_at", expires_at.is_some()),
        ("tags", tags.is_some()),
    ]);
    let request = pb::UpdateLinkRequest {
        code: code.clone(),
        actor_user_id: Some(actor),
        update_mask: Some(mask),
        url: url.unwrap_or_default(),
        title: title.flatten(),
        is_active: false,
        expires_at: expires_at.flatten().map(hop_kit::time::to_proto),
        redirect_type: 0,
        tags: tags.unwrap_or_default(),
    };
    let link = state
        .links()
        .update_link(state.request(request, &request_id))
        .await
        .map_err(|s| ShlinkError::about_code(s.into(), &code))?
        .into_inner();
    let visits = visits_of(&state, &request_id, actor, &code).await?;
    Ok(Json(ShortUrl::of(&link, visits.as_ref())))
}

/// Delete a short URL (Shlink).
///
/// Its code is never given out again. Needs `links:write`.
#[utoipa::path(
    delete, path = "/rest/v3/short-urls/{code}", tag = "shlink",
    params(("code" = String, Path, description = "The short code", example = "example")),
    responses((status = 204, description = "Deleted")),
    security(("apiKeyHeader" = []), ("apiKey" = [])),
)]
pub async fn remove(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    key: ShlinkKey,
    Path(code): Path<String>,
) -> Result<http::StatusCode, ShlinkError> {
    let actor = key.require(Scope::LinksWrite)?;
    let request = pb::DeleteLinkRequest {
        code: code.clone(),
        actor_user_id: Some(actor),
    };
    state
        .links()
        .delete_link(state.request(request, &request_id))
        .await
        .map_err(|s| ShlinkError::about_code(s.into(), &code))?;
    Ok(http::StatusCode::NO_CONTENT)
}
