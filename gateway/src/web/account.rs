//! `/app/account*`: who the visitor is, a new password (which ends every other session),
//! signing out everywhere (which ends them all), and API keys (made, shown once, revoked).

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
    revoked: Option<String>,
}

/// What the page shows besides the account: a notice, the forms' states, a new key.
#[derive(Default)]
struct Extras<'a> {
    notice: Option<&'a str>,
    password: FormState,
    key_form: FormState,
    /// A key just made: its name and secret, shown this once.
    new_key: Option<(String, String)>,
}

/// `GET /app/account`.
pub async fn show(
    State(state): State<AppState>,
    SignedIn { user, visitor }: SignedIn,
    Query(query): Query<AccountQuery>,
) -> Response {
    let notice = if query.changed.is_some() {
        Some("Password changed. Your other sessions are signed out.")
    } else if query.revoked.is_some() {
        Some("API key revoked. It no longer works anywhere.")
    } else {
        None
    };
    let extras = Extras {
        notice,
        ..Extras::default()
    };
    page(&state, &visitor, user.user_id, extras, StatusCode::OK).await
}

async fn page(
    state: &AppState,
    visitor: &Visitor,
    user_id: i64,
    extras: Extras<'_>,
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
    let request = pb::ListApiKeysRequest { user_id };
    let keys = match state
        .auth()
        .list_api_keys(state.request(request, &visitor.request_id))
        .await
    {
        Ok(keys) => keys.into_inner().keys,
        Err(status) => return view::problem_page(ApiError::from(status).0, visitor),
    };
    let (form, key_form, notice) = (&extras.password, &extras.key_form, extras.notice);
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
        section.card aria-labelledby="keys-title" {
            h2 #keys-title { "API keys" }
            p.muted { "For programs that make links for you: send one as " code { "X-Api-Key" }
                " or " code { "Authorization: Bearer" } ". A key is shown once, when it is made." }
            @if let Some((name, secret)) = &extras.new_key {
                div.newkey role="status" {
                    p { strong { "Your new key “" (name) "”" } " (copy it now: hop keeps only its hash):" }
                    p.short.mono #new-key { (secret) }
                    (view::copy_button(secret, "API key"))
                }
            }
            @if keys.is_empty() { p.muted { "No keys yet." } } @else {
                ul.list {
                    @for key in &keys {
                        li {
                            div {
                                strong { (key.name) } " " code { "hop_" (key.prefix) "…" }
                                div.meta {
                                    (key.scopes.join(", ")) " · made " (when(key.created_at.as_ref()))
                                    " · " @if key.last_used_at.is_some() { "last used " (when(key.last_used_at.as_ref())) } @else { "never used" }
                                    @if key.expires_at.is_some() { " · expires " (when(key.expires_at.as_ref())) }
                                }
                            }
                            div.row-actions {
                                form.inline method="post" action={ "/app/account/api-keys/" (key.id) "/revoke" } {
                                    (csrf(visitor))
                                    button.secondary type="submit" aria-label={ "Revoke " (key.name) } { "Revoke" }
                                }
                            }
                        }
                    }
                }
            }
            h3 { "New key" }
            form method="post" action="/app/account/api-keys" novalidate {
                (csrf(visitor))
                (summary(key_form))
                div.grid2 {
                    (field(key_form, "name", "Name", Input::Text, Some("What uses it, e.g. “blog plugin”.")))
                    (field(key_form, "expires_at", "Expires (optional, UTC)", Input::DateTime, None))
                }
                fieldset.scopes aria-describedby="f-scopes-error" {
                    legend { "It may" }
                    @for (value, label) in [("links:read", "read links"), ("links:write", "create, change and delete links"), ("stats:read", "read stats")] {
                        label.check {
                            input type="checkbox" name="scopes" value=(value)
                                checked[key_form.values.is_empty() || key_form.values.iter().any(|(k, v)| k == "scopes" && v == value)];
                            (label)
                        }
                    }
                    p.error #f-scopes-error aria-live="polite" { @if let Some(e) = key_form.error("scopes") { (e) } }
                }
                div.actions { button type="submit" { "Make key" } }
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

/// The page again, with a form's errors (400).
async fn refused(
    state: &AppState,
    visitor: &Visitor,
    user_id: i64,
    extras: Extras<'_>,
) -> Response {
    page(state, visitor, user_id, extras, StatusCode::BAD_REQUEST).await
}

/// Records sessions the auth service revoked, so this gateway refuses them before the
/// announcement arrives.
fn forget(state: &AppState, revoked: pb::SessionsRevoked) {
    for session in &revoked.session_ids {
        state.verifier().revoked_here(session, revoked.listed);
    }
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
        return refused(
            &state,
            &visitor,
            user.user_id,
            Extras {
                password: state_of_form,
                ..Extras::default()
            },
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
            forget(&state, revoked.into_inner());
            Redirect::to("/app/account?changed=1").into_response()
        }
        Err(status) => {
            match state_of_form.with_problem(ApiError::from(status).0, "current_password") {
                Ok(form) => {
                    refused(
                        &state,
                        &visitor,
                        user.user_id,
                        Extras {
                            password: form,
                            ..Extras::default()
                        },
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
            forget(&state, revoked.into_inner());
            visitor::without_session(&state, Redirect::to("/app/signin?ended=1").into_response())
        }
        Err(status) => view::problem_page(ApiError::from(status).0, &visitor),
    }
}

/// `POST /app/account/api-keys` `name, scopes*, expires_at`: makes a key and shows its
/// secret on the page this once (never in a URL).
pub async fn create_key(State(state): State<AppState>, form: Form) -> Response {
    let visitor = form.visitor.clone();
    let Some(user) = visitor.user.clone() else {
        return Redirect::to(&visitor::signin_url("/app/account")).into_response();
    };
    let scopes: Vec<String> = form.all("scopes").map(str::to_owned).collect();
    let mut values = vec![
        ("name".to_owned(), form.get("name").to_owned()),
        ("expires_at".to_owned(), form.get("expires_at").to_owned()),
    ];
    values.extend(scopes.iter().map(|s| ("scopes".to_owned(), s.clone())));
    let mut key_form = FormState {
        values,
        ..FormState::default()
    };
    let expires_at = super::home::parse_local_time(form.get("expires_at")).unwrap_or_else(|e| {
        key_form.errors.push(e);
        None
    });
    if scopes.is_empty() {
        key_form
            .errors
            .push(FieldError::new("scopes", "tick at least one"));
    }
    if key_form.has_errors() {
        return refused(
            &state,
            &visitor,
            user.user_id,
            Extras {
                key_form,
                ..Extras::default()
            },
        )
        .await;
    }
    let request = pb::CreateApiKeyRequest {
        user_id: user.user_id,
        name: form.get("name").to_owned(),
        scopes,
        expires_at: expires_at.map(hop_kit::time::to_proto),
    };
    match state
        .auth()
        .create_api_key(state.request(request, &visitor.request_id))
        .await
    {
        Ok(created) => {
            let created = created.into_inner();
            let name = created.key.map(|k| k.name).unwrap_or_default();
            let extras = Extras {
                new_key: Some((name, created.secret)),
                ..Extras::default()
            };
            page(&state, &visitor, user.user_id, extras, StatusCode::CREATED).await
        }
        Err(status) => match key_form.with_problem(ApiError::from(status).0, "name") {
            Ok(key_form) => {
                refused(
                    &state,
                    &visitor,
                    user.user_id,
                    Extras {
                        key_form,
                        ..Extras::default()
                    },
                )
                .await
            }
            Err(problem) => view::problem_page(problem, &visitor),
        },
    }
}

/// `POST /app/account/api-keys/{id}/revoke`.
pub async fn revoke_key(
    State(state): State<AppState>,
    axum::extract::Path(id): axum::extract::Path<String>,
    form: Form,
) -> Response {
    let visitor = form.visitor.clone();
    let Some(user) = visitor.user.clone() else {
        return Redirect::to(&visitor::signin_url("/app/account")).into_response();
    };
    let Some(id) = id.parse::<i64>().ok().filter(|id| *id > 0) else {
        return view::not_found(&visitor);
    };
    let request = pb::RevokeApiKeyRequest {
        user_id: user.user_id,
        key_id: id,
    };
    match state
        .auth()
        .revoke_api_key(state.request(request, &visitor.request_id))
        .await
    {
        Ok(answer) => {
            state.verifier().revoked_here(
                &hop_proto::api_key::revocation_id(id),
                answer.into_inner().listed,
            );
            Redirect::to("/app/account?revoked=1").into_response()
        }
        Err(status) => view::problem_page(ApiError::from(status).0, &visitor),
    }
}
