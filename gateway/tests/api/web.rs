//! The web app over HTTP, as a browser speaks it (cookies, urlencoded forms, redirects),
//! against real links and auth services: sessions in cookies on the API's sessions, CSRF,
//! renewal of an expired access token, and the pages a failing backend gives (on both
//! backends: scripts/test.sh runs this suite again with HOP_TEST_BACKEND=sqlite). The
//! browser-driven tests are web-tests/ (scripts/browser-test.sh).

use crate::helpers::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use tokio_util::sync::CancellationToken;

/// A browser's cookie jar over the test client (which follows no redirects).
struct Browser<'a> {
    base: String,
    http: &'a reqwest::Client,
    cookies: BTreeMap<String, String>,
}

struct Page {
    status: u16,
    location: Option<String>,
    body: String,
    set_cookies: Vec<String>,
}

impl Page {
    /// The CSRF token of the page's forms.
    fn csrf(&self) -> String {
        let at = self
            .body
            .find("name=\"csrf\" value=\"")
            .unwrap_or_else(|| panic!("no form on this page: {}", self.body));
        let rest = &self.body[at + 19..];
        rest[..rest.find('"').unwrap()].to_owned()
    }
}

impl<'a> Browser<'a> {
    fn new(base: &str, http: &'a reqwest::Client) -> Self {
        Self {
            base: base.to_owned(),
            http,
            cookies: BTreeMap::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn answer(&mut self, response: reqwest::Response) -> Page {
        let set_cookies: Vec<String> = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        for cookie in &set_cookies {
            let pair = cookie.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() || cookie.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        Page {
            status: response.status().as_u16(),
            location: response
                .headers()
                .get("location")
                .map(|v| v.to_str().unwrap().to_owned()),
            set_cookies,
            body: response.text().await.unwrap(),
        }
    }

    async fn get(&mut self, path: &str) -> Page {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .header("x-request-id", "web-test-request-0001")
            .send()
            .await
            .unwrap();
        self.answer(response).await
    }

    async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-request-id", "web-test-request-0002")
            .body(body)
            .send()
            .await
            .unwrap();
        self.answer(response).await
    }

    /// Registers `email` through the API and signs in through the sign-in form.
    async fn sign_in(&mut self, app_http: &TestApp, email: &str) {
        app_http.account(email).await;
        let form = self.get("/app/signin").await;
        let token = form.csrf();
        let signed = self
            .post(
                "/app/signin",
                &[("csrf", &token), ("email", email), ("password", PASSWORD)],
            )
            .await;
        assert_eq!(signed.status, 303, "{}", signed.body);
        assert!(self.cookies.contains_key("hop_session"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_in_browser_creates_a_link_and_a_forged_form_changes_nothing() {
    let app = spawn_app_with(test_settings()).await;
    let mut browser = Browser::new(&app.api, &app.http);

    // Signed out: the app sends the visitor to sign in, and back afterwards.
    let away = browser.get("/app/links?q=docs").await;
    assert_eq!(away.status, 303);
    assert_eq!(
        away.location.as_deref(),
        Some("/app/signin?next=%2Fapp%2Flinks%3Fq%3Ddocs")
    );
    let cookie = away
        .set_cookies
        .iter()
        .find(|c| c.starts_with("hop_csrf="))
        .expect("a CSRF nonce on the first visit");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"));
    let form = browser.get("/app/signin?next=%2Fapp%2Flinks").await;
    assert!(
        form.set_cookies.is_empty(),
        "the nonce stays: {:?}",
        form.set_cookies
    );
    app.account("web@example.com").await;
    let wrong = browser
        .post(
            "/app/signin",
            &[
                ("csrf", &form.csrf()),
                ("email", "web@example.com"),
                ("password", "not the password"),
                ("next", "/app/links"),
            ],
        )
        .await;
    assert_eq!(wrong.status, 401);
    assert!(
        wrong.body.contains("do not match an account"),
        "{}",
        wrong.body
    );
    assert!(
        wrong.body.contains("value=\"web@example.com\""),
        "the email is kept"
    );
    let signed = browser
        .post(
            "/app/signin",
            &[
                ("csrf", &form.csrf()),
                ("email", "web@example.com"),
                ("password", PASSWORD),
                ("next", "https://evil.example/"),
            ],
        )
        .await;
    assert_eq!(signed.status, 303);
    assert_eq!(signed.location.as_deref(), Some("/"), "never off-site");
    let session = signed
        .set_cookies
        .iter()
        .find(|c| c.starts_with("hop_session="))
        .unwrap();
    assert!(session.contains("HttpOnly") && session.contains("SameSite=Lax"));

    // The token of the signed-out page is not the session's.
    let home = browser.get("/").await;
    assert_eq!(home.status, 200);
    assert_ne!(home.csrf(), form.csrf());
    let before = app.rows().await;
    for token in ["", "forged", form.csrf().as_str()] {
        let refused = browser
            .post(
                "/app/links",
                &[("csrf", token), ("url", "https://example.com/forged")],
            )
            .await;
        assert_eq!(refused.status, 403, "token {token:?}");
        assert!(refused.body.contains("Nothing was changed"));
    }
    assert_eq!(app.rows().await, before, "nothing written");

    // Bad input comes back beside its field, the typed value kept.
    let bad = browser
        .post(
            "/app/links",
            &[
                ("csrf", &home.csrf()),
                ("url", "javascript:alert(1)"),
                ("title", "kept"),
            ],
        )
        .await;
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("aria-invalid=\"true\""), "{}", bad.body);
    assert!(bad.body.contains("value=\"javascript:alert(1)\""));
    assert!(bad.body.contains("value=\"kept\""));
    assert_eq!(app.rows().await, before);

    let made = browser
        .post(
            "/app/links",
            &[
                ("csrf", &home.csrf()),
                ("url", "https://example.com/docs"),
                ("alias", "web-docs"),
                ("redirect_type", "301"),
            ],
        )
        .await;
    assert_eq!(made.status, 303, "{}", made.body);
    assert_eq!(made.location.as_deref(), Some("/?created=web-docs"));
    let card = browser.get("/?created=web-docs").await;
    assert!(
        card.body.contains("https://sho.rt/web-docs"),
        "{}",
        card.body
    );
    assert!(
        card.body
            .contains("aria-label=\"QR code of https://sho.rt/web-docs\"")
    );
    let list = browser.get("/app/links?q=DOCS").await;
    assert!(list.body.contains("/web-docs"), "search ignores case");
    let none = browser.get("/app/links?q=nothing-like-it").await;
    assert!(!none.body.contains("/web-docs"));

    // The alias again: the API's words, beside the alias.
    let taken = browser
        .post(
            "/app/links",
            &[
                ("csrf", &home.csrf()),
                ("url", "https://example.com/again"),
                ("alias", "web-docs"),
            ],
        )
        .await;
    assert_eq!(taken.status, 400);
    let alias_error = taken.body.split("id=\"f-alias-error\"").nth(1).unwrap();
    assert!(
        !alias_error.starts_with(" aria-live=\"polite\"></p>"),
        "{alias_error}"
    );

    // A link of someone else's is nobody's business.
    let (other, _) = app.account("other@example.com").await;
    let theirs: Value = app
        .post_json(
            "/links",
            &json!({"url": "https://example.com/theirs"}),
            Some(&other),
        )
        .await
        .json()
        .await
        .unwrap();
    let page = browser
        .get(&format!("/app/links/{}", theirs["code"].as_str().unwrap()))
        .await;
    assert_eq!(page.status, 404);
    assert!(page.body.contains("<h1>Not found</h1>"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_access_token_is_renewed_from_the_cookie_once() {
    let app = spawn_app_with(test_settings()).await;
    let (_, refresh) = app.account("renew@example.com").await;
    // An access token that no longer verifies (as an expired one does), and the session's
    // refresh token: two requests at once share one rotation.
    let cookie = format!("hop_session=expired.access.token~{refresh}");
    let get = || {
        app.http
            .get(format!("{}/app/links", app.api))
            .header("cookie", &cookie)
            .send()
    };
    let (a, b) = tokio::join!(get(), get());
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (200, 200));
    let renewed = |r: &reqwest::Response| {
        r.headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .find(|c| c.starts_with("hop_session="))
            .expect("the renewed pair is stored")
    };
    assert_eq!(renewed(&a), renewed(&b), "one rotation for both");
    // The renewed cookie works; the session was not taken for a stolen copy.
    let pair = renewed(&a);
    let value = pair.split(';').next().unwrap();
    let again = app
        .http
        .get(format!("{}/app/links", app.api))
        .header("cookie", value)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 200);
    // A garbage cookie is ended, not an error.
    let garbage = app
        .http
        .get(format!("{}/app/links", app.api))
        .header("cookie", "hop_session=\"x y\"")
        .send()
        .await
        .unwrap();
    assert_eq!(garbage.status(), 303);
    assert!(
        garbage.headers().get_all("set-cookie").iter().any(|c| c
            .to_str()
            .unwrap()
            .starts_with("hop_session=; ")
            && c.to_str().unwrap().contains("Max-Age=0"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_out_everywhere_ends_the_api_tokens_too() {
    let app = spawn_app_with(test_settings()).await;
    let mut browser = Browser::new(&app.api, &app.http);
    browser.sign_in(&app, "everywhere@example.com").await;
    let (api_token, _) = {
        let login: Value = app
            .post_json(
                "/auth/login",
                &json!({"email": "everywhere@example.com", "password": PASSWORD}),
                None,
            )
            .await
            .json()
            .await
            .unwrap();
        (login["access_token"].as_str().unwrap().to_owned(), ())
    };
    assert_eq!(app.get_as("/auth/me", &api_token).await.status(), 200);
    let account = browser.get("/app/account").await;
    assert!(account.body.contains("everywhere@example.com"));
    let out = browser
        .post(
            "/app/account/signout-everywhere",
            &[("csrf", &account.csrf())],
        )
        .await;
    assert_eq!(out.status, 303);
    assert_eq!(out.location.as_deref(), Some("/app/signin?ended=1"));
    problem(app.get_as("/auth/me", &api_token).await, 401).await;
    assert_eq!(browser.get("/app/links").await.status, 303);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_that_is_down_gives_the_try_again_page_with_the_request_id() {
    let app = spawn_app_with(test_settings()).await;
    let stop = CancellationToken::new();
    // A second gateway on the same auth service, in front of a links service that is not
    // there.
    let closed = format!("http://127.0.0.1:{}", hop_testkit::free_port());
    let gateway = spawn_gateway_with(
        &closed,
        &app.auth_url,
        test_settings(),
        app.stores.shared(),
        &stop,
    )
    .await;
    let mut browser = Browser::new(&gateway, &app.http);
    browser.sign_in(&app, "down@example.com").await;
    let page = browser.get("/app/links").await;
    assert_eq!(page.status, 503);
    assert!(page.body.contains("Something went wrong on our side"));
    assert!(page.body.contains("web-test-request-0001"), "{}", page.body);
    assert!(!page.body.to_lowercase().contains("panicked"));
    let home = browser.get("/").await;
    let form = browser
        .post(
            "/app/links",
            &[("csrf", &home.csrf()), ("url", "https://example.com/")],
        )
        .await;
    assert_eq!(form.status, 503);
    assert!(form.body.contains("web-test-request-0002"));

    // auth down too: a visitor with a session cookie gets the same page, never a blank.
    let both = spawn_gateway_with(
        &closed,
        &closed,
        test_settings(),
        app.stores.shared(),
        &stop,
    )
    .await;
    let mut stranded = Browser::new(&both, &app.http);
    stranded.cookies = browser.cookies.clone();
    let page = stranded.get("/app/account").await;
    assert_eq!(page.status, 503);
    assert!(page.body.contains("web-test-request-0001"));
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assets_are_hashed_and_cached_and_pages_are_not() {
    let app = spawn_app_with(test_settings()).await;
    let home = app.get("/").await;
    assert_eq!(home.status(), 200);
    let headers = home.headers().clone();
    assert_eq!(headers["cache-control"], "no-store");
    assert!(
        headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("script-src 'self'")
    );
    assert_eq!(headers["x-frame-options"], "DENY");
    let body = home.text().await.unwrap();
    let css = body
        .split("href=\"/assets/")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_owned();
    assert!(css.starts_with("app.") && css.ends_with(".css"), "{css}");
    let asset = app.get(&format!("/assets/{css}")).await;
    assert_eq!(asset.status(), 200);
    assert_eq!(
        asset.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(asset.headers()["content-type"], "text/css; charset=utf-8");
    problem(app.get("/assets/app.css").await, 404).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qr_codes_of_active_links_within_bounds() {
    let app = spawn_app_with(test_settings()).await;
    let (token, _) = app.account("qr@example.com").await;
    let link: Value = app
        .post_json(
            "/links",
            &json!({"url": "https://example.com/qr", "alias": "qr-code"}),
            Some(&token),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(link["code"], "qr-code");

    let svg = app.get("/links/qr-code/qr").await;
    assert_eq!(svg.status(), 200);
    assert_eq!(svg.headers()["content-type"], "image/svg+xml");
    assert!(svg.text().await.unwrap().contains("<svg"));
    let png = app.get("/links/qr-code/qr?format=png&size=128").await;
    assert_eq!(png.status(), 200);
    assert_eq!(png.headers()["content-type"], "image/png");
    assert_eq!(&png.bytes().await.unwrap()[..4], b"\x89PNG");

    for (query, field) in [
        ("format=gif", "format"),
        ("size=63", "size"),
        ("size=2049", "size"),
        ("size=big", "size"),
    ] {
        let body = problem(app.get(&format!("/links/qr-code/qr?{query}")).await, 400).await;
        assert_eq!(fields(&body), vec![field.to_owned()], "{query}");
    }
    problem(app.get("/links/no-such-code/qr").await, 404).await;
    problem(app.get("/links/bad%20code/qr").await, 404).await;

    let off = app
        .http
        .patch(format!("{}/links/qr-code", app.api))
        .bearer_auth(&token)
        .json(&json!({"is_active": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(off.status(), 200);
    problem(app.get("/links/qr-code/qr").await, 410).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_list_searches_code_target_and_title_literally() {
    let app = spawn_app_with(test_settings()).await;
    let (token, _) = app.account("search@example.com").await;
    for (url, alias, title) in [
        ("https://example.com/rust-book", "rb-1", "The Book"),
        ("https://example.com/other", "percent-off", "50% off"),
        ("https://example.com/third", "plain-3", "Quarterly REPORT"),
    ] {
        let created = app
            .post_json(
                "/links",
                &json!({"url": url, "alias": alias, "title": title}),
                Some(&token),
            )
            .await;
        assert_eq!(created.status(), 201);
    }
    let codes = |body: Value| -> Vec<String> {
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["code"].as_str().unwrap().to_owned())
            .collect()
    };
    let search = async |q: &str| {
        let q: String = url::form_urlencoded::byte_serialize(q.as_bytes()).collect();
        app.get_as(&format!("/links?q={q}"), &token).await
    };
    assert_eq!(codes(search("RUST").await.json().await.unwrap()), ["rb-1"]);
    assert_eq!(
        codes(search("report").await.json().await.unwrap()),
        ["plain-3"]
    );
    assert_eq!(
        codes(search("plain").await.json().await.unwrap()),
        ["plain-3"]
    );
    // `%` and `_` are text, not wildcards.
    assert_eq!(
        codes(search("0%").await.json().await.unwrap()),
        ["percent-off"]
    );
    assert!(codes(search("_").await.json().await.unwrap()).is_empty());
    assert_eq!(codes(search("  ").await.json().await.unwrap()).len(), 3);
    let body = problem(search(&"x".repeat(201)).await, 400).await;
    assert_eq!(fields(&body), ["q"]);
}
