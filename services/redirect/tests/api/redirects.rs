//! What a redirect answers, on either backend: each test runs on PostgreSQL and Redis,
//! and on the embedded store with the in-process bus.

use crate::helpers::*;
use hop_testkit::{Backend, TestStores, until};

hop_testkit::on_both_backends!(
    each_link_redirects_with_its_own_status,
    unknown_deleted_inactive_and_expired_links,
    impossible_codes_are_404_without_any_lookup,
    only_get_and_head_and_the_admin_paths_answer,
    a_link_created_after_a_cached_miss_is_served_at_once,
);

async fn each_link_redirects_with_its_own_status(db: TestStores) {
    for (code, status) in [
        ("perm301", 301),
        ("found302", 302),
        ("temp307", 307),
        ("perm308", 308),
    ] {
        Seed {
            status,
            ..Seed::new(code, "https://example.com/target")
        }
        .insert_into(&db)
        .await;
    }
    let app = spawn_redirect_on(&db, cache(true, true)).await;
    for (code, status) in [
        ("perm301", 301),
        ("found302", 302),
        ("temp307", 307),
        ("perm308", 308),
    ] {
        assert_eq!(
            app.follow(code).await,
            (status, Some("https://example.com/target".into()))
        );
        let head = app.head(&format!("/{code}")).await;
        assert_eq!(head.status().as_u16(), status);
        assert_eq!(head.headers()["location"], "https://example.com/target");
    }
    let response = app.get("/found302?utm=ignored").await;
    assert_eq!(response.status(), 302);
    assert_eq!(response.headers()["cache-control"], "private, max-age=90");
}

async fn unknown_deleted_inactive_and_expired_links(db: TestStores) {
    Seed {
        active: false,
        ..Seed::new("paused", "https://example.com/p")
    }
    .insert_into(&db)
    .await;
    Seed {
        expires_in_secs: Some(-5),
        ..Seed::new("expired", "https://example.com/e")
    }
    .insert_into(&db)
    .await;
    Seed {
        expires_in_secs: Some(3600),
        ..Seed::new("later", "https://example.com/l")
    }
    .insert_into(&db)
    .await;
    Seed {
        deleted: true,
        ..Seed::new("deleted", "https://example.com/d")
    }
    .insert_into(&db)
    .await;
    let app = spawn_redirect_on(&db, cache(true, true)).await;

    let response = app.get("/nosuchcode").await;
    assert_eq!(response.status(), 404);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], 404);

    assert_eq!(app.follow("deleted").await.0, 404);
    assert_eq!(app.follow("paused").await.0, 410);
    assert_eq!(app.follow("expired").await.0, 410);
    assert_eq!(app.follow("later").await.0, 302);
    assert_eq!(app.head("/paused").await.status(), 410);
}

async fn impossible_codes_are_404_without_any_lookup(db: TestStores) {
    let app = spawn_redirect_on(&db, cache(true, true)).await;
    let long = format!("/{}", "a".repeat(65));
    for path in [
        "/",
        "/a.b",
        "/favicon.ico",
        "/a%20b",
        "/a/b",
        "/%F0%9F%98%80",
        &long,
        "/x'or'1'='1",
    ] {
        assert_eq!(app.get(path).await.status(), 404, "{path}");
    }
    let text = app.metrics().await;
    for tier in ["l1", "redis", "postgres", "sqlite"] {
        for result in ["hit", "miss", "error"] {
            let n = metric(
                &text,
                "hop_redirect_cache_requests_total",
                &[("tier", tier), ("result", result)],
            );
            assert_eq!(n, 0.0, "{tier} {result}");
        }
    }
    let rejected = metric(
        &text,
        "hop_http_requests_total",
        &[("route", "/{code}"), ("status", "404")],
    );
    assert_eq!(rejected, 8.0);
}

async fn only_get_and_head_and_the_admin_paths_answer(db: TestStores) {
    let app = spawn_redirect_on(&db, cache(true, true)).await;
    let response = app
        .http
        .post(format!("{}/abc", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "GET, HEAD");
    until(
        "the instance is ready",
        std::time::Duration::from_secs(5),
        || async { app.get("/health/ready").await.status() == 200 },
    )
    .await;
    assert_eq!(app.get("/health/live").await.status(), 200);
    // Ready needs either store, so the database's first probe may still be on its way.
    let database = match db.backend() {
        Backend::Servers => "postgres",
        Backend::Embedded => "sqlite",
    };
    until(
        "/health reports the database up",
        std::time::Duration::from_secs(5),
        || async {
            let health: serde_json::Value = app.get("/health").await.json().await.unwrap();
            health["service"] == "redirect" && health["checks"][database]["status"] == "up"
        },
    )
    .await;
    assert!(
        app.metrics()
            .await
            .contains("process_resident_memory_bytes")
    );
}

async fn a_link_created_after_a_cached_miss_is_served_at_once(db: TestStores) {
    let app = spawn_redirect_on(&db, cache(true, true)).await;
    let secret = hop_kit::secret::Secret::parse("redirect-tests-secret-000").unwrap();
    let links = hop_links::build(hop_links::Config::for_test(
        db.database(),
        db.shared(),
        secret.clone(),
    ))
    .await
    .unwrap();
    let grpc = links.grpc_addr();
    let stop = tokio_util::sync::CancellationToken::new();
    tokio::spawn(links.run(stop.clone().cancelled_owned()));
    // Wait until the redirect service listens for invalidations.
    until(
        "the instance subscribes to invalidations",
        std::time::Duration::from_secs(5),
        || async {
            metric(
                &app.metrics().await,
                "hop_redirect_invalidations_subscribed",
                &[],
            ) == 1.0
        },
    )
    .await;
    assert_eq!(
        app.follow("fresh-alias").await.0,
        404,
        "now cached as missing"
    );

    let channel = tonic::transport::Channel::from_shared(format!("http://{grpc}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let token = hop_kit::service_auth::ServiceToken::derive(&secret);
    let mut client = hop_proto::links::v1::link_service_client::LinkServiceClient::new(
        hop_kit::service_auth::authenticated(channel, token),
    );
    client
        .create_link(hop_proto::links::v1::CreateLinkRequest {
            url: "https://example.com/fresh".into(),
            alias: Some("fresh-alias".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    until(
        "the invalidation evicts the negative entry, within a second",
        std::time::Duration::from_secs(1),
        || async { app.follow("fresh-alias").await.0 == 302 },
    )
    .await;
    stop.cancel();
}
