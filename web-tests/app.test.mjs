// hop's web app in a real browser: Debian's Chromium, headless, driven by playwright-core,
// against a running `hop up` (scripts/browser-test.sh starts it and sets HOP_URL).
//
//   HOP_URL          the `hop up` under test (its PUBLIC_BASE_URL), e.g. http://localhost:8080
//   CHROMIUM         the browser binary (default /usr/bin/chromium)
//   SCREENSHOT_DIR   where the 390 px and 1280 px screenshots go (default: a temp dir)
//
// Every test makes its own account, so they share nothing but the server.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { mkdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createRequire } from "node:module";
import { chromium } from "playwright-core";

const require = createRequire(import.meta.url);
const AXE = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
const HOP = process.env.HOP_URL ?? "http://localhost:8080";
const SHOTS = process.env.SCREENSHOT_DIR ?? join(tmpdir(), "hop-screenshots");
// A desktop browser's agent: HeadlessChrome would be counted as a bot, as it should be.
const USER_AGENT =
  "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36";

let browser;
let destination; // a page the short links lead to, on another origin
let destinationUrl;
let accounts = 0;

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-dev-shm-usage"],
  });
  destination = createServer((req, res) => {
    if (req.url.startsWith("/attack")) {
      // A cross-site page that posts a form to hop without hop's CSRF token.
      res.writeHead(200, { "content-type": "text/html" });
      res.end(`<!doctype html><form id="f" method="post" action="${HOP}/app/links">
        <input name="url" value="https://evil.example/"><button>go</button></form>`);
      return;
    }
    res.writeHead(200, { "content-type": "text/html" });
    res.end(`<!doctype html><title>landing ${req.url}</title><h1>landed on ${req.url}</h1>`);
  });
  await new Promise((ok) => destination.listen(0, "127.0.0.1", ok));
  destinationUrl = `http://127.0.0.1:${destination.address().port}`;
});

after(async () => {
  await browser?.close();
  destination?.close();
});

async function newPage(options = {}) {
  const context = await browser.newContext({
    baseURL: HOP,
    userAgent: USER_AGENT,
    viewport: { width: 1280, height: 900 },
    ...options,
  });
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: HOP });
  const page = await context.newPage();
  return { context, page };
}

/// No serious or critical axe-core violation on the page as it is now.
async function accessible(page, what) {
  await page.evaluate(AXE);
  const result = await page.evaluate(async () =>
    // eslint-disable-next-line no-undef
    axe.run(document, { resultTypes: ["violations"] }),
  );
  const bad = result.violations.filter((v) => ["serious", "critical"].includes(v.impact));
  assert.deepEqual(
    bad.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(" ")).join(", ")})`),
    [],
    `axe on ${what}`,
  );
}

async function signUp(page) {
  accounts += 1;
  const email = `web${Date.now()}${accounts}@example.com`;
  await page.goto("/");
  await page.getByRole("link", { name: "Create an account" }).click();
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill("a fine password");
  await page.getByRole("button", { name: "Create account" }).click();
  await page.waitForURL(`${HOP}/`);
  await page.getByRole("heading", { name: "Shorten a link" }).waitFor();
  return email;
}

async function create(page, fields) {
  await page.goto("/");
  await page.getByLabel("Destination URL").fill(fields.url);
  if (fields.alias) await page.getByLabel("Custom alias (optional)").fill(fields.alias);
  if (fields.title) await page.getByLabel("Title (optional)").fill(fields.title);
  await page.getByRole("button", { name: "Create short link" }).click();
}

test("a new visitor signs up, makes, shares, measures, edits, deactivates and deletes a link", async () => {
  const { context, page } = await newPage();
  await page.goto("/");
  await accessible(page, "the landing page");
  await page.goto("/app/signup");
  await accessible(page, "the sign-up page");
  await page.goto("/app/signin");
  await accessible(page, "the sign-in page");
  await signUp(page);
  await accessible(page, "the home page signed in");

  await create(page, { url: `${destinationUrl}/first`, title: "My first link" });
  const card = page.getByRole("region", { name: "Your short link is ready" });
  await card.waitFor();
  const short = await card.locator(".short a").textContent();
  assert.match(short, new RegExp(`^${HOP}/[A-Za-z0-9_-]+$`));
  const code = short.split("/").pop();
  assert.ok(await card.getByRole("img", { name: /QR code of/ }).isVisible(), "the QR code is shown");
  await accessible(page, "the new link's card");

  // Copy: the short URL lands on the clipboard.
  await card.getByRole("button", { name: "Copy short link" }).click();
  await card.getByRole("button", { name: "Copied" }).waitFor();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), short);

  // Follow it in a new page, as the people it is shared with do: each in a browser of
  // their own (one browser keeps a redirect for up to 90 s: Cache-Control private).
  const follow = async (url) => {
    const someone = await browser.newContext({ userAgent: USER_AGENT });
    const visit = await someone.newPage();
    const response = await visit.goto(url);
    const answer = { url: visit.url(), status: response.status(), h1: await visit.locator("h1").textContent() };
    await someone.close();
    return answer;
  };
  const first = await follow(short);
  assert.equal(first.url, `${destinationUrl}/first`);
  assert.equal(first.h1, "landed on /first");

  // The click shows on the link's page (clicks are written off the hot path: poll).
  await page.goto(`/app/links/${code}`);
  await accessible(page, "the link's page");
  let total = "0";
  for (let i = 0; i < 40 && total === "0"; i++) {
    await page.waitForTimeout(250);
    await page.reload();
    total = (await page.locator(".total").textContent()).trim();
  }
  assert.equal(total, "1", "one click counted");
  await page.getByLabel("Range").selectOption("24h");
  await page.getByLabel("By").selectOption("hour");
  await page.getByLabel("Include bots").check();
  await page.getByRole("button", { name: "Show" }).click();
  await page.waitForURL(/range=24h/);
  assert.equal((await page.locator(".total").textContent()).trim(), "1");
  assert.ok(await page.locator("svg.chart rect").count() >= 24, "an hourly chart");
  const png = await page.request.get(`/links/${code}/qr?format=png&size=512`);
  assert.equal(png.status(), 200);
  assert.equal(png.headers()["content-type"], "image/png");

  // The owner follows it too: their browser now keeps this redirect for up to 90 s.
  const mine = await context.newPage();
  await mine.goto(short);
  assert.equal(mine.url(), `${destinationUrl}/first`);
  await mine.close();

  // Edit the target: the short link now leads to the new one.
  await page.getByRole("link", { name: "Edit" }).click();
  await accessible(page, "the edit page");
  await page.getByLabel("Destination URL").fill(`${destinationUrl}/second`);
  await page.getByRole("button", { name: "Save" }).click();
  await page.getByText("Saved.").waitFor();
  assert.equal((await follow(short)).url, `${destinationUrl}/second`);
  // The owner, whose browser kept the old redirect, follows the new one from the app.
  const [owner] = await Promise.all([
    context.waitForEvent("page"),
    page.locator(".short a").click(),
  ]);
  await owner.waitForURL(`${destinationUrl}/second`);
  assert.equal(await page.locator(".short a").textContent(), short, "the plain short URL is shown");
  await owner.close();

  // Deactivate it from the list: the short link answers 410 with a page.
  await page.goto("/app/links");
  await accessible(page, "my links");
  await page.getByRole("button", { name: `Deactivate /${code}` }).click();
  await page.getByRole("button", { name: `Activate /${code}` }).waitFor();
  const gone = await follow(short);
  assert.equal(gone.status, 410);
  assert.equal(gone.h1, "This link is no longer active");

  // Delete it, after the confirmation.
  await page.getByRole("link", { name: `Delete /${code}` }).click();
  await accessible(page, "the delete confirmation");
  await page.getByRole("button", { name: "Delete link" }).click();
  await page.getByText(`Deleted /${code}.`).waitFor();
  assert.equal(await page.getByRole("link", { name: `/${code}` }).count(), 0);
  assert.equal((await follow(short)).status, 404, "a deleted link is gone for good");

  await page.goto("/app/account");
  await accessible(page, "the account page");
  await context.close();
});

test("bad input is shown beside its field, with what was typed kept, and moves nothing", async () => {
  const { context, page } = await newPage();
  await signUp(page);

  await page.goto("/");
  const before = await page.getByLabel("Custom alias (optional)").boundingBox();
  await create(page, { url: "javascript:alert(1)", title: "kept title" });
  const urlError = page.locator("#f-url-error");
  await urlError.waitFor();
  assert.match(await urlError.textContent(), /http/);
  assert.equal(await page.getByLabel("Destination URL").inputValue(), "javascript:alert(1)");
  assert.equal(await page.getByLabel("Title (optional)").inputValue(), "kept title");
  assert.equal(await page.getByLabel("Destination URL").getAttribute("aria-invalid"), "true");
  const afterError = await page.getByLabel("Custom alias (optional)").boundingBox();
  assert.equal(afterError.y, before.y, "the error appeared without moving the form");
  await accessible(page, "the form with an error");

  const alias = `taken${Date.now()}`;
  await create(page, { url: `${destinationUrl}/a`, alias });
  await page.getByRole("region", { name: "Your short link is ready" }).waitFor();
  await create(page, { url: `${destinationUrl}/b`, alias });
  assert.match(await page.locator("#f-alias-error").textContent(), /taken|exists|use/i);
  assert.equal(await page.getByLabel("Custom alias (optional)").inputValue(), alias);
  assert.equal(await page.getByLabel("Destination URL").inputValue(), `${destinationUrl}/b`);

  await create(page, { url: `${destinationUrl}/c`, alias: "app" });
  assert.match(await page.locator("#f-alias-error").textContent(), /reserved/);
  assert.equal(await page.getByLabel("Custom alias (optional)").inputValue(), "app");

  // The same words as the API's validation.
  const api = await page.request.post("/links", {
    headers: { "content-type": "application/json" },
    data: { url: "https://example.com/", alias: "app" },
  });
  assert.equal(api.status(), 401, "the API does not take the cookie");
  await context.close();
});

test("sign-out ends the session, and a form without the CSRF token changes nothing", async () => {
  const { context, page } = await newPage();
  await signUp(page);
  const cookies = await context.cookies();
  const session = cookies.find((c) => c.name === "hop_session");
  assert.ok(session?.httpOnly, "the session cookie is HttpOnly");
  assert.equal(session.sameSite, "Lax");

  // A forged token on a same-session post: 403, nothing created.
  const forged = await page.request.post("/app/links", {
    form: { url: "https://example.com/forged", csrf: "forged" },
  });
  assert.equal(forged.status(), 403);
  const missing = await page.request.post("/app/links", { form: { url: "https://example.com/x" } });
  assert.equal(missing.status(), 403);

  // A cross-site page posting to hop: refused.
  const attacker = await context.newPage();
  await attacker.goto(`${destinationUrl}/attack`);
  const [refused] = await Promise.all([
    attacker.waitForNavigation(),
    attacker.locator("#f button").click(),
  ]);
  assert.equal(refused.status(), 403);
  await page.goto("/app/links");
  assert.ok(await page.getByText("No links yet.").isVisible(), "nothing was created");

  // Sign out; the old cookie no longer works anywhere.
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.waitForURL(`${HOP}/`);
  const stale = await browser.newContext({ baseURL: HOP, userAgent: USER_AGENT });
  await stale.addCookies([session]);
  const probe = await stale.newPage();
  await probe.goto("/app/links");
  assert.match(probe.url(), /\/app\/signin\?next=%2Fapp%2Flinks$/);
  await stale.close();

  // A signed-out visitor is sent to sign in and back to where they were going.
  await page.goto("/app/account");
  assert.match(page.url(), /\/app\/signin\?next=%2Fapp%2Faccount$/);
  await context.close();
});

test("sign out everywhere revokes every session, and a new password ends the others", async () => {
  const { context, page } = await newPage();
  const email = await signUp(page);
  const other = await browser.newContext({ baseURL: HOP, userAgent: USER_AGENT });
  const otherPage = await other.newPage();
  await otherPage.goto("/app/signin");
  await otherPage.getByLabel("Email").fill(email);
  await otherPage.getByLabel("Password").fill("a fine password");
  await otherPage.getByRole("button", { name: "Sign in" }).click();
  await otherPage.waitForURL(`${HOP}/`);

  await page.goto("/app/account");
  await page.getByLabel("Current password").fill("not the password");
  await page.getByLabel("New password", { exact: true }).fill("another fine one");
  await page.getByLabel("New password again").fill("another fine one");
  await page.getByRole("button", { name: "Change password" }).click();
  assert.match(await page.locator("#f-current_password-error").textContent(), /password/);

  await page.getByLabel("Current password").fill("a fine password");
  await page.getByLabel("New password", { exact: true }).fill("another fine one");
  await page.getByLabel("New password again").fill("another fine one");
  await page.getByRole("button", { name: "Change password" }).click();
  await page.getByText("Password changed.").waitFor();
  await otherPage.goto("/app/links");
  assert.match(otherPage.url(), /\/app\/signin/, "the other session ended");

  await page.getByRole("button", { name: "Sign out everywhere" }).click();
  await page.getByText("You are signed out everywhere.").waitFor();
  await page.goto("/app/links");
  assert.match(page.url(), /\/app\/signin/);
  await other.close();
  await context.close();
});

test("an API key made on the account page is shown once, works, and stops when revoked", async () => {
  const { context, page } = await newPage();
  await signUp(page);
  await page.goto("/app/account");
  await page.getByLabel("Name", { exact: true }).fill("blog plugin");
  await page.getByLabel("read stats").uncheck();
  await page.getByRole("button", { name: "Make key" }).click();
  const secret = (await page.locator("#new-key").textContent()).trim();
  assert.match(secret, /^hop_[A-Za-z0-9_-]{43}$/);
  await accessible(page, "the account page with a new key");
  await page.goto("/app/account");
  assert.equal(await page.getByText(secret).count(), 0, "shown once");
  assert.ok(await page.getByText("blog plugin", { exact: true }).isVisible());

  const api = await browser.newContext({ baseURL: HOP });
  const made = await api.request.post("/links", {
    headers: { "x-api-key": secret },
    data: { url: "https://example.com/from-a-plugin" },
  });
  assert.equal(made.status(), 201);
  const stats = await api.request.get(`/links/${(await made.json()).code}/stats`, {
    headers: { "x-api-key": secret },
  });
  assert.equal(stats.status(), 403, "no stats:read scope");

  await page.getByRole("button", { name: "Revoke blog plugin" }).click();
  await page.getByText("API key revoked.").waitFor();
  const after = await api.request.get("/links", { headers: { "x-api-key": secret } });
  assert.equal(after.status(), 401);
  await api.close();
  await context.close();
});

test("everything works with the keyboard", async () => {
  const { context, page } = await newPage();
  await signUp(page);
  // The first Tab reaches the skip link, which moves focus to the page's content.
  await page.keyboard.press("Tab");
  assert.equal(await page.evaluate(() => document.activeElement.textContent), "Skip to content");
  await page.keyboard.press("Enter");
  assert.equal(await page.evaluate(() => document.activeElement.id), "main");
  // Tab to the URL field, type, and submit with Enter.
  for (let i = 0; i < 10; i++) {
    await page.keyboard.press("Tab");
    if ((await page.evaluate(() => document.activeElement.id)) === "f-url") break;
  }
  assert.equal(await page.evaluate(() => document.activeElement.id), "f-url");
  await page.keyboard.type(`${destinationUrl}/by-keyboard`);
  await page.keyboard.press("Enter");
  const card = page.getByRole("region", { name: "Your short link is ready" });
  await card.waitFor();
  // Every control on the page can take focus, and shows it.
  const unfocusable = await page.evaluate(() =>
    [...document.querySelectorAll("a[href], button:not([hidden]), input:not([type=hidden]), select")]
      .filter((el) => el.tabIndex < 0)
      .map((el) => el.outerHTML),
  );
  assert.deepEqual(unfocusable, []);
  await page.keyboard.press("Tab");
  const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
  assert.equal(outline, "solid", "a visible focus ring");
  await context.close();
});

test("screenshots at phone and desktop width, light and dark", async () => {
  for (const [width, height] of [
    [390, 844],
    [1280, 900],
  ]) {
    for (const colorScheme of ["light", "dark"]) {
      const { context, page } = await newPage({ viewport: { width, height }, colorScheme });
      await signUp(page);
      for (let i = 1; i <= 3; i++) {
        await create(page, { url: `https://example.com/articles/${i}`, title: `Article ${i}` });
      }
      const name = (what) => join(SHOTS, `${what}-${width}-${colorScheme}.png`);
      await page.screenshot({ path: name("home"), fullPage: true });
      await accessible(page, `the home page at ${width} px, ${colorScheme}`);
      await page.goto("/app/links");
      await page.screenshot({ path: name("links"), fullPage: true });
      await accessible(page, `my links at ${width} px, ${colorScheme}`);
      await page.locator(".list a.mono").first().click();
      await page.getByRole("heading", { name: "Clicks" }).waitFor();
      await page.screenshot({ path: name("link"), fullPage: true });
      await accessible(page, `the link's page at ${width} px, ${colorScheme}`);
      // Nothing wider than the screen.
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `no horizontal scroll at ${width} px (${overflow} px over)`);
      await context.close();
    }
  }
});
