//! `POST /links/bulk`: up to 1,000 links, each validated and stored on its own, one result
//! per item in request order.

use crate::helpers::*;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_mixed_items_give_a_thousand_results_in_order_and_store_only_the_valid() {
    let app = spawn_app_with(test_settings()).await;
    let (token, _) = app.account("bulk@example.com").await;
    let before = app.rows().await;
    // Every seventh item is bad in one of seven ways; two items ask for one alias.
    let items: Vec<Value> = (0..1000)
        .map(|i| match i % 10 {
            1 => json!({"url": "javascript:alert(1)"}),
            3 => json!({"url": format!("https://example.com/{i}"), "alias": "app"}),
            5 => json!({"url": 42}),
            7 => json!("not an object"),
            _ if i == 8 || i == 18 => {
                json!({"url": format!("https://example.com/{i}"), "alias": "bulk-shared"})
            }
            _ => json!({"url": format!("https://example.com/bulk/{i}"), "title": format!("item {i}")}),
        })
        .collect();
    let response = app
        .post_json("/links/bulk", &json!({"links": items}), Some(&token))
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let results = body["results"].as_array().unwrap();
    assert_eq!(results.len(), 1000);
    let mut valid = 0;
    for (i, result) in results.iter().enumerate() {
        match i % 10 {
            1 | 3 | 5 => {
                assert_eq!(result["status"], 400, "item {i}: {result}");
                assert!(result["problem"]["type"].is_string(), "{result}");
            }
            7 => assert_eq!(result["status"], 400, "item {i}: {result}"),
            _ if i == 18 => {
                assert_eq!(
                    result["status"], 409,
                    "the alias is taken by item 8: {result}"
                )
            }
            _ => {
                assert_eq!(result["status"], 201, "item {i}: {result}");
                if i != 8 {
                    assert_eq!(
                        result["link"]["url"],
                        format!("https://example.com/bulk/{i}")
                    );
                    assert_eq!(result["link"]["title"], format!("item {i}"));
                }
                valid += 1;
            }
        }
    }
    assert_eq!(results[3]["problem"]["errors"][0]["field"], "alias");
    assert_eq!(results[5]["problem"]["errors"][0]["field"], "url");
    assert_eq!(body["created"], valid);
    assert_eq!(body["failed"], 1000 - valid);
    assert_eq!(
        app.rows().await - before,
        valid,
        "only the valid ones are stored"
    );
    let shared = app
        .get("/links/bulk-shared")
        .await
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(shared["url"], "https://example.com/8");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_bodies_out_of_bounds_are_refused_whole() {
    let app = spawn_app_with(test_settings()).await;
    let (token, _) = app.account("bulkbad@example.com").await;
    let before = app.rows().await;
    let link = json!({"url": "https://example.com/x"});
    let over: Vec<Value> = vec![link.clone(); 1001];
    problem(
        app.post_json("/links/bulk", &json!({"links": over}), Some(&token))
            .await,
        413,
    )
    .await;
    // A body declared over 4 MiB is refused before it is sent (as a client that waits for
    // the answer to its head sees it).
    let addr = app.api.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let head = format!(
        "POST /links/bulk HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {token}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n",
        4 * 1024 * 1024 + 1
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = vec![0u8; 4096];
    let n = stream.read(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    // Just under the limit is read, and judged item by item.
    let big =
        json!({"links": [{"url": format!("https://example.com/{}", "x".repeat(3 * 1024 * 1024))}]});
    let body: Value = app
        .post_json("/links/bulk", &big, Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["results"][0]["status"], 400, "{}", body["results"][0]);
    for (body, field) in [
        (json!({}), "links"),
        (json!({"links": []}), "links"),
        (json!({"links": {"url": "https://example.com/"}}), "links"),
        (json!({"links": [link.clone()], "extra": 1}), "extra"),
    ] {
        let body = problem(app.post_json("/links/bulk", &body, Some(&token)).await, 400).await;
        assert_eq!(fields(&body), vec![field.to_owned()], "{body}");
    }
    // An account is needed, and a key needs links:write.
    problem(
        app.post_json("/links/bulk", &json!({"links": [link.clone()]}), None)
            .await,
        401,
    )
    .await;
    let key: Value = app
        .post_json(
            "/auth/api-keys",
            &json!({"name": "reader", "scopes": ["links:read"]}),
            Some(&token),
        )
        .await
        .json()
        .await
        .unwrap();
    let reader = key["key_secret"].as_str().unwrap();
    problem(
        app.post_json("/links/bulk", &json!({"links": [link]}), Some(reader))
            .await,
        403,
    )
    .await;
    assert_eq!(app.rows().await, before, "nothing written");
}
