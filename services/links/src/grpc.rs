//! The tonic adapter for `hop.links.v1.LinkService`: each method converts the request,
//! calls the domain inside a span carrying the caller's request id, records the RPC's
//! metrics and converts the result. No business rules live here.

use crate::cursor::CursorKey;
use crate::domain::LinkService;
use crate::edit::{LinkChanges, UpdateFields};
use crate::error::LinksError;
use crate::model::{CreateFields, Link, LinkOrder, NewLink};
use crate::policy::TargetPolicy;
use chrono::{DateTime, Utc};
use hop_clicks::{StatsQuery, Unit};
use hop_kit::metrics::RpcMetrics;
use hop_kit::time::to_proto as timestamp;
use hop_proto::links::v1 as pb;
use std::future::Future;
use std::sync::Arc;
use tonic::{Request, Response, Status};

pub struct LinksApi {
    links: Arc<LinkService>,
    policy: Arc<TargetPolicy>,
    public_base_url: Arc<str>,
    cursors: CursorKey,
    metrics: RpcMetrics,
}

impl LinksApi {
    pub fn new(
        links: Arc<LinkService>,
        public_base_url: &str,
        policy: TargetPolicy,
        cursors: CursorKey,
        metrics: RpcMetrics,
    ) -> Self {
        Self {
            links,
            policy: Arc::new(policy),
            public_base_url: public_base_url.into(),
            cursors,
            metrics,
        }
    }

    async fn call<T>(
        &self,
        method: &'static str,
        metadata: &tonic::metadata::MetadataMap,
        work: impl Future<Output = Result<T, LinksError>>,
    ) -> Result<Response<T>, Status> {
        hop_kit::grpc::traced(&self.metrics, "links", method, metadata, work).await
    }

    fn to_proto(&self, link: &Link) -> pb::Link {
        pb::Link {
            id: link.id,
            code: link.code.clone(),
            short_url: format!("{}/{}", self.public_base_url, link.code),
            url: link.url.clone(),
            title: link.title.clone(),
            is_active: link.is_active,
            redirect_type: i32::from(link.redirect_type.status()),
            expires_at: link.expires_at.map(timestamp),
            created_at: Some(timestamp(link.created_at)),
            updated_at: Some(timestamp(link.updated_at)),
            owner_id: link.owner_id,
            tags: link.tags.clone(),
        }
    }
}

#[tonic::async_trait]
impl pb::link_service_server::LinkService for LinksApi {
    async fn create_link(
        &self,
        request: Request<pb::CreateLinkRequest>,
    ) -> Result<Response<pb::Link>, Status> {
        let (metadata, _, req) = request.into_parts();
        self.call("CreateLink", &metadata, async {
            let fields = CreateFields {
                url: req.url,
                alias: req.alias,
                title: req.title,
                expires_at: req
                    .expires_at
                    .map(|t| from_timestamp("expires_at", t))
                    .transpose()?,
                redirect_type: i64::from(req.redirect_type),
                owner_id: req.actor_user_id,
                tags: req.tags,
            };
            let new = NewLink::parse(fields, &self.policy, Utc::now())?;
            let link = self.links.create(new).await?;
            Ok(self.to_proto(&link))
        })
        .await
    }

    async fn create_links(
        &self,
        request: Request<pb::CreateLinksRequest>,
    ) -> Result<Response<pb::CreateLinksResponse>, Status> {
        let (metadata, _, req) = request.into_parts();
        self.call("CreateLinks", &metadata, async {
            if req.items.len() > crate::domain::MAX_BULK {
                return Err(LinksError::invalid(
                    "links",
                    format!("must have at most {} items", crate::domain::MAX_BULK),
                ));
            }
            let now = Utc::now();
            let parsed: Vec<Result<NewLink, LinksError>> = req
                .items
                .into_iter()
                .map(|item| {
                    let fields = CreateFields {
                        url: item.url,
                        alias: item.alias,
                        title: item.title,
                        expires_at: item
                            .expires_at
                            .map(|t| from_timestamp("expires_at", t))
                            .transpose()?,
                        redirect_type: i64::from(item.redirect_type),
                        owner_id: req.actor_user_id,
                        tags: item.tags,
                    };
                    NewLink::parse(fields, &self.policy, now)
                })
                .collect();
            let created = self.links.create_many(parsed).await;
            let results = created
                .into_iter()
                .map(|result| pb::CreateLinkResult {
                    result: Some(match result {
                        Ok(link) => pb::create_link_result::Result::Link(self.to_proto(&link)),
                        Err(error) => {
                            let status = hop_kit::error::to_status(&error);
                            pb::create_link_result::Result::Error(pb::ItemError {
                                code: status.code() as i32,
                                message: status.message().to_owned(),
                                details: status.details().to_vec(),
                            })
                        }
                    }),
                })
                .collect();
            Ok(pb::CreateLinksResponse { results })
        })
        .await
    }

    async fn list_tags(
        &self,
        request: Request<pb::ListTagsRequest>,
    ) -> Result<Response<pb::ListTagsResponse>, Status> {
        let (metadata, _, req) = request.into_parts();
        self.call("ListTags", &metadata, async {
            let actor = require_actor(req.actor_user_id)?;
            let tags = self.links.tags(actor).await?;
            Ok(pb::ListTagsResponse {
                tags: tags
                    .into_iter()
                    .map(|t| pb::TagCount {
                        name: t.name,
                        links: t.links,
                        clicks: t.clicks,
                        bot_clicks: t.bot_clicks,
                    })
                    .collect(),
            })
        })
        .await
    }

    async fn list_links_page(
        &self,
        request: Request<pb::ListLinksPageRequest>,
    ) -> Result<Response<pb::LinksPage>, Status> {
        let (metadata, _, req) = request.into_parts();
        self.call("ListLinksPage", &metadata, async {
            let actor = require_actor(req.actor_user_id)?;
            let order = match pb::LinkOrder::try_from(req.order) {
                Ok(pb::LinkOrder::Created) => LinkOrder::Created,
                Ok(pb::LinkOrder::Code) => LinkOrder::Code,
                Ok(pb::LinkOrder::Target) => LinkOrder::Target,
                Ok(pb::LinkOrder::Title) => LinkOrder::Title,
                Err(_) => return Err(LinksError::invalid("order", "is not a known order")),
            };
            let (items, total) = self
                .links
                .page(
                    actor,
                    req.page,
                    req.per_page,
                    req.query.as_deref(),
                    &req.tags,
                    req.all_tags,
                    order,
                    req.descending,
                )
                .await?;
            Ok(pb::LinksPage {
                items: items
                    .into_iter()
                    .map(|(link, visits)| pb::LinkWithVisits {
                        link: Some(self.to_proto(&link)),
                        visits: Some(visits_to_proto(visits)),
                    })
                    .collect(),
                total,
            })
        })
        .await
    }

    async fn count_visits(
        &self,
        request: Request<pb::CountVisitsRequest>,
    ) -> Result<Response<pb::VisitCounts>, Status> {
        let (metadata, _, req) = request.into_parts();
        self.call("CountVisits", &metadata, async {
            let actor = require_actor(req.actor_user_id)?;
            let (overall, by_code) = self.links.count_visits(actor, &req.codes).await?;
            Ok(pb::VisitCounts {
                overall: Some(visits_to_proto(overall)),
                by_code: by_code
                    .into_iter()
                    .map(|(code, v)| (code, visits_to_proto(v)))
                    .collect(),
            })
        })
        .await
    }

    async fn list_visits(
        &self,
        request: Request<pb::ListVisitsRequest>,
    ) -> Result<Response<pb::VisitsPage>, Status> {
        let (metadata, _, req) = request.into_parts();
        self.call("ListVisits", &metadata, async {
            let actor = require_actor(req.actor_user_id)?;
            let from = req.from.map(|t| from_timestamp("from", t)).transpose()?;
            let to = req.to.map(|t| from_timestamp("to", t)).transpose()?;
            let (visits, total) = self
                .links
                .visits(
                    actor,
                    &req.code,
                    req.page,
                    req.per_page,
                    from,
                    to,
                    req.exclude_bots,
                )
                .await?;
            Ok(pb::VisitsPage {
                visits: visits
                    .into_iter()
                    .map(|v| pb::Visit {
                        at: Some(timestamp(v.at)),
                        referrer_host: v.referrer_host,
                        agent_class: v.agent_class,
                        country: v.country,
                    })
                    .collect(),
                total,
            })
        })
        .await
    }

    async fn rename_tag(
        &self,
        request: Request<pb::RenameTagRequest>,
    ) -> Result<Response<pb::TagChange>, Status> {
        let (metadata, _, req) = request.into_parts();
        self.call("RenameTag", &metadata, async {
            let actor = require_actor(req.actor_user_id)?;
            let links = self.links.retag(actor, &req.from, Some(&req.to)).await?;
            Ok(pb::TagChange { links })
        })
        .await
    }

    async fn delete_tag(
        &self,
        request: Request<pb::DeleteTagRequest>,
    ) -> Result<Response<pb::TagChange>, Status> {
        let (metadata, _, req) = request.into_parts();
        self.call("DeleteTag", &metadata, async {
            let actor = require_actor(req.actor_user_id)?;
            let links = self.links.retag(actor, &req.name, None).await?;
            Ok(pb::TagChange { links })
        })
        .await
    }

    async fn get_link(
        &self,
        request: Request<pb::GetLinkRequest>,
    ) -> Result<Response<pb::Link>, Status> {
        let (metadata, _, req) = request.into_parts();
        self.call("GetLink", &metadata, async {
            let link = self.links.get(&req.code).await?;
            Ok(self.to_proto(&link))
        })
        .await
    }

    async fn list_links(
        &self,
        request: Request<pb::ListLinksRequest>,
    ) -> Result<Response<pb::ListLinksResponse>, Status> {
        let (metadata, _, req) = request.into_parts();
        self.call("ListLinks", &metadata, async {
            let actor = require_actor(req.actor_user_id)?;
            let cursor = req
                .cursor
                .as_deref()
                .map(|c| self.cursors.decode(c))
                .transpose()?;
            let (links, next) = self
                .links
                .list(
                    actor,
                    req.limit,
                    cursor,
                    req.query.as_deref(),
                    req.tag.as_deref(),
                )
                .await?;
            Ok(pb::ListLinksResponse {
                items: links.iter().map(|l| self.to_proto(l)).collect(),
                next_cursor: next.map(|c| self.cursors.encode(&c)),
            })
        })
        .await
    }

    async fn update_link(
        &self,
        request: Request<pb::UpdateLinkRequest>,
    ) -> Result<Response<pb::Link>, Status> {
        let (metadata, _, req) = request.into_parts();
        self.call("UpdateLink", &metadata, async {
            let actor = require_actor(req.actor_user_id)?;
            let named = UpdateMask::parse(req.update_mask)?;
            let expires_at = match named.has("expires_at") {
                true => Some(
                    req.expires_at
                        .map(|t| from_timestamp("expires_at", t))
                        .transpose()?,
                ),
                false => None,
            };
            let fields = UpdateFields {
                url: named.has("url").then_some(req.url),
                // An empty title is no title, as on create.
                title: named
                    .has("title")
                    .then(|| req.title.filter(|t| !t.is_empty())),
                is_active: named.has("is_active").then_some(req.is_active),
                expires_at,
                redirect_type: named
                    .has("redirect_type")
                    .then_some(i64::from(req.redirect_type)),
                tags: named.has("tags").then_some(req.tags),
            };
            let changes = LinkChanges::parse(fields, &self.policy, Utc::now())?;
            let link = self.links.update(&req.code, actor, &changes).await?;
            Ok(self.to_proto(&link))
        })
        .await
    }

    async fn delete_link(
        &self,
        request: Request<pb::DeleteLinkRequest>,
    ) -> Result<Response<pb::DeleteLinkResponse>, Status> {
        let (metadata, _, req) = request.into_parts();
        self.call("DeleteLink", &metadata, async {
            let actor = require_actor(req.actor_user_id)?;
            self.links.delete(&req.code, actor).await?;
            Ok(pb::DeleteLinkResponse {})
        })
        .await
    }

    async fn get_link_stats(
        &self,
        request: Request<pb::GetLinkStatsRequest>,
    ) -> Result<Response<pb::LinkStats>, Status> {
        let (metadata, _, req) = request.into_parts();
        self.call("GetLinkStats", &metadata, async {
            let actor = require_actor(req.actor_user_id)?;
            let from = req.from.map(|t| from_timestamp("from", t)).transpose()?;
            let to = req.to.map(|t| from_timestamp("to", t)).transpose()?;
            let unit = match pb::TimeUnit::try_from(req.unit) {
                Ok(pb::TimeUnit::Hour) => Some(Unit::Hour),
                Ok(pb::TimeUnit::Day) => Some(Unit::Day),
                Ok(pb::TimeUnit::Unspecified) => None,
                Err(_) => return Err(LinksError::invalid("unit", "must be hour or day")),
            };
            let query = StatsQuery::parse(from, to, unit, req.include_bots, Utc::now())
                .map_err(|e| LinksError::Invalid(vec![e]))?;
            let stats = self.links.stats(&req.code, actor, &query).await?;
            let named = |items: Vec<(String, i64)>| {
                items
                    .into_iter()
                    .map(|(name, n)| pb::NamedCount {
                        name,
                        clicks: n.max(0) as u64,
                    })
                    .collect()
            };
            Ok(pb::LinkStats {
                code: req.code,
                total: stats.total.max(0) as u64,
                series: stats
                    .series
                    .into_iter()
                    .map(|(bucket, n)| pb::SeriesPoint {
                        bucket: Some(timestamp(bucket)),
                        clicks: n.max(0) as u64,
                    })
                    .collect(),
                top_referrers: named(stats.top_referrers),
                agent_classes: named(stats.agent_classes),
            })
        })
        .await
    }
}

/// The acting user's id, which this call needs.
fn visits_to_proto(totals: hop_clicks::store::Totals) -> pb::Visits {
    pb::Visits {
        humans: totals.humans,
        bots: totals.bots,
    }
}

fn require_actor(actor: Option<i64>) -> Result<i64, LinksError> {
    actor.ok_or(LinksError::Unauthenticated)
}

/// The fields an `UpdateLinkRequest` names in its `update_mask`.
struct UpdateMask(Vec<String>);

impl UpdateMask {
    /// The fields an update may name.
    const FIELDS: [&'static str; 6] = [
        "url",
        "title",
        "is_active",
        "expires_at",
        "redirect_type",
        "tags",
    ];

    /// Every path must be one of [`Self::FIELDS`]; an empty mask names nothing (and the
    /// update is refused for changing nothing, as the changes' parser says).
    fn parse(mask: Option<prost_types::FieldMask>) -> Result<Self, LinksError> {
        let paths = mask.map(|m| m.paths).unwrap_or_default();
        if let Some(unknown) = paths.iter().find(|p| !Self::FIELDS.contains(&p.as_str())) {
            return Err(LinksError::invalid(
                "update_mask",
                format!("names {unknown:?}, which is not a field an update may change"),
            ));
        }
        Ok(Self(paths))
    }

    fn has(&self, field: &str) -> bool {
        self.0.iter().any(|p| p == field)
    }
}

fn from_timestamp(field: &str, t: prost_types::Timestamp) -> Result<DateTime<Utc>, LinksError> {
    hop_kit::time::from_proto(&t)
        .ok_or_else(|| LinksError::invalid(field, "is not a valid timestamp"))
}
