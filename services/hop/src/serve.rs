//! `hop serve <service>` and `hop migrate`.

use crate::cli::{AuthArgs, GatewayArgs, LinksArgs, MigrateArgs, RedirectArgs, addr};
use hop_kit::telemetry::init_telemetry;

pub async fn gateway(args: GatewayArgs) -> anyhow::Result<()> {
    let _telemetry = init_telemetry("gateway", &args.log)?;
    let server = hop_gateway::build(hop_gateway::Config {
        addr: addr(args.host, args.port),
        links_url: args.links_grpc_url,
        auth_url: args.auth_grpc_url,
        settings: args.api,
        redis: args.redis,
        shutdown_grace: args.lifecycle.grace(),
    })
    .await?;
    server.run(hop_kit::shutdown::signal()).await
}

pub async fn links(args: LinksArgs) -> anyhow::Result<()> {
    let _telemetry = init_telemetry("links", &args.log)?;
    let server = hop_links::build(hop_links::Config {
        grpc_addr: addr(args.host, args.port),
        admin_addr: Some(addr(args.host, args.admin_port)),
        public_base_url: args.public.public_base_url,
        secret: args.secret.require()?,
        database: args.database,
        redis: args.redis,
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
        database: args.database,
        redis: args.redis,
        shutdown_grace: args.lifecycle.grace(),
    })
    .await?;
    server.run(hop_kit::shutdown::signal()).await
}

pub async fn auth(args: AuthArgs) -> anyhow::Result<()> {
    let _telemetry = init_telemetry("auth", &args.log)?;
    let server = hop_auth::build(hop_auth::Config {
        grpc_addr: addr(args.host, args.port),
        admin_addr: Some(addr(args.host, args.admin_port)),
        secret: args.secret.require()?,
        signing_key_file: args.auth.auth_signing_key_file.clone(),
        tokens: args.auth.tokens(),
        hash_concurrency: args.auth.hash_concurrency(),
        hash_queue_timeout: args.auth.hash_queue_timeout(),
        database: args.database,
        redis: args.redis,
        shutdown_grace: args.lifecycle.grace(),
    })
    .await?;
    server.run(hop_kit::shutdown::signal()).await
}

pub async fn migrate(args: MigrateArgs) -> anyhow::Result<()> {
    let _telemetry = init_telemetry("migrate", &args.log)?;
    let applied = hop_kit::postgres::migrate(&args.database).await?;
    println!("applied {applied} migration(s)");
    Ok(())
}
