use crate::helpers::*;
use serde_json::{Value, json};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_created_through_the_gateway_redirects_from_the_redirect_service() {
    let app = spawn_app().await;
    let response = app
        .create(json!({"url": "https://example.com/docs?page=2", "title": "Docs"}))
        .await;
    assert_eq!(response.status(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let link: Value = response.json().await.unwrap();
    let code = link["code"].as_str().unwrap();
    assert_eq!(location, format!("/links/{code}"));
    assert_eq!(link["short_url"], format!("{PUBLIC_BASE_URL}/{code}"));
    assert_eq!(link["title"], "Docs");
    assert_eq!(link["redirect_type"], 302);
    assert_eq!(link["owner_id"], Value::Null);
    for key in ["created_at", "updated_at", "expires_at", "is_active"] {
        assert!(link.get(key).is_some(), "{key} missing from {link}");
    }

    let redirect = app
        .http
        .get(format!("{}/{code}", app.redirect))
        .send()
        .await
        .unwrap();
    assert_eq!(redirect.status(), 302);
    assert_eq!(
        redirect.headers()["location"],
        "https://example.com/docs?page=2"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_create_routes_and_every_field_work() {
    let app = spawn_app().await;
    let response = app
        .post_raw(
            "/links/create",
            "application/json; charset=utf-8",
            json!({
                "url": "https://example.com/launch",
                "alias": "launch_2030",
                "redirect_type": 301,
                "expires_at": "2099-01-01T00:00:00+02:00",
            })
            .to_string(),
        )
        .await;
    assert_eq!(response.status(), 201);
    let link: Value = response.json().await.unwrap();
    assert_eq!(link["code"], "launch_2030");
    assert_eq!(link["redirect_type"], 301);
    assert_eq!(link["expires_at"], "2098-12-31T22:00:00.000Z");
    let redirect = app
        .http
        .get(format!("{}/launch_2030", app.redirect))
        .send()
        .await
        .unwrap();
    assert_eq!(redirect.status(), 301);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_url_twice_gets_two_codes() {
    let app = spawn_app().await;
    let a: Value = app
        .create(json!({"url": "https://example.com/same"}))
        .await
        .json()
        .await
        .unwrap();
    let b: Value = app
        .create(json!({"url": "https://example.com/same"}))
        .await
        .json()
        .await
        .unwrap();
    assert_ne!(a["code"], b["code"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reading_a_link_shows_public_metadata() {
    let app = spawn_app().await;
    let created: Value = app
        .create(json!({"url": "https://example.com/x"}))
        .await
        .json()
        .await
        .unwrap();
    let code = created["code"].as_str().unwrap();
    let response = app.get(&format!("/links/{code}")).await;
    assert_eq!(response.status(), 200);
    let link: Value = response.json().await.unwrap();
    assert_eq!(link["url"], "https://example.com/x");
    assert!(
        link.get("owner_id").is_none(),
        "owner-only field shown: {link}"
    );
    problem(app.get("/links/nosuchcode").await, 404).await;
    problem(app.get("/links/bad.code").await, 404).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_ids_are_echoed_or_made() {
    let app = spawn_app().await;
    let response = app
        .http
        .get(format!("{}/links/abc", app.api))
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "trace-me-42");
    let hostile = "x".repeat(300);
    let response = app
        .http
        .get(format!("{}/links/abc", app.api))
        .header("x-request-id", &hostile)
        .send()
        .await
        .unwrap();
    let id = response.headers()["x-request-id"].to_str().unwrap();
    assert_eq!(id.len(), 32, "an oversized id is replaced");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_routes_and_methods_are_problems() {
    let app = spawn_app().await;
    problem(app.get("/nope").await, 404).await;
    let response = app
        .http
        .delete(format!("{}/links", app.api))
        .send()
        .await
        .unwrap();
    problem(response, 405).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_metrics() {
    let app = spawn_app().await;
    hop_testkit::until(
        "the gateway is ready once links answers",
        Duration::from_secs(5),
        || async { app.get("/health/ready").await.status() == 200 },
    )
    .await;
    app.create(json!({"url": "https://example.com/m"})).await;
    let text = app.get("/metrics").await.text().await.unwrap();
    assert!(text.contains(r#"hop_http_requests_total{method="POST",route="/links",status="201",service="gateway"} 1"#), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_links_service_is_503_and_not_ready() {
    let stop = tokio_util::sync::CancellationToken::new();
    let closed = format!("http://127.0.0.1:{}", hop_testkit::free_port());
    let api = spawn_gateway(&closed, Duration::from_secs(2), &stop).await;
    let http = client();
    let response = http
        .post(format!("{api}/links"))
        .header("content-type", "application/json")
        .body(json!({"url": "https://example.com"}).to_string())
        .send()
        .await
        .unwrap();
    problem(response, 503).await;
    hop_testkit::until(
        "the gateway reports itself not ready",
        Duration::from_secs(5),
        || async {
            let ready = http
                .get(format!("{api}/health/ready"))
                .send()
                .await
                .unwrap();
            ready.status() == 503
        },
    )
    .await;
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_that_never_answers_hits_the_deadline() {
    // Accepts connections and says nothing, like a hung process.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let stop = tokio_util::sync::CancellationToken::new();
    let api = spawn_gateway(&format!("http://{addr}"), Duration::from_millis(300), &stop).await;
    let started = std::time::Instant::now();
    let response = client()
        .post(format!("{api}/links"))
        .header("content-type", "application/json")
        .body(json!({"url": "https://example.com"}).to_string())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    assert!(status == 504 || status == 503, "got {status}");
    problem(response, status).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the deadline bounded the call"
    );
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_in_flight_requests_finish() {
    // A backend that never answers keeps a request in flight until the 1 s deadline.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let stop = tokio_util::sync::CancellationToken::new();
    let settings = hop_gateway::Settings {
        grpc_timeout_ms: 1000,
        anonymous_links: true,
        ..hop_gateway::Settings::default()
    };
    let upstream = format!("http://{addr}");
    let gateway = hop_gateway::build(hop_gateway::Config {
        shutdown_grace: Duration::from_secs(5),
        ..hop_gateway::Config::for_test(
            &upstream,
            &upstream,
            settings,
            hop_testkit::redis_args(),
            hop_kit::secret::Secret::parse(crate::helpers::SECRET).unwrap(),
        )
    })
    .await
    .unwrap();
    let api = format!("http://{}", gateway.addr());
    let server = tokio::spawn(gateway.run(stop.clone().cancelled_owned()));
    let in_flight = tokio::spawn(async move {
        client()
            .post(format!("{api}/links"))
            .header("content-type", "application/json")
            .body(json!({"url": "https://example.com"}).to_string())
            .send()
            .await
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.cancel();
    let response = in_flight
        .await
        .unwrap()
        .expect("the in-flight request got an answer");
    assert!(
        response.status().is_server_error(),
        "the deadline answered it"
    );
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("the server stopped after draining")
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_creates_per_ip_are_limited() {
    clear_of_a_window_edge().await;
    let app = spawn_app_with(hop_gateway::Settings {
        anonymous_links: true,
        rate_limit_create_anon_ip: "2/60".parse().unwrap(),
        ..test_settings()
    })
    .await;
    for expected in [201, 201, 429] {
        let response = app.create(json!({"url": "https://example.com/anon"})).await;
        assert_eq!(response.status(), expected);
    }
    let (token, _) = app.account("maker@example.com").await;
    let created = app
        .post_json(
            "/links",
            &json!({"url": "https://example.com/mine"}),
            Some(&token),
        )
        .await;
    assert_eq!(
        created.status(),
        201,
        "an account's creates have their own limit"
    );
}
