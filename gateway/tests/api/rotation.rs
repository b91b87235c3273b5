//! Rotating the token-signing key under a running gateway: no token that was valid stops
//! working, the new key is learnt at once, and an unreachable auth service is not asked
//! once per request.

use crate::helpers::*;
use hop_testkit::TestStores;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// A PKCS#8 PEM Ed25519 key from a seed, as `openssl genpkey -algorithm ed25519` writes.
fn pem(seed: u8) -> String {
    use base64::Engine as _;
    let mut der = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    der.extend_from_slice(&[seed; 32]);
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    format!("-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----\n")
}

/// An auth service at `addr` signing with `current` (and publishing `previous`).
async fn auth_at(
    addr: SocketAddr,
    stores: &TestStores,
    current: &std::path::Path,
    previous: Option<&std::path::Path>,
) -> CancellationToken {
    let server = hop_auth::build(hop_auth::Config {
        grpc_addr: Some(addr),
        signing_key_file: Some(current.to_owned()),
        previous_key_file: previous.map(ToOwned::to_owned),
        shutdown_grace: Duration::from_millis(200),
        ..hop_auth::Config::for_test(
            stores.database(),
            stores.shared(),
            hop_kit::secret::Secret::parse(SECRET).unwrap(),
        )
    })
    .await
    .unwrap();
    let stop = CancellationToken::new();
    tokio::spawn(server.run(stop.clone().cancelled_owned()));
    stop
}

async fn me(http: &reqwest::Client, api: &str, token: &str) -> u16 {
    http.get(format!("{api}/auth/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn login(http: &reqwest::Client, api: &str) -> String {
    let body: Value = http
        .post(format!("{api}/auth/login"))
        .json(&json!({"email": "rotating@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

fn kid(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

fn fetches(metrics: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with("hop_auth_key_fetches_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_rotation_keeps_old_tokens_and_learns_the_new_key_at_once() {
    let stores = TestStores::new().await;
    let dir = tempfile::tempdir().unwrap();
    let (k1, k2) = (dir.path().join("k1.pem"), dir.path().join("k2.pem"));
    std::fs::write(&k1, pem(1)).unwrap();
    std::fs::write(&k2, pem(2)).unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{}", hop_testkit::free_port())
        .parse()
        .unwrap();
    let first = auth_at(addr, &stores, &k1, None).await;
    let stop = CancellationToken::new();
    let closed = format!("http://127.0.0.1:{}", hop_testkit::free_port());
    let api = spawn_gateway_with(
        &closed,
        &format!("http://{addr}"),
        test_settings(),
        stores.shared(),
        &stop,
    )
    .await;
    let http = client();
    let registered = http
        .post(format!("{api}/auth/register"))
        .json(&json!({"email": "rotating@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 201);
    let old = login(&http, &api).await;
    assert_eq!(me(&http, &api, &old).await, 200);

    // The rollout: auth restarts signing with k2 and publishing k1 as the previous key.
    first.cancel();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let second = auth_at(addr, &stores, &k2, Some(&k1)).await;
    let new = login(&http, &api).await;
    assert_ne!(kid(&new), kid(&old));
    assert_eq!(
        me(&http, &api, &new).await,
        200,
        "the new key is learnt on first sight"
    );
    assert_eq!(
        me(&http, &api, &old).await,
        200,
        "a token of the old key still verifies"
    );

    // The rollout is over: k1 is no longer published anywhere; its tokens live on.
    second.cancel();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let third = auth_at(addr, &stores, &k2, None).await;
    let fresh = login(&http, &api).await;
    // A token naming a key nobody knows makes the gateway fetch the set again.
    let unknown = hop_auth::SigningKey::from_pem(&pem(9))
        .unwrap()
        .sign(&hop_proto::token::Claims {
            jti: "x".into(),
            ..serde_json::from_value(claims_json(&fresh)).unwrap()
        })
        .unwrap();
    assert_eq!(me(&http, &api, &unknown).await, 401);
    assert_eq!(me(&http, &api, &old).await, 200, "retired, not forgotten");
    assert_eq!(me(&http, &api, &fresh).await, 200);

    // Auth goes away: tokens with an unknown kid are answered without a call each.
    third.cancel();
    tokio::time::sleep(Duration::from_millis(500)).await;
    tokio::time::sleep(hop_gateway::KEYS_MIN_REFETCH).await;
    let before = fetches(
        &http
            .get(format!("{api}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );
    for _ in 0..30 {
        let status = me(&http, &api, &unknown).await;
        assert!(status == 503 || status == 401, "{status}");
    }
    let after = fetches(
        &http
            .get(format!("{api}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );
    assert!(
        after - before <= 2.0,
        "{} fetches for 30 requests",
        after - before
    );
    stop.cancel();
}

fn claims_json(token: &str) -> Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}
