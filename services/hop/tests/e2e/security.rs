//! Secure by default, tried from outside the process as an attacker would: the secret `hop
//! up` makes for itself, tokens forged with the key it once fell back to, and raw gRPC
//! calls to the internal services without the deployment's credential.

use super::{HOP, Hop, account, embedded_environment, environment, login, wait_ready};
use serde_json::Value;
use std::os::unix::fs::PermissionsExt as _;
use std::process::Command;
use std::time::Duration;

/// The public key `hop up` once used when SECRET_KEY was unset.
const OLD_DEVELOPMENT_KEY: &str = "hop-development-secret-do-not-use-in-production";

async fn me(base: &str, token: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(format!("{base}/auth/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

fn claims_of(token: &str) -> hop_proto::token::Claims {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

fn events(hop: &Hop, name: &str) -> Vec<Value> {
    hop.json_lines()
        .into_iter()
        .filter(|l| l["event"] == name)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hop_up_without_a_secret_makes_its_own_and_the_old_public_key_forges_nothing() {
    let data = tempfile::tempdir().unwrap();
    let port = hop_testkit::free_port();
    let schema = hop_testkit::unique("e2e_secret");
    let mut env = environment(port, &schema, &format!("{}:", hop_testkit::unique("e2e")));
    env.push((
        "HOP_DATA_DIR",
        data.path().join("hop-data").display().to_string(),
    ));
    makes_its_own_secret(port, env, false).await;
    super::drop_schema(&schema);
}

/// The same on the embedded store, where the data directory holds the database too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_embedded_store_hop_up_without_a_secret_makes_its_own() {
    let data = tempfile::tempdir().unwrap();
    let port = hop_testkit::free_port();
    makes_its_own_secret(port, embedded_environment(port, data.path()), true).await;
}

/// `env` names HOP_DATA_DIR; its SECRET_KEY is left out. `clean`: nothing inherited.
async fn makes_its_own_secret(port: u16, mut env: Vec<(&'static str, String)>, clean: bool) {
    env.retain(|(k, _)| *k != "SECRET_KEY");
    let dir = std::path::PathBuf::from(
        &env.iter()
            .find(|(k, _)| *k == "HOP_DATA_DIR")
            .expect("the environment names HOP_DATA_DIR")
            .1,
    );
    let base = format!("http://127.0.0.1:{port}");
    let start = |env: &[(&str, String)]| {
        if clean {
            Hop::start_clean(&["up"], env)
        } else {
            Hop::start(&["up"], env)
        }
    };

    let mut hop = start(&env);
    wait_ready(&base).await;
    let file = dir.join(hop_kit::secret::SECRET_FILE);
    let secret = std::fs::read_to_string(&file).unwrap();
    let secret = secret.trim();
    assert_eq!(secret.len(), 64, "256 random bits, hex");
    assert!(secret.bytes().all(|b| b.is_ascii_hexdigit()));
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&file), 0o600);
    assert_eq!(mode(&dir), 0o700);

    let token = account(&base, "owner@example.com").await;
    assert_eq!(me(&base, &token).await.status(), 200);
    // The same claims signed with the old public development key are worthless.
    let forged = hop_auth::SigningKey::derive(OLD_DEVELOPMENT_KEY.as_bytes())
        .sign(&claims_of(&token))
        .unwrap();
    let refused = me(&base, &forged).await;
    assert_eq!(refused.status(), 401);
    assert_eq!(
        refused.headers()["www-authenticate"],
        hop_kit::problem::BEARER_CHALLENGE
    );
    // Signed with the generated secret, they verify: it is the deployment's key.
    let resigned = hop_auth::SigningKey::derive(secret.as_bytes())
        .sign(&claims_of(&token))
        .unwrap();
    assert_eq!(me(&base, &resigned).await.status(), 200);

    let generated = events(&hop, "secret_generated");
    assert_eq!(generated.len(), 1, "{:?}", hop.json_lines());
    assert_eq!(generated[0]["path"], file.display().to_string());
    assert!(hop.terminate().success());
    let everything = hop.lines.lock().unwrap().join("\n");
    assert!(!everything.contains(secret), "the secret was logged");

    // A restart reuses it: the token issued before still verifies.
    let mut again = start(&env);
    wait_ready(&base).await;
    assert_eq!(std::fs::read_to_string(&file).unwrap().trim(), secret);
    assert_eq!(me(&base, &token).await.status(), 200);
    assert_eq!(events(&again, "secret_loaded").len(), 1);
    assert!(events(&again, "secret_generated").is_empty());
    assert!(again.terminate().success());
}

/// Raw gRPC calls, the way grpcurl makes them: python's grpcio with no stubs, sending an
/// empty message to a method by its path, with or without a token. Prints one status code
/// name per call.
const RAW_CALLS: &str = r#"
import json, sys, grpc
target, token, calls = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
channel = grpc.insecure_channel(target)
metadata = [("x-hop-service-token", token)] if token else []
out = []
for path in calls:
    if path.endswith("ServerReflectionInfo"):
        call = channel.stream_stream(path)
        try:
            list(call(iter([b""]), timeout=5, metadata=metadata))
            out.append("OK")
        except grpc.RpcError as e:
            out.append(e.code().name)
        continue
    try:
        channel.unary_unary(path)(b"", timeout=5, metadata=metadata)
        out.append("OK")
    except grpc.RpcError as e:
        out.append(e.code().name)
print(json.dumps(out))
"#;

fn raw_calls(target: &str, token: &str, calls: &[&str]) -> Vec<String> {
    let out = Command::new("python3")
        .args(["-c", RAW_CALLS, target, token])
        .arg(serde_json::to_string(calls).unwrap())
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "python3 with grpcio (pip install grpcio): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn internal_grpc_refuses_every_call_without_the_deployments_token() {
    let secret = "e2e-secret-key-0123456789";
    let schema = hop_testkit::unique("e2e_grpc");
    let prefix = format!("{}:", hop_testkit::unique("e2e"));
    let migrate = Command::new(HOP)
        .arg("migrate")
        .env("DATABASE_URL", hop_testkit::database_url())
        .env("DATABASE_SCHEMA", &schema)
        .output()
        .unwrap();
    assert!(migrate.status.success(), "{migrate:?}");
    let (links_port, auth_port) = (hop_testkit::free_port(), hop_testkit::free_port());
    let start = |service: &str, port: u16, reflection: &str| {
        let mut env = environment(port, &schema, &prefix);
        env.push(("ADMIN_PORT", hop_testkit::free_port().to_string()));
        env.push(("GRPC_REFLECTION", reflection.to_owned()));
        Hop::start(&["serve", service], &env)
    };
    let mut links = start("links", links_port, "false");
    let mut auth = start("auth", auth_port, "true");
    let token = hop_kit::service_auth::ServiceToken::derive(
        &hop_kit::secret::Secret::parse(secret).unwrap(),
    );
    let wrong = hop_kit::service_auth::ServiceToken::derive(
        &hop_kit::secret::Secret::parse("another deployment's secret").unwrap(),
    );
    let links_addr = format!("127.0.0.1:{links_port}");
    let auth_addr = format!("127.0.0.1:{auth_port}");
    let health = "/grpc.health.v1.Health/Check";
    let reflection = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo";
    // Wait until both answer health checks (which need no token).
    for addr in [&links_addr, &auth_addr] {
        let what = format!("{addr} answers grpc.health");
        hop_testkit::until(&what, Duration::from_secs(10), || async {
            raw_calls(addr, "", &[health]) == ["OK"]
        })
        .await;
    }

    let links_calls = [
        "/hop.links.v1.LinkService/GetLink",
        "/hop.links.v1.LinkService/UpdateLink",
        "/hop.links.v1.LinkService/DeleteLink",
        "/hop.links.v1.LinkService/CreateLink",
        reflection,
    ];
    let auth_calls = [
        "/hop.auth.v1.AuthService/Login",
        "/hop.auth.v1.AuthService/GetPublicKeys",
        "/hop.auth.v1.AuthService/CheckSession",
        "/hop.auth.v1.AuthService/LogoutEverywhere",
        reflection,
    ];
    for presented in ["", wrong.expose(), "not even base64!"] {
        let refused = |calls: &[&str]| vec!["UNAUTHENTICATED".to_owned(); calls.len()];
        assert_eq!(
            raw_calls(&links_addr, presented, &links_calls),
            refused(&links_calls),
            "links, token {presented:?}"
        );
        assert_eq!(
            raw_calls(&auth_addr, presented, &auth_calls),
            refused(&auth_calls),
            "auth, token {presented:?}"
        );
    }
    // With the token, the calls reach the service: a link that does not exist, the public
    // keys, reflection where it is on (auth) and nowhere else (links).
    assert_eq!(
        raw_calls(
            &links_addr,
            token.expose(),
            &["/hop.links.v1.LinkService/GetLink", reflection]
        ),
        ["NOT_FOUND", "UNIMPLEMENTED"]
    );
    assert_eq!(
        raw_calls(
            &auth_addr,
            token.expose(),
            &["/hop.auth.v1.AuthService/GetPublicKeys"]
        ),
        ["OK"]
    );
    let reflected = raw_calls(&auth_addr, token.expose(), &[reflection]);
    assert!(
        !["UNIMPLEMENTED", "UNAUTHENTICATED"].contains(&reflected[0].as_str()),
        "GRPC_REFLECTION=true serves reflection to a caller with the token: {reflected:?}"
    );
    // `hop service-token` prints the same credential, for operators' grpcurl.
    let printed = Command::new(HOP)
        .arg("service-token")
        .env("SECRET_KEY", secret)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&printed.stdout).trim(),
        token.expose()
    );
    assert!(links.terminate().success());
    assert!(auth.terminate().success());
}

async fn create(base: &str, token: &str, body: Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{base}/links"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hop_up_refuses_loops_blocked_and_private_targets_and_no_alias_is_shadowed() {
    let port = hop_testkit::free_port();
    let schema = hop_testkit::unique("e2e_targets");
    let env = environment(port, &schema, &format!("{}:", hop_testkit::unique("e2e")));
    refuses_loops_blocked_and_private_targets(port, env, false).await;
    super::drop_schema(&schema);
}

/// The same on the embedded store: the target policy is the links service's, whatever
/// stores it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hop_up_on_the_embedded_store_refuses_loops_blocked_and_private_targets() {
    let port = hop_testkit::free_port();
    let data = tempfile::tempdir().unwrap();
    let env = embedded_environment(port, data.path());
    refuses_loops_blocked_and_private_targets(port, env, true).await;
}

async fn refuses_loops_blocked_and_private_targets(
    port: u16,
    mut env: Vec<(&'static str, String)>,
    clean: bool,
) {
    let dir = tempfile::tempdir().unwrap();
    let blocklist = dir.path().join("blocked.txt");
    std::fs::write(&blocklist, "# abuse reports\nphish.example\n").unwrap();
    env.push(("BLOCKED_HOSTS", "malware.example".to_owned()));
    env.push(("BLOCKED_HOSTS_FILE", blocklist.display().to_string()));
    let base = format!("http://127.0.0.1:{port}");
    let mut hop = if clean {
        Hop::start_clean(&["up"], &env)
    } else {
        Hop::start(&["up"], &env)
    };
    wait_ready(&base).await;
    let token = account(&base, "targets@example.com").await;

    // hop up's public base is http://localhost:<port>: every spelling of it is a loop.
    for spelling in [
        format!("http://localhost:{port}/x"),
        format!("http://LocalHost.:{port}/x"),
        format!("http://app.localhost:{port}/x"),
        format!("http://127.0.0.1:{port}/x"),
        format!("http://127.1:{port}/x"),
        format!("http://[::1]:{port}/x"),
        format!("http://2130706433:{port}/x"),
        format!("http://0x7f000001:{port}/x"),
        format!("https://localhost:{port}/x"),
    ] {
        let (status, problem) = create(&base, &token, serde_json::json!({"url": spelling})).await;
        assert_eq!(status, 400, "{spelling}: {problem}");
        assert_eq!(problem["type"], "/problems/redirect-loop", "{spelling}");
        assert_eq!(problem["errors"][0]["field"], "url");
    }
    for private in [
        "http://10.0.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00::1]/",
        "http://localhost:9/other-program",
    ] {
        let (status, problem) = create(&base, &token, serde_json::json!({"url": private})).await;
        assert_eq!(status, 400, "{private}: {problem}");
        assert_eq!(problem["type"], "/problems/private-target", "{private}");
    }
    for blocked in ["https://malware.example/x", "https://login.phish.example/"] {
        let (status, problem) = create(&base, &token, serde_json::json!({"url": blocked})).await;
        assert_eq!(status, 400, "{blocked}: {problem}");
        assert_eq!(problem["type"], "/problems/blocked-host", "{blocked}");
    }
    // The operator adds a host to the file: refused within seconds, no restart.
    let (status, created) = create(
        &base,
        &token,
        serde_json::json!({"url": "https://fresh.example/a"}),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    std::fs::write(&blocklist, "phish.example\nfresh.example\n").unwrap();
    let problem = hop_testkit::eventually(
        "the reloaded blocklist applies",
        Duration::from_secs(5),
        || async {
            let (status, problem) = create(
                &base,
                &token,
                serde_json::json!({"url": "https://fresh.example/b"}),
            )
            .await;
            (status == 400).then_some(problem)
        },
    )
    .await;
    assert_eq!(problem["type"], "/problems/blocked-host");
    // An edit that points a link at a loop is refused the same way.
    let code = created["code"].as_str().unwrap();
    let patched = reqwest::Client::new()
        .patch(format!("{base}/links/{code}"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"url": format!("http://127.0.0.1:{port}/")}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 400);
    let problem: Value = patched.json().await.unwrap();
    assert_eq!(problem["type"], "/problems/redirect-loop");

    // Aliases that start like a route are accepted and redirect; the route words are not.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for alias in [
        "healthy",
        "health-check",
        "linksys",
        "authority",
        "metrics2",
    ] {
        let (status, body) = create(
            &base,
            &token,
            serde_json::json!({"url": "https://example.com/ok", "alias": alias}),
        )
        .await;
        assert_eq!(status, 201, "{alias}: {body}");
        let followed = http.get(format!("{base}/{alias}")).send().await.unwrap();
        assert_eq!(followed.status(), 302, "GET /{alias}");
    }
    for alias in ["health", "Links", "AUTH", "metrics"] {
        let (status, body) = create(
            &base,
            &token,
            serde_json::json!({"url": "https://example.com/no", "alias": alias}),
        )
        .await;
        assert_eq!(status, 400, "{alias}: {body}");
    }
    // A write to a short code is a 405 naming what it allows.
    let post = http.post(format!("{base}/healthy")).send().await.unwrap();
    assert_eq!(post.status(), 405);
    assert_eq!(post.headers()["allow"], "GET, HEAD");

    // A client that is not a trusted proxy cannot put its request into a trace of its
    // choosing (nor force it sampled), and authenticated answers are never cached.
    let forged_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let me = http
        .get(format!("{base}/auth/me"))
        .bearer_auth(&token)
        .header(
            "traceparent",
            format!("00-{forged_trace}-00f067aa0ba902b7-01"),
        )
        .header("x-request-id", "forged-trace-1")
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    assert_eq!(me.headers()["cache-control"], "no-store");
    assert!(hop.terminate().success());
    let line = hop
        .json_lines()
        .into_iter()
        .find(|l| l["request_id"] == "forged-trace-1" && l["event"] == "request_completed")
        .expect("the request's line");
    assert_ne!(line["trace_id"], forged_trace, "{line}");
}
/// Logout is effective for the very next request, round after round, in `hop up` itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logged_out_token_is_refused_by_the_very_next_request() {
    let port = hop_testkit::free_port();
    let schema = hop_testkit::unique("e2e_logout");
    let env = environment(
        port,
        &schema,
        &format!("{}:", hop_testkit::unique("e2e_logout")),
    );
    logged_out_token_refused_at_once(port, env, false).await;
    super::drop_schema(&schema);
}

/// The same on the embedded store, where the deny-list travels on the in-process bus.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_embedded_store_a_logged_out_token_is_refused_by_the_very_next_request() {
    let port = hop_testkit::free_port();
    let data = tempfile::tempdir().unwrap();
    logged_out_token_refused_at_once(port, embedded_environment(port, data.path()), true).await;
}

async fn logged_out_token_refused_at_once(
    port: u16,
    mut env: Vec<(&'static str, String)>,
    clean: bool,
) {
    for limit in [
        "RATE_LIMIT_LOGIN_IP_EMAIL",
        "RATE_LIMIT_LOGIN_IP",
        "RATE_LIMIT_LOGIN_EMAIL",
    ] {
        env.push((limit, "off".to_owned()));
    }
    let _hop = if clean {
        Hop::start_clean(&["up"], &env)
    } else {
        Hop::start(&["up"], &env)
    };
    let base = format!("http://127.0.0.1:{port}");
    wait_ready(&base).await;
    let http = reqwest::Client::new();
    account(&base, "looper@example.com").await;
    for round in 0..50 {
        let token = login(&base, "looper@example.com").await;
        let me = || {
            http.get(format!("{base}/auth/me"))
                .bearer_auth(&token)
                .send()
        };
        assert_eq!(me().await.unwrap().status(), 200, "round {round}");
        let logout = http
            .post(format!("{base}/auth/logout"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(logout.status(), 204, "round {round}");
        assert_eq!(
            me().await.unwrap().status(),
            401,
            "round {round}: the very next request"
        );
    }
}

/// An API key is never written anywhere an operator reads: not in the logs (at debug
/// level, the log file included), not in `/metrics`; the log line names the key's id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_never_appear_in_logs_or_metrics() {
    let data = tempfile::tempdir().unwrap();
    let port = hop_testkit::free_port();
    keys_never_logged(
        port,
        embedded_environment(port, data.path()),
        data.path(),
        true,
    )
    .await;
}

/// The same on PostgreSQL and Redis, where the key's check also crosses Redis.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_api_keys_never_appear_in_logs_or_metrics() {
    let data = tempfile::tempdir().unwrap();
    let port = hop_testkit::free_port();
    let schema = hop_testkit::unique("e2e_keys");
    let env = environment(
        port,
        &schema,
        &format!("{}:", hop_testkit::unique("e2e_keys")),
    );
    keys_never_logged(port, env, data.path(), false).await;
    super::drop_schema(&schema);
}

/// `env` plus debug logs into a file in `logs`; `clean`: nothing inherited.
async fn keys_never_logged(
    port: u16,
    mut env: Vec<(&'static str, String)>,
    logs: &std::path::Path,
    clean: bool,
) {
    let log_file = logs.join("hop.log");
    env.push(("LOG_LEVEL", "debug".to_owned()));
    env.push(("LOG_FILE_PATH", log_file.display().to_string()));
    let hop = if clean {
        Hop::start_clean(&["up"], &env)
    } else {
        Hop::start(&["up"], &env)
    };
    let base = format!("http://127.0.0.1:{port}");
    wait_ready(&base).await;
    let token = account(&base, "keys-e2e@example.com").await;
    let http = reqwest::Client::new();
    let key: Value = http
        .post(format!("{base}/auth/api-keys"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"name": "e2e"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let secret = key["key_secret"].as_str().unwrap().to_owned();
    let id = key["id"].as_str().unwrap().to_owned();
    let created = http
        .post(format!("{base}/links"))
        .header("x-api-key", &secret)
        .json(&serde_json::json!({"url": "https://example.com/logged"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let listed = http
        .get(format!("{base}/links"))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), 200);
    // A wrong key is not logged either.
    let wrong = format!("hop_{}", "Z".repeat(43));
    let refused = http
        .get(format!("{base}/links"))
        .header("x-api-key", &wrong)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let metrics = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut logged = std::fs::read_to_string(&log_file).unwrap_or_default();
    logged.push_str(&hop.lines.lock().unwrap().join("\n"));
    for text in [&metrics, &logged] {
        assert!(!text.contains(&secret[4..]), "the key leaked");
        assert!(!text.contains(&wrong[4..]), "the wrong key leaked");
    }
    assert!(
        hop.json_lines()
            .iter()
            .any(|l| l["event"] == "request_completed" && l["api_key_id"] == id.as_str()),
        "the request line names the key's id"
    );
}
