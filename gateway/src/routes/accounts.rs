//! `/auth`: register, login, refresh, logout, me. The work happens in the auth service;
//! this module checks the body's shape, applies the rate limits and shapes the answers.

use crate::body::{Fields, JsonObject};
use crate::caller::{AuthUser, ClientIp};
use crate::context::RequestId;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chrono::SecondsFormat;
use hop_kit::problem::Problem;
use hop_proto::auth::v1 as pb;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(me))
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = User)]
struct UserView {
    id: String,
    email: String,
    username: Option<String>,
    #[schema(format = DateTime)]
    created_at: Option<String>,
}

/// The body of `POST /auth/register`.
#[derive(ToSchema)]
#[allow(dead_code)] // a description: the body is read through `Fields`
struct Registration {
    #[schema(format = Email, max_length = 254)]
    email: String,
    /// 8 to 128 characters.
    #[schema(min_length = 8, max_length = 128)]
    password: String,
    #[schema(max_length = 64)]
    username: Option<String>,
}

/// The body of `POST /auth/login`.
#[derive(ToSchema)]
#[allow(dead_code)] // a description: the body is read through `Fields`
struct Credentials {
    email: String,
    password: String,
}

/// The body of `POST /auth/refresh`.
#[derive(ToSchema)]
#[allow(dead_code)] // a description: the body is read through `Fields`
struct RefreshBody {
    refresh_token: String,
}

impl From<pb::User> for UserView {
    fn from(user: pb::User) -> Self {
        let created_at = user
            .created_at
            .as_ref()
            .and_then(hop_kit::time::from_proto)
            .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true));
        Self {
            // Ids are strings in the HTTP API, as they always were.
            id: user.id.to_string(),
            email: user.email,
            username: user.username,
            created_at,
        }
    }
}

/// An access token (a JWT, for `Authorization: Bearer`) and the refresh token that renews it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Tokens)]
struct TokensView {
    access_token: String,
    refresh_token: String,
    token_type: String,
    expires_in: u32,
}

/// Tokens must not be cached by anything between hop and the client.
fn tokens(pair: pb::TokenPair) -> Response {
    let view = TokensView {
        access_token: pair.access_token,
        refresh_token: pair.refresh_token,
        token_type: pair.token_type,
        expires_in: pair.expires_in,
    };
    ([(http::header::CACHE_CONTROL, "no-store")], Json(view)).into_response()
}

/// Create an account.
#[utoipa::path(
    post, path = "/auth/register", tag = "accounts",
    request_body = Registration,
    responses(
        (status = 201, description = "The new account", body = UserView),
        (status = 409, description = "The email is taken", body = Problem,
            content_type = "application/problem+json"),
    ),
    security(()),
)]
async fn register(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    ip: ClientIp,
    body: JsonObject,
) -> Result<Response, ApiError> {
    let mut fields = Fields::new(body);
    let email = fields.required_string("email");
    let password = fields.required_string("password");
    let username = fields.optional_string("username");
    fields.finish()?;
    register_limits(&state, &ip).await?;
    let request = pb::RegisterRequest {
        email,
        password,
        username,
    };
    let user = state
        .auth()
        .register(state.request(request, &request_id))
        .await?
        .into_inner();
    Ok((http::StatusCode::CREATED, Json(UserView::from(user))).into_response())
}

/// Sign in.
///
/// 401 alike for an unknown email and a wrong password.
#[utoipa::path(
    post, path = "/auth/login", tag = "accounts",
    request_body = Credentials,
    responses((status = 200, description = "A token pair", body = TokensView)),
    security(()),
)]
async fn login(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    ip: ClientIp,
    body: JsonObject,
) -> Result<Response, ApiError> {
    let mut fields = Fields::new(body);
    let email = fields.required_string("email");
    let password = fields.required_string("password");
    fields.finish()?;
    login_limits(&state, &ip, &email).await?;
    let request = pb::LoginRequest {
        email,
        password,
        client_ip: ip.0.to_string(),
    };
    let pair = state
        .auth()
        .login(state.request(request, &request_id))
        .await?
        .into_inner();
    Ok(tokens(pair))
}

/// The limits a registration counts against (the API's and the web app's alike).
pub async fn register_limits(state: &AppState, ip: &ClientIp) -> Result<(), ApiError> {
    let limit = state.settings().rate_limit_register_ip;
    state
        .limiter()
        .check("register_ip", &ip.limit_key(), limit)
        .await?;
    Ok(())
}

/// The limits a login counts against (the API's and the web app's alike).
pub async fn login_limits(state: &AppState, ip: &ClientIp, email: &str) -> Result<(), ApiError> {
    let limits = state.settings();
    let (client, account) = (ip.limit_key(), email.trim().to_lowercase());
    let who = format!("{client}|{account}");
    state
        .limiter()
        .check("login_ip_email", &who, limits.rate_limit_login_ip_email)
        .await?;
    state
        .limiter()
        .check("login_ip", &client, limits.rate_limit_login_ip)
        .await?;
    // Last, so a client already held back by its own limits spends none of the account's.
    state
        .limiter()
        .check("login_email", &account, limits.rate_limit_login_email)
        .await?;
    Ok(())
}

/// Renew a token pair.
///
/// The presented refresh token is used up.
#[utoipa::path(
    post, path = "/auth/refresh", tag = "accounts",
    request_body = RefreshBody,
    responses((status = 200, description = "A new token pair", body = TokensView)),
    security(()),
)]
async fn refresh(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    ip: ClientIp,
    body: JsonObject,
) -> Result<Response, ApiError> {
    let mut fields = Fields::new(body);
    let refresh_token = fields.required_string("refresh_token");
    fields.finish()?;
    let limit = state.settings().rate_limit_refresh_ip;
    state
        .limiter()
        .check("refresh_ip", &ip.limit_key(), limit)
        .await?;
    let request = pb::RefreshRequest { refresh_token };
    let pair = match state
        .auth()
        .refresh(state.request(request, &request_id))
        .await
    {
        Ok(answer) => answer.into_inner(),
        Err(status) => {
            // A reused token revoked its session: refused here from now on, as after a
            // logout through this gateway (the announcement comes on its own time).
            if let Some((session_id, listed)) = revoked_by_reuse(&status) {
                state.verifier().revoked_here(&session_id, listed);
            }
            return Err(status.into());
        }
    };
    Ok(tokens(pair))
}

/// The session a `Refresh` answer says it revoked because its token was reused
/// ([`pb::REFRESH_TOKEN_REUSED`]), and whether the deny-list has it.
fn revoked_by_reuse(status: &tonic::Status) -> Option<(String, bool)> {
    use tonic_types::StatusExt;
    let info = status.get_error_details().error_info()?.clone();
    if info.domain != hop_kit::grpc::ERROR_DOMAIN || info.reason != pb::REFRESH_TOKEN_REUSED {
        return None;
    }
    let session_id = info.metadata.get(pb::REVOKED_SESSION)?.clone();
    let listed = info
        .metadata
        .get(pb::REVOKED_LISTED)
        .is_some_and(|l| l == "true");
    Some((session_id, listed))
}

/// Sign out.
///
/// The session's tokens stop working at once, on every gateway. Needs a session token
/// (not an API key).
#[utoipa::path(
    post, path = "/auth/logout", tag = "accounts",
    responses((status = 204, description = "Signed out")),
    security(("token" = [])),
)]
async fn logout(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    user: AuthUser,
) -> Result<http::StatusCode, ApiError> {
    user.require_session()?;
    let request = pb::LogoutRequest {
        session_id: user.session_id.clone(),
    };
    let answer = state
        .auth()
        .logout(state.request(request, &request_id))
        .await?
        .into_inner();
    // Before answering: the announcement reaches this gateway's replica on its own time,
    // and the client's next request may come first.
    state
        .verifier()
        .revoked_here(&user.session_id, answer.listed);
    Ok(http::StatusCode::NO_CONTENT)
}

/// Who is calling.
#[utoipa::path(
    get, path = "/auth/me", tag = "accounts",
    responses((status = 200, description = "The caller's account", body = UserView)),
    security(("token" = []), ("apiKey" = []), ("apiKeyHeader" = [])),
)]
async fn me(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    user: AuthUser,
) -> Result<Json<UserView>, ApiError> {
    let request = pb::GetUserRequest {
        user_id: user.user_id,
    };
    let found = state
        .auth()
        .get_user(state.request(request, &request_id))
        .await?
        .into_inner();
    Ok(Json(UserView::from(found)))
}

#[cfg(test)]
mod tests {
    use super::revoked_by_reuse;
    use hop_kit::error::{ErrorCode, ServiceError, to_status};
    use hop_proto::auth::v1 as pb;
    use std::collections::HashMap;

    /// What auth's `RefreshTokenReused` says, through the one conversion to a status.
    #[derive(Debug)]
    struct Reused(Option<&'static str>);

    impl std::fmt::Display for Reused {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("invalid or expired refresh token")
        }
    }

    impl std::error::Error for Reused {}

    impl ServiceError for Reused {
        fn code(&self) -> ErrorCode {
            ErrorCode::Unauthenticated
        }
        fn reason(&self) -> Option<&str> {
            self.0
        }
        fn info(&self) -> HashMap<String, String> {
            [
                (pb::REVOKED_SESSION.to_owned(), "s-1".to_owned()),
                (pb::REVOKED_LISTED.to_owned(), "true".to_owned()),
            ]
            .into()
        }
    }

    #[test]
    fn a_refresh_refused_for_reuse_names_the_session_it_revoked() {
        let status = to_status(&Reused(Some(pb::REFRESH_TOKEN_REUSED)));
        assert_eq!(status.code(), tonic::Code::Unauthenticated);
        assert_eq!(status.message(), "invalid or expired refresh token");
        assert_eq!(revoked_by_reuse(&status), Some(("s-1".to_owned(), true)));
        assert_eq!(revoked_by_reuse(&to_status(&Reused(Some("other")))), None);
        assert_eq!(revoked_by_reuse(&to_status(&Reused(None))), None);
        assert_eq!(revoked_by_reuse(&tonic::Status::unauthenticated("x")), None);
    }
}
