//! `/`: the landing page for visitors, and for the signed-in the create form and the card
//! of the link just made (short URL, copy button, QR code).

use super::form::Form;
use super::view::{self, FormState, Input, csrf, field, layout, summary};
use super::visitor::{Visitor, signin_url};
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{NaiveDateTime, TimeZone, Utc};
use hop_kit::problem::FieldError;
use hop_proto::links::v1 as pb;
use http::StatusCode;
use maud::{Markup, html};

#[derive(Debug, serde::Deserialize)]
pub struct HomeQuery {
    created: Option<String>,
}

/// `GET /`.
pub async fn show(
    State(state): State<AppState>,
    visitor: Visitor,
    Query(query): Query<HomeQuery>,
) -> Response {
    let Some(user) = visitor.user.clone() else {
        return layout("Short links you own", &visitor, landing()).into_response();
    };
    let mut card = None;
    if let Some(code) = query
        .created
        .filter(|c| hop_proto::link::ShortCode::parse(c).is_some())
    {
        let request = pb::GetLinkRequest {
            code,
            actor_user_id: Some(user.user_id),
        };
        match state
            .links()
            .get_link(state.request(request, &visitor.request_id))
            .await
        {
            Ok(link) if link.get_ref().owner_id == Some(user.user_id) => {
                card = Some(link.into_inner());
            }
            Ok(_) => {}
            Err(status) => {
                let problem = ApiError::from(status).0;
                if problem.status >= 500 {
                    return view::failure_page(&visitor.request_id);
                }
            }
        }
    }
    page(
        &visitor,
        &FormState::default(),
        card.as_ref(),
        StatusCode::OK,
    )
}

/// `GET /app`: the app's index is the list of links.
pub async fn app() -> Redirect {
    Redirect::to("/app/links")
}

/// `POST /app/links`: creates a link from the home form.
pub async fn create(State(state): State<AppState>, form: Form) -> Response {
    let visitor = form.visitor.clone();
    let Some(user) = visitor.user.clone() else {
        return Redirect::to(&signin_url("/")).into_response();
    };
    let names = [
        "url",
        "alias",
        "title",
        "expires_at",
        "redirect_type",
        "tags",
    ];
    let mut state_of_form = FormState {
        values: names
            .iter()
            .map(|n| ((*n).to_owned(), form.get(n).to_owned()))
            .collect(),
        ..FormState::default()
    };
    let expires_at = match parse_local_time(form.get("expires_at")) {
        Ok(t) => t,
        Err(e) => {
            state_of_form.errors.push(e);
            None
        }
    };
    let redirect_type = match parse_redirect_type(form.get("redirect_type")) {
        Ok(r) => r,
        Err(e) => {
            state_of_form.errors.push(e);
            0
        }
    };
    if state_of_form.has_errors() {
        return page(&visitor, &state_of_form, None, StatusCode::BAD_REQUEST);
    }
    let limit = state.settings().rate_limit_create_user;
    if let Err(e) = state
        .limiter()
        .check("create_user", &user.user_id.to_string(), limit)
        .await
    {
        return answer_problem(&visitor, state_of_form, ApiError(e));
    }
    let request = pb::CreateLinkRequest {
        url: form.get("url").trim().to_owned(),
        alias: form.optional("alias"),
        title: form.optional("title"),
        expires_at: expires_at.map(hop_kit::time::to_proto),
        redirect_type,
        actor_user_id: Some(user.user_id),
        tags: split_tags(form.get("tags")),
    };
    match state
        .links()
        .create_link(state.request(request, &visitor.request_id))
        .await
    {
        Ok(link) => {
            let code = link.into_inner().code;
            Redirect::to(&format!("/?created={code}")).into_response()
        }
        Err(status) => answer_problem(&visitor, state_of_form, ApiError::from(status)),
    }
}

fn answer_problem(visitor: &Visitor, form: FormState, error: ApiError) -> Response {
    match form.with_problem(error.0, "alias") {
        Ok(form) => page(visitor, &form, None, StatusCode::BAD_REQUEST),
        Err(problem) => view::problem_page(problem, visitor),
    }
}

/// A `datetime-local` value, read as UTC (the form says so); blank is none.
pub fn parse_local_time(raw: &str) -> Result<Option<chrono::DateTime<Utc>>, FieldError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(raw, f).ok())
        .map(|t| Some(Utc.from_utc_datetime(&t)))
        .ok_or_else(|| FieldError::new("expires_at", "must be a date and time"))
}

/// A tags field: comma-separated, blanks dropped (links normalises and bounds them).
pub fn split_tags(raw: &str) -> Vec<String> {
    raw.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The redirect type select's value: blank is the default (0 to the links service).
pub fn parse_redirect_type(raw: &str) -> Result<i32, FieldError> {
    match raw.trim() {
        "" => Ok(0),
        other => other
            .parse::<i32>()
            .map_err(|_| FieldError::new("redirect_type", "must be 301, 302, 307 or 308")),
    }
}

fn page(
    visitor: &Visitor,
    form: &FormState,
    created: Option<&pb::Link>,
    status: StatusCode,
) -> Response {
    let body = html! {
        @if let Some(link) = created { (link_card(link)) }
        section.card {
            h1 { "Shorten a link" }
            form method="post" action="/app/links" novalidate {
                (csrf(visitor))
                (summary(form))
                (field(form, "url", "Destination URL", Input::Url, Some("Where the short link goes: an http or https address.")))
                div.grid2 {
                    (field(form, "alias", "Custom alias (optional)", Input::Text, Some("3 to 64 letters, digits, - or _.")))
                    (field(form, "title", "Title (optional)", Input::Text, None))
                    (field(form, "expires_at", "Expires (optional, UTC)", Input::DateTime, None))
                    (redirect_select(form))
                }
                (field(form, "tags", "Tags (optional)", Input::Text, Some("Comma-separated, e.g. “launch, newsletter”.")))
                div.actions { button type="submit" { "Create short link" } }
            }
        }
    };
    (status, layout("New link", visitor, body)).into_response()
}

/// The redirect type select, with its error line.
pub fn redirect_select(form: &FormState) -> Markup {
    let chosen = form.value("redirect_type");
    let error = form.error("redirect_type");
    let options = [
        ("", "Default (302 Found)"),
        ("301", "301 Moved permanently"),
        ("302", "302 Found"),
        ("307", "307 Temporary redirect"),
        ("308", "308 Permanent redirect"),
    ];
    html! {
        div.field.invalid[error.is_some()] {
            label for="f-redirect_type" { "Redirect type" }
            select id="f-redirect_type" name="redirect_type" aria-describedby="f-redirect_type-error"
                aria-invalid=[error.map(|_| "true")] {
                @for (value, label) in options {
                    option value=(value) selected[chosen == value] { (label) }
                }
            }
            p.error id="f-redirect_type-error" aria-live="polite" { @if let Some(e) = error { (e) } }
        }
    }
}

/// The new link: its short URL with a copy button, where it goes, its QR code.
pub fn link_card(link: &pb::Link) -> Markup {
    let qr = qr_svg(&link.short_url, 160);
    html! {
        section.card.linkcard aria-labelledby="created-title" {
            div {
                h2 #created-title { "Your short link is ready" }
                p.short { a href=(fresh_href(link)) target="_blank" rel="noopener" { (link.short_url) } }
                p.target { "→ " (link.url) }
                div.actions {
                    (view::copy_button(&link.short_url, "short link"))
                    a.button.secondary href={ "/app/links/" (link.code) } { "Details and stats" }
                }
            }
            div.qr { (qr) }
        }
    }
}

/// The short URL as the owner's pages link to it: with the link's version in the query
/// (which the redirect ignores), so a browser that kept the old redirect (they may for
/// 90 s) follows the link as it is now after an edit. What is shown and copied is the
/// plain short URL.
pub fn fresh_href(link: &pb::Link) -> String {
    match &link.updated_at {
        Some(t) => format!("{}?v={}{:09}", link.short_url, t.seconds, t.nanos),
        None => link.short_url.clone(),
    }
}

/// The QR code of `text` as inline SVG markup, labelled for screen readers.
pub fn qr_svg(text: &str, size: u32) -> Markup {
    let svg = crate::qr::svg_markup(text, size).unwrap_or_default();
    let svg = svg.find("<svg").map_or("", |i| &svg[i..]);
    let label = format!("QR code of {}", html_escape(text));
    view::raw(svg.replacen(
        "<svg",
        &format!("<svg role=\"img\" aria-label=\"{label}\""),
        1,
    ))
}

fn html_escape(text: &str) -> String {
    maud::html! { (text) }.into_string()
}

fn landing() -> Markup {
    html! {
        section.hero {
            h1 { "Short links you own" }
            p { "Make a short link in one step, share it with its QR code, and see who follows it. \
                 Your data stays on your server." }
            div.actions {
                a.button href="/app/signup" { "Create an account" }
                a.button.secondary href="/app/signin" { "Sign in" }
            }
        }
        div.features {
            section.card { h2 { "Fast" } p.muted { "Redirects answer from memory in well under a millisecond." } }
            section.card { h2 { "Measured" } p.muted { "Clicks by hour or day, top referrers, browsers and bots apart." } }
            section.card { h2 { "Yours" } p.muted { "One binary, one file of data, or PostgreSQL and Redis when you grow." } }
        }
    }
}
