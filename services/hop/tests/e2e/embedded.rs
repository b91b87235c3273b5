//! `hop up` with no database or Redis settings at all: the embedded store and the
//! in-process bus. The test re-runs itself in a private network namespace (`unshare -rn`:
//! only a loopback, so the machine's PostgreSQL and Redis cannot be reached), listens there
//! on the ports hop used to default to (5432, 6379) and proves that nothing connected to
//! them while hop served a user's whole day: register, create, follow, edit, follow again,
//! stats, log out, restart.

use super::{Hop, landing_page, wait_ready};
use serde_json::Value;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Set in the namespace the outer test made; the inner test runs only there.
const INSIDE: &str = "HOP_E2E_PRIVATE_NETWORK";

const BROWSER: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";

#[test]
fn hop_up_runs_on_nothing_but_a_file() {
    if std::env::var_os(INSIDE).is_some() {
        return; // the inner run executes only the ignored test below
    }
    let test_binary = std::env::current_exe().unwrap();
    let out = Command::new("unshare")
        .args(["-rn", "sh", "-c", r#"ip link set lo up && exec "$0" "$@""#])
        .arg(&test_binary)
        .args([
            "embedded::in_a_private_network",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(INSIDE, "1")
        .output()
        .expect("unshare (util-linux) runs");
    let report = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "the private-network run failed:\n{report}"
    );
    assert!(
        report.contains("1 passed"),
        "the inner test did not run:\n{report}"
    );
}

/// Counts the connections made to a port, as a stand-in server that never answers.
fn tripwire(port: u16) -> Arc<AtomicUsize> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", port))
        .unwrap_or_else(|e| panic!("binding 127.0.0.1:{port} in the private network: {e}"));
    let seen = Arc::new(AtomicUsize::new(0));
    let count = seen.clone();
    std::thread::spawn(move || {
        for connection in listener.incoming() {
            count.fetch_add(1, Ordering::SeqCst);
            drop(connection);
        }
    });
    seen
}

/// The TCP ports something listens on in this network namespace (`/proc/net/tcp*`,
/// state 0A).
fn listening_ports() -> Vec<u16> {
    let mut ports = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.get(3) == Some(&"0A")
                && let Some(port) = fields[1].rsplit(':').next()
            {
                ports.push(u16::from_str_radix(port, 16).unwrap());
            }
        }
    }
    ports
}

fn start(data: &std::path::Path, port: u16) -> Hop {
    // Nothing from the caller's environment: no DATABASE_*, no REDIS_*, no SECRET_KEY.
    let env: Vec<(&str, String)> = vec![
        ("PORT", port.to_string()),
        ("HOP_DATA_DIR", data.display().to_string()),
        ("INSTANCE_ID", "embedded-1".into()),
        // The landing page listens on loopback: a private target, allowed here.
        ("ALLOW_PRIVATE_TARGETS", "true".into()),
        ("CLICK_FLUSH_MS", "100".into()),
    ];
    Hop::start_clean(&["up"], &env)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "runs inside the private network that hop_up_runs_on_nothing_but_a_file makes"]
async fn in_a_private_network() {
    assert!(
        std::env::var_os(INSIDE).is_some(),
        "run by hop_up_runs_on_nothing_but_a_file"
    );
    let postgres = tripwire(5432);
    let redis = tripwire(6379);
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().join("hop-data");
    let port = hop_testkit::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut hop = start(&data_dir, port);
    wait_ready(&base).await;

    // hop up listens on its one port and nowhere else: links and auth are called in
    // process, with no gRPC port for anyone on the machine (this network namespace holds
    // only this test's sockets).
    let mut listening = listening_ports();
    listening.sort_unstable();
    let mut expected = vec![5432, 6379, port];
    expected.sort_unstable();
    assert_eq!(listening, expected, "listening TCP ports");

    // Readiness covers the embedded store, and nothing else is a dependency.
    let ready: Value = reqwest::get(format!("{base}/health/ready"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let checks: Vec<&String> = ready["checks"].as_object().unwrap().keys().collect();
    assert!(checks.iter().any(|c| c.ends_with(".sqlite")), "{ready}");
    assert!(
        !checks
            .iter()
            .any(|c| c.contains("postgres") || c.contains("redis")),
        "{ready}"
    );

    let http = reqwest::Client::builder()
        .user_agent(BROWSER)
        .build()
        .unwrap();
    let token = super::account(&base, "embedded@example.com").await;
    let first = landing_page().await;
    let created: Value = http
        .post(format!("{base}/links"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"url": first, "alias": "on-a-file"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(created["code"], "on-a-file", "{created}");
    let page = http.get(format!("{base}/on-a-file")).send().await.unwrap();
    assert_eq!(page.url().as_str(), first);

    // An edit reaches the redirect at once: the in-process channel evicts L1.
    let second = format!("{first}?edited=1");
    let edited = http
        .patch(format!("{base}/links/on-a-file"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"url": second}))
        .send()
        .await
        .unwrap();
    assert_eq!(edited.status(), 200);
    let page = http.get(format!("{base}/on-a-file")).send().await.unwrap();
    assert_eq!(page.url().as_str(), second);

    // Both clicks are counted, in the embedded store.
    hop_testkit::until(
        "the two clicks are in the stats",
        Duration::from_secs(10),
        || {
            let (http, base, token) = (http.clone(), base.clone(), token.clone());
            async move {
                let stats: Value = http
                    .get(format!("{base}/links/on-a-file/stats"))
                    .bearer_auth(&token)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                stats["total"] == 2
            }
        },
    )
    .await;

    // Logging out ends the session at once: the revocation reaches the gateway in process.
    let logout = http
        .post(format!("{base}/auth/logout"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 204);
    let after = http
        .get(format!("{base}/links"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 401);

    assert!(hop.terminate().success());

    // What it made is private to its user.
    use std::os::unix::fs::PermissionsExt as _;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data_dir), 0o700);
    assert_eq!(mode(&data_dir.join("hop.db")), 0o600);

    // Restarted on the same directory: the link, the account and the stats are there.
    let mut hop = start(&data_dir, port);
    wait_ready(&base).await;
    let page = http.get(format!("{base}/on-a-file")).send().await.unwrap();
    assert_eq!(page.url().as_str(), second);
    let token = super::login(&base, "embedded@example.com").await;
    let mine: Value = http
        .get(format!("{base}/links"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(mine["items"][0]["code"], "on-a-file", "{mine}");
    assert!(hop.terminate().success());

    assert_eq!(
        postgres.load(Ordering::SeqCst),
        0,
        "something connected to :5432"
    );
    assert_eq!(
        redis.load(Ordering::SeqCst),
        0,
        "something connected to :6379"
    );
    let lines = hop.json_lines();
    assert!(
        lines
            .iter()
            .any(|l| l["event"] == "hop_up_storage" && l["shared"] == "in-process"),
        "hop up says what it runs on"
    );
}

/// A data directory hop cannot use stops `hop up` at start, naming the path and the
/// variable, and leaves what is there untouched.
#[test]
fn an_unusable_data_directory_stops_hop_up_naming_the_path() {
    let root = tempfile::tempdir().unwrap();
    let fails = |data: &std::path::Path| {
        let out = Command::new(super::HOP)
            .arg("up")
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("PORT", "0")
            .env("HOP_DATA_DIR", data)
            .output()
            .unwrap();
        assert!(
            !out.status.success(),
            "hop up started on {}",
            data.display()
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    };

    // Not a SQLite file.
    let garbage = root.path().join("garbage");
    std::fs::create_dir(&garbage).unwrap();
    std::fs::write(garbage.join("hop.db"), vec![b'x'; 8192]).unwrap();
    let said = fails(&garbage);
    assert!(
        said.contains("HOP_DATA_DIR") && said.contains("hop.db"),
        "{said}"
    );
    assert_eq!(
        std::fs::read(garbage.join("hop.db")).unwrap(),
        vec![b'x'; 8192]
    );

    // A directory that cannot be created: its parent is a file.
    let file = root.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let said = fails(&file.join("hop-data"));
    assert!(
        said.contains("HOP_DATA_DIR") && said.contains("a-file"),
        "{said}"
    );

    // Some other program's SQLite database, and one from a newer hop.
    let sqlite = |dir: &str, pragmas: &str| {
        let path = root.path().join(dir);
        std::fs::create_dir(&path).unwrap();
        let script = format!(
            "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute('create table t(x)'); \
             {pragmas} c.commit()"
        );
        let made = Command::new("python3")
            .args(["-c", &script])
            .arg(path.join("hop.db"))
            .status()
            .unwrap();
        assert!(made.success());
        path
    };
    let said = fails(&sqlite("other", ""));
    assert!(
        said.contains("HOP_DATA_DIR") && said.contains("hop.db"),
        "{said}"
    );
    let newer = sqlite(
        "newer",
        "c.execute('pragma application_id = 1752133665'); c.execute('pragma user_version = 99');",
    );
    let said = fails(&newer);
    assert!(said.contains("newer"), "{said}");
}

/// `hop backup` copies the store beside a running `hop up`; the copy serves as a data
/// directory of its own; a second `hop up` on a directory in use stops at start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_while_serving_restores_every_link() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("hop-data");
    let port = hop_testkit::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let env = |data: &std::path::Path, port: u16| -> Vec<(&'static str, String)> {
        vec![
            ("PORT", port.to_string()),
            ("HOP_DATA_DIR", data.display().to_string()),
            ("SECRET_KEY", "e2e-secret-key-0123456789".into()),
            ("ANONYMOUS_LINKS", "true".into()),
        ]
    };
    let mut hop = Hop::start_clean(&["up"], &env(&data, port));
    wait_ready(&base).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let created = http
        .post(format!("{base}/links"))
        .json(&serde_json::json!({"url": "https://example.com/kept", "alias": "kept"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);

    let backup = |file: &std::path::Path| {
        Command::new(super::HOP)
            .arg("backup")
            .arg(file)
            .env_clear()
            .env("HOP_DATA_DIR", &data)
            .output()
            .unwrap()
    };
    let copy = root.path().join("copy.db");
    let out = backup(&copy);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(&copy).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "a backup holds password hashes");
    let again = backup(&copy);
    assert!(!again.status.success(), "a backup never overwrites");

    // The directory is this process's: a second hop up on it stops, saying so.
    let second = Command::new(super::HOP)
        .arg("up")
        .env_clear()
        .env("PORT", "0")
        .env("HOP_DATA_DIR", &data)
        .output()
        .unwrap();
    assert!(!second.status.success());
    let said = String::from_utf8_lossy(&second.stderr);
    assert!(said.contains("in use by another hop"), "{said}");
    assert!(hop.terminate().success());

    let restored = root.path().join("restored");
    std::fs::create_dir(&restored).unwrap();
    std::fs::copy(&copy, restored.join("hop.db")).unwrap();
    let port = hop_testkit::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut hop = Hop::start_clean(&["up"], &env(&restored, port));
    wait_ready(&base).await;
    let followed = http.get(format!("{base}/kept")).send().await.unwrap();
    assert_eq!(followed.status(), 302);
    assert_eq!(followed.headers()["location"], "https://example.com/kept");
    assert!(hop.terminate().success());
}
