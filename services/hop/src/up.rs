//! `hop up`: every service in one process behind one port.
//!
//! Storage is chosen once, here: PostgreSQL when DATABASE_URL or DATABASE_HOST is set,
//! else the embedded SQLite store at HOP_DATA_DIR/hop.db, shared by every service of the
//! process; Redis when REDIS_URL is set, else one in-process [`Bus`] for the read-model
//! invalidations and the revocation fan-out (rate limits then count in memory, and
//! redirects have no Redis tier: L1, then the database).
//!
//! The gateway calls the links and auth services in process: their tonic services as
//! tower services behind the service-token check, with no gRPC listener and no port for
//! anyone else on the machine. The front listener routes like the production edge (nginx,
//! the Ingress): `/` and the first segments of [`hop_proto::link::EDGE_ROUTES`] (the web
//! app's `/app*` and `/assets*`, `/links*`, `/auth*`, `/health*`, `/metrics`) to the
//! gateway, every other GET and HEAD straight to the redirect handler. `/health*` and
//! `/metrics` cover all services.

use crate::cli::{UpArgs, addr};
use anyhow::Context as _;
use axum::extract::ConnectInfo;
use hop_kit::database::DatabaseConfig;
use hop_kit::health::Health;
use hop_kit::shared::{Bus, SharedConfig};
use hop_kit::sqlite::Sqlite;
use http::Method;
use hyper::body::Incoming;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::Service as _;

/// `hop up` as a command: telemetry, then [`Up::build`] and [`Up::run`] until a signal.
pub async fn main(args: UpArgs) -> anyhow::Result<()> {
    let _telemetry = hop_kit::telemetry::init_telemetry("hop", &args.log)?;
    let up = Up::build(args).await?;
    tracing::info!(addr = %up.addr(), public_base_url = %up.public_base_url(), "hop_up_started");
    up.run(hop_kit::shutdown::signal()).await
}

/// Every service wired in one process, the front listener bound.
pub struct Up {
    listener: TcpListener,
    public_base_url: String,
    links: hop_links::Server,
    auth: hop_auth::Server,
    gateway: hop_gateway::Gateway,
    redirect: hop_redirect::Redirect,
    grace: Duration,
    http: hop_kit::serve::HttpLimits,
}

impl Up {
    /// Opens the store (creating it, or the PostgreSQL database, if needed) and applies its
    /// migrations, binds the front listener and wires the services.
    pub async fn build(args: UpArgs) -> anyhow::Result<Self> {
        let database = if args.database.is_set() {
            hop_kit::postgres::migrate(&args.database)
                .await
                .context("applying database migrations")?;
            DatabaseConfig::Postgres(args.database.clone())
        } else {
            DatabaseConfig::Sqlite(Sqlite::open(&args.data.hop_data_dir)?)
        };
        let shared = match &args.redis.redis_url {
            Some(_) => SharedConfig::Redis(args.redis.clone()),
            None => SharedConfig::InProcess(Bus::new()),
        };
        tracing::info!(
            database = storage_name(&database),
            shared = match &shared {
                SharedConfig::Redis(_) => "redis",
                SharedConfig::InProcess(_) => "in-process",
            },
            "hop_up_storage"
        );
        let listener = TcpListener::bind(addr(args.host, args.port))
            .await
            .with_context(|| format!("binding {}:{}", args.host, args.port))?;
        let bound = listener.local_addr()?;
        let public_base_url = args
            .public_base_url
            .clone()
            .unwrap_or_else(|| default_public_url(bound));
        let grace = args.lifecycle.grace();
        let secret = args.secret.or_generated(&args.data.hop_data_dir)?;
        let links = hop_links::build(hop_links::Config {
            grpc_addr: None,
            admin_addr: None,
            public_base_url: public_base_url.clone(),
            targets: args.targets.clone(),
            public_listeners: vec![bound],
            secret: secret.clone(),
            database: database.clone(),
            shared: shared.clone(),
            reflection: false,
            tls: None,
            shutdown_grace: grace,
        })
        .await?;
        let auth = hop_auth::build(hop_auth::Config {
            grpc_addr: None,
            admin_addr: None,
            secret: secret.clone(),
            signing_key_file: args.auth.auth_signing_key_file.clone(),
            previous_key_file: args.auth.auth_previous_signing_key_file.clone(),
            tokens: args.auth.tokens(),
            hash_concurrency: args.auth.hash_concurrency(),
            hash_queue_timeout: args.auth.hash_queue_timeout(),
            database: database.clone(),
            shared: shared.clone(),
            reflection: false,
            tls: None,
            shutdown_grace: grace,
        })
        .await?;
        let gateway = hop_gateway::Gateway::new(&hop_gateway::Config {
            addr: bound,
            links: hop_gateway::Upstream::InProcess(links.in_process()),
            auth: hop_gateway::Upstream::InProcess(auth.in_process()),
            secret,
            public_base_url: public_base_url.clone(),
            tls: None,
            settings: args.api,
            shared: shared.clone(),
            shutdown_grace: grace,
            http: args.http.clone(),
        })?;
        let redirect = hop_redirect::Redirect::new(&hop_redirect::Config {
            addr: bound,
            cache: args.cache,
            clicks: args.clicks,
            database,
            shared,
            shutdown_grace: grace,
            http: args.http.clone(),
        })?;
        gateway.first_connection().await;
        redirect.first_connection().await;
        Ok(Self {
            http: args.http,
            listener,
            public_base_url,
            links,
            auth,
            gateway,
            redirect,
            grace,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn public_base_url(&self) -> &str {
        &self.public_base_url
    }

    /// Serves until `shutdown`, then drains the front listener first (so calls already in
    /// the gateway reach links) and stops the services behind it.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let internal = CancellationToken::new();
        let services: Vec<Health> = vec![
            self.gateway.health(),
            self.links.health(),
            self.auth.health(),
            self.redirect.app().health().clone(),
        ];
        let registries = vec![
            self.gateway.registry(),
            self.links.registry(),
            self.auth.registry(),
            self.redirect.app().registry().clone(),
        ];
        let links = tokio::spawn(self.links.run(internal.clone().cancelled_owned()));
        let auth = tokio::spawn(self.auth.run(internal.clone().cancelled_owned()));
        self.gateway.start(&internal);
        self.redirect.start(&internal)?;
        let router = self.gateway.router(services.clone(), registries);
        let app = self.redirect.app();
        let make = move |peer: SocketAddr| {
            let (router, app) = (router.clone(), app.clone());
            hyper::service::service_fn(move |mut req: http::Request<Incoming>| {
                let (mut router, app) = (router.clone(), app.clone());
                async move {
                    if goes_to_redirect(req.method(), req.uri().path()) {
                        return Ok::<_, Infallible>(
                            app.handle(&req, Some(peer.ip()))
                                .await
                                .map(axum::body::Body::new),
                        );
                    }
                    req.extensions_mut().insert(ConnectInfo(peer));
                    router.call(req.map(axum::body::Body::new)).await
                }
            })
        };
        let drain = async move {
            shutdown.await;
            services.iter().for_each(Health::set_draining);
        };
        hop_kit::serve::serve(self.listener, make, drain, self.grace, self.http).await;
        internal.cancel();
        links.await.context("the links service panicked")??;
        auth.await.context("the auth service panicked")??;
        self.redirect.close().await;
        tracing::info!("hop_up_stopped");
        Ok(())
    }
}

/// The edge's routing rule: the API and admin paths go to the gateway, every other GET or
/// HEAD is a redirect, anything else is the gateway's to refuse.
pub fn goes_to_redirect(method: &Method, path: &str) -> bool {
    !hop_proto::link::is_edge_route(path) && (method == Method::GET || method == Method::HEAD)
}

fn storage_name(database: &DatabaseConfig) -> String {
    match database {
        DatabaseConfig::Postgres(_) => "postgres".into(),
        DatabaseConfig::Sqlite(db) => format!("sqlite:{}", db.path().display()),
    }
}

fn default_public_url(bound: SocketAddr) -> String {
    if bound.ip().is_loopback() || bound.ip().is_unspecified() {
        format!("http://localhost:{}", bound.port())
    } else {
        format!("http://{bound}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_like_the_edge() {
        assert!(goes_to_redirect(&Method::GET, "/abc1234"));
        assert!(goes_to_redirect(&Method::HEAD, "/abc1234"));
        assert!(goes_to_redirect(&Method::GET, "/linksy"));
        assert!(!goes_to_redirect(&Method::GET, "/links"));
        assert!(!goes_to_redirect(&Method::GET, "/links/abc"));
        assert!(!goes_to_redirect(&Method::POST, "/auth/login"));
        assert!(!goes_to_redirect(&Method::GET, "/health/ready"));
        assert!(!goes_to_redirect(&Method::GET, "/metrics"));
        assert!(!goes_to_redirect(&Method::POST, "/abc1234"));
        // Whole segments only: an alias that starts like a route is still a redirect.
        assert!(goes_to_redirect(&Method::GET, "/healthy"));
        assert!(goes_to_redirect(&Method::GET, "/health-check"));
        assert!(goes_to_redirect(&Method::GET, "/authority"));
        assert!(!goes_to_redirect(&Method::GET, "/health"));
        // The web app: its home, pages and assets.
        assert!(!goes_to_redirect(&Method::GET, "/"));
        assert!(!goes_to_redirect(&Method::GET, "/app/links"));
        assert!(!goes_to_redirect(
            &Method::GET,
            "/assets/app.0123456789.css"
        ));
        assert!(goes_to_redirect(&Method::GET, "/apple"));
        for path in ["/tags", "/tags/rust", "/docs", "/openapi.json"] {
            assert!(!goes_to_redirect(&Method::GET, path), "{path}");
        }
        assert!(goes_to_redirect(&Method::GET, "/tagsale"));
    }

    /// The edge files route exactly [`hop_proto::link::EDGE_ROUTES`], by whole segment, as
    /// `hop up` does: nginx's gateway locations and the Ingress's gateway paths.
    #[test]
    fn nginx_and_the_ingress_route_the_one_list() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
        let nginx = std::fs::read_to_string(format!("{root}/infra/nginx/conf.d/hop.conf")).unwrap();
        let mut routed: Vec<String> = Vec::new();
        let mut home = false;
        for line in nginx.lines().map(str::trim) {
            let Some(rest) = line.strip_prefix("location ") else {
                continue;
            };
            if rest.starts_with('@') {
                continue; // a named location, reached only internally
            }
            let rest = rest.trim_end_matches('{').trim();
            if let Some(words) = rest
                .strip_prefix("~ ^/(")
                .and_then(|r| r.strip_suffix(")(/|$)"))
            {
                routed.extend(words.split('|').map(str::to_owned));
            } else if let Some(exact) = rest.strip_prefix("= /") {
                match exact {
                    "nginx-health" => {}
                    "" => home = true,
                    _ => routed.push(exact.to_owned()),
                }
            } else {
                assert_eq!(
                    rest, "/",
                    "nginx routes by a prefix that is not a whole segment: {line}"
                );
            }
        }
        routed.sort();
        assert_eq!(routed, hop_proto::link::EDGE_ROUTES, "nginx's locations");
        assert!(home, "nginx sends / itself to the gateway");

        let ingress =
            std::fs::read_to_string(format!("{root}/infra/k8s/base/ingress.yaml")).unwrap();
        let mut paths: Vec<String> = ingress
            .lines()
            .filter_map(|l| l.trim().strip_prefix("- path: /"))
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect();
        paths.sort();
        assert_eq!(paths, hop_proto::link::EDGE_ROUTES, "the Ingress's paths");
        assert!(
            ingress.contains("pathType: Prefix"),
            "Prefix matches whole segments"
        );
        assert!(
            ingress.contains("- path: /\n            pathType: Exact\n            backend:\n              service:\n                name: gateway"),
            "the Ingress sends / itself to the gateway"
        );
    }
}
