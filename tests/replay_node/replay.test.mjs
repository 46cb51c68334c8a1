// Last-Event-ID replay (issue #6) with a real, WHATWG-compliant EventSource: the `eventsource`
// package from npm, which reconnects by itself and sends `Last-Event-ID` on reconnect.
// Against a real sports_demo process (replay on for both namespaces, in memory). The stream
// is cut by a tiny TCP proxy between the client and the demo, so the demo (and its history)
// lives on while the client is away; events are emitted directly to the demo meanwhile.
//
// Env: SPORTS_DEMO (the binary), REPLAY_NODE_MODULES (where `npm ci` put node_modules).
import { test, after } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { startDemo, emit, stop, freePort, start, bin } from "../demo/support.mjs";

const modules = process.env.REPLAY_NODE_MODULES || path.join(process.cwd(), "node_modules");
const { EventSource } = await import(pathToFileURL(path.join(modules, "eventsource", "dist", "index.js")).href);

/** A TCP proxy to 127.0.0.1:`target`. `cut()` ends every proxied connection and refuses new
    ones until `resume()`; `requests` keeps the head of every request it forwarded. */
function proxy(target) {
  const pairs = new Set();
  let open = true;
  const requests = [];
  const server = net.createServer((down) => {
    if (!open) return down.destroy();
    const up = net.connect(target, "127.0.0.1");
    const pair = { down, up };
    pairs.add(pair);
    let head = "";
    down.on("data", (d) => {
      if (head !== null) {
        head += d;
        const end = head.indexOf("\r\n\r\n");
        if (end >= 0) { requests.push(head.slice(0, end)); head = null; }
      }
    });
    down.pipe(up);
    up.pipe(down);
    const drop = () => { pairs.delete(pair); down.destroy(); up.destroy(); };
    down.on("error", drop); up.on("error", drop);
    down.on("close", drop); up.on("close", drop);
  });
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => resolve({
      port: server.address().port,
      requests,
      cut() { open = false; for (const p of pairs) { p.down.destroy(); p.up.destroy(); } pairs.clear(); },
      resume() { open = true; },
      close() { this.cut(); return new Promise((r) => server.close(r)); },
    }));
  });
}

/** Collects the named events of an EventSource; `next(n)` waits (with a deadline) for n more. */
function collect(es, names) {
  const got = [];
  const waiters = [];
  const wake = () => { for (const w of [...waiters]) w(); };
  for (const name of names) {
    es.addEventListener(name, (e) => {
      got.push({ event: name, id: e.lastEventId, data: JSON.parse(e.data) });
      wake();
    });
  }
  let taken = 0;
  return {
    got,
    next(n, timeout = 10000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (got.length - taken >= n) {
            const out = got.slice(taken, taken + n);
            taken += n;
            waiters.splice(waiters.indexOf(check), 1);
            clearTimeout(t);
            resolve(out);
          }
        };
        const t = setTimeout(() => {
          waiters.splice(waiters.indexOf(check), 1);
          reject(new Error(`timed out waiting for ${n} events; have ${JSON.stringify(got.slice(taken))}`));
        }, timeout);
        waiters.push(check);
        check();
      });
    },
  };
}

const score = (match, homeScore, minute) => ({ match, homeScore, awayScore: 0, minute });

async function post(base, match, homeScore) {
  const r = await emit(base, `/emit/football/${match}`, "score_update", score(match, homeScore, homeScore));
  assert.equal(r.status, 202, `POST /emit answered ${r.status}: ${r.body}`);
}

const cleanup = [];
after(async () => { for (const f of cleanup.reverse()) await f(); });

test("eventsource reconnects by itself with Last-Event-ID and gets exactly what it missed", async () => {
  const demo = await startDemo();
  cleanup.push(() => demo.stop());
  const p = await proxy(demo.port);
  cleanup.push(() => p.close());
  const match = "replay-m1";

  const es = new EventSource(`http://127.0.0.1:${p.port}/stream/football/${match}`);
  cleanup.push(() => es.close());
  const errors = [];
  es.addEventListener("error", () => errors.push(Date.now()));
  const events = collect(es, ["score_update", "reset", "connection"]);
  const [hello] = await events.next(1);
  assert.equal(hello.event, "connection");

  for (let s = 1; s <= 3; s++) await post(demo.url, match, s);
  const before = await events.next(3);
  assert.deepEqual(before.map((e) => e.data.homeScore), [1, 2, 3]);
  const lastSeen = before[2].id;
  assert.ok(/^\d+$/.test(lastSeen), `events carry numeric ids, got "${lastSeen}"`);
  assert.ok(Number(before[0].id) < Number(before[1].id) && Number(before[1].id) < Number(lastSeen));

  // The network drops; the match goes on.
  p.cut();
  for (let s = 4; s <= 6; s++) await post(demo.url, match, s);
  p.resume();

  // The package reconnects on its own (after the demo's `retry:` hint) and names its last id.
  const [hello2, ...missed] = await events.next(4, 20000);
  assert.equal(hello2.event, "connection");
  assert.deepEqual(missed.map((e) => [e.event, e.data.homeScore]),
                   [["score_update", 4], ["score_update", 5], ["score_update", 6]]);
  assert.ok(errors.length >= 1, "the client saw the stream end");
  const reconnect = p.requests[p.requests.length - 1];
  assert.match(reconnect, new RegExp(`\\r\\nlast-event-id: ${lastSeen}(\\r\\n|$)`, "i"),
               `the reconnect request names the last id:\n${reconnect}`);

  await post(demo.url, match, 7);
  const [live] = await events.next(1);
  assert.deepEqual([live.event, live.data.homeScore], ["score_update", 7]);
  // Exactly once each, ids strictly increasing.
  const scores = events.got.filter((e) => e.event === "score_update");
  assert.deepEqual(scores.map((e) => e.data.homeScore), [1, 2, 3, 4, 5, 6, 7]);
  for (let i = 1; i < scores.length; i++) assert.ok(Number(scores[i].id) > Number(scores[i - 1].id));
  assert.equal(events.got.filter((e) => e.event === "reset").length, 0);
  es.close();
});

