//! `/rest/v3/visits` and `/rest/v3/short-urls/{code}/visits`: Shlink's visits from hop's
//! clicks. The overview sums the rollups (every click ever); a short URL's visits are its
//! raw clicks (kept CLICK_RETENTION_DAYS). hop records a click's time, referring host,
//! agent class (bot or not) and country; it keeps no user agent string, no full referring
//! URL and no region, city or coordinates, so those fields are empty.

use super::problem::{ShlinkError, ShlinkKey};
use super::query::{self, Params};
use super::short_urls::{Pagination, VisitsSummary};
use crate::context::RequestId;
use crate::state::AppState;
use axum::extract::{Path, RawQuery, State};
use axum::{Extension, Json};
use chrono::SecondsFormat;
use hop_proto::api_key::Scope;
use hop_proto::links::v1 as pb;
use serde::Serialize;
use utoipa::{IntoParams, ToSchema};

/// The visits overview.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = ShlinkOverview)]
pub struct Overview {
    non_orphan_visits: VisitsSummary,
    /// Always zero: hop records no orphan visits.
    orphan_visits: VisitsSummary,
    /// `nonOrphanVisits.total` (Shlink's older field).
    visits_count: u64,
    orphan_visits_count: u64,
}

/// `GET /rest/v3/visits`'s answer.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ShlinkVisitsOverview)]
pub struct VisitsOverview {
    visits: Overview,
}

/// Where a visit came from: the country alone.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = ShlinkVisitLocation)]
pub struct VisitLocation {
    country_code: String,
    country_name: Option<String>,
    region_name: Option<String>,
    city_name: Option<String>,
    latitude: Option<f64>,
    longitude: Option<f64>,
    timezone: Option<String>,
    is_empty: bool,
}

/// One visit: a raw click.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = ShlinkVisit)]
pub struct Visit {
    /// The referring host, or empty for a direct visit.
    referer: String,
    #[schema(format = DateTime)]
    date: Option<String>,
    /// Always empty: hop keeps no user agent.
    user_agent: String,
    visit_location: Option<VisitLocation>,
    potential_bot: bool,
    /// Always null.
    redirect_url: Option<String>,
}

/// A page of visits.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ShlinkVisitPage)]
pub struct VisitPage {
    data: Vec<Visit>,
    pagination: Pagination,
}

/// `GET /rest/v3/short-urls/{code}/visits`'s answer.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ShlinkVisitList)]
pub struct VisitList {
    visits: VisitPage,
}

/// The query of a short URL's visits.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code, non_snake_case)] // a description, in Shlink's parameter names
pub struct VisitsParams {
    /// 1-based (default 1).
    #[param(schema_with = query::page_param)]
    page: Option<u32>,
    /// 1 to 200 (default 100).
    #[param(schema_with = query::items_per_page_param)]
    itemsPerPage: Option<u32>,
    #[param(schema_with = query::time_param)]
    startDate: Option<String>,
    #[param(schema_with = query::time_param)]
    endDate: Option<String>,
    #[param(schema_with = query::flag_param)]
    excludeBots: Option<bool>,
}

/// Visits overview (Shlink).
///
/// Every visit of the key owner's short URLs. hop has no orphan visits (a request for an
/// unknown code is not recorded), so those are zero. Needs `stats:read`.
#[utoipa::path(
    get, path = "/rest/v3/visits", tag = "shlink",
    responses((status = 200, description = "The overview", body = VisitsOverview)),
    security(("apiKeyHeader" = []), ("apiKey" = [])),
)]
pub async fn overview(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    key: ShlinkKey,
) -> Result<Json<VisitsOverview>, ShlinkError> {
    let actor = key.require(Scope::StatsRead)?;
    let request = pb::CountVisitsRequest {
        actor_user_id: Some(actor),
        codes: Vec::new(),
    };
    let counts = state
        .links()
        .count_visits(state.request(request, &request_id))
        .await?
        .into_inner();
    let visits = VisitsSummary::of(counts.overall.as_ref());
    Ok(Json(VisitsOverview {
        visits: Overview {
            visits_count: visits.total,
            non_orphan_visits: visits,
            orphan_visits: VisitsSummary::of(None),
            orphan_visits_count: 0,
        },
    }))
}

/// A short URL's visits (Shlink).
///
/// Its raw clicks, newest first. Needs `stats:read`.
#[utoipa::path(
    get, path = "/rest/v3/short-urls/{code}/visits", tag = "shlink",
    params(("code" = String, Path, description = "The short code", example = "example"),
        VisitsParams),
    responses((status = 200, description = "A page of visits", body = VisitList)),
    security(("apiKeyHeader" = []), ("apiKey" = [])),
)]
pub async fn of_short_url(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    key: ShlinkKey,
    Path(code): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<VisitList>, ShlinkError> {
    let actor = key.require(Scope::StatsRead)?;
    let params = Params::parse(query);
    let page = params.number("page", 1)?;
    let per_page = params.number("itemsPerPage", 100)?;
    let request = pb::ListVisitsRequest {
        actor_user_id: Some(actor),
        code: code.clone(),
        page,
        per_page,
        from: params.time("startDate")?.map(hop_kit::time::to_proto),
        to: params.time("endDate")?.map(hop_kit::time::to_proto),
        exclude_bots: params.flag("excludeBots")?,
    };
    let found = state
        .links()
        .list_visits(state.request(request, &request_id))
        .await
        .map_err(|s| ShlinkError::about_code(s.into(), &code))?
        .into_inner();
    let data: Vec<Visit> = found.visits.iter().map(visit).collect();
    let pagination = Pagination::of(page, per_page, data.len(), found.total);
    Ok(Json(VisitList {
        visits: VisitPage { data, pagination },
    }))
}

/// A raw click as Shlink's visit.
fn visit(click: &pb::Visit) -> Visit {
    let date = click
        .at
        .as_ref()
        .and_then(hop_kit::time::from_proto)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, false));
    let visit_location = click.country.as_ref().map(|country| VisitLocation {
        country_code: country.clone(),
        country_name: None,
        region_name: None,
        city_name: None,
        latitude: None,
        longitude: None,
        timezone: None,
        is_empty: false,
    });
    Visit {
        referer: click.referrer_host.clone().unwrap_or_default(),
        date,
        user_agent: String::new(),
        visit_location,
        potential_bot: click.agent_class == "bot",
        redirect_url: None,
    }
}
