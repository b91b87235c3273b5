//! What may be done to links: [`LinkService`] creates, reads, changes and deletes them,
//! minting a code unless an alias was asked for, and keeps the redirect read model in step.
//! What a link is lives in [`crate::model`].

use crate::cursor::Cursor;
use crate::edit::LinkChanges;
use crate::error::LinksError;
use crate::mint::Minter;
use crate::model::{Link, LinkOrder, NewLink, PageQuery};
use crate::store::{NewRow, Store};
use crate::writer::{Insert, Writer};
use chrono::{DateTime, Utc};
use hop_clicks::store::{Totals, Visit, VisitsQuery};
use hop_clicks::{Stats, StatsQuery};
use hop_kit::database::Database;
use hop_kit::replicas::Replicas;

/// How many minted codes in a row may collide with aliases before creation gives up. Each
/// collision needs a user to have taken the exact 7-character alias the permutation
/// produced, so even two in a row means something is wrong.
const MAX_MINT_ATTEMPTS: usize = 5;

/// Page size of "my links" when the caller names none, and the most it may ask for.
const DEFAULT_PAGE: u32 = 20;
/// Most links one bulk create may carry.
pub const MAX_BULK: usize = 1000;
const MAX_PAGE: u32 = 100;

/// Creates, reads, changes and deletes links.
pub struct LinkService {
    store: Store,
    minter: Minter,
    writer: Writer,
    read_model: hop_read_model::Writer,
    /// Read replicas for stats (DATABASE_READ_URL); none by default.
    replicas: Option<Replicas>,
}

impl LinkService {
    pub fn new(
        store: Store,
        minter: Minter,
        writer: Writer,
        read_model: hop_read_model::Writer,
        replicas: Option<Replicas>,
    ) -> Self {
        Self {
            store,
            minter,
            writer,
            read_model,
            replicas,
        }
    }

    /// Runs a stats read (clicks, visits) on a healthy read replica, else on the primary.
    /// Stats may be a moment behind: no caller reads its own writes through them. A read
    /// that fails on a replica takes it out of rotation and is run on the primary.
    async fn read_stats<T, E, F, Fut>(&self, read: F) -> Result<T, LinksError>
    where
        F: Fn(Database) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: std::fmt::Display,
        LinksError: From<E>,
    {
        if let Some(replica) = self.replicas.as_ref().and_then(Replicas::pick) {
            match read(Database::Postgres(replica.pool().clone())).await {
                Ok(value) => return Ok(value),
                Err(e) => replica.failed(e.to_string()),
            }
        }
        Ok(read(self.store.database().clone()).await?)
    }

    /// Stores `new` under its alias or a freshly minted code, and writes it through to the
    /// read model. A Redis failure does not fail the create: redirect falls back to Postgres.
    pub async fn create(&self, new: NewLink) -> Result<Link, LinksError> {
        let link = match &new.alias {
            Some(alias) => {
                let row = NewRow {
                    id: self.minter.next_id().await?,
                    code: alias.as_str().to_owned(),
                    link: new.clone(),
                };
                match self.writer.insert(row).await? {
                    Insert::Created(link) => link,
                    Insert::CodeTaken => {
                        return Err(LinksError::AliasTaken(alias.as_str().to_owned()));
                    }
                }
            }
            None => self.create_minted(&new).await?,
        };
        tracing::info!(code = %link.code, link_id = link.id, "link_created");
        Ok(link)
    }

    /// Creates every valid link of a bulk request as one batch: codes minted (or aliases
    /// taken) for each, one INSERT and one read-model write for all, then each item's own
    /// outcome, in order. An alias asked for twice goes to the first; a minted code that
    /// an alias took meanwhile is minted again, alone.
    pub async fn create_many(
        &self,
        items: Vec<Result<NewLink, LinksError>>,
    ) -> Vec<Result<Link, LinksError>> {
        let mut results: Vec<Option<Result<Link, LinksError>>> =
            (0..items.len()).map(|_| None).collect();
        let (mut rows, mut slots) = (Vec::new(), Vec::new());
        for (at, item) in items.into_iter().enumerate() {
            let new = match item {
                Ok(new) => new,
                Err(e) => {
                    results[at] = Some(Err(e));
                    continue;
                }
            };
            let code = match &new.alias {
                Some(alias) => self
                    .minter
                    .next_id()
                    .await
                    .map(|id| (id, alias.as_str().to_owned())),
                None => self.minter.next_code().await,
            };
            match code {
                Ok((id, code)) => {
                    rows.push(NewRow {
                        id,
                        code,
                        link: new,
                    });
                    slots.push(at);
                }
                Err(e) => results[at] = Some(Err(e)),
            }
        }
        if !rows.is_empty() {
            match self.writer.insert_now(&rows).await {
                Ok(outcomes) => {
                    for ((row, at), outcome) in rows.iter().zip(&slots).zip(outcomes) {
                        results[*at] = Some(match (outcome, &row.link.alias) {
                            (Insert::Created(link), _) => Ok(link),
                            (Insert::CodeTaken, Some(alias)) => {
                                Err(LinksError::AliasTaken(alias.as_str().to_owned()))
                            }
                            (Insert::CodeTaken, None) => self.create_minted(&row.link).await,
                        });
                    }
                }
                Err(e) => {
                    let cause = e.to_string();
                    for at in &slots {
                        results[*at] = Some(Err(match e {
                            LinksError::Unavailable(_) => {
                                LinksError::Unavailable(cause.clone().into())
                            }
                            _ => LinksError::Internal(cause.clone().into()),
                        }));
                    }
                }
            }
        }
        let created = results.iter().filter(|r| matches!(r, Some(Ok(_)))).count();
        tracing::info!(items = results.len(), created, "links_created_in_bulk");
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(LinksError::Internal("no outcome".into()))))
            .collect()
    }

    async fn create_minted(&self, new: &NewLink) -> Result<Link, LinksError> {
        for _ in 0..MAX_MINT_ATTEMPTS {
            let (id, code) = self.minter.next_code().await?;
            let row = NewRow {
                id,
                code: code.clone(),
                link: new.clone(),
            };
            match self.writer.insert(row).await? {
                Insert::Created(link) => return Ok(link),
                Insert::CodeTaken => {
                    tracing::warn!(code = %code, "minted_code_taken_by_alias");
                }
            }
        }
        Err(LinksError::Internal(
            "every minted code collided with an existing alias".into(),
        ))
    }

    /// Applies `changes` to the actor's link and writes the new state through. Anyone but
    /// the owner gets `NotFound` (a link's existence is not revealed) and nothing changes.
    pub async fn update(
        &self,
        code: &str,
        actor: i64,
        changes: &LinkChanges,
    ) -> Result<Link, LinksError> {
        if hop_proto::link::ShortCode::parse(code).is_none() {
            return Err(LinksError::NotFound);
        }
        let link = self
            .store
            .update(code, actor, changes)
            .await?
            .ok_or(LinksError::NotFound)?;
        self.read_model
            .put_many(&[(link.code.as_str(), link.read_entry())])
            .await;
        tracing::info!(code = %link.code, link_id = link.id, user_id = actor, "link_updated");
        Ok(link)
    }

    /// Soft-deletes the actor's link; redirects answer 404 from then on and the code is
    /// never reused.
    pub async fn delete(&self, code: &str, actor: i64) -> Result<(), LinksError> {
        if hop_proto::link::ShortCode::parse(code).is_none() {
            return Err(LinksError::NotFound);
        }
        let link = self
            .store
            .delete(code, actor)
            .await?
            .ok_or(LinksError::NotFound)?;
        self.read_model
            .put_many(&[(link.code.as_str(), link.read_entry())])
            .await;
        tracing::info!(code = %link.code, link_id = link.id, user_id = actor, "link_deleted");
        Ok(())
    }

    /// The actor's links, newest first, only those matching `query` (in the code, the
    /// target or the title, case-insensitive) when there is one: a page and the cursor of
    /// the next one.
    pub async fn list(
        &self,
        actor: i64,
        limit: Option<u32>,
        cursor: Option<Cursor>,
        query: Option<&str>,
        tag: Option<&str>,
    ) -> Result<(Vec<Link>, Option<Cursor>), LinksError> {
        let tag = match tag.filter(|t| !t.trim().is_empty()) {
            None => None,
            Some(raw) => {
                Some(hop_proto::link::parse_tag(raw).map_err(|e| LinksError::invalid("tag", e))?)
            }
        };
        let limit = match limit {
            None => DEFAULT_PAGE,
            Some(limit @ 1..=MAX_PAGE) => limit,
            Some(_) => return Err(LinksError::invalid("limit", "must be between 1 and 100")),
        };
        let pattern = search_pattern(query)?;
        let after = cursor.map(|c| (c.created_at, c.id));
        // One more than asked tells whether another page follows.
        let mut links = self
            .store
            .list(
                actor,
                i64::from(limit) + 1,
                after,
                pattern.as_deref(),
                tag.as_deref(),
            )
            .await?;
        let next = (links.len() > limit as usize).then(|| {
            links.truncate(limit as usize);
            let last = links.last().expect("a full page has a last item");
            Cursor {
                created_at: last.created_at,
                id: last.id,
            }
        });
        Ok((links, next))
    }

    /// Page `page` (1-based) of the actor's links for the Shlink-compatible list: those
    /// matching `query` and carrying any (or every) one of `tags`, in `order`, each with
    /// its visits; and how many match in all.
    #[allow(clippy::too_many_arguments)]
    pub async fn page(
        &self,
        actor: i64,
        page: u32,
        per_page: u32,
        query: Option<&str>,
        tags: &[String],
        all_tags: bool,
        order: LinkOrder,
        descending: bool,
    ) -> Result<(Vec<(Link, Totals)>, u64), LinksError> {
        let (offset, limit) = numbered(page, per_page)?;
        if tags.len() > hop_proto::link::MAX_TAGS {
            return Err(LinksError::invalid(
                "tags",
                format!("at most {} tags", hop_proto::link::MAX_TAGS),
            ));
        }
        let tags = tags
            .iter()
            .map(|t| hop_proto::link::parse_tag(t).map_err(|e| LinksError::invalid("tags", e)))
            .collect::<Result<Vec<_>, _>>()?;
        let query = PageQuery {
            offset,
            limit,
            pattern: search_pattern(query)?,
            tags,
            all_tags,
            order,
            descending,
        };
        let (links, total) = self.store.page(actor, &query).await?;
        let ids: Vec<i64> = links.iter().map(|l| l.id).collect();
        let visits = hop_clicks::store::totals(self.store.database(), &ids).await?;
        let items = links
            .into_iter()
            .map(|l| {
                let v = visits.get(&l.id).copied().unwrap_or_default();
                (l, v)
            })
            .collect();
        Ok((items, total))
    }

    /// The visits of each of the actor's links named, with their sum; of all of the
    /// actor's live links (the sum alone) when none is named.
    pub async fn count_visits(
        &self,
        actor: i64,
        codes: &[String],
    ) -> Result<(Totals, Vec<(String, Totals)>), LinksError> {
        if codes.len() > MAX_NUMBERED_PAGE as usize {
            return Err(LinksError::invalid(
                "codes",
                format!("at most {MAX_NUMBERED_PAGE} codes"),
            ));
        }
        let mut named = Vec::with_capacity(codes.len());
        for code in codes {
            let link = self.get(code).await?;
            if link.owner_id != Some(actor) {
                return Err(LinksError::NotFound);
            }
            named.push((code.clone(), link.id));
        }
        let ids: Vec<i64> = match codes.is_empty() {
            true => self.store.ids(actor).await?,
            false => named.iter().map(|(_, id)| *id).collect(),
        };
        let ids = &ids;
        let totals = self
            .read_stats(|db| async move { hop_clicks::store::totals(&db, ids).await })
            .await?;
        let mut overall = Totals::default();
        for t in totals.values() {
            overall += *t;
        }
        let by_code = named
            .into_iter()
            .map(|(code, id)| (code, totals.get(&id).copied().unwrap_or_default()))
            .collect();
        Ok((overall, by_code))
    }

    /// Page `page` of the raw clicks of the actor's link `code` in `[from, to)`, newest
    /// first, and how many there are; anyone else gets `NotFound`.
    #[allow(clippy::too_many_arguments)]
    pub async fn visits(
        &self,
        actor: i64,
        code: &str,
        page: u32,
        per_page: u32,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        exclude_bots: bool,
    ) -> Result<(Vec<Visit>, u64), LinksError> {
        let (offset, limit) = numbered(page, per_page)?;
        if let (Some(from), Some(to)) = (from, to)
            && from >= to
        {
            return Err(LinksError::invalid("from", "must be before to"));
        }
        let link = self.get(code).await?;
        if link.owner_id != Some(actor) {
            return Err(LinksError::NotFound);
        }
        let query = VisitsQuery {
            from,
            to,
            exclude_bots,
            offset,
            limit,
        };
        let query = &query;
        self.read_stats(|db| async move { hop_clicks::store::visits(&db, link.id, query).await })
            .await
    }

    /// The actor's tags by name: how many live links carry each, and their clicks.
    pub async fn tags(&self, actor: i64) -> Result<Vec<TagCount>, LinksError> {
        let tags = self.store.tags(actor).await?;
        let ids: Vec<i64> = tags
            .iter()
            .flat_map(|(_, ids)| ids.iter().copied())
            .collect();
        let clicks = hop_clicks::store::totals(self.store.database(), &ids).await?;
        Ok(tags
            .into_iter()
            .map(|(name, ids)| TagCount {
                links: ids.len() as u64,
                clicks: ids
                    .iter()
                    .filter_map(|id| clicks.get(id))
                    .map(|t| t.humans)
                    .sum(),
                bot_clicks: ids
                    .iter()
                    .filter_map(|id| clicks.get(id))
                    .map(|t| t.bots)
                    .sum(),
                name,
            })
            .collect())
    }

    /// Renames tag `from` to `to` (or removes it, `to` `None`) on every live link of the
    /// actor: how many changed; `NotFound` when none had it.
    pub async fn retag(&self, actor: i64, from: &str, to: Option<&str>) -> Result<u64, LinksError> {
        let from = hop_proto::link::parse_tag(from).map_err(|_| LinksError::NotFound)?;
        let to = to
            .map(|t| hop_proto::link::parse_tag(t).map_err(|e| LinksError::invalid("name", e)))
            .transpose()?;
        let changed = self.store.retag(actor, &from, to.as_deref()).await?;
        if changed.is_empty() {
            return Err(LinksError::NotFound);
        }
        tracing::info!(
            user_id = actor,
            links = changed.len(),
            renamed = to.is_some(),
            "tag_changed"
        );
        Ok(changed.len() as u64)
    }

    /// Click statistics of the actor's link; anyone else gets `NotFound`.
    pub async fn stats(
        &self,
        code: &str,
        actor: i64,
        query: &StatsQuery,
    ) -> Result<Stats, LinksError> {
        let link = self.get(code).await?;
        if link.owner_id != Some(actor) {
            return Err(LinksError::NotFound);
        }
        self.read_stats(
            |db| async move { hop_clicks::store::read_stats(&db, link.id, query).await },
        )
        .await
    }

    /// A live (not deleted) link by code.
    pub async fn get(&self, code: &str) -> Result<Link, LinksError> {
        if hop_proto::link::ShortCode::parse(code).is_none() {
            return Err(LinksError::NotFound);
        }
        self.store.get(code).await?.ok_or(LinksError::NotFound)
    }
}

/// A tag and what carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagCount {
    pub name: String,
    pub links: u64,
    /// People's clicks.
    pub clicks: u64,
    pub bot_clicks: u64,
}

/// Longest search text of a list, in characters.
pub const MAX_QUERY_CHARS: usize = 200;

/// Most links or visits on one numbered page.
pub const MAX_NUMBERED_PAGE: u32 = 200;

/// The `LIKE` pattern of a list's search text (`q`); none for none or blank.
fn search_pattern(query: Option<&str>) -> Result<Option<String>, LinksError> {
    match query.map(str::trim).filter(|q| !q.is_empty()) {
        None => Ok(None),
        Some(q) if q.chars().count() > MAX_QUERY_CHARS => Err(LinksError::invalid(
            "q",
            format!("must be at most {MAX_QUERY_CHARS} characters"),
        )),
        Some(q) => Ok(Some(contains_pattern(q))),
    }
}

/// The offset and limit of page `page` (1-based) of `per_page` items.
fn numbered(page: u32, per_page: u32) -> Result<(i64, i64), LinksError> {
    if page == 0 {
        return Err(LinksError::invalid("page", "must be 1 or more"));
    }
    if !(1..=MAX_NUMBERED_PAGE).contains(&per_page) {
        return Err(LinksError::invalid(
            "per_page",
            format!("must be between 1 and {MAX_NUMBERED_PAGE}"),
        ));
    }
    let per_page = i64::from(per_page);
    Ok((i64::from(page - 1) * per_page, per_page))
}

/// A `LIKE ... ESCAPE '\\'` pattern that matches any text containing `text` literally:
/// its own `%`, `_` and `\\` are escaped.
fn contains_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

#[cfg(test)]
mod search_tests {
    use super::contains_pattern;

    #[test]
    fn wildcards_in_the_search_text_match_only_themselves() {
        assert_eq!(contains_pattern("docs"), "%docs%");
        assert_eq!(contains_pattern("50%_off\\x"), "%50\\%\\_off\\\\x%");
    }
}
