//! The public edge treated as hostile: what a client can send to break the problem+json
//! contract, forge its way through pagination, or blow up the metrics.

use crate::helpers::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn framework_rejections_are_problems_too() {
    let app = spawn_app().await;
    let (token, _) = app.account("lister@example.com").await;
    for path in [
        "/links/%FF",
        "/links/%FF/stats",
        "/links?limit=abc",
        "/links?limit=1&limit=2",
        "/links?cursor=a&cursor=b",
        "/links/abc1234/stats?unit=fortnight",
        "/links/abc1234/stats?from=yesterday",
    ] {
        let response = app.get_as(path, &token).await;
        let status = response.status().as_u16();
        assert!((400..500).contains(&status), "{path}: {status}");
        problem(response, status).await;
    }
    // Unknown routes and methods too, in the same shape.
    problem(app.get("/nowhere/at/all").await, 404).await;
    let put = app
        .http
        .put(format!("{}/links", app.api))
        .send()
        .await
        .unwrap();
    assert!(put.headers().contains_key("allow"), "{:?}", put.headers());
    problem(put, 405).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_to_a_short_code_is_405_with_allow() {
    let app = spawn_app().await;
    for method in ["POST", "PUT", "DELETE", "PATCH"] {
        let response = app
            .http
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                format!("{}/abc1234", app.api),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()["allow"], "GET, HEAD", "{method}");
        problem(response, 405).await;
    }
    // A route word is still the gateway's to answer.
    problem(app.post_json("/health", &json!({}), None).await, 405).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_401_carries_a_bearer_challenge() {
    let app = spawn_app_with(test_settings()).await;
    let requests = [
        app.http
            .post(format!("{}/links", app.api))
            .json(&json!({"url": "https://example.com"})),
        app.http.get(format!("{}/links", app.api)),
        app.http
            .patch(format!("{}/links/abc1234", app.api))
            .json(&json!({"title": "x"})),
        app.http.delete(format!("{}/links/abc1234", app.api)),
        app.http.get(format!("{}/links/abc1234/stats", app.api)),
        app.http.get(format!("{}/auth/me", app.api)),
        app.http.post(format!("{}/auth/logout", app.api)),
        app.http
            .post(format!("{}/auth/refresh", app.api))
            .json(&json!({"refresh_token": "not-a-refresh-token"})),
        app.http
            .post(format!("{}/auth/login", app.api))
            .json(&json!({"email": "nobody@example.com", "password": "wrong password!"})),
    ];
    for request in requests {
        let response = request.send().await.unwrap();
        let url = response.url().clone();
        assert_eq!(response.status(), 401, "{url}");
        assert_eq!(
            response.headers()["www-authenticate"],
            r#"Bearer realm="hop""#,
            "{url}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_cursor_is_a_400_never_a_500() {
    let app = spawn_app_with(test_settings()).await;
    let (token, _) = app.account("pager@example.com").await;
    for i in 0..3 {
        let created = app
            .post_json(
                "/links",
                &json!({"url": format!("https://example.com/{i}")}),
                Some(&token),
            )
            .await;
        assert_eq!(created.status(), 201);
    }
    let page: serde_json::Value = app
        .get_as("/links?limit=1", &token)
        .await
        .json()
        .await
        .unwrap();
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    let next = app
        .get_as(&format!("/links?limit=1&cursor={cursor}"), &token)
        .await;
    assert_eq!(next.status(), 200);
    assert_eq!(
        next.headers()["cache-control"],
        "no-store",
        "an owner's list is private"
    );
    // The old format's largest timestamp once reached PostgreSQL and came back a 500.
    let mut tampered = vec![
        "7fffffffffffffff0000000000000001".to_owned(),
        "ffffffffffffffffffffffffffffffff".to_owned(),
        "x".repeat(5000),
        "%00".to_owned(),
    ];
    let mut flipped = cursor.clone().into_bytes();
    flipped[2] = if flipped[2] == b'A' { b'B' } else { b'A' };
    tampered.push(String::from_utf8(flipped).unwrap());
    tampered.push(cursor[..cursor.len() - 1].to_owned());
    for bad in tampered {
        let response = app.get_as(&format!("/links?cursor={bad}"), &token).await;
        let body = problem(response, 400).await;
        assert!(body.to_string().contains("cursor"), "{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_methods_and_paths_do_not_grow_the_metrics() {
    let app = spawn_app().await;
    let series = || async {
        let text = app.get("/metrics").await.text().await.unwrap();
        text.lines()
            .filter(|l| l.starts_with("hop_http_request"))
            .count()
    };
    // Warm the label sets a hostile client can reach: unknown route, a refused method.
    let _ = app
        .http
        .request(
            reqwest::Method::from_bytes(b"WARMUP").unwrap(),
            format!("{}/x/y", app.api),
        )
        .send()
        .await;
    let _ = app.get("/x/y").await;
    let _ = series().await; // the scrape's own series appear after its first answer
    let before = series().await;
    for i in 0..80 {
        let method = reqwest::Method::from_bytes(format!("M{i:03}X").as_bytes()).unwrap();
        let _ = app
            .http
            .request(method, format!("{}/random/{i}/path", app.api))
            .send()
            .await
            .unwrap();
        let _ = app.get(&format!("/another/{i}")).await;
    }
    let after = series().await;
    assert_eq!(after, before, "{before} series became {after}");
}

/// A gateway (in front of nothing) whose public listener has short, test-sized limits.
async fn limited_gateway(stop: &tokio_util::sync::CancellationToken) -> std::net::SocketAddr {
    let closed = format!("http://127.0.0.1:{}", hop_testkit::free_port());
    let gateway = hop_gateway::build(hop_gateway::Config {
        http: hop_kit::serve::HttpLimits {
            http_max_header_bytes: 16_384,
            http_idle_timeout_secs: 2,
            http_request_timeout_secs: 1,
            http_max_connections: 3,
        },
        ..hop_gateway::Config::for_test(
            &closed,
            &closed,
            test_settings(),
            hop_testkit::redis_args(),
            hop_kit::secret::Secret::parse(SECRET).unwrap(),
        )
    })
    .await
    .unwrap();
    let addr = gateway.addr();
    tokio::spawn(gateway.run(stop.clone().cancelled_owned()));
    addr
}

/// Everything the server sends until it closes the connection (or `within` passes).
async fn read_until_closed(
    socket: &mut tokio::net::TcpStream,
    within: std::time::Duration,
) -> Option<String> {
    use tokio::io::AsyncReadExt;
    let mut out = Vec::new();
    let read = tokio::time::timeout(within, socket.read_to_end(&mut out)).await;
    read.ok()
        .map(|_| String::from_utf8_lossy(&out).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_idle_and_oversized_clients_are_cut_off() {
    use std::time::Duration;
    use tokio::io::AsyncWriteExt;
    let stop = tokio_util::sync::CancellationToken::new();
    let addr = limited_gateway(&stop).await;

    // A body that stalls: a 408 problem, then the connection closes.
    let mut stalled = tokio::net::TcpStream::connect(addr).await.unwrap();
    stalled
        .write_all(b"POST /links HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"url\":")
        .await
        .unwrap();
    let answer = read_until_closed(&mut stalled, Duration::from_secs(10))
        .await
        .expect("a stalled body is cut off");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("application/problem+json"), "{answer}");

    // A 500 KB header: 431, not accepted.
    let mut huge = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "GET /health/live HTTP/1.1\r\nhost: x\r\nx-filler: {}\r\n\r\n",
        "a".repeat(500_000)
    );
    let _ = huge.write_all(head.as_bytes()).await;
    let answer = read_until_closed(&mut huge, Duration::from_secs(10))
        .await
        .expect("a huge head is refused");
    assert!(
        answer.starts_with("HTTP/1.1 431"),
        "{}",
        &answer[..answer.len().min(200)]
    );

    // A connection that says nothing is closed after the idle timeout.
    let mut idle = tokio::net::TcpStream::connect(addr).await.unwrap();
    assert_eq!(
        read_until_closed(&mut idle, Duration::from_secs(10))
            .await
            .as_deref(),
        Some(""),
        "an idle connection is closed without a word"
    );
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_bound_wait_for_a_free_slot() {
    use std::time::Duration;
    use tokio::io::AsyncWriteExt;
    let stop = tokio_util::sync::CancellationToken::new();
    let addr = limited_gateway(&stop).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(tokio::net::TcpStream::connect(addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut waiting = tokio::net::TcpStream::connect(addr).await.unwrap();
    waiting
        .write_all(b"GET /health/live HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(
        read_until_closed(&mut waiting, Duration::from_millis(700)).await,
        None,
        "the fourth connection is not served while three are open"
    );
    held.clear();
    let answer = read_until_closed(&mut waiting, Duration::from_secs(5))
        .await
        .expect("served once a slot frees");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    stop.cancel();
}
