// The sports demo page in a real browser: Debian's chromium, driven by playwright-core.
//   SPORTS_DEMO=.../sports_demo BROWSER_NODE_MODULES=<dir with playwright-core> \
//   ARTIFACTS=<dir for screenshots> node sports_page.test.mjs
// Loads the page, picks a match, POSTs emits, and checks the scoreboard follows; keeps
// screenshots as artifacts; then stops the server and checks the page says "reconnecting".
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { after, before, test } from "node:test";
import { emit, request, startDemo } from "../demo/support.mjs";

const require = createRequire(path.join(process.env.BROWSER_NODE_MODULES || path.join(import.meta.dirname ?? ".", "node_modules"), "x.js"));
const { chromium } = require("playwright-core");
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const artifacts = process.env.ARTIFACTS || "artifacts";
mkdirSync(artifacts, { recursive: true });

let demo, browser, page;
const problems = [];
const requests = [];

before(async () => {
  demo = await startDemo(["--simulate", "--heartbeat-ms", "1000"]);
  browser = await chromium.launch({
    executablePath,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"],
  });
  page = await browser.newPage({ viewport: { width: 1280, height: 860 }, deviceScaleFactor: 1 });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (m) => { if (m.type() === "error") problems.push(`console: ${m.text()}`); });
  page.on("request", (r) => requests.push(r.url()));
});

after(async () => {
  if (browser) await browser.close();
  if (demo) await demo.stop();
});

const score = (homeScore, awayScore, minute) => ({ match: "new-vs-tot", homeScore, awayScore, minute });
const text = (sel) => page.locator(sel).innerText();

test("the scoreboard follows the emits of the chosen match", async () => {
  // A match only the test plays, so that the simulated ones cannot change its score.
  assert.equal((await emit(demo.url, "/emit/football/new-vs-tot", "score_update", score(0, 0, 1))).status, 202);

  await page.goto(demo.url + "/");
  const item = page.locator('[data-match="new-vs-tot"]');
  await item.waitFor({ timeout: 10000 });
  assert.equal(await page.locator(".match").count() >= 5, true); // 4 simulated + ours
  await item.click();
  await page.waitForSelector('#conn-status[data-state="connected"]', { timeout: 10000 });
  assert.equal(await text("#score-home"), "0");
  assert.equal(await text("#score-away"), "0");
  assert.equal(await text("#name-home"), "Newcastle");

  for (const [h, a, m] of [[1, 0, 23], [1, 1, 51], [2, 1, 78]]) {
    const r = await emit(demo.url, "/emit/football/new-vs-tot", "score_update", score(h, a, m));
    assert.equal(r.status, 202);
  }
  await emit(demo.url, "/emit/football/new-vs-tot", "red_card",
             { match: "new-vs-tot", player: "Romero", team: "Tottenham", minute: 81 });
  await emit(demo.url, "/emit/football", "announcement", { message: "Welcome to Matchday Live: all scores are pushed over SSE." });
  await page.waitForFunction(() =>
    document.getElementById("score-home").textContent === "2" &&
    document.getElementById("score-away").textContent === "1", null, { timeout: 5000 });
  assert.match(await text("#sb-status"), /81'/);
  assert.match(await text("#ticker"), /Goal for Newcastle/);
  assert.match(await text("#ticker"), /Red card/);
  assert.match(await text("#ticker"), /Welcome to Matchday Live/);
  // The match list shows the new score too.
  assert.match(await item.innerText(), /2[\s\S]*1/);

  await page.waitForTimeout(1200); // let the flash animation settle
  await page.screenshot({ path: path.join(artifacts, "sports_page.png") });
});

test("cricket: a match's scoreboard builds up from wickets, boundaries and overs", async () => {
  await page.click("#tab-cricket");
  const item = page.locator('[data-match="ind-vs-aus"]');
  await item.waitFor({ timeout: 10000 });
  await item.click();
  await page.waitForSelector('#conn-status[data-state="connected"]', { timeout: 10000 });
  await page.waitForTimeout(4000); // a few simulated balls
  const board = await text("#scoreboard");
  assert.match(board, /\d+\/\d+/); // runs/wickets
  assert.match(board, /Overs/);
  await page.screenshot({ path: path.join(artifacts, "sports_page_cricket.png") });
});

test("the page loads nothing from outside and logs no error", async () => {
  for (const url of requests) assert.ok(url.startsWith(demo.url) || url.startsWith("data:"), `external request ${url}`);
  assert.deepEqual(problems, []);
});

test("the indicator says reconnecting when the server goes away", async () => {
  await demo.stop();
  // Poll on a timer: once the server is gone, Chromium throttles animation frames (the default
  // polling of waitForSelector) while the page has nothing to draw.
  await page.waitForFunction(() => document.querySelector("#conn-status")?.dataset.state === "reconnecting",
                             null, { timeout: 10000, polling: 200 });
  assert.match(await text("#conn-status"), /Reconnecting/);
  await page.screenshot({ path: path.join(artifacts, "sports_page_reconnecting.png") });
  assert.equal((await request(demo.url + "/healthz").catch((e) => ({ status: e.code }))).status, "ECONNREFUSED");
});
