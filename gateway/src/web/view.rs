//! The layout every page shares, the pieces forms are made of, and the pages that answer
//! when something went wrong. maud templates: checked and compiled with the crate.

pub use super::failure::failure_page;

use super::assets;
use super::visitor::Visitor;
use axum::response::{IntoResponse, Response};
use hop_kit::problem::{FieldError, Problem};
use http::StatusCode;
use maud::{DOCTYPE, Markup, PreEscaped, html};

/// A whole page.
pub fn layout(title: &str, visitor: &Visitor, main: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="light dark";
                title { (title) " · hop" }
                link rel="stylesheet" href=(assets::url("app.css"));
                link rel="icon" type="image/svg+xml" href=(assets::url("icon.svg"));
                script src=(assets::url("app.js")) defer {}
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.bar {
                    a.brand href="/" aria-label="hop home" {
                        img src=(assets::url("icon.svg")) alt="" width="28" height="28";
                        span { "hop" }
                    }
                    nav aria-label="Main" {
                        @if visitor.signed_in() {
                            a href="/" { "New link" }
                            a href="/app/links" { "My links" }
                            a href="/app/account" { "Account" }
                            form.inline method="post" action="/app/signout" {
                                (csrf(visitor))
                                button.link type="submit" { "Sign out" }
                            }
                        } @else {
                            a href="/app/signin" { "Sign in" }
                            a.button.small href="/app/signup" { "Sign up" }
                        }
                    }
                }
                main #main tabindex="-1" { (main) }
                footer.foot {
                    p { "hop: short links you own. " a href="/health/ready" { "Status" } }
                }
            }
        }
    }
}

/// The hidden CSRF field every state-changing form carries.
pub fn csrf(visitor: &Visitor) -> Markup {
    html! { input type="hidden" name="csrf" value=(visitor.csrf()); }
}

/// What a form's fields were given and what was wrong with them.
#[derive(Debug, Default)]
pub struct FormState {
    pub values: Vec<(String, String)>,
    pub errors: Vec<FieldError>,
    /// An error that concerns the whole form.
    pub summary: Option<String>,
}

impl FormState {
    pub fn value(&self, name: &str) -> &str {
        self.values
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    pub fn error(&self, name: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|e| e.field == name)
            .map(|e| e.message.as_str())
    }

    pub fn has_errors(&self) -> bool {
        !self.errors.is_empty() || self.summary.is_some()
    }

    /// The problem an API call answered, its field errors kept by field; `fallback` names
    /// the field a conflict or a refusal of the destination concerns. Problems that are
    /// not the visitor's to fix are `Err`.
    pub fn with_problem(mut self, problem: Problem, conflict_field: &str) -> Result<Self, Problem> {
        let detail = problem.detail.clone().unwrap_or_default();
        match problem.status {
            400 if matches!(
                problem.kind,
                "/problems/redirect-loop" | "/problems/blocked-host" | "/problems/private-target"
            ) =>
            {
                self.errors = vec![FieldError::new("url", detail)];
            }
            400 if !problem.errors.is_empty() => self.errors = problem.errors,
            400 => self.summary = Some(detail),
            409 => self.errors = vec![FieldError::new(conflict_field, detail)],
            429 => {
                let wait = problem.retry_after.unwrap_or(60);
                self.summary = Some(format!(
                    "Too many attempts. Wait {wait} seconds and try again."
                ));
            }
            _ => return Err(problem),
        }
        Ok(self)
    }
}

/// Which kind of input a field is.
#[derive(Clone, Copy)]
pub enum Input {
    Text,
    Url,
    Email,
    NewPassword,
    CurrentPassword,
    DateTime,
}

/// A labelled input with its hint and its error line (always present, so an error appearing
/// moves nothing).
pub fn field(
    form: &FormState,
    name: &str,
    label: &str,
    input: Input,
    hint: Option<&str>,
) -> Markup {
    let error = form.error(name);
    let id = format!("f-{name}");
    let described = format!(
        "{id}-error{}",
        if hint.is_some() {
            format!(" {id}-hint")
        } else {
            String::new()
        }
    );
    let (kind, mode, complete) = match input {
        Input::Text => ("text", None, None),
        Input::Url => ("text", Some("url"), Some("url")),
        Input::Email => ("email", None, Some("email")),
        Input::CurrentPassword => ("password", None, Some("current-password")),
        Input::NewPassword => ("password", None, Some("new-password")),
        Input::DateTime => ("datetime-local", None, None),
    };
    // What was typed is kept, passwords excepted.
    let keep = !matches!(input, Input::NewPassword | Input::CurrentPassword);
    html! {
        div.field.invalid[error.is_some()] {
            label for=(id) { (label) }
            @if let Some(hint) = hint { p.hint id={(id) "-hint"} { (hint) } }
            input id=(id) name=(name) type=(kind) inputmode=[mode] autocomplete=[complete]
                value=[keep.then(|| form.value(name))]
                aria-invalid=[error.map(|_| "true")] aria-describedby=(described);
            p.error id={(id) "-error"} aria-live="polite" { @if let Some(e) = error { (e) } }
        }
    }
}

/// The error that concerns the whole form (a rate limit, a refusal that names no field).
/// Field errors appear beside their fields, in lines that are always there, so they move
/// nothing.
pub fn summary(form: &FormState) -> Markup {
    html! {
        div.summary role="alert" {
            @if let Some(s) = &form.summary { p { (s) } }
        }
    }
}

/// A page that only says something, with its status.
pub fn message_page(status: StatusCode, title: &str, message: &str, visitor: &Visitor) -> Response {
    let body = html! {
        section.card.narrow {
            h1 { (title) }
            p { (message) }
            p { a.button href="/" { "Go home" } }
        }
    };
    (status, layout(title, visitor, body)).into_response()
}

pub async fn not_found_handler(visitor: Visitor) -> Response {
    not_found(&visitor)
}

pub fn not_found(visitor: &Visitor) -> Response {
    message_page(
        StatusCode::NOT_FOUND,
        "Not found",
        "There is no page here, or no link of yours with this code.",
        visitor,
    )
}

/// The answer to a problem that is not the visitor's to fix by editing a form.
pub fn problem_page(problem: Problem, visitor: &Visitor) -> Response {
    match problem.status {
        401 => axum::response::Redirect::to(&super::visitor::signin_url("/")).into_response(),
        404 => not_found(visitor),
        410 => message_page(
            StatusCode::GONE,
            "Gone",
            "This link is inactive or has expired.",
            visitor,
        ),
        400..=499 => message_page(
            StatusCode::from_u16(problem.status).unwrap_or(StatusCode::BAD_REQUEST),
            problem.title,
            problem.detail.as_deref().unwrap_or("That did not work."),
            visitor,
        ),
        _ => failure_page(&visitor.request_id),
    }
}

/// A time as the pages show it: `2026-12-04 18:55 UTC`.
pub fn when(t: Option<&prost_types::Timestamp>) -> String {
    t.and_then(hop_kit::time::from_proto)
        .map_or_else(String::new, |t| t.format("%Y-%m-%d %H:%M UTC").to_string())
}

/// A copy button for `text` (the script makes it work; without script it stays hidden).
pub fn copy_button(text: &str, label: &str) -> Markup {
    html! {
        button.copy type="button" data-copy=(text) hidden aria-label={ "Copy " (label) } { "Copy" }
    }
}

/// Markup already escaped (the QR code's SVG, the chart).
pub fn raw(markup: String) -> Markup {
    PreEscaped(markup)
}
