//! Accounts, sessions and refresh tokens, on either backend: each test runs on
//! PostgreSQL and Redis, and on the embedded store with the in-process bus.

use crate::helpers::*;
use hop_proto::auth::v1 as pb;
use hop_testkit::{Backend, TestStores};

hop_testkit::on_both_backends!(
    register_login_and_verify_the_access_token,
    one_account_per_email_whatever_its_case,
    unknown_email_and_wrong_password_look_the_same,
    passwords_outside_8_to_128_characters_are_refused,
    refresh_rotates_and_reuse_revokes_the_session,
    logout_revokes_the_session_at_once,
    a_signing_key_file_replaces_the_derived_key,
    a_new_password_ends_the_other_sessions_and_everywhere_ends_all,
);

const PASSWORD: &str = "correct horse battery staple";

async fn register_login_and_verify_the_access_token(db: TestStores) {
    let auth = spawn_auth(&db).await;
    let user = auth.register("  Ada@Example.COM ", PASSWORD).await.unwrap();
    assert_eq!(user.email, "ada@example.com");
    let pair = auth.login("ADA@example.com", PASSWORD).await.unwrap();
    assert_eq!(pair.token_type, "Bearer");
    assert_eq!(pair.expires_in, 900);
    let claims = verify(&auth, &pair.access_token).await;
    assert_eq!(claims.sub, user.id.to_string());
    assert_eq!(claims.exp - claims.iat, 900);
    assert!(auth.active(&claims.sid).await);
    let hash = db
        .strings(
            "SELECT password_hash FROM users WHERE email = $1",
            &["ada@example.com"],
        )
        .await;
    assert!(
        hash[0].starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "stored as argon2id: {hash:?}"
    );
    use sha2::Digest as _;
    let digest: String = sha2::Sha256::digest(pair.refresh_token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let hex = match db.backend() {
        Backend::Servers => "encode(token_hash, 'hex')",
        Backend::Embedded => "lower(hex(token_hash))",
    };
    let token_hashes = db
        .strings(
            &format!("SELECT CAST(count(*) AS TEXT) FROM refresh_tokens WHERE {hex} = $1"),
            &[&digest],
        )
        .await;
    let token_hashes: i64 = token_hashes[0].parse().unwrap();
    assert_eq!(token_hashes, 1, "the refresh token is stored hashed");
}

async fn one_account_per_email_whatever_its_case(db: TestStores) {
    let auth = spawn_auth(&db).await;
    auth.register("grace@example.com", PASSWORD).await.unwrap();
    let again = auth
        .register("Grace@Example.com", PASSWORD)
        .await
        .unwrap_err();
    assert_eq!(again.code(), tonic::Code::AlreadyExists);
}

async fn unknown_email_and_wrong_password_look_the_same(db: TestStores) {
    let auth = spawn_auth(&db).await;
    auth.register("linus@example.com", PASSWORD).await.unwrap();
    let wrong = auth
        .login("linus@example.com", "not the password")
        .await
        .unwrap_err();
    let unknown = auth
        .login("nobody@example.com", PASSWORD)
        .await
        .unwrap_err();
    assert_eq!(wrong.code(), tonic::Code::Unauthenticated);
    assert_eq!(
        (wrong.code(), wrong.message()),
        (unknown.code(), unknown.message())
    );
}

async fn passwords_outside_8_to_128_characters_are_refused(db: TestStores) {
    let auth = spawn_auth(&db).await;
    for password in ["short", &"x".repeat(129), &"y".repeat(1_000_000)] {
        let status = auth
            .register("bad@example.com", password)
            .await
            .unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
    }
    let status = auth
        .login("bad@example.com", &"z".repeat(10_000))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
}

async fn refresh_rotates_and_reuse_revokes_the_session(db: TestStores) {
    let auth = spawn_auth(&db).await;
    auth.register("rot@example.com", PASSWORD).await.unwrap();
    let first = auth.login("rot@example.com", PASSWORD).await.unwrap();
    let sid = verify(&auth, &first.access_token).await.sid;
    let second = auth.refresh(&first.refresh_token).await.unwrap();
    assert_ne!(second.refresh_token, first.refresh_token);
    assert_eq!(
        verify(&auth, &second.access_token).await.sid,
        sid,
        "same session"
    );

    // The old token again: a stolen copy. The whole session goes.
    let reuse = auth.refresh(&first.refresh_token).await.unwrap_err();
    assert_eq!(reuse.code(), tonic::Code::Unauthenticated);
    assert!(!auth.active(&sid).await);
    assert!(
        auth.denied(&sid).await,
        "gateways learn of it through the deny-list"
    );
    let current = auth.refresh(&second.refresh_token).await.unwrap_err();
    assert_eq!(
        current.code(),
        tonic::Code::Unauthenticated,
        "even the newest token is dead"
    );
    assert_eq!(
        auth.refresh("made-up").await.unwrap_err().code(),
        tonic::Code::Unauthenticated
    );
}

async fn logout_revokes_the_session_at_once(db: TestStores) {
    let auth = spawn_auth(&db).await;
    auth.register("bye@example.com", PASSWORD).await.unwrap();
    let pair = auth.login("bye@example.com", PASSWORD).await.unwrap();
    let sid = verify(&auth, &pair.access_token).await.sid;
    let request = hop_proto::auth::v1::LogoutRequest {
        session_id: sid.clone(),
    };
    let answer = auth
        .client
        .clone()
        .logout(request)
        .await
        .unwrap()
        .into_inner();
    assert!(
        answer.listed,
        "the deny-list has it before the logout answers"
    );
    assert!(!auth.active(&sid).await);
    assert!(auth.denied(&sid).await);
    assert_eq!(
        auth.refresh(&pair.refresh_token).await.unwrap_err().code(),
        tonic::Code::Unauthenticated
    );
}

async fn a_signing_key_file_replaces_the_derived_key(db: TestStores) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("signing.pem");
    // The shape `openssl genpkey -algorithm ed25519` writes.
    let pem = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIFe6b306onKJ6SY6uaEvCpal2b6ONYNdZzq2tFTLMAQV\n-----END PRIVATE KEY-----\n";
    std::fs::write(&path, pem).unwrap();
    let auth = spawn_auth_with_key(&db, Some(path)).await;
    auth.register("keyed@example.com", PASSWORD).await.unwrap();
    let pair = auth.login("keyed@example.com", PASSWORD).await.unwrap();
    let header = jsonwebtoken::decode_header(&pair.access_token).unwrap();
    let from_file = hop_auth::SigningKey::from_pem(pem).unwrap();
    assert_eq!(header.kid.as_deref(), Some(from_file.kid()));
    verify(&auth, &pair.access_token).await;
}

async fn a_new_password_ends_the_other_sessions_and_everywhere_ends_all(db: TestStores) {
    let auth = spawn_auth(&db).await;
    let user = auth.register("kim@example.com", PASSWORD).await.unwrap();
    let here = verify(
        &auth,
        &auth
            .login("kim@example.com", PASSWORD)
            .await
            .unwrap()
            .access_token,
    )
    .await;
    let other = verify(
        &auth,
        &auth
            .login("kim@example.com", PASSWORD)
            .await
            .unwrap()
            .access_token,
    )
    .await;
    let change = |current: &str, new: &str| {
        let request = pb::ChangePasswordRequest {
            user_id: user.id,
            current_password: current.into(),
            new_password: new.into(),
            session_id: here.sid.clone(),
        };
        let mut client = auth.client.clone();
        async move { client.change_password(request).await }
    };
    // A wrong current password, or a new one that is too short: nothing changes.
    let wrong = change("not the password", "a new fine password")
        .await
        .unwrap_err();
    assert_eq!(wrong.code(), tonic::Code::InvalidArgument);
    let short = change(PASSWORD, "short").await.unwrap_err();
    assert_eq!(short.code(), tonic::Code::InvalidArgument);
    assert!(auth.active(&other.sid).await);
    auth.login("kim@example.com", PASSWORD).await.unwrap();

    let revoked = change(PASSWORD, "a new fine password")
        .await
        .unwrap()
        .into_inner();
    assert!(revoked.listed);
    assert!(revoked.session_ids.contains(&other.sid));
    assert!(
        !revoked.session_ids.contains(&here.sid),
        "the asking session stays"
    );
    assert!(auth.active(&here.sid).await);
    assert!(!auth.active(&other.sid).await);
    assert!(auth.denied(&other.sid).await);
    let old = auth.login("kim@example.com", PASSWORD).await.unwrap_err();
    assert_eq!(old.code(), tonic::Code::Unauthenticated);
    auth.login("kim@example.com", "a new fine password")
        .await
        .unwrap();

    let everywhere = auth
        .client
        .clone()
        .logout_everywhere(pb::LogoutEverywhereRequest { user_id: user.id })
        .await
        .unwrap()
        .into_inner();
    assert!(everywhere.listed);
    assert!(everywhere.session_ids.contains(&here.sid));
    assert!(!auth.active(&here.sid).await);
    assert!(auth.denied(&here.sid).await);
}
