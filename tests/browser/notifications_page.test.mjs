// examples/notifications' page in Debian's chromium, driven by playwright-core: what a browser's
// EventSource does when the server ends a user's stream and then refuses the token.
//   NOTIFICATIONS_SERVER=.../notifications_server BROWSER_NODE_MODULES=<dir with playwright-core>
//   CHROMIUM=/usr/bin/chromium node notifications_page.test.mjs
// Proves: two tabs of one user both show its notification, another user's tab does not; after
// logout, and after a token's expiry, the tab is told why, EventSource reconnects by itself,
// gets 401, and stops for good (readyState CLOSED) instead of retrying forever.
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import path from "node:path";
import { after, before, test } from "node:test";
import { request, start, stop } from "../demo/support.mjs";

const require = createRequire(path.join(process.env.BROWSER_NODE_MODULES || path.join(import.meta.dirname ?? ".", "node_modules"), "x.js"));
const { chromium } = require("playwright-core");
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";

let server, base, browser;
const problems = [];

before(async () => {
  const started = await start(process.env.NOTIFICATIONS_SERVER, ["127.0.0.1", "0"]);
  server = started.child;
  base = `http://127.0.0.1:${Number(started.match[1])}`;
  browser = await chromium.launch({
    executablePath,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"],
  });
});

after(async () => {
  if (browser) await browser.close();
  if (server) await stop(server);
  assert.deepEqual(problems, []);
});

async function login(user, ttl) {
  const r = await request(`${base}/login?user=${user}${ttl ? `&ttl=${ttl}` : ""}`, { method: "POST" });
  assert.equal(r.status, 200, r.body);
  return r.json.token;
}

/** A tab of the page with `token`; `refusals` counts the /events answers that were not 200. */
async function openTab(token) {
  const page = await browser.newPage();
  const tab = { page, refusals: [] };
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("response", (r) => {
    if (new URL(r.url()).pathname === "/events" && r.status() !== 200) tab.refusals.push(r.status());
  });
  await page.goto(`${base}/?token=${token}`);
  await page.waitForFunction(() => document.getElementById("state").textContent === "connected", null, { timeout: 10000 });
  return tab;
}

const shown = (tab) => tab.page.locator("#log li").allInnerTexts();

/** Waits until the tab's EventSource has stopped; returns the states it went through. */
async function stopped(tab) {
  await tab.page.waitForFunction(() => es.readyState === EventSource.CLOSED, null, { timeout: 20000 });
  return tab.page.evaluate(() => states);
}

test("two tabs of a user get its notifications; logout stops both for good", async () => {
  const token42 = await login("42");
  const tabs42 = [await openTab(token42), await openTab(token42)];
  const tab7 = await openTab(await login("7"));

  assert.equal((await request(`${base}/notify?user=42`, { method: "POST", body: "hello 42" })).status, 202);
  assert.equal((await request(`${base}/notify?user=7`, { method: "POST", body: "hello 7" })).status, 202);
  for (const tab of tabs42)
    await tab.page.locator("#log li", { hasText: "hello 42" }).waitFor({ timeout: 10000 });
  await tab7.page.locator("#log li", { hasText: "hello 7" }).waitFor({ timeout: 10000 });
  assert.deepEqual(await shown(tab7), ["hello 7"]); // 42's came first, and did not reach 7

  const r = await request(`${base}/logout`, { method: "POST", headers: { authorization: `Bearer ${token42}` } });
  assert.equal(r.status, 200, r.body);
  assert.equal(r.json.streams_ended, 2);
  for (const tab of tabs42) {
    // Ended by the server, EventSource reconnected by itself, got 401 and stopped.
    assert.deepEqual(await stopped(tab), ["connected", "reconnecting", "stopped"]);
    assert.deepEqual(await shown(tab), ["logged out", "hello 42"]);
    assert.deepEqual(tab.refusals, [401]);
  }
  assert.equal(await tab7.page.evaluate(() => es.readyState), 1); // 7 is still open
});

test("a token's expiry: the tab is told, reconnects once, gets 401 and stops", async () => {
  const tab = await openTab(await login("42", 2));
  assert.deepEqual(await stopped(tab), ["connected", "reconnecting", "stopped"]);
  assert.deepEqual(await shown(tab), ["session expired: log in again"]);
  assert.deepEqual(tab.refusals, [401]);
});
