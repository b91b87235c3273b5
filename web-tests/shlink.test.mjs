// Shlink's own JS client (@shlinkio/shlink-js-sdk) against a built `hop up`: what a Shlink
// integration does, through hop's Shlink-compatible API (/rest/v3). Run by
// scripts/shlink-test.sh, which starts hop and passes its URL as HOP_URL.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ShlinkApiClient } from "@shlinkio/shlink-js-sdk";
import { NodeHttpClient } from "@shlinkio/shlink-js-sdk/node";

const base = process.env.HOP_URL;
assert.ok(base, "HOP_URL names the hop under test");

async function api(path, body, token) {
  const headers = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch(`${base}${path}`, { method: "POST", headers, body: JSON.stringify(body) });
  const text = await response.text();
  assert.ok(response.ok, `${path}: ${response.status} ${text}`);
  return JSON.parse(text);
}

async function account(email) {
  const password = "correct horse battery staple";
  await api("/auth/register", { email, password });
  const { access_token } = await api("/auth/login", { email, password });
  return access_token;
}

async function key(token, scopes) {
  const created = await api("/auth/api-keys", { name: "shlink sdk", ...(scopes ? { scopes } : {}) }, token);
  return created.key_secret;
}

const client = (apiKey) => new ShlinkApiClient(new NodeHttpClient(), { baseUrl: base, apiKey });

/** The problem a rejected call gave. */
async function refused(promise) {
  try {
    await promise;
  } catch (problem) {
    return problem;
  }
  assert.fail("the call was expected to fail");
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

test("a Shlink integration works against hop", async () => {
  const token = await account("shlink-sdk@example.com");
  const shlink = client(await key(token));

  const health = await shlink.health();
  assert.equal(health.status, "pass");

  // Create, with tags and a custom slug; the slug is then taken.
  const docs = await shlink.createShortUrl({
    longUrl: "https://example.com/docs",
    customSlug: "sdk-docs",
    tags: ["Docs", "sdk"],
    title: "The docs",
  });
  assert.equal(docs.shortCode, "sdk-docs");
  assert.equal(docs.shortUrl, `${new URL(base).origin.replace("127.0.0.1", "localhost")}/sdk-docs`);
  assert.deepEqual(docs.tags, ["docs", "sdk"]);
  assert.equal(docs.title, "The docs");
  assert.deepEqual(docs.visitsSummary, { total: 0, nonBots: 0, bots: 0 });
  const blog = await shlink.createShortUrl({ longUrl: "https://example.org/blog", tags: ["blog"] });
  assert.match(blog.shortCode, /^[0-9A-Za-z]{7}$/);
  const taken = await refused(shlink.createShortUrl({ longUrl: "https://example.net/", customSlug: "sdk-docs" }));
  assert.equal(taken.type, "https://shlink.io/api/error/non-unique-slug");
  const invalid = await refused(shlink.createShortUrl({ longUrl: "javascript:alert(1)" }));
  assert.equal(invalid.type, "https://shlink.io/api/error/invalid-data");
  assert.deepEqual(invalid.invalidElements, ["longUrl"]);

  // List, search, filter by tag, order, page.
  const all = await shlink.listShortUrls();
  assert.equal(all.pagination.totalItems, 2);
  assert.deepEqual(all.data.map((s) => s.shortCode), [blog.shortCode, "sdk-docs"], "newest first");
  const searched = await shlink.listShortUrls({ searchTerm: "example.org" });
  assert.deepEqual(searched.data.map((s) => s.shortCode), [blog.shortCode]);
  const tagged = await shlink.listShortUrls({ tags: ["docs"] });
  assert.deepEqual(tagged.data.map((s) => s.shortCode), ["sdk-docs"]);
  const both = await shlink.listShortUrls({ tags: ["docs", "blog"], tagsMode: "all" });
  assert.equal(both.data.length, 0);
  const ordered = await shlink.listShortUrls({ orderBy: { field: "longUrl", dir: "DESC" } });
  assert.deepEqual(ordered.data.map((s) => s.longUrl), ["https://example.org/blog", "https://example.com/docs"]);
  const paged = await shlink.listShortUrls({ page: "2", itemsPerPage: 1 });
  assert.deepEqual(paged.data.map((s) => s.shortCode), ["sdk-docs"]);
  assert.equal(paged.pagination.pagesCount, 2);

  // Get and edit.
  const got = await shlink.getShortUrl({ shortCode: "sdk-docs" });
  assert.equal(got.longUrl, "https://example.com/docs");
  const edited = await shlink.updateShortUrl({ shortCode: "sdk-docs" }, { longUrl: "https://example.com/new-docs", title: null });
  assert.equal(edited.longUrl, "https://example.com/new-docs");
  assert.equal(edited.title, null);

  // Follow the link, then its visits show it.
  const followed = await fetch(`${base}/sdk-docs`, { redirect: "manual" });
  assert.equal(followed.status, 302);
  assert.equal(followed.headers.get("location"), "https://example.com/new-docs");
  let visits;
  for (let i = 0; i < 100; i++) {
    visits = await shlink.getShortUrlVisits({ shortCode: "sdk-docs" });
    if (visits.data.length > 0) break;
    await sleep(100);
  }
  assert.equal(visits.data.length, 1, "the visit is recorded");
  assert.equal(visits.pagination.totalItems, 1);
  assert.ok(!Number.isNaN(Date.parse(visits.data[0].date)));
  let summary;
  for (let i = 0; i < 100; i++) {
    summary = (await shlink.getShortUrl({ shortCode: "sdk-docs" })).visitsSummary;
    if (summary.total > 0) break;
    await sleep(100);
  }
  assert.equal(summary.total, 1);
  const overview = await shlink.getVisitsOverview();
  assert.equal(overview.nonOrphanVisits.total, 1);
  assert.equal(overview.orphanVisits.total, 0);

  // Tags: list, stats, rename, delete.
  assert.deepEqual(await shlink.listTags().then((t) => t.data), ["blog", "docs", "sdk"]);
  const stats = await shlink.tagsStats();
  const docsStats = stats.data.find((t) => t.tag === "docs");
  assert.equal(docsStats.shortUrlsCount, 1);
  assert.equal(docsStats.visitsSummary.total, 1);
  await shlink.editTag({ oldName: "docs", newName: "documentation" });
  assert.deepEqual(await shlink.listTags().then((t) => t.data), ["blog", "documentation", "sdk"]);
  const missing = await refused(shlink.editTag({ oldName: "nosuchtag", newName: "x" }));
  assert.equal(missing.type, "https://shlink.io/api/error/tag-not-found");
  await shlink.deleteTags(["blog"]);
  assert.deepEqual(await shlink.listTags().then((t) => t.data), ["documentation", "sdk"]);

  // The server: one domain, no Mercure hub.
  const domains = await shlink.listDomains();
  assert.equal(domains.data.length, 1);
  assert.equal(domains.data[0].isDefault, true);
  const mercure = await refused(shlink.mercureInfo());
  assert.equal(mercure.type, "https://shlink.io/api/error/mercure-not-configured");

  // Delete.
  await shlink.deleteShortUrl({ shortCode: "sdk-docs" });
  const gone = await refused(shlink.getShortUrl({ shortCode: "sdk-docs" }));
  assert.equal(gone.type, "https://shlink.io/api/error/short-url-not-found");
  assert.equal(gone.status, 404);
});

test("keys are checked as Shlink checks them, and scopes as hop does", async () => {
  const token = await account("shlink-keys@example.com");
  const wrong = await refused(client("hop_not-a-real-key").listShortUrls());
  assert.equal(wrong.status, 401);
  assert.equal(wrong.type, "https://shlink.io/api/error/invalid-api-key");
  const readOnly = client(await key(token, ["links:read"]));
  assert.equal((await readOnly.listShortUrls()).pagination.totalItems, 0);
  const denied = await refused(readOnly.createShortUrl({ longUrl: "https://example.com/" }));
  assert.equal(denied.status, 403);
  // Someone else's short URL is not found, as an unknown one.
  const other = client(await key(await account("shlink-other@example.com")));
  await other.createShortUrl({ longUrl: "https://example.com/theirs", customSlug: "theirs" });
  const notMine = await refused(readOnly.getShortUrl({ shortCode: "theirs" }));
  assert.equal(notMine.type, "https://shlink.io/api/error/short-url-not-found");
  // Shlink features hop does not have are refused clearly, not ignored.
  const writer = client(await key(token));
  const limited = await refused(writer.createShortUrl({ longUrl: "https://example.com/", maxVisits: 5 }));
  assert.equal(limited.type, "https://shlink.io/api/error/invalid-data");
  assert.deepEqual(limited.invalidElements, ["maxVisits"]);
});
