//! TLS to PostgreSQL against the real server. It runs where the local PostgreSQL on
//! 127.0.0.1:5432 has `ssl = on` with a certificate for `localhost` that this process can
//! read (Debian's default: the snakeoil certificate); elsewhere it says why it skipped.

use hop_kit::config::DatabaseArgs;

const URL: &str = "postgres://postgres@localhost:5432/postgres?sslmode=require";

/// The server's certificate file, when the server speaks TLS and the file is readable.
async fn server_certificate() -> Option<std::path::PathBuf> {
    if std::env::var("TEST_DATABASE_URL").is_ok_and(|u| !u.contains("127.0.0.1:5432")) {
        return None;
    }
    let plain = DatabaseArgs::from_url("postgres://postgres@127.0.0.1:5432/postgres", "public");
    let pool = hop_kit::postgres::pool(&plain).ok()?;
    let client = pool.get().await.ok()?;
    let row = client
        .query_one(
            "SELECT current_setting('ssl'), current_setting('ssl_cert_file')",
            &[],
        )
        .await
        .ok()?;
    let (ssl, file): (String, String) = (row.get(0), row.get(1));
    let path = std::path::PathBuf::from(file);
    (ssl == "on" && std::fs::read(&path).is_ok()).then_some(path)
}

#[tokio::test]
async fn sslmode_require_encrypts_and_verifies_the_server() {
    let Some(certificate) = server_certificate().await else {
        eprintln!("skipped: no local PostgreSQL with ssl = on and a readable certificate");
        return;
    };
    // Trusting the server's own certificate: the connection is encrypted.
    let mut args = DatabaseArgs::from_url(URL, "public");
    args.database_ca_file = Some(certificate);
    let pool = hop_kit::postgres::pool(&args).unwrap();
    let client = pool.get().await.expect("a verified TLS connection");
    let encrypted: bool = client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(encrypted);

    // Trusting another CA (a public root), the same server is refused: no silent fallback
    // to an unverified or plain connection.
    let Some(other_ca) = public_root() else {
        eprintln!("skipped the refusal: no public root certificate on this machine");
        return;
    };
    let mut args = DatabaseArgs::from_url(URL, "public");
    args.database_ca_file = Some(other_ca);
    let refused = hop_kit::postgres::pool(&args).unwrap().get().await;
    assert!(
        refused.is_err(),
        "a server signed by another CA was accepted"
    );
}

/// One of the system's public root certificates (Debian's ca-certificates).
fn public_root() -> Option<std::path::PathBuf> {
    std::fs::read_dir("/usr/share/ca-certificates/mozilla")
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "crt"))
}
