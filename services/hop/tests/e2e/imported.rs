//! An import, then the product: the clicks of an export are in the link's stats exactly
//! as recorded clicks would be (a referrer-less click is "(direct)", never a host named ""),
//! on PostgreSQL and on the embedded store.

use super::{HOP, Hop, drop_schema, embedded_environment, environment, login, wait_ready};
use serde_json::Value;
use std::io::Write as _;
use std::process::{Command, Stdio};

/// Runs `hop` with `args` and `stdin`; panics with its stderr when it fails. `clean`:
/// nothing of the caller's environment but `PATH`.
fn hop(args: &[&str], env: &[(&str, String)], clean: bool, stdin: &[u8]) -> String {
    let mut command = Command::new(HOP);
    if clean {
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default());
    }
    let mut child = command
        .args(args)
        .envs(env.iter().cloned())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "hop {args:?}: {stderr}");
    stderr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imported_clicks_show_as_direct_in_the_links_stats() {
    let port = hop_testkit::free_port();
    let schema = hop_testkit::unique("e2eimp");
    let env = environment(
        port,
        &schema,
        &format!("{}:", hop_testkit::unique("e2eimp")),
    );
    imported_clicks_are_direct(port, &env, false).await;
    drop_schema(&schema);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_embedded_store_imported_clicks_show_as_direct_in_the_links_stats() {
    let data = tempfile::tempdir().unwrap();
    let port = hop_testkit::free_port();
    imported_clicks_are_direct(port, &embedded_environment(port, data.path()), true).await;
}

async fn imported_clicks_are_direct(port: u16, env: &[(&'static str, String)], clean: bool) {
    let export = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| std::fs::write(export.path().join(name), text).unwrap();
    write(
        "seed-users.csv",
        "id,username,email,created_at\n7,ada,ada@example.com,2025-01-01 00:00:00\n",
    );
    write(
        "seed-urls.csv",
        "id,user_id,short_code,original_url,title,is_active,created_at,updated_at\n\
         3,7,abc123,https://example.com/x,X,True,2025-01-01 00:00:00,2025-01-02 00:00:00\n",
    );
    write(
        "seed-events.csv",
        "id,url_id,user_id,event_type,timestamp,details\n\
         1,3,7,created,2025-01-01 00:00:00,{}\n\
         2,3,,click,2025-01-03 10:15:00,\n\
         3,3,,click,2025-01-03 10:15:00,\n\
         4,3,,click,2025-01-04 09:00:00,\n",
    );
    let dir = export.path().to_str().unwrap();
    let report = hop(&["import", dir, "--no-progress"], env, clean, b"");
    assert!(report.contains("3 clicks"), "{report}");
    hop(
        &["users", "set-password", "ada@example.com"],
        env,
        clean,
        b"a long enough password\n",
    );

    let hop = if clean {
        Hop::start_clean(&["up"], env)
    } else {
        Hop::start(&["up"], env)
    };
    let base = format!("http://127.0.0.1:{port}");
    wait_ready(&base).await;
    let token = login(&base, "ada@example.com").await;
    let stats: Value = reqwest::Client::new()
        .get(format!(
            "{base}/links/abc123/stats?from=2025-01-01T00:00:00Z&to=2025-01-08T00:00:00Z"
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["total"], 3, "{stats}");
    assert_eq!(
        stats["top_referrers"],
        serde_json::json!([{"host": "(direct)", "clicks": 3}]),
        "{stats}"
    );
    assert_eq!(stats["agent_classes"], serde_json::json!({"other": 3}));

    drop(hop);
}
