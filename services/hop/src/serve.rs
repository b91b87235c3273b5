//! `hop serve <service>`, `hop migrate`, `hop import`, `hop backup` and `hop users`.

use crate::cli::{
    AuthArgs, BackupArgs, GatewayArgs, ImportArgs, LinksArgs, MigrateArgs, RedirectArgs,
    SetPasswordArgs, addr,
};
use anyhow::Context as _;
use hop_kit::database::DatabaseConfig;
use hop_kit::shared::SharedConfig;
use hop_kit::telemetry::init_telemetry;
use std::time::Duration;

pub async fn gateway(args: GatewayArgs) -> anyhow::Result<()> {
    let _telemetry = init_telemetry("gateway", &args.log)?;
    let server = hop_gateway::build(hop_gateway::Config {
        addr: addr(args.host, args.port),
        links: hop_gateway::Upstream::Url(args.links_grpc_url),
        auth: hop_gateway::Upstream::Url(args.auth_grpc_url),
        secret: args.secret.require()?,
        public_base_url: args.public.public_base_url,
        tls: args.tls.load()?,
        settings: args.api,
        shared: SharedConfig::redis(&args.redis, "hop serve gateway")?,
        shutdown_grace: args.lifecycle.grace(),
        http: args.http,
    })
    .await?;
    server.run(hop_kit::shutdown::signal()).await
}

pub async fn links(args: LinksArgs) -> anyhow::Result<()> {
    let _telemetry = init_telemetry("links", &args.log)?;
    let server = hop_links::build(hop_links::Config {
        grpc_addr: Some(addr(args.host, args.port)),
        admin_addr: Some(addr(args.host, args.admin_port)),
        public_base_url: args.public.public_base_url,
        targets: args.targets,
        public_listeners: Vec::new(),
        secret: args.secret.require()?,
        database: DatabaseConfig::postgres(&args.database, "hop serve links")?,
        shared: SharedConfig::redis(&args.redis, "hop serve links")?,
        reflection: args.grpc.grpc_reflection,
        tls: args.tls.load()?,
        shutdown_grace: args.lifecycle.grace(),
    })
    .await?;
    server.run(hop_kit::shutdown::signal()).await
}

pub async fn redirect(args: RedirectArgs) -> anyhow::Result<()> {
    let _telemetry = init_telemetry("redirect", &args.log)?;
    let server = hop_redirect::build(hop_redirect::Config {
        addr: addr(args.host, args.port),
        cache: args.cache,
        clicks: args.clicks,
        database: DatabaseConfig::postgres(&args.database, "hop serve redirect")?,
        shared: SharedConfig::redis(&args.redis, "hop serve redirect")?,
        shutdown_grace: args.lifecycle.grace(),
        http: args.http,
    })
    .await?;
    server.run(hop_kit::shutdown::signal()).await
}

pub async fn auth(args: AuthArgs) -> anyhow::Result<()> {
    let _telemetry = init_telemetry("auth", &args.log)?;
    let server = hop_auth::build(hop_auth::Config {
        grpc_addr: Some(addr(args.host, args.port)),
        admin_addr: Some(addr(args.host, args.admin_port)),
        secret: args.secret.require()?,
        signing_key_file: args.auth.auth_signing_key_file.clone(),
        previous_key_file: args.auth.auth_previous_signing_key_file.clone(),
        tokens: args.auth.tokens(),
        hash_concurrency: args.auth.hash_concurrency(),
        hash_queue_timeout: args.auth.hash_queue_timeout(),
        database: DatabaseConfig::postgres(&args.database, "hop serve auth")?,
        shared: SharedConfig::redis(&args.redis, "hop serve auth")?,
        reflection: args.grpc.grpc_reflection,
        tls: args.tls.load()?,
        shutdown_grace: args.lifecycle.grace(),
    })
    .await?;
    server.run(hop_kit::shutdown::signal()).await
}

/// `hop service-token`: the credential internal gRPC calls carry, for grpcurl.
pub fn service_token(args: crate::cli::ServiceTokenArgs) -> anyhow::Result<()> {
    let token = hop_kit::service_auth::ServiceToken::derive(&args.secret.require()?);
    println!("{}", token.expose());
    Ok(())
}

pub async fn migrate(args: MigrateArgs) -> anyhow::Result<()> {
    let _telemetry = init_telemetry("migrate", &args.log)?;
    let applied = hop_kit::postgres::migrate(args.database.require("hop migrate")?).await?;
    println!("applied {applied} migration(s)");
    Ok(())
}

/// `hop backup FILE`: the embedded store, copied beside a running `hop up`.
pub fn backup(args: &BackupArgs) -> anyhow::Result<()> {
    hop_kit::sqlite::backup(&args.data.hop_data_dir, &args.file)?;
    println!(
        "backed up {} to {}",
        args.data.hop_data_dir.join(hop_kit::sqlite::FILE).display(),
        args.file.display()
    );
    Ok(())
}

pub async fn import(args: ImportArgs) -> anyhow::Result<()> {
    let _telemetry = init_telemetry("import", &args.log)?;
    let defaults = crate::import::Sources::in_dir(&args.dir);
    let sources = crate::import::Sources {
        users: args.users.unwrap_or(defaults.users),
        urls: args.urls.unwrap_or(defaults.urls),
        events: args.events.unwrap_or(defaults.events),
    };
    let started = std::time::Instant::now();
    let summary = if args.database.is_set() {
        crate::import::run(&args.database, &sources, !args.no_progress).await?
    } else {
        // Opening takes the data directory's lock: a running `hop up` must be stopped.
        let store = hop_kit::sqlite::Sqlite::open(&args.data.hop_data_dir)?;
        crate::import::embedded::run(&store, &sources, !args.no_progress).await?
    };
    let rows =
        summary.users_added + summary.links_added + summary.events_added + summary.clicks_added;
    eprintln!(
        "imported {} users ({} already present), {} links ({} already present), {} events and {} clicks ({} events already present) in {:.1?}: {:.0} new rows/s",
        summary.users_added,
        summary.users_present,
        summary.links_added,
        summary.links_present,
        summary.events_added,
        summary.clicks_added,
        summary.events_present,
        started.elapsed(),
        rows as f64 / started.elapsed().as_secs_f64().max(0.001),
    );
    Ok(())
}

pub async fn set_password(args: SetPasswordArgs) -> anyhow::Result<()> {
    let _telemetry = init_telemetry("users", &args.log)?;
    let email = hop_auth::Email::parse(&args.email).map_err(|e| anyhow::anyhow!("EMAIL {e}"))?;
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    let password = hop_auth::Password::parse(line.trim_end_matches(['\r', '\n']))
        .map_err(|e| anyhow::anyhow!("the password {e}"))?;
    let hash = hop_auth::Hasher::new(1, Duration::from_secs(60))
        .hash(&password)
        .await?;
    // PostgreSQL when one is set, else the embedded store, beside a running `hop up`.
    let database = if args.database.is_set() {
        hop_kit::database::Database::Postgres(hop_kit::postgres::pool_of(&args.database, 1)?)
    } else {
        let store = hop_kit::sqlite::Sqlite::open_beside(&args.data.hop_data_dir)?;
        hop_kit::database::Database::Sqlite(store)
    };

    let updated = hop_auth::Store::new(database.clone())
        .set_password(email.as_str(), &hash)
        .await
        .map_err(|e| anyhow::anyhow!("setting the password: {e}"))?;
    database.close();
    if !updated {
        anyhow::bail!("no account has the email {}", email.as_str());
    }
    println!("password set for {}", email.as_str());
    Ok(())
}
