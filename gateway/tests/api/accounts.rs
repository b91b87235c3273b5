//! Accounts through the public API: register, login, refresh, logout, me, and the attacks
//! on each.

use crate::helpers::*;
use hop_proto::token::Claims;
use serde_json::{Value, json};

async fn authed_me(app: &TestApp, token: &str) -> reqwest::Response {
    app.get_as("/auth/me", token).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_login_me_refresh_logout() {
    let app = spawn_app_with(test_settings()).await;
    let register = app
        .post_json(
            "/auth/register",
            &json!({"email": "Ada@Example.com", "password": PASSWORD, "username": "ada"}),
            None,
        )
        .await;
    assert_eq!(register.status(), 201);
    let user: Value = register.json().await.unwrap();
    assert_eq!(user["email"], "ada@example.com");
    assert!(user.get("password").is_none() && user.get("password_hash").is_none());

    let login = app
        .post_json(
            "/auth/login",
            &json!({"email": "ada@example.com", "password": PASSWORD}),
            None,
        )
        .await;
    assert_eq!(login.status(), 200);
    assert_eq!(login.headers()["cache-control"], "no-store");
    let pair: Value = login.json().await.unwrap();
    assert_eq!(pair["token_type"], "Bearer");
    assert_eq!(pair["expires_in"], 900);
    let access = pair["access_token"].as_str().unwrap();

    let me: Value = authed_me(&app, access).await.json().await.unwrap();
    assert_eq!(me["id"], user["id"]);

    let refreshed = app
        .post_json(
            "/auth/refresh",
            &json!({"refresh_token": pair["refresh_token"]}),
            None,
        )
        .await;
    assert_eq!(refreshed.status(), 200);
    let refreshed: Value = refreshed.json().await.unwrap();
    assert_ne!(refreshed["refresh_token"], pair["refresh_token"]);

    let logout = app
        .post_json("/auth/logout", &json!({}), Some(access))
        .await;
    assert_eq!(logout.status(), 204);
    problem(authed_me(&app, access).await, 401).await;
    let newer = refreshed["access_token"].as_str().unwrap();
    problem(authed_me(&app, newer).await, 401).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_email_and_wrong_password_get_the_same_401() {
    let app = spawn_app_with(test_settings()).await;
    app.account("known@example.com").await;
    let wrong = app
        .post_json(
            "/auth/login",
            &json!({"email": "known@example.com", "password": "wrong password!"}),
            None,
        )
        .await;
    let unknown = app
        .post_json(
            "/auth/login",
            &json!({"email": "nobody@example.com", "password": PASSWORD}),
            None,
        )
        .await;
    assert_eq!(wrong.status(), 401);
    assert_eq!(unknown.status(), 401);
    assert_eq!(wrong.text().await.unwrap(), unknown.text().await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_registrations() {
    let app = spawn_app_with(test_settings()).await;
    app.account("taken@example.com").await;
    let again = app
        .post_json(
            "/auth/register",
            &json!({"email": "TAKEN@example.com", "password": PASSWORD}),
            None,
        )
        .await;
    problem(again, 409).await;
    let cases = [
        (
            json!({"email": "not-an-email", "password": PASSWORD}),
            vec!["email"],
        ),
        (
            json!({"email": "a@example.com", "password": "short"}),
            vec!["password"],
        ),
        (
            json!({"email": "a@example.com", "password": "x".repeat(129)}),
            vec!["password"],
        ),
        (json!({"email": 5, "password": PASSWORD}), vec!["email"]),
        (json!({"password": PASSWORD}), vec!["email"]),
    ];
    for (body, expected) in cases {
        let response = app.post_json("/auth/register", &body, None).await;
        assert_eq!(fields(&problem(response, 400).await), expected);
    }
    // Over the body limit entirely: 413 before anything is hashed.
    let huge = json!({"email": "a@example.com", "password": "x".repeat(BODY_LIMIT)});
    problem(app.post_json("/auth/register", &huge, None).await, 413).await;
    let oversized_login = json!({"email": "taken@example.com", "password": "y".repeat(1000)});
    problem(
        app.post_json("/auth/login", &oversized_login, None).await,
        400,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reused_refresh_token_ends_the_session() {
    let app = spawn_app_with(test_settings()).await;
    let (access, refresh) = app.account("reuse@example.com").await;
    let first = app
        .post_json("/auth/refresh", &json!({"refresh_token": refresh}), None)
        .await;
    assert_eq!(first.status(), 200);
    let reuse = app
        .post_json("/auth/refresh", &json!({"refresh_token": refresh}), None)
        .await;
    problem(reuse, 401).await;
    problem(authed_me(&app, &access).await, 401).await;
}

fn forge(claims: &Claims, secret: &str) -> String {
    hop_auth::SigningKey::derive(secret.as_bytes())
        .sign(claims)
        .unwrap()
}

const APP_SECRET: &str = crate::helpers::SECRET;
/// The public development key hop up once fell back to; no deployment may trust it.
const OLD_DEVELOPMENT_KEY: &str = "hop-development-secret-do-not-use-in-production";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_tokens_are_refused() {
    use base64::Engine as _;
    let app = spawn_app_with(test_settings()).await;
    let (access, _) = app.account("victim@example.com").await;
    assert_eq!(authed_me(&app, &access).await.status(), 200);
    let valid = claims_from(&access);

    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let parts: Vec<&str> = access.split('.').collect();
    let header = jsonwebtoken::decode_header(&access).unwrap();

    let mut tampered = parts[2].to_owned().into_bytes();
    tampered[5] = if tampered[5] == b'A' { b'B' } else { b'A' };
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        parts[1],
        String::from_utf8(tampered).unwrap()
    );

    let none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT", "kid": header.kid})),
        parts[1]
    );

    let public = hop_auth::SigningKey::derive(APP_SECRET.as_bytes()).public_key();
    let mut hs_header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    hs_header.kid = header.kid.clone();
    let hs256 = jsonwebtoken::encode(
        &hs_header,
        &valid,
        &jsonwebtoken::EncodingKey::from_secret(&public),
    )
    .unwrap();

    let mut expired = valid.clone();
    expired.iat -= 3600;
    expired.exp = chrono::Utc::now().timestamp() - 120;
    let expired = forge(&expired, APP_SECRET);

    let wrong_issuer = forge(
        &Claims {
            iss: "evil".into(),
            ..valid.clone()
        },
        APP_SECRET,
    );
    let wrong_audience = forge(
        &Claims {
            aud: "other-app".into(),
            ..valid.clone()
        },
        APP_SECRET,
    );
    let unknown_kid = forge(&valid, "an entirely different secret key");
    let old_development_key = forge(&valid, OLD_DEVELOPMENT_KEY);
    // Correctly signed (as a leaked key would sign), but not what auth ever issues.
    let now = chrono::Utc::now().timestamp();
    let year_long = forge(
        &Claims {
            iat: now,
            exp: now + 365 * 24 * 3600,
            ..valid.clone()
        },
        APP_SECRET,
    );
    let not_yet_valid = forge(
        &Claims {
            nbf: Some(now + 600),
            ..valid.clone()
        },
        APP_SECRET,
    );
    let issued_in_the_future = forge(
        &Claims {
            iat: now + 600,
            exp: now + 900,
            ..valid.clone()
        },
        APP_SECRET,
    );
    let payload_swap = format!(
        "{}.{}.{}",
        parts[0],
        b64(
            &json!({"sub": "1", "sid": valid.sid, "iss": "hop", "aud": "hop-api", "exp": 9_999_999_999_i64})
        ),
        parts[2]
    );

    for (name, token) in [
        ("tampered signature", tampered.as_str()),
        ("alg none", none.as_str()),
        ("HS256 with the public key", hs256.as_str()),
        ("expired", expired.as_str()),
        ("wrong issuer", wrong_issuer.as_str()),
        ("wrong audience", wrong_audience.as_str()),
        ("unknown kid", unknown_kid.as_str()),
        ("the old development key", old_development_key.as_str()),
        ("a lifetime of a year", year_long.as_str()),
        ("nbf in the future", not_yet_valid.as_str()),
        ("iat in the future", issued_in_the_future.as_str()),
        ("swapped payload", payload_swap.as_str()),
        ("garbage", "not.a.jwt"),
    ] {
        let response = authed_me(&app, token).await;
        assert_eq!(response.status(), 401, "{name} was accepted");
        assert!(
            response.headers().contains_key("www-authenticate"),
            "{name}"
        );
    }
    let no_scheme = app
        .http
        .get(format!("{}/auth/me", app.api))
        .header("authorization", access.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(no_scheme.status(), 401);
    // A correctly signed token for a session that exists is still accepted, and so is one
    // whose nbf has passed.
    assert_eq!(
        authed_me(&app, &forge(&valid, APP_SECRET)).await.status(),
        200
    );
    let started = Claims {
        nbf: Some(now - 5),
        ..valid.clone()
    };
    assert_eq!(
        authed_me(&app, &forge(&started, APP_SECRET)).await.status(),
        200
    );
}

fn session_of(token: &str) -> String {
    claims_from(token).sid
}

fn claims_from(token: &str) -> Claims {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_flood_is_limited_while_other_users_log_in() {
    clear_of_a_window_edge().await;
    let app = spawn_app_with(test_settings()).await;
    app.account("target@example.com").await;
    app.account("bystander@example.com").await;
    let attempt = |ip: &'static str, email: &'static str, password: &'static str| {
        let app = &app;
        async move {
            app.http
                .post(format!("{}/auth/login", app.api))
                .header("x-forwarded-for", ip)
                .json(&json!({"email": email, "password": password}))
                .send()
                .await
                .unwrap()
        }
    };
    let mut statuses = Vec::new();
    for _ in 0..8 {
        statuses.push(
            attempt("203.0.113.7", "target@example.com", "guess guess guess")
                .await
                .status()
                .as_u16(),
        );
    }
    assert_eq!(&statuses[..5], &[401; 5], "{statuses:?}");
    assert_eq!(&statuses[5..], &[429; 3], "{statuses:?}");
    let limited = attempt("203.0.113.7", "target@example.com", PASSWORD).await;
    assert!(
        limited.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    problem(limited, 429).await;
    let other = attempt("198.51.100.20", "bystander@example.com", PASSWORD).await;
    assert_eq!(other.status(), 200, "another client is not held back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registrations_per_ip_are_limited() {
    clear_of_a_window_edge().await;
    let settings = test_settings();
    let settings = hop_gateway::Settings {
        rate_limit_register_ip: "2/3600".parse().unwrap(),
        ..settings
    };
    let app = spawn_app_with(settings).await;
    for (i, expected) in [201, 201, 429].into_iter().enumerate() {
        let response = app
            .http
            .post(format!("{}/auth/register", app.api))
            .header("x-forwarded-for", "192.0.2.1")
            .json(&json!({"email": format!("r{i}@example.com"), "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), expected);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_down_sessions_are_checked_with_the_auth_service() {
    clear_of_a_window_edge().await;
    let mut redis = hop_testkit::RedisServer::start();
    let app = spawn_app_on_redis(test_settings(), &redis.url()).await;
    let (staying, _) = app.account("stays@example.com").await;
    let (leaving, _) = app.account("leaves@example.com").await;
    assert_eq!(authed_me(&app, &staying).await.status(), 200);

    redis.stop();
    assert_eq!(
        authed_me(&app, &staying).await.status(),
        200,
        "a live session still works"
    );
    let logout = app
        .post_json("/auth/logout", &json!({}), Some(&leaving))
        .await;
    assert_eq!(logout.status(), 204);
    problem(authed_me(&app, &leaving).await, 401).await;
    // Rate limits still hold, per instance.
    for _ in 0..5 {
        app.post_json(
            "/auth/login",
            &json!({"email": "stays@example.com", "password": "wrong wrong"}),
            None,
        )
        .await;
    }
    let limited = app
        .post_json(
            "/auth/login",
            &json!({"email": "stays@example.com", "password": "wrong wrong"}),
            None,
        )
        .await;
    problem(limited, 429).await;

    // Redis back: the revocation that could not be written then lands there, so gateways
    // trusting Redis again still refuse the session.
    redis.restart();
    let sid = session_of(&leaving);
    until_listed(&app, &sid, "the deferred revocation reached Redis").await;
    // Once the replica has resynced, it refuses the session on its own: even with the
    // auth service gone, the answer stays 401.
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    problem(authed_me(&app, &leaving).await, 401).await;
    assert_eq!(authed_me(&app, &staying).await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logout_through_one_gateway_ends_the_session_at_every_gateway() {
    let app = spawn_app_with(test_settings()).await;
    let other = spawn_gateway_with(
        &app.links_url,
        &app.auth_url,
        test_settings(),
        app.stores.shared(),
        &app.stop,
    )
    .await;
    let (token, _) = app.account("roamer@example.com").await;
    let me_at_other = |token: String| {
        let (http, other) = (app.http.clone(), other.clone());
        async move {
            http.get(format!("{other}/auth/me"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    // The other gateway accepts the token (and has its replica in sync).
    hop_testkit::until(
        "the other gateway accepts the token",
        std::time::Duration::from_secs(2),
        || {
            let asked = me_at_other(token.clone());
            async move { asked.await == 200 }
        },
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;

    assert_eq!(
        app.post_json("/auth/logout", &json!({}), Some(&token))
            .await
            .status(),
        204
    );
    hop_testkit::until(
        "the other gateway refuses the logged-out session, within 250 ms",
        std::time::Duration::from_millis(250),
        || {
            let asked = me_at_other(token.clone());
            async move { asked.await == 401 }
        },
    )
    .await;
}

async fn login_as(app: &TestApp, email: &str) -> String {
    let tokens: Value = app
        .post_json(
            "/auth/login",
            &json!({"email": email, "password": PASSWORD}),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    tokens["access_token"].as_str().unwrap().to_owned()
}

/// The very next request after a logout is refused, 50 rounds over: at the gateway that
/// served the logout (its replica records it before answering) and at another (Redis
/// announces it before auth's logout returns).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logout_holds_for_the_very_next_request_at_every_gateway() {
    let settings = hop_gateway::Settings {
        rate_limit_login_ip_email: hop_gateway::Limit::Off,
        rate_limit_login_ip: hop_gateway::Limit::Off,
        rate_limit_login_email: hop_gateway::Limit::Off,
        ..test_settings()
    };
    let app = spawn_app_with(settings.clone()).await;
    let other = spawn_gateway_with(
        &app.links_url,
        &app.auth_url,
        settings,
        app.stores.shared(),
        &app.stop,
    )
    .await;
    app.account("looper@example.com").await;
    let me_at = |base: &str, token: &str| {
        app.http
            .get(format!("{base}/auth/me"))
            .bearer_auth(token)
            .send()
    };
    // Both gateways up, their replicas loaded.
    let token = login_as(&app, "looper@example.com").await;
    hop_testkit::until(
        "the other gateway accepts the token",
        std::time::Duration::from_secs(2),
        || async {
            me_at(other.as_str(), token.as_str())
                .await
                .unwrap()
                .status()
                == 200
        },
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    for round in 0..50 {
        let token = login_as(&app, "looper@example.com").await;
        let (here, there) = match round % 2 {
            0 => (app.api.as_str(), other.as_str()),
            _ => (other.as_str(), app.api.as_str()),
        };
        // Verified once, so the token is in the gateway's verified cache.
        assert_eq!(
            me_at(here, token.as_str()).await.unwrap().status(),
            200,
            "round {round}"
        );
        let logout = app
            .http
            .post(format!("{here}/auth/logout"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(logout.status(), 204, "round {round}");
        let next_here = me_at(here, token.as_str()).await.unwrap().status();
        assert_eq!(
            next_here, 401,
            "round {round}: the gateway that served the logout"
        );
        let next_there = me_at(there, token.as_str()).await.unwrap().status();
        assert_eq!(next_there, 401, "round {round}: another gateway");
    }
}

/// The sessions table is the truth: a Redis that comes back empty gets the revoked
/// sessions back from it, without waiting for anyone to log out again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deny_list_is_rebuilt_when_redis_comes_back_empty() {
    let mut redis = hop_testkit::RedisServer::start();
    let app = spawn_app_on_redis(test_settings(), &redis.url()).await;
    let (token, _) = app.account("gone@example.com").await;
    let logout = app
        .post_json("/auth/logout", &json!({}), Some(&token))
        .await;
    assert_eq!(logout.status(), 204);
    redis.stop();
    redis.restart();
    let sid = session_of(&token);
    until_listed(&app, &sid, "the revocation is back in Redis").await;
    problem(authed_me(&app, &token).await, 401).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_limit_per_account_holds_across_ips() {
    clear_of_a_window_edge().await;
    let settings = hop_gateway::Settings {
        rate_limit_login_email: "4/60".parse().unwrap(),
        ..test_settings()
    };
    let app = spawn_app_with(settings).await;
    // The owner's own login is the first of the account's four.
    app.account("target@example.com").await;
    let mut statuses = Vec::new();
    for i in 1..=4 {
        let response = app
            .http
            .post(format!("{}/auth/login", app.api))
            .header("x-forwarded-for", format!("203.0.113.{i}"))
            .json(&json!({"email": "Target@Example.com", "password": "guess guess guess"}))
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    assert_eq!(
        statuses,
        [401, 401, 401, 429],
        "one guess per IP still adds up"
    );
    let owner = app
        .http
        .post(format!("{}/auth/login", app.api))
        .header("x-forwarded-for", "198.51.100.50")
        .json(&json!({"email": "bystander@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(owner.status(), 401, "other accounts are not held back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipv6_clients_are_limited_by_their_64_and_mapped_ipv4_is_ipv4() {
    clear_of_a_window_edge().await;
    let settings = hop_gateway::Settings {
        rate_limit_login_ip: "2/60".parse().unwrap(),
        ..test_settings()
    };
    let app = spawn_app_with(settings).await;
    let attempt = |ip: &'static str, n: u32| {
        let app = &app;
        async move {
            app.http
                .post(format!("{}/auth/login", app.api))
                .header("x-forwarded-for", ip)
                .json(&json!({"email": format!("u{n}@example.com"), "password": "wrong wrong"}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(attempt("2001:db8:1:2::a", 1).await, 401);
    assert_eq!(attempt("2001:db8:1:2:ffff::b", 2).await, 401);
    assert_eq!(attempt("2001:db8:1:2::c", 3).await, 429, "the same /64");
    assert_eq!(attempt("2001:db8:1:3::a", 4).await, 401, "another /64");
    assert_eq!(attempt("::ffff:198.51.100.7", 5).await, 401);
    assert_eq!(attempt("198.51.100.7", 6).await, 401);
    assert_eq!(
        attempt("198.51.100.7", 7).await,
        429,
        "mapped or not, one client"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refreshes_per_ip_are_limited() {
    clear_of_a_window_edge().await;
    let settings = hop_gateway::Settings {
        rate_limit_refresh_ip: "2/60".parse().unwrap(),
        ..test_settings()
    };
    let app = spawn_app_with(settings).await;
    let refresh = |ip: &'static str| {
        let app = &app;
        async move {
            app.http
                .post(format!("{}/auth/refresh", app.api))
                .header("x-forwarded-for", ip)
                .json(&json!({"refresh_token": "not-a-refresh-token"}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(refresh("192.0.2.9").await, 401);
    assert_eq!(refresh("192.0.2.9").await, 401);
    assert_eq!(refresh("192.0.2.9").await, 429);
    assert_eq!(refresh("192.0.2.10").await, 401);
}

/// Waits until Redis's deny-list names session `sid`.
async fn until_listed(app: &TestApp, sid: &str, what: &str) {
    let client = hop_kit::redis::Redis::connect(app.stores.redis()).unwrap();
    hop_testkit::until(what, std::time::Duration::from_secs(5), || async {
        let now = chrono::Utc::now().timestamp();
        let live = hop_revocations::listed(&client, now)
            .await
            .unwrap_or_default();
        live.iter().any(|r| r.session_id == sid)
    })
    .await;
}
