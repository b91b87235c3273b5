//! The link model: a stored [`Link`] and its read-model entry, and a [`NewLink`] validated
//! from the raw [`CreateFields`] of a create request (every field checked, every failure
//! reported at once). The service that uses them is [`crate::domain`]; the SQL that stores
//! them is [`crate::store`].

use crate::error::{LinksError, refused_or_invalid};
use crate::policy::{TargetPolicy, checked_url};
use chrono::{DateTime, Utc};
use hop_kit::problem::FieldError;
use hop_proto::link::{Alias, RedirectType, TargetUrl, parse_title};
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
    /// Normalised and sorted (`hop_proto::link::parse_tags`).
    pub tags: Vec<String>,
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
    pub tags: Vec<String>,
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
    pub tags: Vec<String>,
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
        let tags = hop_proto::link::parse_tags(&fields.tags)
            .map_err(|e| errors.push(FieldError::new("tags", e)))
            .unwrap_or_default();
        refused_or_invalid(errors, refused)?;
        match (url, redirect_type) {
            (Some(url), Some(redirect_type)) => Ok(Self {
                url,
                alias,
                title,
                expires_at: fields.expires_at,
                redirect_type,
                owner_id: fields.owner_id,
                tags,
            }),
            _ => Err(LinksError::invalid("url", "is required")),
        }
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

/// What a page of the owner's links sorts by (the Shlink-compatible API's `orderBy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkOrder {
    Created,
    Code,
    Target,
    Title,
}

impl LinkOrder {
    /// The `ORDER BY` of a page, the same on both databases; ties broken by id so that
    /// pages never overlap.
    pub fn sql(self, descending: bool) -> String {
        let dir = if descending { "DESC" } else { "ASC" };
        let column = match self {
            Self::Created => "created_at",
            Self::Code => "code",
            Self::Target => "target_url",
            Self::Title => "title",
        };
        // Links without a title sort after those with one, either way.
        let nulls = if self == Self::Title {
            " NULLS LAST"
        } else {
            ""
        };
        format!("{column} {dir}{nulls}, id {dir}")
    }
}

/// A numbered page of the owner's links: `limit` from `offset`, those matching `pattern`
/// (escaped `LIKE` on code, target or title) and carrying any (or, `all_tags`, every) one
/// of `tags`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageQuery {
    pub offset: i64,
    pub limit: i64,
    pub pattern: Option<String>,
    pub tags: Vec<String>,
    pub all_tags: bool,
    pub order: LinkOrder,
    pub descending: bool,
}
