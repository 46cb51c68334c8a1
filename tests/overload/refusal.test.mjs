// A browser's EventSource against a full sports_demo (issue 13): with `--max-clients 2`, a
// third fan is refused at first; it reconnects by itself (no code of its own: the `fetch`
// given to it only records what passes) after the `retry:` it was told, which falls in the
// refusal window (2-10 s), and it is admitted once a slot frees. Also: the demo answers HEAD on
// a stream route and the CORS preflight with the library's answers (issue 13, item 5).
//
// Env: SPORTS_DEMO (the binary), REPLAY_NODE_MODULES (where `npm ci` put node_modules).
import { test, after } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { startDemo, request } from "../demo/support.mjs";

const modules = process.env.REPLAY_NODE_MODULES || path.join(process.cwd(), "node_modules");
const { EventSource } = await import(pathToFileURL(path.join(modules, "eventsource", "dist", "index.js")).href);

/** Resolves with the first `name` event of `es`, or rejects after `ms`. */
function nextEvent(es, name, ms) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no '${name}' event within ${ms} ms`)), ms);
    es.addEventListener(name, (e) => { clearTimeout(t); resolve(e); }, { once: true });
  });
}

async function until(pred, ms, what) {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const metric = (text, name) => Number(text.match(new RegExp(`^${name}\\{namespace="/football"\\} (\\d+)$`, "m"))[1]);

test("a refused EventSource comes back by itself within the retry window and is admitted", async () => {
  const demo = await startDemo(["--max-clients", "2"]);
  const open = [];
  after(async () => { for (const es of open) es.close(); await demo.stop(); });
  const url = `${demo.url}/stream/football/ars-che`;

  // Two fans fill the sport.
  const fans = [new EventSource(url), new EventSource(url)];
  open.push(...fans);
  await Promise.all(fans.map((es) => nextEvent(es, "connection", 5000)));

  // The third fan. Its fetch only records each request and the body of each response.
  const log = [];
  const recording = async (input, init) => {
    log.push({ kind: "request", at: performance.now() });
    const res = await globalThis.fetch(input, init);
    const copy = res.clone();
    copy.text().then((text) => log.push({ kind: "end", at: performance.now(), status: res.status, text }), () => {});
    return res;
  };
  const third = new EventSource(url, { fetch: recording });
  open.push(third);
  const admitted = nextEvent(third, "connection", 20000);
  let errors = 0;
  third.addEventListener("error", () => { errors++; });

  // Refused at first: a 200 stream that holds only a retry hint, then ends.
  await until(() => log.some((e) => e.kind === "end"), 5000, "the first answer");
  const first = log.find((e) => e.kind === "end");
  assert.equal(first.status, 200);
  const m = first.text.match(/^retry: (\d+)\n\n$/);
  assert.ok(m, `a retry hint and nothing else, got ${JSON.stringify(first.text)}`);
  const retry = Number(m[1]);
  assert.ok(retry >= 2000 && retry <= 10000, `retry ${retry} ms is in the 2-10 s window`);
  await until(() => errors === 1, 2000, "EventSource to report the refusal (an error event)");
  assert.equal(third.readyState, EventSource.CONNECTING, "and keeps reconnecting");
  const metrics = (await request(`${demo.url}/metrics`)).body;
  assert.equal(metric(metrics, "sse_rejected_total"), 1);
  assert.equal(metric(metrics, "sse_connected_clients"), 2);

  // A slot frees; the third fan comes back by itself after its retry and is admitted.
  fans[0].close();
  await until(() => log.filter((e) => e.kind === "request").length >= 2, 15000, "the reconnect");
  const second = log.filter((e) => e.kind === "request")[1];
  const delay = second.at - first.at;
  assert.ok(delay >= retry - 50 && delay <= retry + 1000,
    `reconnected after ${Math.round(delay)} ms, as told (${retry} ms)`);
  const hello = JSON.parse((await admitted).data);
  assert.match(hello.clientId, /^[0-9A-Za-z]{22}$/);
  assert.equal(third.readyState, EventSource.OPEN);
  assert.equal(log.filter((e) => e.kind === "request").length, 2, "one refusal, one admission");
});

test("the demo answers HEAD on a stream route and the CORS preflight through the library", async () => {
  const demo = await startDemo(["--cors-origin", "https://scores.example"]);
  after(() => demo.stop());
  const head = await request(`${demo.url}/stream/football/ars-che`, { method: "HEAD" });
  assert.equal(head.status, 200);
  assert.equal(head.headers["content-type"], "text/event-stream");
  assert.equal(head.body, "");
  const pre = await request(`${demo.url}/emit/football/ars-che`, {
    method: "OPTIONS",
    headers: { origin: "https://scores.example", "access-control-request-method": "POST" },
  });
  assert.equal(pre.status, 204);
  assert.equal(pre.headers["access-control-allow-origin"], "https://scores.example");
  assert.equal(pre.headers["access-control-allow-methods"], "GET, HEAD, OPTIONS, POST");
  assert.equal(pre.headers["access-control-allow-headers"], "Last-Event-ID, Authorization, Cache-Control, Content-Type");
  assert.equal(pre.headers["access-control-max-age"], "600");
  const health = await request(`${demo.url}/healthz`);
  assert.deepEqual(health.json.clients, { football: 0, cricket: 0 }, "HEAD admitted nobody");
});
