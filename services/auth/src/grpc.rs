//! The tonic adapter for `hop.auth.v1.AuthService`: each method converts the request,
//! calls [`Accounts`] inside a span carrying the caller's request id, records the RPC's
//! metrics and converts the result.

use crate::accounts::{Accounts, TokenPair};
use crate::api_keys::{ApiKey, NewKey};
use crate::credentials::Registration;
use crate::error::AuthError;
use crate::store::User;
use hop_kit::metrics::RpcMetrics;
use hop_proto::auth::v1 as pb;
use std::future::Future;
use std::sync::Arc;
use tonic::{Request, Response, Status};

pub struct AuthApi {
    accounts: Arc<Accounts>,
    metrics: RpcMetrics,
}

impl AuthApi {
    pub fn new(accounts: Arc<Accounts>, metrics: RpcMetrics) -> Self {
        Self { accounts, metrics }
    }

    async fn call<T>(
        &self,
        method: &'static str,
        metadata: &tonic::metadata::MetadataMap,
        work: impl Future<Output = Result<T, AuthError>>,
    ) -> Result<Response<T>, Status> {
        hop_kit::grpc::traced(&self.metrics, "auth", method, metadata, work).await
    }
}

fn user(user: User) -> pb::User {
    pb::User {
        id: user.id,
        email: user.email,
        username: user.username,
        created_at: Some(hop_kit::time::to_proto(user.created_at)),
    }
}

fn api_key(key: ApiKey) -> pb::ApiKey {
    pb::ApiKey {
        id: key.id,
        user_id: key.user_id,
        name: key.name,
        prefix: key.prefix,
        scopes: key.scopes.iter().map(|s| s.as_str().to_owned()).collect(),
        expires_at: key.expires_at.map(hop_kit::time::to_proto),
        created_at: Some(hop_kit::time::to_proto(key.created_at)),
        last_used_at: key.last_used_at.map(hop_kit::time::to_proto),
    }
}

fn pair(pair: TokenPair) -> pb::TokenPair {
    pb::TokenPair {
        access_token: pair.access_token,
        refresh_token: pair.refresh_token,
        token_type: "Bearer".into(),
        expires_in: pair.expires_in,
    }
}

#[tonic::async_trait]
impl pb::auth_service_server::AuthService for AuthApi {
    async fn register(
        &self,
        request: Request<pb::RegisterRequest>,
    ) -> Result<Response<pb::User>, Status> {
        let (metadata, _, req) = request.into_parts();
        self.call("Register", &metadata, async {
            let registration =
                Registration::parse(&req.email, &req.password, req.username.as_deref())?;
            Ok(user(self.accounts.register(registration).await?))
        })
        .await
    }

    async fn login(
        &self,
        request: Request<pb::LoginRequest>,
    ) -> Result<Response<pb::TokenPair>, Status> {
        let (metadata, _, req) = request.into_parts();
        self.call("Login", &metadata, async {
            let (_, tokens) = self.accounts.login(&req.email, &req.password).await?;
            Ok(pair(tokens))
        })
        .await
    }

    async fn refresh(
        &self,
        request: Request<pb::RefreshRequest>,
    ) -> Result<Response<pb::TokenPair>, Status> {
        let (metadata, _, req) = request.into_parts();
        self.call("Refresh", &metadata, async {
            Ok(pair(self.accounts.refresh(&req.refresh_token).await?))
        })
        .await
    }

    async fn logout(
        &self,
        request: Request<pb::LogoutRequest>,
    ) -> Result<Response<pb::LogoutResponse>, Status> {
        let (metadata, _, req) = request.into_parts();
        self.call("Logout", &metadata, async {
            if req.session_id.is_empty() {
                return Err(AuthError::invalid("session_id", "is required"));
            }
            let listed = self.accounts.logout(&req.session_id).await?;
            Ok(pb::LogoutResponse { listed })
        })
        .await
    }

    async fn get_user(
        &self,
        request: Request<pb::GetUserRequest>,
    ) -> Result<Response<pb::User>, Status> {
        let (metadata, _, req) = request.into_parts();
        self.call("GetUser", &metadata, async {
            Ok(user(self.accounts.user(req.user_id).await?))
        })
        .await
    }

    async fn get_public_keys(
        &self,
        request: Request<pb::GetPublicKeysRequest>,
    ) -> Result<Response<pb::PublicKeys>, Status> {
        let (metadata, _, _) = request.into_parts();
        self.call("GetPublicKeys", &metadata, async {
            let tokens = self.accounts.tokens();
            Ok(pb::PublicKeys {
                keys: self
                    .accounts
                    .keys()
                    .published()
                    .map(|key| pb::PublicKey {
                        kid: key.kid().to_owned(),
                        algorithm: "EdDSA".into(),
                        key: key.public_key().to_vec(),
                    })
                    .collect(),
                issuer: tokens.issuer.clone(),
                audience: tokens.audience.clone(),
                access_ttl_seconds: tokens.access_ttl.as_secs(),
            })
        })
        .await
    }

    async fn change_password(
        &self,
        request: Request<pb::ChangePasswordRequest>,
    ) -> Result<Response<pb::SessionsRevoked>, Status> {
        let (metadata, _, req) = request.into_parts();
        self.call("ChangePassword", &metadata, async {
            if req.session_id.is_empty() {
                return Err(AuthError::invalid("session_id", "is required"));
            }
            let (session_ids, listed) = self
                .accounts
                .change_password(
                    req.user_id,
                    &req.session_id,
                    &req.current_password,
                    &req.new_password,
                )
                .await?;
            Ok(pb::SessionsRevoked {
                session_ids,
                listed,
            })
        })
        .await
    }

    async fn logout_everywhere(
        &self,
        request: Request<pb::LogoutEverywhereRequest>,
    ) -> Result<Response<pb::SessionsRevoked>, Status> {
        let (metadata, _, req) = request.into_parts();
        self.call("LogoutEverywhere", &metadata, async {
            let (session_ids, listed) = self.accounts.logout_everywhere(req.user_id).await?;
            Ok(pb::SessionsRevoked {
                session_ids,
                listed,
            })
        })
        .await
    }

    async fn create_api_key(
        &self,
        request: Request<pb::CreateApiKeyRequest>,
    ) -> Result<Response<pb::CreatedApiKey>, Status> {
        let (metadata, _, req) = request.into_parts();
        self.call("CreateApiKey", &metadata, async {
            let expires_at = match req.expires_at.as_ref() {
                None => None,
                Some(t) => Some(
                    hop_kit::time::from_proto(t)
                        .ok_or_else(|| AuthError::invalid("expires_at", "is out of range"))?,
                ),
            };
            let key = NewKey::parse(&req.name, &req.scopes, expires_at, chrono::Utc::now())?;
            let (key, secret) = self.accounts.create_api_key(req.user_id, key).await?;
            Ok(pb::CreatedApiKey {
                key: Some(api_key(key)),
                secret,
            })
        })
        .await
    }

    async fn list_api_keys(
        &self,
        request: Request<pb::ListApiKeysRequest>,
    ) -> Result<Response<pb::ApiKeys>, Status> {
        let (metadata, _, req) = request.into_parts();
        self.call("ListApiKeys", &metadata, async {
            let keys = self.accounts.api_keys(req.user_id).await?;
            Ok(pb::ApiKeys {
                keys: keys.into_iter().map(api_key).collect(),
            })
        })
        .await
    }

    async fn revoke_api_key(
        &self,
        request: Request<pb::RevokeApiKeyRequest>,
    ) -> Result<Response<pb::RevokeApiKeyResponse>, Status> {
        let (metadata, _, req) = request.into_parts();
        self.call("RevokeApiKey", &metadata, async {
            let listed = self
                .accounts
                .revoke_api_key(req.user_id, req.key_id)
                .await?;
            Ok(pb::RevokeApiKeyResponse { listed })
        })
        .await
    }

    async fn check_api_key(
        &self,
        request: Request<pb::CheckApiKeyRequest>,
    ) -> Result<Response<pb::ApiKey>, Status> {
        let (metadata, _, req) = request.into_parts();
        self.call("CheckApiKey", &metadata, async {
            Ok(api_key(self.accounts.check_api_key(&req.secret).await?))
        })
        .await
    }

    async fn check_session(
        &self,
        request: Request<pb::CheckSessionRequest>,
    ) -> Result<Response<pb::CheckSessionResponse>, Status> {
        let (metadata, _, req) = request.into_parts();
        self.call("CheckSession", &metadata, async {
            let active = self.accounts.session_active(&req.session_id).await?;
            Ok(pb::CheckSessionResponse { active })
        })
        .await
    }
}
