//! `/app/signin`, `/app/signup`, `/app/signout`: the same accounts, rate limits and
//! sessions as `/auth/*`, with the session kept in a cookie (`caller::browser`).

use super::form::Form;
use super::view::{self, FormState, Input, csrf, field, layout, summary};
use super::visitor::{self, Visitor};
use crate::caller::ClientIp;
use crate::caller::browser::Pair;
use crate::error::ApiError;
use crate::routes::accounts::{login_limits, register_limits};
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use hop_proto::auth::v1 as pb;
use http::StatusCode;
use maud::html;

#[derive(Debug, serde::Deserialize)]
pub struct Next {
    next: Option<String>,
    ended: Option<String>,
}

/// Where to go after signing in: a path of hop's own (`/` or under `/app`), else home.
fn after(next: &str) -> String {
    if next == "/" || next.starts_with("/?") {
        return next.to_owned();
    }
    super::links::local_path(next, "/")
}

/// `GET /app/signin?next=`.
pub async fn signin_form(visitor: Visitor, Query(query): Query<Next>) -> Response {
    if visitor.signed_in() {
        return Redirect::to(&after(query.next.as_deref().unwrap_or("/"))).into_response();
    }
    let form = FormState {
        values: vec![("next".into(), query.next.unwrap_or_default())],
        ..FormState::default()
    };
    let notice = query
        .ended
        .is_some()
        .then_some("You are signed out everywhere.");
    signin_page(&visitor, &form, notice, StatusCode::OK)
}

fn signin_page(
    visitor: &Visitor,
    form: &FormState,
    notice: Option<&str>,
    status: StatusCode,
) -> Response {
    let body = html! {
        section.card.narrow {
            h1 { "Sign in" }
            @if let Some(n) = notice { p.notice role="status" { (n) } }
            form method="post" action="/app/signin" novalidate {
                (csrf(visitor))
                input type="hidden" name="next" value=(form.value("next"));
                (summary(form))
                (field(form, "email", "Email", Input::Email, None))
                (field(form, "password", "Password", Input::CurrentPassword, None))
                div.actions { button type="submit" { "Sign in" } }
            }
            p.muted { "New to hop? " a href="/app/signup" { "Create an account" } }
        }
    };
    (status, layout("Sign in", visitor, body)).into_response()
}

/// `POST /app/signin`.
pub async fn signin(State(state): State<AppState>, ip: ClientIp, form: Form) -> Response {
    let visitor = form.visitor.clone();
    let next = after(form.get("next"));
    let values = vec![
        ("email".to_owned(), form.get("email").to_owned()),
        ("next".to_owned(), form.get("next").to_owned()),
    ];
    let state_of_form = FormState {
        values,
        ..FormState::default()
    };
    match open_session(
        &state,
        &ip,
        &visitor,
        form.get("email"),
        form.get("password"),
    )
    .await
    {
        Ok(pair) => visitor::with_session(&state, &pair, Redirect::to(&next).into_response()),
        Err(problem) if problem.status == 401 => {
            let form = FormState {
                summary: Some("That email and password do not match an account.".into()),
                ..state_of_form
            };
            signin_page(&visitor, &form, None, StatusCode::UNAUTHORIZED)
        }
        Err(problem) => match state_of_form.with_problem(problem, "email") {
            Ok(form) => signin_page(&visitor, &form, None, StatusCode::BAD_REQUEST),
            Err(problem) => view::problem_page(problem, &visitor),
        },
    }
}

/// A login with the API's limits: the new session's pair.
async fn open_session(
    state: &AppState,
    ip: &ClientIp,
    visitor: &Visitor,
    email: &str,
    password: &str,
) -> Result<Pair, hop_kit::problem::Problem> {
    login_limits(state, ip, email).await.map_err(|e| e.0)?;
    let request = pb::LoginRequest {
        email: email.to_owned(),
        password: password.to_owned(),
        client_ip: ip.0.to_string(),
    };
    let pair = state
        .auth()
        .login(state.request(request, &visitor.request_id))
        .await
        .map_err(|s| ApiError::from(s).0)?
        .into_inner();
    Ok(Pair::from_tokens(pair))
}

/// `GET /app/signup`.
pub async fn signup_form(visitor: Visitor) -> Response {
    if visitor.signed_in() {
        return Redirect::to("/").into_response();
    }
    signup_page(&visitor, &FormState::default(), StatusCode::OK)
}

fn signup_page(visitor: &Visitor, form: &FormState, status: StatusCode) -> Response {
    let body = html! {
        section.card.narrow {
            h1 { "Create your account" }
            form method="post" action="/app/signup" novalidate {
                (csrf(visitor))
                (summary(form))
                (field(form, "email", "Email", Input::Email, None))
                (field(form, "username", "Name (optional)", Input::Text, None))
                (field(form, "password", "Password", Input::NewPassword, Some("At least 8 characters.")))
                div.actions { button type="submit" { "Create account" } }
            }
            p.muted { "Already have one? " a href="/app/signin" { "Sign in" } }
        }
    };
    (status, layout("Sign up", visitor, body)).into_response()
}

/// `POST /app/signup`: registers, then signs in.
pub async fn signup(State(state): State<AppState>, ip: ClientIp, form: Form) -> Response {
    let visitor = form.visitor.clone();
    let state_of_form = FormState {
        values: vec![
            ("email".into(), form.get("email").to_owned()),
            ("username".into(), form.get("username").to_owned()),
        ],
        ..FormState::default()
    };
    let registered = async {
        register_limits(&state, &ip).await?;
        let request = pb::RegisterRequest {
            email: form.get("email").to_owned(),
            password: form.get("password").to_owned(),
            username: form.optional("username"),
        };
        state
            .auth()
            .register(state.request(request, &visitor.request_id))
            .await?;
        Ok::<_, ApiError>(())
    }
    .await;
    if let Err(error) = registered {
        return match state_of_form.with_problem(error.0, "email") {
            Ok(form) => signup_page(&visitor, &form, StatusCode::BAD_REQUEST),
            Err(problem) => view::problem_page(problem, &visitor),
        };
    }
    match open_session(
        &state,
        &ip,
        &visitor,
        form.get("email"),
        form.get("password"),
    )
    .await
    {
        Ok(pair) => visitor::with_session(&state, &pair, Redirect::to("/").into_response()),
        // The account exists: signing in is the next step either way.
        Err(_) => Redirect::to("/app/signin").into_response(),
    }
}

/// `POST /app/signout`: ends the session, here and on every gateway.
pub async fn signout(State(state): State<AppState>, form: Form) -> Response {
    let visitor = form.visitor.clone();
    if let Some(user) = &visitor.user {
        let request = pb::LogoutRequest {
            session_id: user.session_id.clone(),
        };
        match state
            .auth()
            .logout(state.request(request, &visitor.request_id))
            .await
        {
            Ok(answer) => state
                .verifier()
                .revoked_here(&user.session_id, answer.into_inner().listed),
            Err(status) => return view::problem_page(ApiError::from(status).0, &visitor),
        }
    }
    visitor::without_session(&state, Redirect::to("/").into_response())
}
