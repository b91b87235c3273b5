//! Shlink's query strings: [`Params`] reads a raw query (`tags[]` repeated, as Shlink's
//! clients send it), and the `*_param` functions describe its typed values to OpenAPI.
//!
//! Shlink reads an empty value (`page=`) as an absent one, and its clients send them, so
//! hop does too; the document says so: each typed parameter is its type or `""`.
//! Anything else that is not the type (`page=x`, `page= `) is an `invalid-data` problem.

use super::problem::ShlinkError;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use utoipa::openapi::schema::{AnyOfBuilder, ObjectBuilder, SchemaFormat, SchemaType, Type};
use utoipa::openapi::{KnownFormat, Schema};

/// A raw query string's parameters by name, `name[]` as `name`, repeats kept in order.
pub struct Params(HashMap<String, Vec<String>>);

impl Params {
    pub fn parse(raw: Option<String>) -> Self {
        let mut map: HashMap<String, Vec<String>> = HashMap::new();
        for (key, value) in url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
            let key = key.strip_suffix("[]").unwrap_or(&key).to_owned();
            map.entry(key).or_default().push(value.into_owned());
        }
        Self(map)
    }

    /// The last value of `name`, if any and not empty.
    pub fn one(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .and_then(|v| v.last())
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    pub fn all(&self, name: &str) -> Vec<String> {
        self.0.get(name).cloned().unwrap_or_default()
    }

    /// A positive whole number (`default` when absent).
    pub fn number(&self, name: &str, default: u32) -> Result<u32, ShlinkError> {
        match self.one(name) {
            None => Ok(default),
            Some(raw) => {
                raw.parse::<u32>().ok().filter(|n| *n >= 1).ok_or_else(|| {
                    ShlinkError::invalid(&[name], format!("{name} must be 1 or more"))
                })
            }
        }
    }

    /// `true`/`false` (absent: false).
    pub fn flag(&self, name: &str) -> Result<bool, ShlinkError> {
        match self.one(name) {
            None | Some("false") | Some("0") => Ok(false),
            Some("true") | Some("1") => Ok(true),
            Some(_) => Err(ShlinkError::invalid(
                &[name],
                format!("{name} must be true or false"),
            )),
        }
    }

    /// An ISO 8601 / RFC 3339 date-time.
    pub fn time(&self, name: &str) -> Result<Option<DateTime<Utc>>, ShlinkError> {
        self.one(name).map(|raw| parse_time(name, raw)).transpose()
    }
}

pub fn parse_time(name: &str, raw: &str) -> Result<DateTime<Utc>, ShlinkError> {
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            ShlinkError::invalid(
                &[name],
                format!("{name} must be an ISO 8601 date-time such as 2030-01-01T00:00:00+00:00"),
            )
        })
}

/// `page`: 1 or more, or empty (the first page).
pub fn page_param() -> Schema {
    or_empty(
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(1))
            .maximum(Some(u32::MAX)),
    )
}

/// `itemsPerPage`: 1 to 200, or empty (the operation's default).
pub fn items_per_page_param() -> Schema {
    or_empty(
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(1))
            .maximum(Some(200)),
    )
}

/// A flag: `true` or `false`, or empty (false).
pub fn flag_param() -> Schema {
    or_empty(ObjectBuilder::new().schema_type(Type::Boolean))
}

/// A date-time (RFC 3339), or empty (none).
pub fn time_param() -> Schema {
    or_empty(
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime))),
    )
}

fn or_empty(schema: ObjectBuilder) -> Schema {
    let empty = ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::String))
        .enum_values(Some([""]));
    AnyOfBuilder::new().item(schema).item(empty).into()
}
