//! Request bodies: a JSON object, read under a size limit, with typed field access that
//! collects one error per bad field.
//!
//! Every way a body can be wrong is a 4xx problem: over the limit (413), a content type
//! other than JSON (415), not JSON (400), JSON that is not an object (400), a field of the
//! wrong type (400, naming the field).

use crate::error::ApiError;
use axum::extract::{FromRequest, Request};
use chrono::{DateTime, Utc};
use hop_kit::problem::{FieldError, Problem};
use serde_json::{Map, Value};

/// The body limit, set per router as an extension (BODY_LIMIT_BYTES).
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

/// A request body that is a JSON object.
#[derive(Debug)]
pub struct JsonObject(pub Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for JsonObject {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &S) -> Result<Self, Self::Rejection> {
        let limit = req
            .extensions()
            .get::<BodyLimit>()
            .map_or(64 * 1024, |l| l.0);
        if let Some(content_type) = req.headers().get(http::header::CONTENT_TYPE) {
            let is_json = content_type.to_str().is_ok_and(|ct| {
                let essence = ct
                    .split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase();
                essence == "application/json" || essence.ends_with("+json")
            });
            if !is_json {
                return Err(Problem::unsupported_media_type().into());
            }
        }
        let declared = req
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit as u64) {
            return Err(Problem::payload_too_large(limit).into());
        }
        let bytes = axum::body::to_bytes(req.into_body(), limit)
            .await
            .map_err(|e| too_large_or_malformed(e, limit))?;
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(map)) => Ok(Self(map)),
            Ok(other) => Err(Problem::malformed(format!(
                "the body must be a JSON object, not {}",
                kind(&other)
            ))
            .into()),
            Err(e) => Err(Problem::malformed(format!("the body is not valid JSON: {e}")).into()),
        }
    }
}

fn too_large_or_malformed(e: axum::Error, limit: usize) -> ApiError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(err) = source {
        if err.is::<http_body_util::LengthLimitError>() {
            return Problem::payload_too_large(limit).into();
        }
        source = err.source();
    }
    Problem::malformed("the body could not be read").into()
}

/// A JSON value's kind, for messages.
pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Typed field access over a [`JsonObject`], collecting every field error.
pub struct Fields {
    map: Map<String, Value>,
    errors: Vec<FieldError>,
}

impl Fields {
    pub fn new(JsonObject(map): JsonObject) -> Self {
        Self {
            map,
            errors: Vec::new(),
        }
    }

    fn wrong(&mut self, field: &str, expected: &str, got: &Value) {
        self.errors.push(FieldError::new(
            field,
            format!("must be {expected}, not {}", kind(got)),
        ));
    }

    /// A field's raw value, taken out (for a caller with its own rules for it).
    pub fn take(&mut self, field: &str) -> Option<Value> {
        self.map.remove(field)
    }

    /// A required string.
    pub fn required_string(&mut self, field: &str) -> String {
        match self.map.remove(field) {
            Some(Value::String(s)) => s,
            None | Some(Value::Null) => {
                self.errors.push(FieldError::new(field, "is required"));
                String::new()
            }
            Some(other) => {
                self.wrong(field, "a string", &other);
                String::new()
            }
        }
    }

    /// An optional string; null counts as absent.
    pub fn optional_string(&mut self, field: &str) -> Option<String> {
        match self.map.remove(field)? {
            Value::String(s) => Some(s),
            Value::Null => None,
            other => {
                self.wrong(field, "a string", &other);
                None
            }
        }
    }

    /// An optional integer; null counts as absent.
    pub fn optional_integer(&mut self, field: &str) -> Option<i64> {
        match self.map.remove(field)? {
            Value::Number(n) if n.is_i64() => n.as_i64(),
            Value::Null => None,
            other => {
                self.wrong(field, "an integer", &other);
                None
            }
        }
    }

    /// An optional RFC 3339 timestamp; null counts as absent.
    pub fn optional_timestamp(&mut self, field: &str) -> Option<DateTime<Utc>> {
        let raw = self.optional_string(field)?;
        match DateTime::parse_from_rfc3339(&raw) {
            Ok(t) => Some(t.with_timezone(&Utc)),
            Err(_) => {
                self.errors.push(FieldError::new(
                    field,
                    "must be an RFC 3339 timestamp such as 2030-01-01T00:00:00Z",
                ));
                None
            }
        }
    }

    /// An optional boolean; null counts as absent.
    pub fn optional_bool(&mut self, field: &str) -> Option<bool> {
        match self.map.remove(field)? {
            Value::Bool(b) => Some(b),
            Value::Null => None,
            other => {
                self.wrong(field, "a boolean", &other);
                None
            }
        }
    }

    /// An optional list of strings (at most `max` of them); null counts as absent.
    pub fn optional_strings(&mut self, field: &str, max: usize) -> Option<Vec<String>> {
        match self.map.remove(field)? {
            Value::Array(items) if items.len() > max => {
                self.errors.push(FieldError::new(
                    field,
                    format!("must have at most {max} items"),
                ));
                None
            }
            Value::Array(items) => {
                let strings: Option<Vec<String>> = items
                    .into_iter()
                    .map(|v| match v {
                        Value::String(s) => Some(s),
                        _ => None,
                    })
                    .collect();
                if strings.is_none() {
                    self.errors
                        .push(FieldError::new(field, "must be a list of strings"));
                }
                strings
            }
            Value::Null => None,
            other => {
                self.wrong(field, "a list of strings", &other);
                None
            }
        }
    }

    /// A string that may be set to null: absent → `None`, null → `Some(None)`.
    pub fn nullable_string(&mut self, field: &str) -> Option<Option<String>> {
        match self.map.remove(field)? {
            Value::String(s) => Some(Some(s)),
            Value::Null => Some(None),
            other => {
                self.wrong(field, "a string or null", &other);
                None
            }
        }
    }

    /// A timestamp that may be set to null: absent → `None`, null → `Some(None)`.
    pub fn nullable_timestamp(&mut self, field: &str) -> Option<Option<DateTime<Utc>>> {
        match self.map.get(field)? {
            Value::Null => {
                self.map.remove(field);
                Some(None)
            }
            _ => self.optional_timestamp(field).map(Some),
        }
    }

    /// Ok when every field read so far was well-typed.
    pub fn finish(self) -> Result<(), ApiError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(Problem::validation(self.errors).into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(v: Value) -> Fields {
        match v {
            Value::Object(map) => Fields::new(JsonObject(map)),
            _ => unreachable!(),
        }
    }

    #[test]
    fn wrong_types_name_their_fields() {
        let mut f = fields(
            json!({"url": 5, "alias": ["x"], "redirect_type": "301", "expires_at": "tomorrow"}),
        );
        f.required_string("url");
        f.optional_string("alias");
        f.optional_integer("redirect_type");
        f.optional_timestamp("expires_at");
        let ApiError(p) = f.finish().unwrap_err();
        let names: Vec<_> = p.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(names, ["url", "alias", "redirect_type", "expires_at"]);
        assert_eq!(p.errors[0].message, "must be a string, not a number");
    }

    #[test]
    fn null_is_absent_and_missing_required_is_reported() {
        let mut f = fields(json!({"alias": null, "url": null}));
        assert_eq!(f.optional_string("alias"), None);
        f.required_string("url");
        let ApiError(p) = f.finish().unwrap_err();
        assert_eq!(p.errors[0].message, "is required");
    }

    #[test]
    fn floats_are_not_integers() {
        let mut f = fields(json!({"redirect_type": 301.5}));
        assert_eq!(f.optional_integer("redirect_type"), None);
        assert!(f.finish().is_err());
    }
}
