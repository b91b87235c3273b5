//! `/app/links*`: the signed-in visitor's links (search, pages, the active toggle), one
//! link's page (details, QR code, stats), its edit form and its deletion.

use super::chart;
use super::form::Form;
use super::home::{
    fresh_href, parse_local_time, parse_redirect_type, qr_svg, redirect_select, split_tags,
};
use super::view::{self, FormState, Input, csrf, field, layout, summary, when};
use super::visitor::{SignedIn, Visitor, signin_url};
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{Duration, Utc};
use hop_proto::links::v1 as pb;
use http::StatusCode;
use maud::{Markup, html};

/// Links on one page of the list.
const PAGE: u32 = 50;

#[derive(Debug, serde::Deserialize)]
pub struct ListQuery {
    q: Option<String>,
    tag: Option<String>,
    cursor: Option<String>,
    deleted: Option<String>,
}

/// `GET /app/links?q=&cursor=`: newest first, 50 a page.
pub async fn list(
    State(state): State<AppState>,
    SignedIn { user, visitor }: SignedIn,
    Query(query): Query<ListQuery>,
) -> Response {
    let q = query.q.unwrap_or_default();
    let request = pb::ListLinksRequest {
        actor_user_id: Some(user.user_id),
        limit: Some(PAGE),
        cursor: query.cursor.clone().filter(|c| !c.is_empty()),
        query: Some(q.clone()).filter(|q| !q.trim().is_empty()),
        tag: query.tag.clone().filter(|t| !t.trim().is_empty()),
    };
    let (items, next, search_error) = match state
        .links()
        .list_links(state.request(request, &visitor.request_id))
        .await
    {
        Ok(page) => {
            let page = page.into_inner();
            (page.items, page.next_cursor, None)
        }
        Err(status) => match inline_message(ApiError::from(status).0) {
            Ok(message) => (Vec::new(), None, Some(message)),
            Err(problem) => return view::problem_page(problem, &visitor),
        },
    };
    let next_url = next.map(|cursor| {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("q", &q)
            .append_pair("cursor", &cursor)
            .finish();
        format!("/app/links?{query}")
    });
    let here = current_url(&q, query.cursor.as_deref());
    let body = html! {
        section.card {
            div.actions {
                h1 { "My links" }
            }
            @if let Some(tag) = &query.tag {
                p { "Tagged “" (tag) "” · " a href="/app/links" { "all links" } }
            }
            @if let Some(code) = &query.deleted {
                p.notice role="status" { "Deleted /" (code) ". Its code will never be reused." }
            }
            form.search method="get" action="/app/links" role="search" {
                label.offscreen for="q" { "Search links" }
                input #q type="search" name="q" value=(q) placeholder="Search by code, destination or title"
                    aria-describedby="q-error";
                button type="submit" { "Search" }
            }
            p.error #q-error aria-live="polite" { @if let Some(e) = &search_error { "Search: " (e) } }
            @if items.is_empty() {
                p.empty {
                    @if q.trim().is_empty() { "No links yet. " a href="/" { "Make your first one." } }
                    @else { "No link matches “" (q) "”." }
                }
            } @else {
                ul.list {
                    @for link in &items { (row(link, &visitor, &here)) }
                }
            }
            nav.pager aria-label="Pages" {
                @if query.cursor.is_some() { a href={ "/app/links?q=" (encode(&q)) } { "← Newest" } } @else { span {} }
                @if let Some(url) = &next_url { a href=(url) { "Older →" } }
            }
        }
    };
    layout("My links", &visitor, body).into_response()
}

/// A 400 as the one line a page shows beside its search or filter form; any other problem
/// is the page's to answer.
fn inline_message(problem: hop_kit::problem::Problem) -> Result<String, hop_kit::problem::Problem> {
    if problem.status != 400 {
        return Err(problem);
    }
    Ok(problem
        .errors
        .first()
        .map(|e| e.message.clone())
        .or(problem.detail)
        .unwrap_or_default())
}

fn current_url(q: &str, cursor: Option<&str>) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    if !q.is_empty() {
        query.append_pair("q", q);
    }
    if let Some(cursor) = cursor.filter(|c| !c.is_empty()) {
        query.append_pair("cursor", cursor);
    }
    let query = query.finish();
    if query.is_empty() {
        "/app/links".into()
    } else {
        format!("/app/links?{query}")
    }
}

fn encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

fn row(link: &pb::Link, visitor: &Visitor, back: &str) -> Markup {
    let live = crate::routes::links::is_live(link);
    html! {
        li {
            div {
                a.mono href={ "/app/links/" (link.code) } { "/" (link.code) }
                " "
                @if live { span.badge { "active" } } @else { span.badge.off { "inactive" } }
                @if let Some(title) = &link.title { div { (title) } }
                @if !link.tags.is_empty() {
                    div.tags { @for tag in &link.tags { a.badge href={ "/app/links?tag=" (encode(tag)) } { (tag) } " " } }
                }
                div.target { (link.url) }
                div.meta { "Created " (when(link.created_at.as_ref())) }
            }
            div.row-actions {
                (view::copy_button(&link.short_url, &format!("short link /{}", link.code)))
                form.inline method="post" action={ "/app/links/" (link.code) "/active" } {
                    (csrf(visitor))
                    input type="hidden" name="back" value=(back);
                    input type="hidden" name="active" value=(if link.is_active { "false" } else { "true" });
                    button.secondary type="submit" aria-label={ (if link.is_active { "Deactivate" } else { "Activate" }) " /" (link.code) } {
                        (if link.is_active { "Deactivate" } else { "Activate" })
                    }
                }
                a.button.secondary href={ "/app/links/" (link.code) "/edit" } aria-label={ "Edit /" (link.code) } { "Edit" }
                a.button.secondary href={ "/app/links/" (link.code) "/delete" } aria-label={ "Delete /" (link.code) } { "Delete" }
            }
        }
    }
}

/// The visitor's own link `code`, or the page to answer instead.
async fn own_link(
    state: &AppState,
    visitor: &Visitor,
    user_id: i64,
    code: String,
) -> Result<pb::Link, Response> {
    if hop_proto::link::ShortCode::parse(&code).is_none() {
        return Err(view::not_found(visitor));
    }
    let request = pb::GetLinkRequest {
        code,
        actor_user_id: Some(user_id),
    };
    match state
        .links()
        .get_link(state.request(request, &visitor.request_id))
        .await
    {
        Ok(link) if link.get_ref().owner_id == Some(user_id) => Ok(link.into_inner()),
        Ok(_) => Err(view::not_found(visitor)),
        Err(status) => Err(view::problem_page(ApiError::from(status).0, visitor)),
    }
}

#[derive(Debug, serde::Deserialize)]
pub struct StatsQuery {
    range: Option<String>,
    unit: Option<String>,
    bots: Option<String>,
    saved: Option<String>,
}

/// The ranges the stats form offers: (value, label, length).
const RANGES: &[(&str, &str, i64)] = &[
    ("24h", "Last 24 hours", 1),
    ("7d", "Last 7 days", 7),
    ("30d", "Last 30 days", 30),
    ("90d", "Last 90 days", 90),
];

/// `GET /app/links/{code}?range=&unit=&bots=`: details, QR code and stats.
pub async fn show(
    State(state): State<AppState>,
    SignedIn { user, visitor }: SignedIn,
    Path(code): Path<String>,
    Query(query): Query<StatsQuery>,
) -> Response {
    let link = match own_link(&state, &visitor, user.user_id, code).await {
        Ok(link) => link,
        Err(page) => return page,
    };
    let range = RANGES
        .iter()
        .find(|r| Some(r.0) == query.range.as_deref())
        .unwrap_or(&RANGES[1]);
    let unit = match query.unit.as_deref() {
        Some("hour") => "hour",
        Some("day") => "day",
        _ if range.2 == 1 => "hour",
        _ => "day",
    };
    let include_bots = query.bots.as_deref() == Some("1");
    let to = Utc::now();
    let from = to - Duration::days(range.2);
    let request = pb::GetLinkStatsRequest {
        code: link.code.clone(),
        actor_user_id: Some(user.user_id),
        from: Some(hop_kit::time::to_proto(from)),
        to: Some(hop_kit::time::to_proto(to)),
        unit: if unit == "hour" {
            pb::TimeUnit::Hour
        } else {
            pb::TimeUnit::Day
        } as i32,
        include_bots,
    };
    let (stats, stats_error) = match state
        .links()
        .get_link_stats(state.request(request, &visitor.request_id))
        .await
    {
        Ok(stats) => (Some(stats.into_inner()), None),
        Err(status) => match inline_message(ApiError::from(status).0) {
            Ok(message) => (None, Some(message)),
            Err(problem) => return view::problem_page(problem, &visitor),
        },
    };
    let live = crate::routes::links::is_live(&link);
    let qr = format!("/links/{}/qr", link.code);
    let body = html! {
        @if query.saved.is_some() { p.notice role="status" { "Saved." } }
        section.card {
            div.split {
                div {
                    h1 { "/" (link.code) " " @if live { span.badge { "active" } } @else { span.badge.off { "inactive" } } }
                    p.short { a href=(fresh_href(&link)) target="_blank" rel="noopener" { (link.short_url) } }
                    div.actions {
                        (view::copy_button(&link.short_url, "short link"))
                        a.button.secondary href={ "/app/links/" (link.code) "/edit" } { "Edit" }
                        a.button.secondary href={ "/app/links/" (link.code) "/delete" } { "Delete" }
                    }
                    dl.details {
                        dt { "Destination" } dd { (link.url) }
                        dt { "Title" } dd { (link.title.as_deref().unwrap_or("—")) }
                        dt { "Tags" } dd { @if link.tags.is_empty() { "—" } @else { (link.tags.join(", ")) } }
                        dt { "Redirect" } dd { (link.redirect_type) }
                        dt { "Created" } dd { (when(link.created_at.as_ref())) }
                        dt { "Expires" } dd { @if link.expires_at.is_some() { (when(link.expires_at.as_ref())) } @else { "never" } }
                    }
                }
                div {
                    div.qr { (qr_svg(&link.short_url, 160)) }
                    p.actions {
                        a href={ (qr) "?format=png&size=512" } download={ (link.code) ".png" } { "PNG" }
                        a href={ (qr) "?format=svg&size=512" } download={ (link.code) ".svg" } { "SVG" }
                    }
                }
            }
        }
        section.card aria-labelledby="stats-title" {
            h2 #stats-title { "Clicks" }
            form.filters method="get" action={ "/app/links/" (link.code) } {
                div.field {
                    label for="range" { "Range" }
                    select #range name="range" {
                        @for (value, label, _) in RANGES { option value=(value) selected[*value == range.0] { (label) } }
                    }
                }
                div.field {
                    label for="unit" { "By" }
                    select #unit name="unit" {
                        option value="hour" selected[unit == "hour"] { "Hour" }
                        option value="day" selected[unit == "day"] { "Day" }
                    }
                }
                label.check for="bots" {
                    input #bots type="checkbox" name="bots" value="1" checked[include_bots];
                    "Include bots"
                }
                button.secondary type="submit" { "Show" }
            }
            @if let Some(e) = &stats_error { p.error role="alert" { (e) } }
            @if let Some(stats) = &stats {
                p.total { (stats.total) } p.muted { "clicks in this range" @if !include_bots { ", bots left out" } }
                (chart::clicks(&stats.series, unit))
                div.cols {
                    div {
                        h2 { "Top referrers" }
                        (counts("Referrer", stats.top_referrers.iter().map(|r| (r.name.as_str(), r.clicks))))
                    }
                    div {
                        h2 { "Agents" }
                        (counts("Agent class", stats.agent_classes.iter().map(|c| (c.name.as_str(), c.clicks))))
                    }
                }
            }
        }
    };
    let title = format!("/{}", link.code);
    layout(&title, &visitor, body).into_response()
}

fn counts<'a>(heading: &str, rows: impl Iterator<Item = (&'a str, u64)>) -> Markup {
    let rows: Vec<_> = rows.collect();
    html! {
        @if rows.is_empty() { p.muted { "None yet." } } @else {
            table {
                thead { tr { th scope="col" { (heading) } th.num scope="col" { "Clicks" } } }
                tbody { @for (name, clicks) in rows { tr { td { (name) } td.num { (clicks) } } } }
            }
        }
    }
}

/// `GET /app/links/{code}/edit`.
pub async fn edit_form(
    State(state): State<AppState>,
    SignedIn { user, visitor }: SignedIn,
    Path(code): Path<String>,
) -> Response {
    let link = match own_link(&state, &visitor, user.user_id, code).await {
        Ok(link) => link,
        Err(page) => return page,
    };
    let local = |t: Option<&prost_types::Timestamp>| {
        t.and_then(hop_kit::time::from_proto)
            .map_or_else(String::new, |t| t.format("%Y-%m-%dT%H:%M").to_string())
    };
    let form = FormState {
        values: vec![
            ("url".into(), link.url.clone()),
            ("title".into(), link.title.clone().unwrap_or_default()),
            ("expires_at".into(), local(link.expires_at.as_ref())),
            ("redirect_type".into(), link.redirect_type.to_string()),
            (
                "is_active".into(),
                if link.is_active {
                    "1".into()
                } else {
                    String::new()
                },
            ),
            ("tags".into(), link.tags.join(", ")),
        ],
        ..FormState::default()
    };
    edit_page(&visitor, &link.code, &form, StatusCode::OK)
}

fn edit_page(visitor: &Visitor, code: &str, form: &FormState, status: StatusCode) -> Response {
    let body = html! {
        section.card {
            h1 { "Edit /" (code) }
            form method="post" action={ "/app/links/" (code) "/edit" } novalidate {
                (csrf(visitor))
                (summary(form))
                (field(form, "url", "Destination URL", Input::Url, None))
                div.grid2 {
                    (field(form, "title", "Title", Input::Text, Some("Leave empty for none.")))
                    (field(form, "expires_at", "Expires (UTC)", Input::DateTime, Some("Leave empty for never.")))
                    (redirect_select(form))
                }
                (field(form, "tags", "Tags", Input::Text, Some("Comma-separated; leave empty for none.")))
                label.check for="f-is_active" {
                    input #f-is_active type="checkbox" name="is_active" value="1" checked[!form.value("is_active").is_empty()];
                    "Active (redirects)"
                }
                div.actions {
                    button type="submit" { "Save" }
                    a.button.secondary href={ "/app/links/" (code) } { "Cancel" }
                }
            }
        }
    };
    (status, layout(&format!("Edit /{code}"), visitor, body)).into_response()
}

/// `POST /app/links/{code}/edit`: every field of the form, in one update.
pub async fn edit(State(state): State<AppState>, Path(code): Path<String>, form: Form) -> Response {
    let visitor = form.visitor.clone();
    let Some(user) = visitor.user.clone() else {
        return Redirect::to(&signin_url(&format!("/app/links/{code}/edit"))).into_response();
    };
    if hop_proto::link::ShortCode::parse(&code).is_none() {
        return view::not_found(&visitor);
    }
    let mut values: Vec<(String, String)> = ["url", "title", "expires_at", "redirect_type"]
        .iter()
        .map(|n| ((*n).to_owned(), form.get(n).to_owned()))
        .collect();
    values.push((
        "is_active".into(),
        if form.checked("is_active") {
            "1".into()
        } else {
            String::new()
        },
    ));
    let mut state_of_form = FormState {
        values,
        ..FormState::default()
    };
    let expires_at = parse_local_time(form.get("expires_at")).unwrap_or_else(|e| {
        state_of_form.errors.push(e);
        None
    });
    let redirect_type = parse_redirect_type(form.get("redirect_type")).unwrap_or_else(|e| {
        state_of_form.errors.push(e);
        0
    });
    if state_of_form.has_errors() {
        return edit_page(&visitor, &code, &state_of_form, StatusCode::BAD_REQUEST);
    }
    let mut paths = vec!["url", "title", "is_active", "expires_at", "tags"];
    if redirect_type != 0 {
        paths.push("redirect_type");
    }
    let request = pb::UpdateLinkRequest {
        code: code.clone(),
        actor_user_id: Some(user.user_id),
        update_mask: Some(prost_types::FieldMask {
            paths: paths.into_iter().map(str::to_owned).collect(),
        }),
        url: form.get("url").trim().to_owned(),
        title: form.optional("title"),
        is_active: form.checked("is_active"),
        expires_at: expires_at.map(hop_kit::time::to_proto),
        redirect_type,
        tags: split_tags(form.get("tags")),
    };
    match state
        .links()
        .update_link(state.request(request, &visitor.request_id))
        .await
    {
        Ok(_) => Redirect::to(&format!("/app/links/{code}?saved=1")).into_response(),
        Err(status) => match state_of_form.with_problem(ApiError::from(status).0, "url") {
            Ok(form) => edit_page(&visitor, &code, &form, StatusCode::BAD_REQUEST),
            Err(problem) => view::problem_page(problem, &visitor),
        },
    }
}

/// `POST /app/links/{code}/active` `active=true|false`: the list's toggle.
pub async fn set_active(
    State(state): State<AppState>,
    Path(code): Path<String>,
    form: Form,
) -> Response {
    let visitor = form.visitor.clone();
    let Some(user) = visitor.user.clone() else {
        return Redirect::to(&signin_url("/app/links")).into_response();
    };
    let active = match form.get("active") {
        "true" => true,
        "false" => false,
        _ => {
            return view::message_page(
                StatusCode::BAD_REQUEST,
                "Bad request",
                "active must be true or false",
                &visitor,
            );
        }
    };
    let request = pb::UpdateLinkRequest {
        code,
        actor_user_id: Some(user.user_id),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["is_active".into()],
        }),
        is_active: active,
        ..Default::default()
    };
    match state
        .links()
        .update_link(state.request(request, &visitor.request_id))
        .await
    {
        Ok(_) => Redirect::to(&local_path(form.get("back"), "/app/links")).into_response(),
        Err(status) => view::problem_page(ApiError::from(status).0, &visitor),
    }
}

/// `back` when it is a path of the app (never another site), else `fallback`.
pub fn local_path(back: &str, fallback: &str) -> String {
    let ok = back.starts_with("/app/")
        && !back.contains("//")
        && !back.contains('\\')
        && back.len() <= 1024
        && !back.chars().any(char::is_control);
    if ok {
        back.to_owned()
    } else {
        fallback.to_owned()
    }
}

/// `GET /app/links/{code}/delete`: the confirmation.
pub async fn confirm_delete(
    State(state): State<AppState>,
    SignedIn { user, visitor }: SignedIn,
    Path(code): Path<String>,
) -> Response {
    let link = match own_link(&state, &visitor, user.user_id, code).await {
        Ok(link) => link,
        Err(page) => return page,
    };
    let body = html! {
        section.card.narrow {
            h1 { "Delete /" (link.code) "?" }
            p { "It stops redirecting at once, its stats go with it, and the code " code { (link.code) } " is never given out again." }
            p.target { "→ " (link.url) }
            form method="post" action={ "/app/links/" (link.code) "/delete" } {
                (csrf(&visitor))
                div.actions {
                    button.danger type="submit" { "Delete link" }
                    a.button.secondary href={ "/app/links/" (link.code) } { "Cancel" }
                }
            }
        }
    };
    layout(&format!("Delete /{}", link.code), &visitor, body).into_response()
}

/// `POST /app/links/{code}/delete`.
pub async fn delete(
    State(state): State<AppState>,
    Path(code): Path<String>,
    form: Form,
) -> Response {
    let visitor = form.visitor.clone();
    let Some(user) = visitor.user.clone() else {
        return Redirect::to(&signin_url("/app/links")).into_response();
    };
    let request = pb::DeleteLinkRequest {
        code: code.clone(),
        actor_user_id: Some(user.user_id),
    };
    match state
        .links()
        .delete_link(state.request(request, &visitor.request_id))
        .await
    {
        Ok(_) => Redirect::to(&format!("/app/links?deleted={}", encode(&code))).into_response(),
        Err(status) => view::problem_page(ApiError::from(status).0, &visitor),
    }
}

#[cfg(test)]
mod tests {
    use super::local_path;

    #[test]
    fn back_stays_in_the_app() {
        assert_eq!(local_path("/app/links?q=x", "/"), "/app/links?q=x");
        for bad in [
            "https://evil.test/",
            "//evil.test",
            "/app//evil",
            "/\\evil",
            "/links",
            "",
        ] {
            assert_eq!(local_path(bad, "/app/links"), "/app/links", "{bad}");
        }
    }
}
