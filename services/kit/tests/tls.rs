//! TLS to PostgreSQL against a real server: a throwaway cluster of the test's own
//! (initdb, `ssl = on`) with a certificate from a throwaway CA, so the test runs on every
//! machine the test command runs on, and checks something wherever it passes.

use hop_kit::postgres::DatabaseArgs;
use hop_testkit::{Certs, PostgresServer};

/// `sslmode=require` to the server at `port`, trusting `ca`.
fn tls_to(port: u16, ca: std::path::PathBuf) -> DatabaseArgs {
    let url = format!("postgres://postgres@localhost:{port}/postgres?sslmode=require");
    let mut args = DatabaseArgs::from_url(&url, "public");
    args.database_ca_file = Some(ca);
    args
}

#[tokio::test]
async fn sslmode_require_encrypts_and_verifies_the_server() {
    let certs = Certs::generate();
    let server = PostgresServer::start_with_tls(&certs);
    let port = server.port();

    // Trusting the CA that signed the server's certificate: the connection is encrypted.
    let pool = hop_kit::postgres::pool(&tls_to(port, certs.path("ca.pem"))).unwrap();
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

    // Trusting another CA, the same server is refused: no silent fallback to an
    // unverified or plain connection.
    let other = hop_kit::postgres::pool(&tls_to(port, certs.path("other-ca.pem"))).unwrap();
    assert!(
        other.get().await.is_err(),
        "a server signed by another CA was accepted"
    );
}
