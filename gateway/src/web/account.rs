//! `/app/account*`: who the visitor is, a new password (which ends every other session),
//! and signing out everywhere (which ends them all).

use super::form::Form;
use super::view::{self, FormState, Input, csrf, field, layout, summary, when};
use super::visitor::{self, SignedIn, Visitor};
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use hop_kit::problem::FieldError;
use hop_proto::auth::v1 as pb;
use http::StatusCode;
use maud::html;

#[derive(Debug, serde::Deserialize)]
pub struct AccountQuery {
    changed: Option<String>,
}

/// `GET /app/account`.
pub async fn show(
    State(state): State<AppState>,
    SignedIn { user, visitor }: SignedIn,
    Query(query): Query<AccountQuery>,
) -> Response {
    let notice = query
        .changed
        .is_some()
        .then_some("Password changed. Your other sessions are signed out.");
    page(
        &state,
        &visitor,
        user.user_id,
        &FormState::default(),
        notice,
        StatusCode::OK,
    )
    .await
}

async fn page(
    state: &AppState,
    visitor: &Visitor,
    user_id: i64,
    form: &FormState,
    notice: Option<&str>,
    status: StatusCode,
) -> Response {
    let request = pb::GetUserRequest { user_id };
    let account = match state
        .auth()
        .get_user(state.request(request, &visitor.request_id))
        .await
    {
        Ok(user) => user.into_inner(),
        Err(status) => return view::problem_page(ApiError::from(status).0, visitor),
    };
    let body = html! {
        @if let Some(n) = notice { p.notice role="status" { (n) } }
        section.card {
            h1 { "Account" }
            dl.details {
                dt { "Email" } dd { (account.email) }
                dt { "Name" } dd { (account.username.as_deref().unwrap_or("—")) }
                dt { "Member since" } dd { (when(account.created_at.as_ref())) }
            }
        }
        section.card aria-labelledby="pw-title" {
            h2 #pw-title { "Change password" }
            form method="post" action="/app/account/password" novalidate {
                (csrf(visitor))
                (summary(form))
                (field(form, "current_password", "Current password", Input::CurrentPassword, None))
                div.grid2 {
                    (field(form, "new_password", "New password", Input::NewPassword, Some("At least 8 characters.")))
                    (field(form, "confirm_password", "New password again", Input::NewPassword, None))
                }
                div.actions { button type="submit" { "Change password" } }
            }
        }
        section.card aria-labelledby="everywhere-title" {
            h2 #everywhere-title { "Sign out everywhere" }
            p.muted { "Ends every session of this account: other browsers, apps holding a token, and this one." }
            form method="post" action="/app/account/signout-everywhere" {
                (csrf(visitor))
                button.danger type="submit" { "Sign out everywhere" }
            }
        }
    };
    (status, layout("Account", visitor, body)).into_response()
}

/// `POST /app/account/password`.
pub async fn change_password(State(state): State<AppState>, form: Form) -> Response {
    let visitor = form.visitor.clone();
    let Some(user) = visitor.user.clone() else {
        return Redirect::to(&visitor::signin_url("/app/account")).into_response();
    };
    let mut state_of_form = FormState::default();
    if form.get("new_password") != form.get("confirm_password") {
        state_of_form.errors.push(FieldError::new(
            "confirm_password",
            "does not match the new password",
        ));
        return page(
            &state,
            &visitor,
            user.user_id,
            &state_of_form,
            None,
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
    let request = pb::ChangePasswordRequest {
        user_id: user.user_id,
        current_password: form.get("current_password").to_owned(),
        new_password: form.get("new_password").to_owned(),
        session_id: user.session_id.clone(),
    };
    match state
        .auth()
        .change_password(state.request(request, &visitor.request_id))
        .await
    {
        Ok(revoked) => {
            let revoked = revoked.into_inner();
            for session in &revoked.session_ids {
                state.verifier().revoked_here(session, revoked.listed);
            }
            Redirect::to("/app/account?changed=1").into_response()
        }
        Err(status) => {
            match state_of_form.with_problem(ApiError::from(status).0, "current_password") {
                Ok(form) => {
                    page(
                        &state,
                        &visitor,
                        user.user_id,
                        &form,
                        None,
                        StatusCode::BAD_REQUEST,
                    )
                    .await
                }
                Err(problem) => view::problem_page(problem, &visitor),
            }
        }
    }
}

/// `POST /app/account/signout-everywhere`.
pub async fn signout_everywhere(State(state): State<AppState>, form: Form) -> Response {
    let visitor = form.visitor.clone();
    let Some(user) = visitor.user.clone() else {
        return Redirect::to(&visitor::signin_url("/app/account")).into_response();
    };
    let request = pb::LogoutEverywhereRequest {
        user_id: user.user_id,
    };
    match state
        .auth()
        .logout_everywhere(state.request(request, &visitor.request_id))
        .await
    {
        Ok(revoked) => {
            let revoked = revoked.into_inner();
            for session in &revoked.session_ids {
                state.verifier().revoked_here(session, revoked.listed);
            }
            visitor::without_session(&state, Redirect::to("/app/signin?ended=1").into_response())
        }
        Err(status) => view::problem_page(ApiError::from(status).0, &visitor),
    }
}
