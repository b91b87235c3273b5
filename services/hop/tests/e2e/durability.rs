//! Nothing acknowledged is lost: `hop up` is killed with SIGKILL in the middle of a create
//! load, restarted on the same store, and every link it had answered 201 for is there,
//! in the database (the API reads it from there) and behind its redirect. On the embedded
//! store and on PostgreSQL.

use super::{Hop, drop_schema, environment, wait_ready};
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Concurrent clients creating links until the kill.
const CLIENTS: usize = 8;
/// How long the load runs before the kill.
const LOAD_FOR: Duration = Duration::from_millis(2500);

async fn kill_under_load_then_check(env: Vec<(&'static str, String)>, port: u16) {
    let base = format!("http://127.0.0.1:{port}");
    let mut hop = Hop::start_clean(&["up"], &env);
    wait_ready(&base).await;

    let acknowledged: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let started = Instant::now();
    let mut clients = Vec::new();
    for client in 0..CLIENTS {
        let (base, acknowledged) = (base.clone(), acknowledged.clone());
        clients.push(tokio::spawn(async move {
            let http = reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .unwrap();
            for n in 0.. {
                let url = format!("https://example.com/{client}/{n}");
                let Ok(response) = http
                    .post(format!("{base}/links"))
                    .json(&serde_json::json!({ "url": url }))
                    .send()
                    .await
                else {
                    break; // the process is gone
                };
                if response.status() != 201 {
                    continue;
                }
                let Ok(created) = response.json::<Value>().await else {
                    break; // killed while the answer was on its way: not acknowledged
                };
                let code = created["code"].as_str().unwrap().to_owned();
                acknowledged.lock().unwrap().push((code, url));
            }
        }));
    }
    tokio::time::sleep(LOAD_FOR.saturating_sub(started.elapsed())).await;
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &hop.child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    for client in clients {
        client.await.unwrap();
    }
    let _ = hop.child.wait();
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(
        acknowledged.len() > 50,
        "too little load to prove anything: {} links",
        acknowledged.len()
    );

    eprintln!("{} links acknowledged before the kill", acknowledged.len());
    let mut again = Hop::start_clean(&["up"], &env);
    wait_ready(&base).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for (code, url) in &acknowledged {
        let stored = http
            .get(format!("{base}/links/{code}"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            stored.status(),
            200,
            "link {code} was answered 201, then lost"
        );
        let stored: Value = stored.json().await.unwrap();
        assert_eq!(stored["url"], url.as_str());
        let followed = http.get(format!("{base}/{code}")).send().await.unwrap();
        assert_eq!(followed.status(), 302, "{code}");
        assert_eq!(followed.headers()["location"], url.as_str());
    }
    assert!(again.terminate().success());
}

fn loaded(mut env: Vec<(&'static str, String)>) -> Vec<(&'static str, String)> {
    env.push(("ANONYMOUS_LINKS", "true".into()));
    env.push(("RATE_LIMIT_CREATE_ANON_IP", "off".into()));
    env
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_create_load_loses_no_acknowledged_link_on_the_embedded_store() {
    let data = tempfile::tempdir().unwrap();
    let port = hop_testkit::free_port();
    let env = vec![
        ("PORT", port.to_string()),
        (
            "HOP_DATA_DIR",
            data.path().join("hop-data").display().to_string(),
        ),
        ("SECRET_KEY", "e2e-secret-key-0123456789".to_owned()),
    ];
    kill_under_load_then_check(loaded(env), port).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_create_load_loses_no_acknowledged_link_on_postgres() {
    let port = hop_testkit::free_port();
    let schema = hop_testkit::unique("kill");
    let env = environment(port, &schema, &format!("{}:", hop_testkit::unique("kill")));
    kill_under_load_then_check(loaded(env), port).await;
    drop_schema(&schema);
}
