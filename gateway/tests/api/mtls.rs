//! Mutual TLS on the internal gRPC wire (GRPC_TLS_*): the gateway speaks it to links and
//! auth, and a caller without a certificate from the deployment's CA gets nowhere, token or
//! not.

use crate::helpers::*;
use hop_kit::grpc_tls::{GrpcTls, GrpcTlsArgs};
use hop_kit::service_auth::{ServiceToken, authenticated};
use hop_proto::links::v1 as pb;
use hop_proto::links::v1::link_service_client::LinkServiceClient;
use hop_testkit::{Certs, TestDb};
use serde_json::json;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

fn tls(certs: &Certs, pair: Option<&str>, ca: bool) -> GrpcTls {
    GrpcTlsArgs {
        grpc_tls_cert: pair.map(|p| certs.path(&format!("{p}.pem"))),
        grpc_tls_key: pair.map(|p| certs.path(&format!("{p}.key"))),
        grpc_tls_ca: ca.then(|| certs.path("ca.pem")),
    }
    .load()
    .unwrap()
    .unwrap()
}

/// GetLink of nothing, over `channel` with the deployment's token: NOT_FOUND when the
/// call got through, something else when the connection was refused.
async fn get_nothing(channel: tonic::transport::Channel) -> tonic::Code {
    let token = ServiceToken::derive(&hop_kit::secret::Secret::parse(SECRET).unwrap());
    LinkServiceClient::new(authenticated(channel, token))
        .get_link(pb::GetLinkRequest::default())
        .await
        .map_or_else(|s| s.code(), |_| tonic::Code::Ok)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_speaks_mtls_and_callers_without_a_deployment_certificate_are_refused() {
    let certs = Certs::generate();
    let db = TestDb::new().await;
    let redis = hop_testkit::redis_args();
    let stop = CancellationToken::new();
    let server_tls = tls(&certs, Some("server"), true);
    let secret = hop_kit::secret::Secret::parse(SECRET).unwrap();
    let links = hop_links::build(hop_links::Config {
        public_base_url: PUBLIC_BASE_URL.into(),
        tls: Some(server_tls.clone()),
        ..hop_links::Config::for_test(db.args.clone(), redis.clone(), secret.clone())
    })
    .await
    .unwrap();
    let links_addr = links.grpc_addr();
    tokio::spawn(links.run(stop.clone().cancelled_owned()));
    let auth = hop_auth::build(hop_auth::Config {
        tls: Some(server_tls),
        ..hop_auth::Config::for_test(db.args.clone(), redis.clone(), secret.clone())
    })
    .await
    .unwrap();
    let auth_addr = auth.grpc_addr();
    tokio::spawn(auth.run(stop.clone().cancelled_owned()));

    let gateway = hop_gateway::build(hop_gateway::Config {
        tls: Some(tls(&certs, Some("client"), true)),
        ..hop_gateway::Config::for_test(
            &format!("https://{links_addr}"),
            &format!("https://localhost:{}", auth_addr.port()),
            test_settings(),
            redis.clone(),
            secret,
        )
    })
    .await
    .unwrap();
    let api = format!("http://{}", gateway.addr());
    tokio::spawn(gateway.run(stop.clone().cancelled_owned()));
    let http = client();
    let registered = http
        .post(format!("{api}/auth/register"))
        .json(&json!({"email": "tls@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 201, "auth over mTLS");
    let login: serde_json::Value = http
        .post(format!("{api}/auth/login"))
        .json(&json!({"email": "tls@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let created = http
        .post(format!("{api}/links"))
        .bearer_auth(login["access_token"].as_str().unwrap())
        .json(&json!({"url": "https://example.com/over-tls"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201, "links over mTLS");

    // Direct callers: only one with the deployment's client certificate gets through.
    let endpoint = |scheme: &str, client: Option<GrpcTls>| {
        let mut e = tonic::transport::Endpoint::from_shared(format!("{scheme}://{links_addr}"))
            .unwrap()
            .timeout(Duration::from_secs(5));
        if let Some(client) = client {
            e = e.tls_config(client.client()).unwrap();
        }
        e
    };
    let through = |e: tonic::transport::Endpoint| async move {
        match e.connect().await {
            Ok(channel) => get_nothing(channel).await,
            Err(_) => tonic::Code::Unavailable,
        }
    };
    let client_tls = tls(&certs, Some("client"), true);
    assert_eq!(
        through(endpoint("https", Some(client_tls))).await,
        tonic::Code::NotFound
    );
    let refused = [
        ("plaintext", endpoint("http", None)),
        (
            "no client certificate",
            endpoint("https", Some(tls(&certs, None, true))),
        ),
        ("another CA's certificate", {
            let stranger = GrpcTlsArgs {
                grpc_tls_cert: Some(certs.path("stranger.pem")),
                grpc_tls_key: Some(certs.path("stranger.key")),
                grpc_tls_ca: Some(certs.path("ca.pem")),
            };
            endpoint("https", Some(stranger.load().unwrap().unwrap()))
        }),
    ];
    for (name, endpoint) in refused {
        let code = through(endpoint).await;
        assert!(
            code != tonic::Code::NotFound && code != tonic::Code::Ok,
            "{name} got through: {code:?}"
        );
    }
    stop.cancel();
}

#[test]
fn a_url_scheme_that_does_not_match_the_tls_settings_fails_at_start() {
    let certs = Certs::generate();
    let with = tls(&certs, Some("client"), true);
    let check = hop_kit::grpc_tls::check_scheme;
    assert!(check("LINKS_GRPC_URL", "http://links:50051", Some(&with)).is_err());
    assert!(check("LINKS_GRPC_URL", "https://links:50051", None).is_err());
    assert!(check("LINKS_GRPC_URL", "https://links:50051", Some(&with)).is_ok());
    assert!(check("LINKS_GRPC_URL", "http://links:50051", None).is_ok());
}
