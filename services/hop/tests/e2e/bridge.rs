//! Moving from the embedded store to PostgreSQL: `hop copy-to-postgres`, then `hop up` on
//! PostgreSQL serves every code, every login and every stat the embedded instance served.

use super::{HOP, Hop, account, drop_schema, login, wait_ready};
use serde_json::Value;
use std::process::{Command, Output};
use std::time::Duration;

const BROWSER: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";

/// What a user sees of one link: its redirect, its metadata and (for its owner) its stats.
#[derive(Debug, PartialEq)]
struct Seen {
    status: u16,
    location: Option<String>,
    metadata: Value,
    stats: Value,
}

/// Hourly stats over a fixed window around now, the same for both instances.
fn window() -> String {
    let day =
        |d: i64| (chrono::Utc::now() + chrono::Duration::days(d)).format("%Y-%m-%dT00:00:00Z");
    format!("from={}&to={}&unit=hour", day(-1), day(1))
}

/// The owner's view of a link's stats.
async fn stats(base: &str, code: &str, token: &str) -> Value {
    reqwest::Client::new()
        .get(format!("{base}/links/{code}/stats?{}", window()))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn seen(base: &str, code: &str, token: &str) -> Seen {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let metadata = http
        .get(format!("{base}/links/{code}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let mut metadata: Value = metadata.json().await.unwrap();
    // The one field that names the instance (its port) rather than the link.
    if let Some(fields) = metadata.as_object_mut() {
        fields.remove("short_url");
    }
    let stats = stats(base, code, token).await;
    // Last, and as a bot: the look is a click, which the stats (bots excluded) leave out.
    let followed = http
        .head(format!("{base}/{code}"))
        .header(
            "user-agent",
            "Googlebot/2.1 (+http://www.google.com/bot.html)",
        )
        .send()
        .await
        .unwrap();
    Seen {
        status: followed.status().as_u16(),
        location: followed
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_owned()),
        metadata,
        stats,
    }
}

fn copy(data: &std::path::Path, schema: &str) -> Output {
    Command::new(HOP)
        .args(["copy-to-postgres", "--no-progress", "--sessions"])
        .env_clear()
        .env("HOP_DATA_DIR", data)
        .env("DATABASE_URL", hop_testkit::database_url())
        .env("DATABASE_SCHEMA", schema)
        .output()
        .unwrap()
}

fn embedded_env(data: &std::path::Path, port: u16) -> Vec<(&'static str, String)> {
    vec![
        ("PORT", port.to_string()),
        ("HOP_DATA_DIR", data.display().to_string()),
        ("CLICK_FLUSH_MS", "100".into()),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_copy_postgres_serves_every_code_login_and_stat() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("hop-data");
    let port = hop_testkit::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut hop = Hop::start_clean(&["up"], &embedded_env(&data, port));
    wait_ready(&base).await;

    let http = reqwest::Client::builder()
        .user_agent(BROWSER)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let ada = account(&base, "ada@example.com").await;
    let bob = account(&base, "bob@example.com").await;
    let create = |token: &str, body: Value| {
        let (http, base, token) = (http.clone(), base.clone(), token.to_owned());
        async move {
            let r = http
                .post(format!("{base}/links"))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 201);
            r.json::<Value>().await.unwrap()["code"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let aliased = create(
        &ada,
        serde_json::json!({"url": "https://example.com/a", "alias": "moving-day"}),
    )
    .await;
    let minted = create(
        &ada,
        serde_json::json!({"url": "https://example.com/b", "title": "B"}),
    )
    .await;
    let edited = create(&bob, serde_json::json!({"url": "https://example.com/c"})).await;
    let deleted = create(&bob, serde_json::json!({"url": "https://example.com/d"})).await;
    let patched = http
        .patch(format!("{base}/links/{edited}"))
        .bearer_auth(&bob)
        .json(&serde_json::json!({"url": "https://example.com/c2", "redirect_type": 301}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 200);
    let removed = http
        .delete(format!("{base}/links/{deleted}"))
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status(), 204);
    for (code, times) in [(&aliased, 3), (&minted, 1), (&edited, 2)] {
        for _ in 0..times {
            let r = http
                .get(format!("{base}/{code}"))
                .header("referer", "https://news.example.org/item")
                .send()
                .await
                .unwrap();
            assert!(r.status().is_redirection());
        }
    }
    let owned = [
        (aliased.clone(), ada.clone()),
        (minted.clone(), ada.clone()),
        (edited.clone(), bob.clone()),
        (deleted.clone(), bob.clone()),
    ];
    hop_testkit::until(
        "the clicks are counted",
        Duration::from_secs(10),
        || async {
            stats(&base, &aliased, &ada).await["total"] == 3
                && stats(&base, &edited, &bob).await["total"] == 2
        },
    )
    .await;
    let mut before = Vec::new();
    for (code, token) in &owned {
        before.push(seen(&base, code, token).await);
    }
    assert!(hop.terminate().success());

    let schema = hop_testkit::unique("bridge");
    let first = copy(&data, &schema);
    let report = String::from_utf8_lossy(&first.stdout);
    assert!(
        first.status.success(),
        "{report}{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(
        report.contains("users: 2 copied, 0 already there"),
        "{report}"
    );
    assert!(
        report.contains("links: 4 copied, 0 already there"),
        "{report}"
    );
    // Safe to run twice: the second copy adds nothing.
    let second = copy(&data, &schema);
    let report = String::from_utf8_lossy(&second.stdout);
    assert!(
        second.status.success(),
        "{report}{}",
        String::from_utf8_lossy(&second.stderr)
    );
    assert!(
        report.contains("users: 0 copied, 2 already there"),
        "{report}"
    );
    assert!(
        report.contains("links: 0 copied, 4 already there"),
        "{report}"
    );
    assert!(report.contains("clicks: 0 copied"), "{report}");

    // hop up on PostgreSQL and Redis, with the same data directory for its secret.
    let port = hop_testkit::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut env = super::environment(
        port,
        &schema,
        &format!("{}:", hop_testkit::unique("bridge")),
    );
    env.retain(|(k, _)| *k != "SECRET_KEY");
    env.push(("HOP_DATA_DIR", data.display().to_string()));
    let mut hop = Hop::start_clean(&["up"], &env);
    wait_ready(&base).await;
    let ada = login(&base, "ada@example.com").await;
    let bob = login(&base, "bob@example.com").await;
    let tokens = [&ada, &ada, &bob, &bob];
    for (((code, _), token), was) in owned.iter().zip(tokens).zip(&before) {
        assert_eq!(&seen(&base, code, token).await, was, "{code}");
    }
    // New links get new codes and ids: nothing the embedded store handed out is reused.
    let http = reqwest::Client::new();
    for _ in 0..3 {
        let created: Value = http
            .post(format!("{base}/links"))
            .bearer_auth(&ada)
            .json(&serde_json::json!({"url": "https://example.com/new"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let code = created["code"].as_str().unwrap();
        assert!(
            owned.iter().all(|(c, _)| c != code),
            "{code} handed out twice"
        );
    }
    let again = http
        .post(format!("{base}/auth/register"))
        .json(&serde_json::json!({"email": "carol@example.com", "password": "a long enough password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        again.status(),
        201,
        "the user id sequence is past the copied ids"
    );
    assert!(hop.terminate().success());

    // Another embedded store whose first user is someone else: the copy into the same
    // database is refused before it writes anything.
    let other = root.path().join("other");
    let port = hop_testkit::free_port();
    let other_base = format!("http://127.0.0.1:{port}");
    let mut hop = Hop::start_clean(&["up"], &embedded_env(&other, port));
    wait_ready(&other_base).await;
    account(&other_base, "eve@example.com").await;
    assert!(hop.terminate().success());
    let refused = copy(&other, &schema);
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(
        said.contains("nothing was copied") && said.contains("eve@example.com"),
        "{said}"
    );
    drop_schema(&schema);
}
