use crate::helpers::*;
use hop_kit::service_auth::authenticated;
use hop_proto::links::v1 as pb;
use hop_proto::links::v1::link_service_client::LinkServiceClient;
use hop_read_model::ReadEntry;
use hop_testkit::{Backend, TestDb, TestStores};
use std::collections::HashSet;

// The links service's own behaviour, on PostgreSQL + Redis and on the embedded store +
// bus; the tests of gRPC plumbing below it run once.
hop_testkit::on_both_backends!(
    create_mints_a_seven_character_code_and_stores_the_link,
    concurrent_creates_get_distinct_codes_from_one_leased_block,
    aliases_are_taken_once_and_case_sensitive,
    a_minted_code_already_taken_by_an_alias_is_skipped,
    bad_requests_report_every_field_and_store_nothing,
    unknown_and_impossible_codes_are_not_found,
    racing_creates_of_one_alias_have_exactly_one_winner,
    an_update_changes_what_its_mask_names_and_nothing_else,
);

/// The one number `sql` selects (SQL both backends understand).
async fn count(db: &TestStores, sql: &str) -> i64 {
    db.strings(&format!("SELECT CAST(({sql}) AS TEXT)"), &[])
        .await[0]
        .parse()
        .unwrap()
}

async fn create_mints_a_seven_character_code_and_stores_the_link(db: TestStores) {
    let links = spawn_links_on(&db).await;
    let link = links.create("https://example.com/a?b=c").await.unwrap();

    assert_eq!(link.code.len(), 7);
    assert!(link.code.bytes().all(|b| b.is_ascii_alphanumeric()));
    assert_eq!(link.short_url, format!("{PUBLIC_BASE_URL}/{}", link.code));
    assert_eq!(link.redirect_type, 302);
    assert!(link.is_active);
    assert_eq!(
        TestLinks::permutation().code(link.id as u64),
        Some(link.code.clone()),
        "the code is the permuted id"
    );

    let stored = db
        .strings(
            "SELECT target_url FROM links WHERE code = $1",
            &[&link.code],
        )
        .await;
    assert_eq!(stored, ["https://example.com/a?b=c"]);
    let events = count(
        &db,
        &format!(
            "SELECT count(*) FROM link_events e JOIN links l ON l.id = e.link_id \
             WHERE l.code = '{}' AND e.kind = 'created'",
            link.code
        ),
    )
    .await;
    assert_eq!(events, 1);

    // Written through to Redis (on the bus there is no entry: only the announcement).
    if db.backend() == Backend::Embedded {
        assert_eq!(links.get(&link.code).await.unwrap(), link);
        return;
    }
    let redis = links.redis.as_ref().expect("the servers backend has Redis");
    let cached = redis_get(redis, &format!("link:{}", link.code))
        .await
        .unwrap();
    let Some(ReadEntry::Live { link: cached, .. }) = ReadEntry::decode(&cached) else {
        panic!("a live read-model entry, got {cached}");
    };
    assert_eq!(cached.url, "https://example.com/a?b=c");
    assert_eq!(links.get(&link.code).await.unwrap(), link);
}

async fn concurrent_creates_get_distinct_codes_from_one_leased_block(db: TestStores) {
    let links = spawn_links_on(&db).await;
    let mut creates = tokio::task::JoinSet::new();
    for i in 0..100 {
        let mut client = links.client.clone();
        creates.spawn(async move {
            let request = pb::CreateLinkRequest {
                url: format!("https://example.com/{i}"),
                ..Default::default()
            };
            client.create_link(request).await.unwrap().into_inner()
        });
    }
    let created = creates.join_all().await;
    let codes: HashSet<_> = created.iter().map(|l| l.code.clone()).collect();
    assert_eq!(codes.len(), 100);
    // Consecutive ids, unrelated codes: no two share a three-character prefix by accident
    // more than rarely.
    let prefixes: HashSet<_> = codes.iter().map(|c| c[..3].to_owned()).collect();
    assert!(prefixes.len() >= 98);
    // One lease served all hundred.
    let leased = match db.backend() {
        Backend::Servers => count(&db, "SELECT last_value FROM link_ids").await,
        Backend::Embedded => count(&db, "SELECT next - block FROM link_ids").await,
    };
    assert_eq!(leased, 1, "a single block was leased");
    assert!(
        links
            .metrics()
            .await
            .contains("hop_id_blocks_leased_total{service=\"links\"} 1")
    );
}

async fn aliases_are_taken_once_and_case_sensitive(db: TestStores) {
    let links = spawn_links_on(&db).await;
    let request = |alias: &str| pb::CreateLinkRequest {
        url: "https://example.com/".into(),
        alias: Some(alias.into()),
        ..Default::default()
    };
    let first = links.create_with(request("launch-day")).await.unwrap();
    assert_eq!(first.code, "launch-day");
    let again = links.create_with(request("launch-day")).await.unwrap_err();
    assert_eq!(again.code(), tonic::Code::AlreadyExists);
    let other_case = links.create_with(request("Launch-Day")).await.unwrap();
    assert_eq!(other_case.code, "Launch-Day");
    let rows = count(&db, "SELECT count(*) FROM links").await;
    assert_eq!(rows, 2, "the refused alias left nothing behind");
}

async fn a_minted_code_already_taken_by_an_alias_is_skipped(db: TestStores) {
    let links = spawn_links_on(&db).await;
    let first = links.create("https://example.com/1").await.unwrap();
    // Ids of a block are handed out in order: the next minted link gets id + 2 (the alias
    // itself consumes id + 1). Take that code as an alias first.
    let squatted = TestLinks::permutation().code(first.id as u64 + 2).unwrap();
    let alias = links
        .create_with(pb::CreateLinkRequest {
            url: "https://example.com/alias".into(),
            alias: Some(squatted.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(alias.code, squatted);
    let next = links.create("https://example.com/2").await.unwrap();
    assert_ne!(next.code, squatted);
    assert_eq!(next.id, first.id + 3, "the colliding id was skipped");
}

async fn bad_requests_report_every_field_and_store_nothing(db: TestStores) {
    let links = spawn_links_on(&db).await;
    let cases: Vec<(pb::CreateLinkRequest, Vec<&str>)> = vec![
        (
            pb::CreateLinkRequest {
                url: "javascript:alert(1)".into(),
                ..Default::default()
            },
            vec!["url"],
        ),
        (
            pb::CreateLinkRequest {
                url: "data:text/html,hi".into(),
                ..Default::default()
            },
            vec!["url"],
        ),
        (
            pb::CreateLinkRequest {
                url: "ftp://example.com".into(),
                ..Default::default()
            },
            vec!["url"],
        ),
        (
            pb::CreateLinkRequest {
                url: "https://hop.test/loop".into(),
                ..Default::default()
            },
            vec!["url"],
        ),
        (
            pb::CreateLinkRequest {
                url: format!("https://e.com/{}", "a".repeat(2048)),
                ..Default::default()
            },
            vec!["url"],
        ),
        (
            pb::CreateLinkRequest {
                url: "https://example.com".into(),
                alias: Some("auth".into()),
                redirect_type: 200,
                ..Default::default()
            },
            vec!["alias", "redirect_type"],
        ),
    ];
    for (request, fields) in cases {
        let status = links.create_with(request.clone()).await.unwrap_err();
        assert_eq!(violations(&status), fields, "{request:?}");
    }
    let rows = count(&db, "SELECT count(*) FROM links").await;
    assert_eq!(rows, 0);
}

async fn unknown_and_impossible_codes_are_not_found(db: TestStores) {
    let links = spawn_links_on(&db).await;
    for code in ["zzzzzzz", "", "a/b", &"x".repeat(65)] {
        assert_eq!(
            links.get(code).await.unwrap_err().code(),
            tonic::Code::NotFound,
            "{code:?}"
        );
    }
}

async fn racing_creates_of_one_alias_have_exactly_one_winner(db: TestStores) {
    let links = spawn_links_on(&db).await;
    let mut racers = tokio::task::JoinSet::new();
    for i in 0..20 {
        let mut client = links.client.clone();
        racers.spawn(async move {
            let request = pb::CreateLinkRequest {
                url: format!("https://example.com/racer/{i}"),
                alias: Some("contested".into()),
                ..Default::default()
            };
            client.create_link(request).await.map(|r| r.into_inner())
        });
    }
    let results = racers.join_all().await;
    let winners = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(winners, 1);
    assert!(
        results
            .iter()
            .filter_map(|r| r.as_ref().err())
            .all(|e| e.code() == tonic::Code::AlreadyExists)
    );
    let rows = count(&db, "SELECT count(*) FROM links WHERE code = 'contested'").await;
    assert_eq!(rows, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_health_is_open_and_reflection_needs_the_switch_and_the_token() {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    let db = TestDb::new().await;
    let links = spawn_links_configured(db.args.clone(), hop_testkit::redis_args(), true).await;
    let channel = links.channel.clone();
    // No token: health checks answer, nothing else does.
    let health = HealthClient::new(channel.clone());
    hop_testkit::until(
        "grpc.health.v1 reports the service serving once Postgres answers",
        std::time::Duration::from_secs(5),
        || {
            let mut health = health.clone();
            async move {
                let request = HealthCheckRequest {
                    service: "hop.links.v1.LinkService".into(),
                };
                health
                    .check(request)
                    .await
                    .is_ok_and(|r| r.into_inner().status() == ServingStatus::Serving)
            }
        },
    )
    .await;

    let list_services = || ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let refused = ServerReflectionClient::new(channel.clone())
        .server_reflection_info(tokio_stream_once(list_services()))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);
    let unauthenticated = LinkServiceClient::new(channel.clone())
        .get_link(pb::GetLinkRequest::default())
        .await
        .unwrap_err();
    assert_eq!(unauthenticated.code(), tonic::Code::Unauthenticated);

    let mut reflection = ServerReflectionClient::new(authenticated(channel, token()));
    let request = list_services();
    let mut stream = reflection
        .server_reflection_info(tokio_stream_once(request))
        .await
        .unwrap()
        .into_inner();
    let response = stream.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("unexpected reflection answer");
    };
    let names: Vec<_> = list.service.iter().map(|s| s.name.as_str()).collect();
    assert!(names.contains(&"hop.links.v1.LinkService"), "{names:?}");
    assert!(names.contains(&"grpc.health.v1.Health"), "{names:?}");

    // Off by default, even with the token.
    let off = spawn_links(&db).await;
    let unimplemented = ServerReflectionClient::new(authenticated(off.channel.clone(), token()))
        .server_reflection_info(tokio_stream_once(list_services()))
        .await
        .unwrap_err();
    assert_eq!(unimplemented.code(), tonic::Code::Unimplemented);
}

/// A request stream of one message.
fn tokio_stream_once<T: Send + Unpin + 'static>(
    item: T,
) -> impl tonic::IntoStreamingRequest<Message = T> {
    OnceStream(Some(item))
}

struct OnceStream<T>(Option<T>);

impl<T: Unpin> futures_core::Stream for OnceStream<T> {
    type Item = T;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<T>> {
        std::task::Poll::Ready(self.0.take())
    }
}

/// An update changes exactly the fields its mask names: a named title or expiry that is
/// absent is cleared, a field not named is left alone whatever the request holds, and a
/// mask naming nothing, or naming a field an update may not change, is refused.
async fn an_update_changes_what_its_mask_names_and_nothing_else(db: TestStores) {
    let links = spawn_links_on(&db).await;
    let owner = Some(7);
    let link = links
        .create_with(pb::CreateLinkRequest {
            url: "https://example.com/masked".into(),
            title: Some("kept?".into()),
            expires_at: Some(prost_types::Timestamp {
                seconds: 4_102_444_800, // 2100-01-01
                nanos: 0,
            }),
            actor_user_id: owner,
            ..Default::default()
        })
        .await
        .unwrap();
    let code = link.code.clone();
    let update = |paths: &[&str], request: pb::UpdateLinkRequest| {
        let (mut client, code) = (links.client.clone(), code.clone());
        let mask = prost_types::FieldMask {
            paths: paths.iter().map(|p| (*p).to_owned()).collect(),
        };
        async move {
            client
                .update_link(pb::UpdateLinkRequest {
                    code,
                    actor_user_id: owner,
                    update_mask: Some(mask),
                    ..request
                })
                .await
                .map(tonic::Response::into_inner)
        }
    };

    // The title is named and absent: cleared. The URL and is_active hold values but are
    // not named: left alone.
    let cleared = update(
        &["title", "expires_at"],
        pb::UpdateLinkRequest {
            url: "https://example.com/ignored".into(),
            is_active: false,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(cleared.title, None);
    assert_eq!(cleared.expires_at, None);
    assert_eq!(cleared.url, "https://example.com/masked");
    assert!(cleared.is_active);

    // Named with a value: set.
    let changed = update(
        &["is_active", "title"],
        pb::UpdateLinkRequest {
            is_active: false,
            title: Some("new".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(!changed.is_active);
    assert_eq!(changed.title.as_deref(), Some("new"));

    for (paths, field) in [
        (&["owner_id"][..], "update_mask"),
        (&[][..], "body"),
        (&["url"][..], "url"),
    ] {
        let status = update(paths, pb::UpdateLinkRequest::default())
            .await
            .unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{paths:?}");
        assert_eq!(violations(&status), vec![field], "{paths:?}");
    }
    let unchanged = links.get(&link.code).await.unwrap();
    assert_eq!(unchanged.title.as_deref(), Some("new"));
    assert!(!unchanged.is_active);
}
