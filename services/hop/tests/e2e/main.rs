//! The built `hop` binary, run as a user would: on a real port, against the real
//! PostgreSQL and Redis, configured only through the environment.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod bridge;
mod durability;
mod embedded;
mod full_disk;
mod imported;
mod security;

const HOP: &str = env!("CARGO_BIN_EXE_hop");

/// A running `hop` process whose stdout lines are collected.
struct Hop {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Hop {
    fn start(args: &[&str], env: &[(&str, String)]) -> Self {
        let mut command = Command::new(HOP);
        command.env_remove("SECRET_KEY").env_remove("HOP_DATA_DIR");
        Self::spawn(command, args, env)
    }

    /// Like [`Hop::start`], with nothing of the caller's environment but `PATH`.
    fn start_clean(args: &[&str], env: &[(&str, String)]) -> Self {
        let mut command = Command::new(HOP);
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default());
        Self::spawn(command, args, env)
    }

    fn spawn(mut command: Command, args: &[&str], env: &[(&str, String)]) -> Self {
        command
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().expect("hop starts");
        let stdout = child.stdout.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Self { child, lines }
    }

    fn json_lines(&self) -> Vec<Value> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect()
    }

    fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "hop did not stop after SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Hop {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn environment(port: u16, schema: &str, prefix: &str) -> Vec<(&'static str, String)> {
    vec![
        ("PORT", port.to_string()),
        ("DATABASE_URL", hop_testkit::database_url()),
        ("DATABASE_SCHEMA", schema.to_owned()),
        ("REDIS_URL", hop_testkit::redis_url()),
        ("REDIS_KEY_PREFIX", prefix.to_owned()),
        ("SECRET_KEY", "e2e-secret-key-0123456789".to_owned()),
        ("INSTANCE_ID", "e2e-1".to_owned()),
    ]
}

/// `hop up` on the embedded store in `data` and the in-process bus: no database or Redis
/// settings (start it with [`Hop::start_clean`], so none are inherited either).
fn embedded_environment(port: u16, data: &std::path::Path) -> Vec<(&'static str, String)> {
    vec![
        ("PORT", port.to_string()),
        ("HOP_DATA_DIR", data.join("hop-data").display().to_string()),
        ("SECRET_KEY", "e2e-secret-key-0123456789".to_owned()),
        ("INSTANCE_ID", "e2e-1".to_owned()),
    ]
}

/// Removes a test's schema from the shared database (best effort).
fn drop_schema(schema: &str) {
    let _ = Command::new("psql")
        .args([
            &hop_testkit::database_url(),
            "-c",
            &format!("DROP SCHEMA IF EXISTS {schema} CASCADE"),
        ])
        .output();
}

async fn wait_ready(base: &str) {
    let http = reqwest::Client::new();
    hop_testkit::until("hop up is ready", Duration::from_secs(10), || async {
        let ready = http.get(format!("{base}/health/ready")).send().await;
        ready.is_ok_and(|r| r.status() == 200)
    })
    .await;
}

/// Registers and logs in; the access token.
async fn account(base: &str, email: &str) -> String {
    let http = reqwest::Client::new();
    let credentials = serde_json::json!({"email": email, "password": "a long enough password"});
    let registered = http
        .post(format!("{base}/auth/register"))
        .json(&credentials)
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 201);
    login(base, email).await
}

async fn login(base: &str, email: &str) -> String {
    let credentials = serde_json::json!({"email": email, "password": "a long enough password"});
    let tokens: Value = reqwest::Client::new()
        .post(format!("{base}/auth/login"))
        .json(&credentials)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    tokens["access_token"].as_str().unwrap().to_owned()
}

/// A tiny landing page for the created link to point at (no internet needed).
async fn landing_page() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 2048];
                let _ = socket.read(&mut buf).await;
                let body = "you have landed";
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
    format!("http://{addr}/welcome")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hop_up_creates_a_link_that_a_browser_can_follow() {
    let port = hop_testkit::free_port();
    let schema = hop_testkit::unique("e2e");
    let env = environment(port, &schema, &format!("{}:", hop_testkit::unique("e2e")));
    a_browser_follows_a_link_through(port, env).await;
    drop_schema(&schema);
}

/// The same, on the embedded store and the in-process bus: no database or Redis settings.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hop_up_on_the_embedded_store_creates_a_link_that_a_browser_can_follow() {
    let port = hop_testkit::free_port();
    let data = tempfile::tempdir().unwrap();
    a_browser_follows_a_link_through(port, embedded_environment(port, data.path())).await;
}

/// `hop up` with `env` (and nothing else of the caller's environment): an account, a
/// link followed through its 302 by a browser, the JSON log lines and their rotated file.
async fn a_browser_follows_a_link_through(port: u16, mut env: Vec<(&'static str, String)>) {
    let logs = tempfile::tempdir().unwrap();
    let log_file = logs.path().join("hop.log");
    env.push(("LOG_FILE_PATH", log_file.display().to_string()));
    env.push(("LOG_FILE_MAX_BYTES", "4096".to_owned()));
    env.push(("LOG_FILE_BACKUP_COUNT", "2".to_owned()));
    // The landing page listens on loopback: a private target, allowed here.
    env.push(("ALLOW_PRIVATE_TARGETS", "true".to_owned()));
    let mut hop = Hop::start_clean(&["up"], &env);
    let base = format!("http://127.0.0.1:{port}");
    wait_ready(&base).await;

    // The containers' healthcheck: `hop probe` succeeds on 2xx only.
    let probe = |url: String| {
        Command::new(HOP)
            .args(["probe", &url])
            .output()
            .unwrap()
            .status
            .success()
    };
    assert!(probe(format!("{base}/health/ready")));
    assert!(!probe(format!("{base}/links/nosuchcode")), "404 fails");
    assert!(
        !probe(format!("http://127.0.0.1:{}/", hop_testkit::free_port())),
        "nothing listening fails"
    );

    let landing = landing_page().await;
    let http = reqwest::Client::new();
    let token = &account(&base, "e2e@example.com").await;
    let anonymous = http
        .post(format!("{base}/links"))
        .json(&serde_json::json!({"url": landing}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        anonymous.status(),
        401,
        "creation needs an account by default"
    );
    let created: Value = http
        .post(format!("{base}/links"))
        .bearer_auth(token)
        .json(&serde_json::json!({"url": landing}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let short_url = created["short_url"].as_str().unwrap();
    assert_eq!(
        short_url,
        format!(
            "http://localhost:{port}/{}",
            created["code"].as_str().unwrap()
        )
    );

    // Follow it as a browser would: through the 302 to the landing page.
    let page = http.get(short_url).send().await.unwrap();
    assert_eq!(page.url().as_str(), landing);
    assert_eq!(page.text().await.unwrap(), "you have landed");

    // Enough requests to rotate the 4 KiB log file a few times.
    for _ in 0..60 {
        http.get(format!(
            "{base}/links/{}",
            created["code"].as_str().unwrap()
        ))
        .send()
        .await
        .unwrap();
    }

    let status = hop.terminate();
    assert!(status.success(), "SIGTERM exits 0, got {status}");

    let lines = hop.json_lines();
    for line in &lines {
        for key in ["ts", "level", "logger", "event", "service"] {
            assert!(line.get(key).is_some(), "{key} missing: {line}");
        }
        assert_eq!(line["logger"], "e2e-1");
    }
    let completed = lines
        .iter()
        .find(|l| {
            l["event"] == "request_completed"
                && l["method"] == "POST"
                && l["endpoint"] == "/links"
                && l["status"] == 201
        })
        .expect("a request_completed line for the create");
    for key in ["endpoint", "method", "status", "duration_ms", "request_id"] {
        assert!(completed.get(key).is_some(), "{key} missing: {completed}");
    }
    assert!(
        completed["user_id"].is_number(),
        "authenticated request lines carry user_id: {completed}"
    );
    assert!(lines.iter().any(|l| l["event"] == "link_created"));
    assert!(
        lines.iter().any(|l| l["event"] == "hop_up_stopped"),
        "graceful stop is logged"
    );

    // The file got the same lines, rotated by size, keeping two backups.
    let size = |name: &str| {
        std::fs::metadata(logs.path().join(name))
            .map(|m| m.len())
            .ok()
    };
    assert!(size("hop.log").is_some_and(|s| s <= 4096));
    assert!(size("hop.log.1").is_some_and(|s| s <= 4096));
    assert!(size("hop.log.2").is_some());
    assert!(size("hop.log.3").is_none());
}

#[test]
fn help_lists_every_variable_with_its_default() {
    let help = |args: &[&str]| {
        let out = Command::new(HOP).args(args).arg("--help").output().unwrap();
        assert!(out.status.success());
        // Help wraps to the terminal width; compare with whitespace collapsed.
        String::from_utf8(out.stdout)
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    let up = help(&["up"]);
    for var in [
        "HOST",
        "PORT",
        "PUBLIC_BASE_URL",
        "SECRET_KEY",
        "DATABASE_URL",
        "DATABASE_HOST",
        "DATABASE_PORT",
        "DATABASE_NAME",
        "DATABASE_USER",
        "DATABASE_PASSWORD",
        "DATABASE_SCHEMA",
        "DATABASE_POOL_SIZE",
        "DATABASE_TIMEOUT_MS",
        "DATABASE_READ_URL",
        "DATABASE_READ_MAX_LAG_MS",
        "REDIS_URL",
        "REDIS_KEY_PREFIX",
        "REDIS_TIMEOUT_MS",
        "LOG_LEVEL",
        "LOG_FILE_PATH",
        "LOG_FILE_MAX_BYTES",
        "LOG_FILE_BACKUP_COUNT",
        "INSTANCE_ID",
        "CACHE_L1_ENABLED",
        "CACHE_REDIS_ENABLED",
        "GRPC_TIMEOUT_MS",
        "BODY_LIMIT_BYTES",
        "SHUTDOWN_GRACE_SECS",
    ] {
        assert!(
            up.contains(&format!("[env: {var}")),
            "hop up --help lacks {var}"
        );
    }
    assert!(up.contains("[default: 8080]"));
    assert!(help(&["serve", "links"]).contains("[env: ADMIN_PORT"));
    assert!(help(&["serve", "gateway"]).contains("[env: LINKS_GRPC_URL"));
    assert!(help(&["serve", "gateway"]).contains("[env: AUTH_GRPC_URL"));
    assert!(help(&["serve", "auth"]).contains("[env: AUTH_SIGNING_KEY_FILE"));
    assert!(help(&["serve", "redirect"]).contains("[env: CACHE_L1_TTL_SECS"));
    let top = help(&[]);
    for command in ["up", "serve", "migrate"] {
        assert!(top.contains(command));
    }
}

#[test]
fn bad_configuration_fails_at_start_naming_the_variable() {
    let data = tempfile::tempdir().unwrap();
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut command = Command::new(HOP);
        command
            .args(args)
            .env_remove("SECRET_KEY")
            .env("HOP_DATA_DIR", data.path().join("hop-data"));
        for (k, v) in env {
            command.env(k, v);
        }
        let out = command.output().unwrap();
        assert!(!out.status.success(), "{args:?} {env:?} should fail");
        String::from_utf8(out.stderr).unwrap()
    };
    assert!(run(&["up"], &[("DATABASE_PORT", "not-a-port")]).contains("DATABASE_PORT"));
    assert!(run(&["up"], &[("PORT", "99999")]).contains("PORT"));
    assert!(run(&["up"], &[("CACHE_L1_CAPACITY", "0")]).contains("CACHE_L1_CAPACITY"));
    assert!(run(&["serve", "links"], &[]).contains("SECRET_KEY"));
    assert!(run(&["serve", "auth"], &[]).contains("SECRET_KEY"));
    assert!(
        run(&["serve", "gateway"], &[("RATE_LIMIT_LOGIN_IP", "lots")])
            .contains("RATE_LIMIT_LOGIN_IP")
    );
    assert!(
        run(&["serve", "gateway"], &[("TRUSTED_PROXIES", "the usual")]).contains("TRUSTED_PROXIES")
    );
    assert!(run(&["serve", "links"], &[("SECRET_KEY", "short")]).contains("SECRET_KEY"));
    let database = hop_testkit::database_url();
    assert!(
        run(
            &["serve", "redirect"],
            &[("DATABASE_URL", &database), ("REDIS_URL", "nope://")]
        )
        .contains("REDIS_URL")
    );
    // `hop serve` runs one service of several: it never falls back to the embedded store
    // or the in-process bus, and says what to set.
    let missing = run(&["serve", "redirect"], &[]);
    assert!(
        missing.contains("DATABASE_URL") && missing.contains("needs PostgreSQL"),
        "{missing}"
    );
    let missing = run(&["serve", "redirect"], &[("DATABASE_URL", &database)]);
    assert!(
        missing.contains("REDIS_URL") && missing.contains("needs Redis"),
        "{missing}"
    );
    let missing = run(
        &["serve", "gateway"],
        &[("SECRET_KEY", "e2e-secret-key-0123456789")],
    );
    assert!(missing.contains("REDIS_URL"), "{missing}");
    assert!(run(&["migrate"], &[]).contains("needs PostgreSQL"));
    assert!(run(&["serve", "redirect"], &[("LOG_LEVEL", "loud=[")]).contains("LOG_LEVEL"));
    assert!(
        run(
            &["serve", "redirect"],
            &[
                ("DATABASE_URL", "::: not a url"),
                ("REDIS_URL", "redis://127.0.0.1:6379")
            ]
        )
        .contains("DATABASE_URL")
    );
}

#[test]
fn migrate_applies_once() {
    let schema = hop_testkit::unique("mig");
    let migrate = || {
        Command::new(HOP)
            .arg("migrate")
            .env("DATABASE_URL", hop_testkit::database_url())
            .env("DATABASE_SCHEMA", &schema)
            .output()
            .unwrap()
    };
    let first = migrate();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let migrations = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../kit/migrations"))
        .unwrap()
        .count();
    let expected = format!("applied {migrations} migration(s)");
    assert!(String::from_utf8_lossy(&first.stdout).contains(&expected));
    let second = migrate();
    assert!(String::from_utf8_lossy(&second.stdout).contains("applied 0 migration(s)"));
    drop_schema(&schema);
}

#[test]
fn import_then_set_a_password_from_the_command_line() {
    let schema = hop_testkit::unique("imp");
    import_then_set_a_password(&[
        ("DATABASE_URL", hop_testkit::database_url()),
        ("DATABASE_SCHEMA", schema.clone()),
    ]);
    drop_schema(&schema);
}

/// The same, with no PostgreSQL set: into the embedded store of HOP_DATA_DIR, which
/// `hop up` then serves, the imported user logging in with the new password.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_then_set_a_password_on_the_embedded_store() {
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().join("hop-data").display().to_string();
    import_then_set_a_password(&[("HOP_DATA_DIR", data_dir.clone())]);
    let port = hop_testkit::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut hop = Hop::start_clean(
        &["up"],
        &[("PORT", port.to_string()), ("HOP_DATA_DIR", data_dir)],
    );
    wait_ready(&base).await;
    let credentials = serde_json::json!({"email": "CobaltRiver87@example.com", "password": "a brand new password"});
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let login = http
        .post(format!("{base}/auth/login"))
        .json(&credentials)
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let followed = http.get(format!("{base}/r10UYL")).send().await.unwrap();
    assert_eq!(followed.status(), 302);
    assert_eq!(
        followed.headers()["location"],
        "https://relay.cloud/ivory/kernel/1"
    );

    // A password set while hop up runs on the store takes effect at the next login.
    let data_dir = data.path().join("hop-data").display().to_string();
    let out = set_password(
        &[("HOP_DATA_DIR", data_dir)],
        "cobaltriver87@example.com",
        "changed while running",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let relogin = http
        .post(format!("{base}/auth/login"))
        .json(&serde_json::json!({"email": "cobaltriver87@example.com", "password": "changed while running"}))
        .send()
        .await
        .unwrap();
    assert_eq!(relogin.status(), 200);
    assert!(hop.terminate().success());
}

/// `hop users set-password EMAIL` with `password` on its standard input.
fn set_password(env: &[(&str, String)], email: &str, password: &str) -> std::process::Output {
    use std::io::Write as _;
    let mut child = Command::new(HOP)
        .args(["users", "set-password", email])
        .envs(env.iter().cloned())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{password}\n").as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn import_then_set_a_password(env: &[(&str, String)]) {
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    let import = Command::new(HOP)
        .args(["import", fixtures, "--no-progress"])
        .envs(env.iter().cloned())
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&import.stderr);
    assert!(import.status.success(), "{report}");
    assert!(report.contains("imported 400 users"), "{report}");

    let out = set_password(env, "CobaltRiver87@example.com", "a brand new password");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("password set for cobaltriver87@example.com")
    );

    let out = set_password(env, "nobody@example.com", "another password");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no account has the email"));
}

/// An OTLP/gRPC collector in the test: keeps every span it is sent.
mod collector {
    use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
        TraceService, TraceServiceServer,
    };
    use opentelemetry_proto::tonic::collector::trace::v1::{
        ExportTraceServiceRequest, ExportTraceServiceResponse,
    };
    use std::sync::{Arc, Mutex};

    /// One received span: its resource's service.name, name, ids (hex) and attributes.
    #[derive(Debug, Clone)]
    pub struct Span {
        pub service: String,
        pub name: String,
        pub trace_id: String,
        pub span_id: String,
        pub parent_span_id: String,
        pub attributes: Vec<(String, String)>,
    }

    #[derive(Clone, Default)]
    pub struct Collector {
        pub spans: Arc<Mutex<Vec<Span>>>,
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn text(value: Option<&opentelemetry_proto::tonic::common::v1::AnyValue>) -> String {
        use opentelemetry_proto::tonic::common::v1::any_value::Value;
        match value.and_then(|v| v.value.as_ref()) {
            Some(Value::StringValue(s)) => s.clone(),
            Some(Value::IntValue(i)) => i.to_string(),
            Some(Value::BoolValue(b)) => b.to_string(),
            Some(Value::DoubleValue(d)) => d.to_string(),
            _ => String::new(),
        }
    }

    #[tonic::async_trait]
    impl TraceService for Collector {
        async fn export(
            &self,
            request: tonic::Request<ExportTraceServiceRequest>,
        ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
            let mut spans = self.spans.lock().unwrap();
            for resource_spans in request.into_inner().resource_spans {
                let service = resource_spans
                    .resource
                    .iter()
                    .flat_map(|r| &r.attributes)
                    .find(|kv| kv.key == "service.name")
                    .map(|kv| text(kv.value.as_ref()))
                    .unwrap_or_default();
                for span in resource_spans.scope_spans.into_iter().flat_map(|s| s.spans) {
                    spans.push(Span {
                        service: service.clone(),
                        name: span.name,
                        trace_id: hex(&span.trace_id),
                        span_id: hex(&span.span_id),
                        parent_span_id: hex(&span.parent_span_id),
                        attributes: span
                            .attributes
                            .iter()
                            .map(|kv| (kv.key.clone(), text(kv.value.as_ref())))
                            .collect(),
                    });
                }
            }
            Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
        }
    }

    /// Starts the collector on a loopback port and returns its endpoint URL.
    pub async fn start() -> (Collector, String) {
        let collector = Collector::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let service = TraceServiceServer::new(collector.clone());
        tokio::spawn(async move {
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener))
                .await
                .unwrap();
        });
        (collector, format!("http://{addr}"))
    }
}

/// One API request is one trace: the caller's `traceparent` is joined by the gateway's
/// server span, carried over gRPC to the links service, whose span is the gateway span's
/// child; a redirect that carries a `traceparent` joins it too. The log lines of both
/// services carry the request id and the trace id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_request_is_one_trace_across_services() {
    let port = hop_testkit::free_port();
    let schema = hop_testkit::unique("e2e_trace");
    let env = environment(
        port,
        &schema,
        &format!("{}:", hop_testkit::unique("e2e_trace")),
    );
    one_trace_through(port, env, false).await;
    drop_schema(&schema);
}

/// The same on the embedded store: the gateway's span is still the parent of the links
/// span across the in-process gRPC call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_request_is_one_trace_on_the_embedded_store() {
    let port = hop_testkit::free_port();
    let data = tempfile::tempdir().unwrap();
    one_trace_through(port, embedded_environment(port, data.path()), true).await;
}

/// `hop up` with `env` (alone when `clean`): a create and a redirect that carry a
/// trusted caller's trace context are exported as one trace, and the log lines name it.
async fn one_trace_through(port: u16, mut env: Vec<(&'static str, String)>, clean: bool) {
    let (collector, endpoint) = collector::start().await;
    env.push(("ANONYMOUS_LINKS", "true".to_owned()));
    env.push(("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint));
    // The test speaks as the edge proxy: only a trusted proxy's trace context is joined.
    env.push(("TRUSTED_PROXIES", "127.0.0.1/32".to_owned()));
    // The shipped sampler (parent-based, 5% of new traces): a sampled caller is kept.
    let mut hop = if clean {
        Hop::start_clean(&["up"], &env)
    } else {
        Hop::start(&["up"], &env)
    };
    let base = format!("http://127.0.0.1:{port}");
    wait_ready(&base).await;

    let trace_id = "0af7651916cd43dd8448eb211c80319c";
    let caller_span = "b7ad6b7169203331";
    let traceparent = format!("00-{trace_id}-{caller_span}-01");
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let created = http
        .post(format!("{base}/links"))
        .header("traceparent", &traceparent)
        .header("x-request-id", "trace-e2e-1")
        .json(&serde_json::json!({"url": "https://example.com/traced"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    assert_eq!(created.headers()["x-request-id"], "trace-e2e-1");
    let code = created.json::<Value>().await.unwrap()["code"]
        .as_str()
        .unwrap()
        .to_owned();
    let redirected = http
        .get(format!("{base}/{code}"))
        .header("traceparent", &traceparent)
        .send()
        .await
        .unwrap();
    assert_eq!(redirected.status(), 302);
    // A request without a trace context is a new root, sampled at 5%: not asserted on.
    http.get(format!("{base}/{code}")).send().await.unwrap();

    // SIGTERM flushes the span batch before exit.
    assert!(hop.terminate().success());
    let exported = || {
        let spans: Vec<_> = collector
            .spans
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.trace_id == trace_id)
            .cloned()
            .collect();
        let whole = spans.iter().any(|s| s.name == "CreateLink")
            && spans.iter().any(|s| s.name == "GET /{code}");
        async move { whole.then_some(spans) }
    };
    let spans = hop_testkit::eventually(
        "the trace's CreateLink and GET /{code} spans are exported",
        Duration::from_secs(10),
        exported,
    )
    .await;
    let attribute = |span: &collector::Span, key: &str| {
        span.attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let gateway = spans
        .iter()
        .find(|s| s.name == "POST" && attribute(s, "http.route") == "/links")
        .unwrap_or_else(|| panic!("a gateway span for POST /links in {spans:#?}"));
    assert_eq!(
        gateway.parent_span_id, caller_span,
        "joins the caller's span"
    );
    assert_eq!(gateway.service, "hop");
    assert_eq!(attribute(gateway, "http.response.status_code"), "201");
    let rpc = spans
        .iter()
        .find(|s| s.name == "CreateLink")
        .unwrap_or_else(|| panic!("a links span for CreateLink in {spans:#?}"));
    assert_eq!(
        rpc.parent_span_id, gateway.span_id,
        "the links span is the gateway span's child, across gRPC"
    );
    assert_eq!(attribute(rpc, "request_id"), "trace-e2e-1");
    let redirect = spans
        .iter()
        .find(|s| s.name == "GET /{code}")
        .unwrap_or_else(|| panic!("a redirect span in {spans:#?}"));
    assert_eq!(redirect.parent_span_id, caller_span);

    let lines = hop.json_lines();
    let completed = lines
        .iter()
        .find(|l| l["event"] == "request_completed" && l["endpoint"] == "/links")
        .expect("the create's request line");
    assert_eq!(completed["trace_id"], trace_id);
    assert_eq!(completed["request_id"], "trace-e2e-1");
    let link_created = lines
        .iter()
        .find(|l| l["event"] == "link_created")
        .expect("the links service's line");
    assert_eq!(link_created["trace_id"], trace_id);
    assert_eq!(link_created["request_id"], "trace-e2e-1");
}
/// One whole HTTP/1.1 response's head, lower-cased; an error when the connection ends
/// (or resets) before the response is complete.
async fn read_response(stream: &mut tokio::net::TcpStream) -> Result<String, String> {
    use tokio::io::AsyncReadExt;
    let (mut seen, mut chunk) = (Vec::new(), [0u8; 4096]);
    loop {
        if let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&seen[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse::<usize>().unwrap());
            if seen.len() >= end + 4 + length {
                return Ok(head);
            }
        }
        match stream.read(&mut chunk).await {
            Ok(0) => return Err(format!("closed after {} bytes", seen.len())),
            Ok(n) => seen.extend_from_slice(&chunk[..n]),
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// SIGTERM under load loses no request: 32 keep-alive clients in a tight loop (what wrk
/// does) get an answer to every request they sent, the last one saying
/// `Connection: close`; hop then exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_under_load_fails_no_request() {
    let port = hop_testkit::free_port();
    let schema = hop_testkit::unique("e2e_drain");
    let env = environment(
        port,
        &schema,
        &format!("{}:", hop_testkit::unique("e2e_drain")),
    );
    sigterm_under_load(port, Hop::start(&["up"], &env)).await;
    drop_schema(&schema);
}

/// The same on the embedded store: the drain does not depend on the backend.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_under_load_fails_no_request_on_the_embedded_store() {
    let port = hop_testkit::free_port();
    let data = tempfile::tempdir().unwrap();
    let hop = Hop::start_clean(&["up"], &embedded_environment(port, data.path()));
    sigterm_under_load(port, hop).await;
}

/// 32 keep-alive clients hammer `/health/live` while `hop` gets SIGTERM: every request is
/// answered, the last with `Connection: close`, and hop exits 0.
async fn sigterm_under_load(port: u16, mut hop: Hop) {
    use tokio::io::AsyncWriteExt;
    wait_ready(&format!("http://127.0.0.1:{port}")).await;
    let request = format!("GET /health/live HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\n\r\n");
    let clients: Vec<_> = (0..32)
        .map(|_| {
            let request = request.clone();
            tokio::spawn(async move {
                let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .map_err(|e| e.to_string())?;
                let mut answered = 0u32;
                loop {
                    stream
                        .write_all(request.as_bytes())
                        .await
                        .map_err(|e| format!("after {answered} answers: {e}"))?;
                    let head = read_response(&mut stream)
                        .await
                        .map_err(|e| format!("after {answered} answers: {e}"))?;
                    answered += 1;
                    if head.contains("connection: close") {
                        return Ok::<_, String>(answered);
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let status = tokio::task::spawn_blocking(move || hop.terminate())
        .await
        .unwrap();
    let mut failed = Vec::new();
    for client in clients {
        if let Err(e) = client.await.unwrap() {
            failed.push(e);
        }
    }
    assert!(
        failed.is_empty(),
        "{} failed requests: {failed:?}",
        failed.len()
    );
    assert!(status.success(), "SIGTERM exits 0, got {status}");
}
