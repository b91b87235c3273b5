//! The OpenAPI document: served, 3.1, every operation routed, and every request body it
//! describes read field by field by its handler (the document cannot promise a field the
//! handler ignores). schemathesis (scripts/openapi-test.sh) checks the answers against it.

use crate::helpers::*;
use serde_json::{Map, Value, json};

async fn document(app: &TestApp) -> Value {
    let response = app.get("/openapi.json").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    response.json().await.unwrap()
}

/// `$ref` → the schema it names.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(r) => {
            let name = r.trim_start_matches("#/components/schemas/");
            &doc["components"]["schemas"][name]
        }
        None => schema,
    }
}

const METHODS: [&str; 5] = ["get", "post", "patch", "put", "delete"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_describes_every_route_and_every_route_answers() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    let schemes = doc["components"]["securitySchemes"].as_object().unwrap();
    for scheme in ["token", "apiKey", "apiKeyHeader"] {
        assert!(schemes.contains_key(scheme), "{scheme}");
    }
    let paths = doc["paths"].as_object().unwrap();
    for expected in [
        "/links",
        "/links/bulk",
        "/links/{code}",
        "/links/{code}/stats",
        "/links/{code}/qr",
        "/tags",
        "/tags/{name}",
        "/auth/login",
        "/auth/api-keys",
        "/auth/api-keys/{id}",
        "/health/ready",
    ] {
        assert!(paths.contains_key(expected), "{expected} is not documented");
    }
    let (token, _) = app.account("openapi@example.com").await;
    let mut operations = 0;
    for (path, item) in paths {
        let concrete = path
            .replace("{code}", "nosuchcode")
            .replace("{name}", "nosuchtag")
            .replace("{id}", "999999");
        for method in METHODS {
            let Some(operation) = item.get(method) else {
                continue;
            };
            operations += 1;
            assert!(
                operation["summary"].is_string(),
                "{method} {path} has no summary"
            );
            assert!(
                operation["responses"]["default"].is_object(),
                "{method} {path} documents no problem answer"
            );
            let response = app
                .http
                .request(
                    method.to_uppercase().parse().unwrap(),
                    format!("{}{concrete}", app.api),
                )
                .bearer_auth(&token)
                .json(&json!({}))
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let body = response.text().await.unwrap();
            // Routed: the handler answered, not the router's fallback or method check.
            assert!(
                status != 405 && !body.contains("no such route"),
                "{method} {path} is documented but not routed: {status} {body}"
            );
            let documented = operation["responses"].get(status.to_string()).is_some();
            assert!(
                status < 500 || documented,
                "{method} {path}: {status} {body}"
            );
        }
    }
    assert!(operations >= 20, "{operations} operations");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_body_field_is_read_by_its_handler() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let (token, _) = app.account("openapi-fields@example.com").await;
    let key: Value = app
        .post_json("/auth/api-keys", &json!({"name": "openapi"}), Some(&token))
        .await
        .json()
        .await
        .unwrap();
    let key = key["key_secret"].as_str().unwrap().to_owned();
    let mut bodies = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        let concrete = path
            .replace("{code}", "nosuchcode")
            .replace("{name}", "rust");
        for method in METHODS {
            let Some(schema) = item
                .get(method)
                .map(|op| &op["requestBody"]["content"]["application/json"]["schema"])
                .filter(|s| !s.is_null())
            else {
                continue;
            };
            bodies += 1;
            let schema = resolve(&doc, schema);
            let documented: Vec<String> = schema["properties"]
                .as_object()
                .unwrap_or_else(|| panic!("{method} {path}: {schema}"))
                .keys()
                .cloned()
                .collect();
            // No documented field is an object: an object in every one is a wrong type
            // that the handler reports, field by field, if it reads the field at all.
            let body: Map<String, Value> = documented
                .iter()
                .map(|field| (field.clone(), json!({})))
                .collect();
            // The Shlink API takes keys only; hop's own API takes both.
            let credential = if path.starts_with("/rest") {
                &key
            } else {
                &token
            };
            let response = app
                .http
                .request(
                    method.to_uppercase().parse().unwrap(),
                    format!("{}{concrete}", app.api),
                )
                .bearer_auth(credential)
                .json(&body)
                .send()
                .await
                .unwrap();
            let problem = problem(response, 400).await;
            // hop's problems name fields in `errors`; Shlink's in `invalidElements`.
            let mut reported = fields(&problem);
            if let Some(shlink) = problem["invalidElements"].as_array() {
                reported.extend(shlink.iter().map(|f| f.as_str().unwrap().to_owned()));
            }
            let mut documented = documented;
            reported.sort();
            documented.sort();
            assert_eq!(reported, documented, "{method} {path}");
        }
    }
    assert!(bodies >= 8, "{bodies} request bodies");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docs_render_the_document_from_embedded_files_only() {
    let app = spawn_app().await;
    let page = app.get("/docs").await;
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    let html = page.text().await.unwrap();
    let assets: Vec<&str> = html
        .split(['"', '\''])
        .filter(|s| s.starts_with("/assets/"))
        .collect();
    assert_eq!(assets.len(), 4, "icon, stylesheet and two scripts: {html}");
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "{html}"
    );
    for asset in assets {
        let response = app.get(asset).await;
        assert_eq!(response.status(), 200, "{asset}");
        assert!(!response.bytes().await.unwrap().is_empty());
    }
}
