//! Changing links: the validated set of changes a PATCH asks for.

use crate::error::{LinksError, refused_or_invalid};
use crate::policy::{TargetPolicy, checked_url};
use chrono::{DateTime, Utc};
use hop_kit::problem::FieldError;
use hop_proto::link::{RedirectType, TargetUrl, parse_title};

/// The raw fields of an update; `None` leaves a field alone.
#[derive(Debug, Clone, Default)]
pub struct UpdateFields {
    pub url: Option<String>,
    /// `Some(None)` clears the title.
    pub title: Option<Option<String>>,
    pub is_active: Option<bool>,
    /// `Some(None)` removes the expiry.
    pub expires_at: Option<Option<DateTime<Utc>>>,
    pub redirect_type: Option<i64>,
    /// The whole new list.
    pub tags: Option<Vec<String>>,
}

/// Validated changes to a link.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkChanges {
    pub url: Option<TargetUrl>,
    pub title: Option<Option<String>>,
    pub is_active: Option<bool>,
    pub expires_at: Option<Option<DateTime<Utc>>>,
    pub redirect_type: Option<RedirectType>,
    pub tags: Option<Vec<String>>,
}

impl LinkChanges {
    /// Checks every field and reports every failure; at least one field must be set.
    pub fn parse(
        fields: UpdateFields,
        policy: &TargetPolicy,
        now: DateTime<Utc>,
    ) -> Result<Self, LinksError> {
        let mut errors = Vec::new();
        let mut changes = Self {
            is_active: fields.is_active,
            ..Self::default()
        };
        let mut refused = None;
        if let Some(raw) = &fields.url {
            (changes.url, refused) = checked_url(raw, policy, &mut errors);
        }
        match fields.title {
            Some(Some(raw)) => match parse_title(&raw) {
                Ok(title) => changes.title = Some(title),
                Err(e) => errors.push(FieldError::new("title", e)),
            },
            Some(None) => changes.title = Some(None),
            None => {}
        }
        if let Some(expiry) = fields.expires_at {
            if expiry.is_some_and(|t| t <= now) {
                errors.push(FieldError::new("expires_at", "must be in the future"));
            }
            changes.expires_at = Some(expiry);
        }
        if let Some(status) = fields.redirect_type {
            changes.redirect_type = RedirectType::from_status(status);
            if changes.redirect_type.is_none() {
                errors.push(FieldError::new(
                    "redirect_type",
                    "must be one of 301, 302, 307, 308",
                ));
            }
        }
        if let Some(raw) = &fields.tags {
            match hop_proto::link::parse_tags(raw) {
                Ok(tags) => changes.tags = Some(tags),
                Err(e) => errors.push(FieldError::new("tags", e)),
            }
        }
        refused_or_invalid(errors, refused)?;
        if changes == Self::default() {
            return Err(LinksError::invalid(
                "body",
                "name at least one field to change: url, title, is_active, expires_at, redirect_type, tags",
            ));
        }
        Ok(changes)
    }

    /// What changed, for the `updated` event.
    pub fn describe(&self) -> serde_json::Value {
        let mut details = serde_json::Map::new();
        if let Some(url) = &self.url {
            details.insert("url".into(), url.as_str().into());
        }
        if let Some(title) = &self.title {
            details.insert("title".into(), title.clone().into());
        }
        if let Some(active) = self.is_active {
            details.insert("is_active".into(), active.into());
        }
        if let Some(expires_at) = &self.expires_at {
            details.insert(
                "expires_at".into(),
                expires_at.map(|t| t.to_rfc3339()).into(),
            );
        }
        if let Some(redirect_type) = self.redirect_type {
            details.insert("redirect_type".into(), redirect_type.status().into());
        }
        if let Some(tags) = &self.tags {
            details.insert("tags".into(), tags.clone().into());
        }
        serde_json::Value::Object(details)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> TargetPolicy {
        TargetPolicy::new(
            &crate::policy::TargetSettings::default(),
            "https://hop.example",
            &[],
        )
    }

    #[test]
    fn an_empty_update_is_refused_and_clearing_is_a_change() {
        let now = Utc::now();
        assert!(LinkChanges::parse(UpdateFields::default(), &policy(), now).is_err());
        let clear = UpdateFields {
            title: Some(None),
            expires_at: Some(None),
            ..UpdateFields::default()
        };
        let changes = LinkChanges::parse(clear, &policy(), now).unwrap();
        assert_eq!(changes.title, Some(None));
        assert_eq!(changes.expires_at, Some(None));
    }

    #[test]
    fn every_bad_field_is_reported() {
        let fields = UpdateFields {
            url: Some("javascript:x".into()),
            expires_at: Some(Some(Utc::now() - chrono::Duration::hours(1))),
            redirect_type: Some(200),
            ..UpdateFields::default()
        };
        match LinkChanges::parse(fields, &policy(), Utc::now()) {
            Err(LinksError::Invalid(errors)) => {
                let names: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
                assert_eq!(names, ["url", "expires_at", "redirect_type"]);
            }
            other => panic!("{other:?}"),
        }
    }
}
