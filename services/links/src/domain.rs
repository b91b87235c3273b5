//! Links and what may be done to them.
//!
//! [`NewLink::parse`] turns raw request fields into a validated link (every field checked,
//! every failure reported at once); [`LinkService`] creates and reads links, minting a code
//! unless an alias was asked for, and keeps the redirect read model in step.

use crate::cursor::Cursor;
use crate::edit::LinkChanges;
use crate::error::{LinksError, refused_or_invalid};
use crate::mint::Minter;
use crate::policy::{TargetPolicy, checked_url};
use crate::store::{NewRow, Store};
use crate::writer::{Insert, Writer};
use chrono::{DateTime, Utc};
use hop_clicks::{Stats, StatsQuery};
use hop_kit::link::{Alias, RedirectType, TargetUrl, parse_title};
use hop_kit::problem::FieldError;
use hop_read_model::{CachedLink, ReadEntry};

/// A stored link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub id: i64,
    pub code: String,
    pub url: String,
    pub title: Option<String>,
    pub owner_id: Option<i64>,
    pub redirect_type: RedirectType,
    pub is_active: bool,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
}

impl Link {
    /// The read-model entry the redirect service answers from.
    pub fn read_entry(&self) -> ReadEntry {
        let version = self.version();
        if self.deleted_at.is_some() {
            return ReadEntry::Deleted { version };
        }
        let link = CachedLink {
            id: self.id,
            url: self.url.clone(),
            redirect_type: self.redirect_type,
            is_active: self.is_active,
            expires_at: self.expires_at.map(|t| t.timestamp()),
        };
        ReadEntry::Live { version, link }
    }

    /// Increases with every change (`updated_at` in microseconds; the database keeps it
    /// strictly increasing).
    pub fn version(&self) -> i64 {
        self.updated_at.timestamp_micros()
    }
}

/// A link to create, validated.
#[derive(Debug, Clone)]
pub struct NewLink {
    pub url: TargetUrl,
    pub alias: Option<Alias>,
    pub title: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub redirect_type: RedirectType,
    pub owner_id: Option<i64>,
}

/// The raw fields of a create request, as any caller sends them.
#[derive(Debug, Clone, Default)]
pub struct CreateFields {
    pub url: String,
    pub alias: Option<String>,
    pub title: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    /// 0 means the default (302).
    pub redirect_type: i64,
    pub owner_id: Option<i64>,
}

impl NewLink {
    /// Checks every field and reports every failure; `policy` says where links may point.
    pub fn parse(
        fields: CreateFields,
        policy: &TargetPolicy,
        now: DateTime<Utc>,
    ) -> Result<Self, LinksError> {
        let mut errors = Vec::new();
        let (url, refused) = checked_url(&fields.url, policy, &mut errors);
        let alias = match fields.alias.as_deref() {
            None | Some("") => None,
            Some(raw) => Alias::parse(raw)
                .map_err(|e| errors.push(FieldError::new("alias", e.to_string())))
                .ok(),
        };
        let title = match fields.title.as_deref() {
            None => None,
            Some(raw) => parse_title(raw)
                .map_err(|e| errors.push(FieldError::new("title", e)))
                .ok()
                .flatten(),
        };
        if fields.expires_at.is_some_and(|t| t <= now) {
            errors.push(FieldError::new("expires_at", "must be in the future"));
        }
        let redirect_type = match fields.redirect_type {
            0 => Some(RedirectType::default()),
            status => RedirectType::from_status(status).or_else(|| {
                errors.push(FieldError::new(
                    "redirect_type",
                    "must be one of 301, 302, 307, 308",
                ));
                None
            }),
        };
        refused_or_invalid(errors, refused)?;
        match (url, redirect_type) {
            (Some(url), Some(redirect_type)) => Ok(Self {
                url,
                alias,
                title,
                expires_at: fields.expires_at,
                redirect_type,
                owner_id: fields.owner_id,
            }),
            _ => Err(LinksError::invalid("url", "is required")),
        }
    }
}

/// How many minted codes in a row may collide with aliases before creation gives up. Each
/// collision needs a user to have taken the exact 7-character alias the permutation
/// produced, so even two in a row means something is wrong.
const MAX_MINT_ATTEMPTS: usize = 5;

/// Page size of "my links" when the caller names none, and the most it may ask for.
const DEFAULT_PAGE: u32 = 20;
const MAX_PAGE: u32 = 100;

/// Creates, reads, changes and deletes links.
pub struct LinkService {
    store: Store,
    minter: Minter,
    writer: Writer,
    read_model: hop_read_model::Writer,
}

impl LinkService {
    pub fn new(
        store: Store,
        minter: Minter,
        writer: Writer,
        read_model: hop_read_model::Writer,
    ) -> Self {
        Self {
            store,
            minter,
            writer,
            read_model,
        }
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
        if hop_kit::link::ShortCode::parse(code).is_none() {
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
        if hop_kit::link::ShortCode::parse(code).is_none() {
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

    /// The actor's links, newest first: a page and the cursor of the next one.
    pub async fn list(
        &self,
        actor: i64,
        limit: u32,
        cursor: Option<Cursor>,
    ) -> Result<(Vec<Link>, Option<Cursor>), LinksError> {
        let limit = match limit {
            0 => DEFAULT_PAGE,
            1..=MAX_PAGE => limit,
            _ => return Err(LinksError::invalid("limit", "must be between 1 and 100")),
        };
        let after = cursor.map(|c| (c.created_at, c.id));
        // One more than asked tells whether another page follows.
        let mut links = self.store.list(actor, i64::from(limit) + 1, after).await?;
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
        Ok(hop_clicks::store::read_stats(self.store.pool(), link.id, query).await?)
    }

    /// A live (not deleted) link by code.
    pub async fn get(&self, code: &str) -> Result<Link, LinksError> {
        if hop_kit::link::ShortCode::parse(code).is_none() {
            return Err(LinksError::NotFound);
        }
        self.store.get(code).await?.ok_or(LinksError::NotFound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{Refusal, TargetSettings};

    fn fields(url: &str) -> CreateFields {
        CreateFields {
            url: url.into(),
            ..CreateFields::default()
        }
    }

    fn errors(result: Result<NewLink, LinksError>) -> Vec<String> {
        match result {
            Err(LinksError::Invalid(errors)) => errors.into_iter().map(|e| e.field).collect(),
            other => panic!("expected invalid, got {other:?}"),
        }
    }

    #[test]
    fn every_bad_field_is_reported_at_once() {
        let now = Utc::now();
        let mut f = fields("javascript:alert(1)");
        f.alias = Some("a!".into());
        f.redirect_type = 200;
        f.expires_at = Some(now - chrono::Duration::seconds(1));
        f.title = Some("x".repeat(300));
        let fields = errors(NewLink::parse(f, &policy(), now));
        assert_eq!(
            fields,
            ["url", "alias", "title", "expires_at", "redirect_type"]
        );
    }

    #[test]
    fn defaults_apply_and_empty_alias_means_none() {
        let mut f = fields("https://example.com");
        f.alias = Some(String::new());
        let new = NewLink::parse(f, &policy(), Utc::now()).unwrap();
        assert_eq!(new.redirect_type, RedirectType::Found);
        assert!(new.alias.is_none());
    }

    fn policy() -> TargetPolicy {
        TargetPolicy::new(&TargetSettings::default(), "https://hop.example", &[])
    }

    #[test]
    fn a_refused_target_is_its_own_problem_unless_other_fields_are_bad() {
        let loop_only = NewLink::parse(fields("https://hop.example/abc"), &policy(), Utc::now());
        assert!(
            matches!(loop_only, Err(LinksError::Refused(Refusal::Loop))),
            "{loop_only:?}"
        );
        let mut f = fields("http://10.1.2.3/");
        f.redirect_type = 200;
        assert_eq!(
            errors(NewLink::parse(f, &policy(), Utc::now())),
            ["url", "redirect_type"]
        );
    }
}
