//! Who the browser is, resolved once per page request before the handler runs: its
//! session (from the `hop_session` cookie, renewed when the access token expired) and its
//! CSRF nonce (from `hop_csrf`, made on the first visit). The cookies to set ride on the
//! response; a handler that signs in or out sets `hop_session` itself, and its cookie wins.

use crate::caller::AuthUser;
use crate::caller::browser::{self, CSRF_COOKIE, Pair, Resolved, SESSION_COOKIE};
use crate::context::RequestId;
use crate::state::AppState;
use axum::extract::{FromRequestParts, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use http::HeaderValue;
use http::request::Parts;
use std::sync::Arc;

/// The browser behind a page request.
#[derive(Clone)]
pub struct Visitor {
    pub user: Option<AuthUser>,
    csrf: Arc<str>,
    pub request_id: RequestId,
}

impl Visitor {
    /// The token every state-changing form of this page carries.
    pub fn csrf(&self) -> &str {
        &self.csrf
    }

    pub fn signed_in(&self) -> bool {
        self.user.is_some()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Visitor {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Visitor>()
            .cloned()
            .ok_or_else(|| super::failure::failure_page(&request_id(parts)))
    }
}

/// A signed-in visitor; anyone else is sent to sign in and back here afterwards.
pub struct SignedIn {
    pub user: AuthUser,
    pub visitor: Visitor,
}

impl<S: Send + Sync> FromRequestParts<S> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let visitor = Visitor::from_request_parts(parts, state).await?;
        match visitor.user.clone() {
            Some(user) => Ok(Self { user, visitor }),
            None => {
                let here = parts
                    .uri
                    .path_and_query()
                    .map_or("/", |p| p.as_str())
                    .to_owned();
                // A form posted by a browser whose session ended comes back to its page.
                let back = if parts.method == http::Method::GET {
                    here
                } else {
                    parts.uri.path().to_owned()
                };
                Err(Redirect::to(&signin_url(&back)).into_response())
            }
        }
    }
}

/// The sign-in page, coming back to `next` afterwards.
pub fn signin_url(next: &str) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("next", next)
        .finish();
    format!("/app/signin?{query}")
}

fn request_id(parts: &Parts) -> RequestId {
    parts
        .extensions
        .get::<RequestId>()
        .cloned()
        .unwrap_or_else(|| RequestId(Arc::from("")))
}

/// The layer: resolves the visitor, runs the page, sets the cookies it needs.
pub async fn resolve(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let request_id = req
        .extensions()
        .get::<RequestId>()
        .cloned()
        .unwrap_or_else(|| RequestId(Arc::from("")));
    let sessions = state.browser();
    let mut cookies: Vec<String> = Vec::new();
    let nonce = match browser::cookie(req.headers(), CSRF_COOKIE).filter(|n| browser::is_nonce(n)) {
        Some(nonce) => nonce.to_owned(),
        None => {
            let (nonce, cookie) = sessions.new_nonce();
            cookies.push(cookie);
            nonce
        }
    };
    let presented = browser::cookie(req.headers(), SESSION_COOKIE)
        .filter(|v| !v.is_empty())
        .map(str::to_owned);
    let user = match sessions
        .resolve(state.verifier(), presented.as_deref(), &request_id)
        .await
    {
        Resolved::Anonymous => None,
        Resolved::Session { user, renewed } => {
            if let Some(pair) = renewed {
                cookies.push(sessions.session_cookie(&pair));
            }
            Some(user)
        }
        Resolved::Ended => {
            cookies.push(sessions.clear_session_cookie());
            None
        }
        Resolved::Unavailable => return super::failure::failure_page(&request_id),
    };
    if let Some(user) = &user {
        tracing::Span::current().record("user_id", user.user_id);
    }
    let csrf = sessions.csrf_token(&nonce, user.as_ref().map(|u| u.session_id.as_str()));
    req.extensions_mut().insert(Visitor {
        user,
        csrf: csrf.into(),
        request_id,
    });
    let mut response = next.run(req).await;
    let handler_set_session = response
        .headers()
        .get_all(http::header::SET_COOKIE)
        .iter()
        .any(|v| v.as_bytes().starts_with(SESSION_COOKIE.as_bytes()));
    let headers = response.headers_mut();
    for cookie in cookies {
        if handler_set_session && cookie.starts_with(SESSION_COOKIE) {
            continue;
        }
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            headers.append(http::header::SET_COOKIE, value);
        }
    }
    super::failure::page_headers(headers);
    response
}

/// Stores a new session in the browser (after a sign-in).
pub fn with_session(state: &AppState, pair: &Pair, mut response: Response) -> Response {
    if let Ok(value) = HeaderValue::from_str(&state.browser().session_cookie(pair)) {
        response
            .headers_mut()
            .append(http::header::SET_COOKIE, value);
    }
    response
}

/// Ends the session in the browser (after a sign-out).
pub fn without_session(state: &AppState, mut response: Response) -> Response {
    if let Ok(value) = HeaderValue::from_str(&state.browser().clear_session_cookie()) {
        response
            .headers_mut()
            .append(http::header::SET_COOKIE, value);
    }
    response
}
