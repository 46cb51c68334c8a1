// Black-box tests of sports_demo and the feeds: real processes, real sockets on 127.0.0.1.
//   SPORTS_DEMO=... FOOTBALL_FEED=... CRICKET_FEED=... SSE_DEMO_REDIS=0|1 node sports_demo.test.mjs
import assert from "node:assert/strict";
import net from "node:net";
import { after, before, describe, test } from "node:test";
import {
  bin, emit, freePort, request, run, sleep, SseClient, start, startDemo, stop,
} from "./support.mjs";

for (const [name, path] of Object.entries({ SPORTS_DEMO: bin.demo, FOOTBALL_FEED: bin.football, CRICKET_FEED: bin.cricket }))
  if (!path) throw new Error(`set ${name} to the binary's path`);

const score = (match, homeScore, awayScore, minute) => ({ match, homeScore, awayScore, minute });

/** Polls `get` every 50 ms until `cond(value)` holds; fails after `ms` with the last value. */
async function until(what, get, cond, ms) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await get();
    if (cond(v)) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms; last ${JSON.stringify(v)}`);
    await sleep(50);
  }
}
/** The "watching" of `match` in `node`'s GET /matches (undefined when not listed). */
async function watching(node, sport, match) {
  const r = await request(node.url + "/matches");
  assert.equal(r.status, 200);
  const m = r.json[sport].find((x) => x.id === match);
  if (m) assert.ok(Number.isInteger(m.watching), JSON.stringify(m));
  return m && m.watching;
}
/** Waits until `client`'s stream has ended; fails after `ms`. */
const ended = (client, ms) => until("the stream to end", () => client.closed, (closed) => closed, ms);

describe("sports_demo without auth", () => {
  let demo;
  before(async () => { demo = await startDemo(); });
  after(async () => { await demo.stop(); });

  test("serves the page and its assets, embedded", async () => {
    const page = await request(demo.url + "/");
    assert.equal(page.status, 200);
    assert.match(page.headers["content-type"], /^text\/html/);
    assert.match(page.body, /<script src="\/static\/app.js">/);
    // Nothing from outside the machine: every src/href is local (or a data: URL).
    for (const [, url] of page.body.matchAll(/(?:src|href)="([^"]+)"/g))
      assert.ok(url.startsWith("/") || url.startsWith("data:") || url.startsWith("#"), `external reference ${url}`);
    const js = await request(demo.url + "/static/app.js");
    assert.equal(js.status, 200);
    assert.match(js.headers["content-type"], /javascript/);
    assert.match(js.body, /new EventSource/);
    const css = await request(demo.url + "/static/app.css");
    assert.equal(css.status, 200);
    assert.match(css.headers["content-type"], /^text\/css/);
    assert.equal((await request(demo.url + "/static/nope.js")).status, 404);
    assert.equal((await request(demo.url + "/nowhere")).status, 404);
  });

  test("GET /healthz answers 200 and says Redis is not used", async () => {
    const r = await request(demo.url + "/healthz");
    assert.equal(r.status, 200);
    assert.equal(r.json.status, "ok");
    assert.equal(r.json.redis, "disabled");
  });

  test("a stream is text/event-stream and starts with the connection event", async () => {
    const c = await new SseClient(demo.url + "/stream/football/ars-vs-che").ready();
    assert.equal(c.status, 200);
    assert.match(c.headers["content-type"], /^text\/event-stream/);
    assert.equal(c.headers["content-length"], undefined);
    const hello = await c.next((e) => e.event === "connection");
    assert.match(hello.json.clientId, /^[0-9A-Za-z]{20,}$/);
    c.close();
  });

  test("an emit to a match reaches that match's room only", async () => {
    const a = await new SseClient(demo.url + "/stream/football/ars-vs-che").ready();
    const b = await new SseClient(demo.url + "/stream/football/liv-vs-mci").ready();
    const r = await emit(demo.url, "/emit/football/ars-vs-che", "score_update", score("ars-vs-che", 1, 0, 12));
    assert.equal(r.status, 202, r.body);
    const got = await a.next((e) => e.event === "score_update");
    assert.deepEqual(got.json, score("ars-vs-che", 1, 0, 12));
    // b's first event after the connection is its own match's, not ars-vs-che's.
    await emit(demo.url, "/emit/football/liv-vs-mci", "score_update", score("liv-vs-mci", 0, 2, 30));
    const first = await b.next((e) => e.event !== "connection");
    assert.equal(first.json.match, "liv-vs-mci");
    assert.ok(!b.events.some((e) => e.json && e.json.match === "ars-vs-che"));
    a.close(); b.close();
  });

  test("every event type of both sports goes through, with the exact payload", async () => {
    const f = await new SseClient(demo.url + "/stream/football/rma-vs-bar").ready();
    const c = await new SseClient(demo.url + "/stream/cricket/ind-vs-aus").ready();
    const football = [
      ["score_update", score("rma-vs-bar", 2, 1, 67)],
      ["red_card", { match: "rma-vs-bar", player: "Gavi", team: "Barcelona", minute: 70 }],
      ["match_end", { match: "rma-vs-bar", finalScore: "2-1" }],
    ];
    const cricket = [
      ["wicket", { match: "ind-vs-aus", player: "Kohli", team: "India", totalWickets: 3 }],
      ["boundary", { match: "ind-vs-aus", player: "Pant", runs: 6 }],
      ["over_complete", { match: "ind-vs-aus", oversPlayed: 12, runsInOver: 9 }],
    ];
    for (const [event, data] of football)
      assert.equal((await emit(demo.url, "/emit/football/rma-vs-bar", event, data)).status, 202);
    for (const [event, data] of cricket)
      assert.equal((await emit(demo.url, "/emit/cricket/ind-vs-aus", event, data)).status, 202);
    for (const [event, data] of football) assert.deepEqual((await f.next((e) => e.event === event)).json, data);
    for (const [event, data] of cricket) assert.deepEqual((await c.next((e) => e.event === event)).json, data);
    f.close(); c.close();
  });

  test("POST /emit/{sport} reaches every match of that sport and no other sport", async () => {
    const a = await new SseClient(demo.url + "/stream/football/ars-vs-che").ready();
    const b = await new SseClient(demo.url + "/stream/football/bay-vs-bvb").ready();
    const c = await new SseClient(demo.url + "/stream/cricket/eng-vs-nz").ready();
    const r = await emit(demo.url, "/emit/football", "announcement", { message: "VAR is down today" });
    assert.equal(r.status, 202, r.body);
    for (const cl of [a, b]) assert.equal((await cl.next((e) => e.event === "announcement")).json.message, "VAR is down today");
    await emit(demo.url, "/emit/cricket", "announcement", { message: "Rain delay" });
    const first = await c.next((e) => e.event === "announcement");
    assert.equal(first.json.message, "Rain delay"); // not the football one
    a.close(); b.close(); c.close();
  });

  test("400 names the problem: bad JSON, unknown event, payload not fitting the type", async () => {
    const post = (path, body) => request(demo.url + path, { method: "POST", headers: { "content-type": "application/json" }, body });
    const cases = [
      ["/emit/football/ars-vs-che", "{not json", /invalid JSON/],
      ["/emit/football/ars-vs-che", "[]", /"event"/],
      ["/emit/football/ars-vs-che", { event: "score_update" }, /"data"/],
      ["/emit/football/ars-vs-che", { event: "wicket", data: { match: "ars-vs-che", player: "x", team: "y", totalWickets: 1 } }, /unknown event 'wicket'/],
      ["/emit/cricket/ind-vs-aus", { event: "score_update", data: score("ind-vs-aus", 1, 0, 1) }, /unknown event 'score_update'/],
      ["/emit/football/ars-vs-che", { event: "score_update", data: { match: "ars-vs-che", homeScore: "2", awayScore: 1, minute: 3 } }, /homeScore/],
      ["/emit/football/ars-vs-che", { event: "score_update", data: { match: "ars-vs-che", homeScore: 2.5, awayScore: 1, minute: 3 } }, /homeScore/],
      ["/emit/football/ars-vs-che", { event: "score_update", data: { match: "ars-vs-che", homeScore: 2, awayScore: 1 } }, /minute/],
      ["/emit/football/ars-vs-che", { event: "score_update", data: { ...score("ars-vs-che", 2, 1, 3), extra: 1 } }, /extra/],
      ["/emit/football/ars-vs-che", { event: "match_end", data: { match: "ars-vs-che", finalScore: 3 } }, /finalScore/],
      ["/emit/cricket/ind-vs-aus", { event: "boundary", data: { match: "ind-vs-aus", player: "x", runs: 5 } }, /4 or 6/],
      ["/emit/football/ars-vs-che", { event: "score_update", data: score("liv-vs-mci", 1, 1, 1) }, /match/],
      ["/emit/football/ars-vs-che", { event: "announcement", data: { message: 42 } }, /message/],
    ];
    const watcher = await new SseClient(demo.url + "/stream/football/ars-vs-che").ready();
    for (const [path, body, why] of cases) {
      const r = await post(path, body);
      assert.equal(r.status, 400, `${JSON.stringify(body)} -> ${r.status} ${r.body}`);
      assert.match(r.headers["content-type"], /application\/json/);
      assert.match(r.json.error, why, `${JSON.stringify(body)} -> ${r.body}`);
    }
    // None of them reached a client.
    await emit(demo.url, "/emit/football/ars-vs-che", "score_update", score("ars-vs-che", 9, 9, 9));
    const first = await watcher.next((e) => e.event !== "connection");
    assert.deepEqual(first.json, score("ars-vs-che", 9, 9, 9));
    watcher.close();
  });

  test("a bad match name is a 400, an unknown sport a 404", async () => {
    assert.equal((await request(demo.url + "/stream/football/a%0Ab")).status, 400);
    assert.equal((await emit(demo.url, "/emit/football/a%00b", "announcement", { message: "x" })).status, 400);
    const s = await request(demo.url + "/stream/tennis/nadal-vs-federer");
    assert.equal(s.status, 404);
    const e = await emit(demo.url, "/emit/tennis/nadal-vs-federer", "announcement", { message: "x" });
    assert.equal(e.status, 404);
    assert.match(e.json.error, /tennis/);
    assert.equal((await emit(demo.url, "/emit/tennis", "announcement", { message: "x" })).status, 404);
  });

  test("a body over 64 KiB is a 413, one just under is read", async () => {
    const big = JSON.stringify({ event: "announcement", data: { message: "x".repeat(64 * 1024) } });
    const r = await request(demo.url + "/emit/football", { method: "POST", headers: { "content-type": "application/json" }, body: big });
    assert.equal(r.status, 413);
    const fits = JSON.stringify({ event: "announcement", data: { message: "y".repeat(60 * 1024) } });
    const ok = await request(demo.url + "/emit/football", { method: "POST", headers: { "content-type": "application/json" }, body: fits });
    assert.equal(ok.status, 202, ok.body);
    // The server is still fine.
    assert.equal((await request(demo.url + "/healthz")).status, 200);
  });

  test("GET /matches lists what emits made known, with the score", async () => {
    await emit(demo.url, "/emit/football/new-vs-tot", "score_update", score("new-vs-tot", 3, 2, 80));
    await emit(demo.url, "/emit/cricket/pak-vs-sa", "over_complete", { match: "pak-vs-sa", oversPlayed: 1, runsInOver: 7 });
    await emit(demo.url, "/emit/cricket/pak-vs-sa", "boundary", { match: "pak-vs-sa", player: "Babar", runs: 4 });
    const r = await request(demo.url + "/matches");
    assert.equal(r.status, 200);
    const f = r.json.football.find((m) => m.id === "new-vs-tot");
    assert.equal(f.homeScore, 3);
    assert.equal(f.awayScore, 2);
    assert.equal(f.minute, 80);
    const c = r.json.cricket.find((m) => m.id === "pak-vs-sa");
    assert.equal(c.home, "Pakistan");
    assert.equal(c.runs + c.overRuns, 11);
  });

  test("GET /metrics is Prometheus text with clients, emits, deliveries, slow consumers, Redis", async () => {
    const parse = (text) => Object.fromEntries(text.split("\n").filter((l) => l && !l.startsWith("#")).map((l) => {
      const at = l.lastIndexOf(" ");
      return [l.slice(0, at), Number(l.slice(at + 1))];
    }));
    const before = parse((await request(demo.url + "/metrics")).body);
    const clients = [];
    for (let i = 0; i < 3; i++) clients.push(await new SseClient(demo.url + "/stream/cricket/eng-vs-nz").ready());
    await emit(demo.url, "/emit/cricket/eng-vs-nz", "wicket", { match: "eng-vs-nz", player: "Root", team: "England", totalWickets: 1 });
    for (const c of clients) await c.next((e) => e.event === "wicket");
    const r = await request(demo.url + "/metrics");
    assert.equal(r.status, 200);
    assert.match(r.headers["content-type"], /^text\/plain/);
    assert.match(r.body, /# TYPE sse_connected_clients gauge/);
    const m = parse(r.body);
    assert.equal(m['sse_connected_clients{namespace="/cricket"}'], before['sse_connected_clients{namespace="/cricket"}'] + 3);
    assert.equal(m['sse_events_emitted_total{namespace="/cricket"}'], before['sse_events_emitted_total{namespace="/cricket"}'] + 1);
    assert.ok(m['sse_deliveries_total{namespace="/cricket"}'] >= before['sse_deliveries_total{namespace="/cricket"}'] + 3);
    assert.ok('sse_slow_consumers_dropped_total{namespace="/football"}' in m);
    assert.equal(m.sse_redis_adapter_up, -1);
    for (const c of clients) c.close();
  });

  test("football_feed and cricket_feed publish over HTTP", async () => {
    const f = await new SseClient(demo.url + "/stream/football/liv-vs-mci").ready();
    const c = await new SseClient(demo.url + "/stream/cricket/eng-vs-nz").ready();
    const fr = await run(bin.football, ["--target", demo.url, "--matches", "liv-vs-mci", "--ticks", "12", "--interval-ms", "5"]);
    assert.equal(fr.code, 0, fr.stderr);
    const cr = await run(bin.cricket, ["--target", demo.url, "--matches", "eng-vs-nz", "--ticks", "12", "--interval-ms", "5"]);
    assert.equal(cr.code, 0, cr.stderr);
    assert.equal((await f.next((e) => e.event === "score_update")).json.match, "liv-vs-mci");
    const over = await c.next((e) => e.event === "over_complete");
    assert.equal(over.json.match, "eng-vs-nz");
    assert.ok(Number.isInteger(over.json.oversPlayed) && Number.isInteger(over.json.runsInOver));
    f.close(); c.close();
  });

  test("--redis without Redis support, or a bad flag, fails clearly", async () => {
    const bad = await run(bin.demo, ["--port", "0", "--bogus"]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /unknown option '--bogus'/);
    const help = await run(bin.demo, ["--help"]);
    assert.equal(help.code, 0);
    for (const flag of ["--port", "--bind", "--redis", "--simulate", "--heartbeat-ms", "--cors-origin", "--auth-token", "--admin-token", "--threads"])
      assert.ok(help.stdout.includes(flag), flag);
    if (!bin.withRedis) {
      const r = await run(bin.demo, ["--port", "0", "--redis", "redis://127.0.0.1:1"]);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /built without Redis support/);
    }
  });
});

describe("sports_demo with --auth-token and --admin-token", () => {
  let demo;
  before(async () => { demo = await startDemo(["--auth-token", "fan-secret", "--admin-token", "admin-secret"]); });
  after(async () => { await demo.stop(); });

  test("streams need the token as a Bearer header or ?token=", async () => {
    const none = await request(demo.url + "/stream/football/ars-vs-che");
    assert.equal(none.status, 401);
    const wrong = await request(demo.url + "/stream/football/ars-vs-che?token=nope", { headers: {} });
    assert.equal(wrong.status, 401);
    const wrongBearer = await request(demo.url + "/stream/football/ars-vs-che", { headers: { authorization: "Bearer nope" } });
    assert.equal(wrongBearer.status, 401);
    const viaHeader = await new SseClient(demo.url + "/stream/football/ars-vs-che", { authorization: "Bearer fan-secret" }).ready();
    const viaQuery = await new SseClient(demo.url + "/stream/football/ars-vs-che?token=fan-secret").ready();
    const r = await emit(demo.url, "/emit/football/ars-vs-che", "score_update", score("ars-vs-che", 1, 1, 5), { authorization: "Bearer admin-secret" });
    assert.equal(r.status, 202);
    for (const c of [viaHeader, viaQuery]) assert.equal((await c.next((e) => e.event === "score_update")).json.minute, 5);
    viaHeader.close(); viaQuery.close();
  });

  test("emits need the admin token as a Bearer header, and nothing else", async () => {
    const data = score("ars-vs-che", 0, 0, 1);
    assert.equal((await emit(demo.url, "/emit/football/ars-vs-che", "score_update", data)).status, 401);
    assert.equal((await emit(demo.url, "/emit/football/ars-vs-che", "score_update", data, { authorization: "Bearer fan-secret" })).status, 401);
    assert.equal((await emit(demo.url, "/emit/football/ars-vs-che?token=admin-secret", "score_update", data)).status, 401);
    assert.equal((await emit(demo.url, "/emit/football", "announcement", { message: "hi" })).status, 401);
    assert.equal((await emit(demo.url, "/emit/football", "announcement", { message: "hi" }, { authorization: "Bearer admin-secret" })).status, 202);
  });

  test("the feeds pass the admin token", async () => {
    const c = await new SseClient(demo.url + "/stream/cricket/ind-vs-aus?token=fan-secret").ready();
    const denied = await run(bin.cricket, ["--target", demo.url, "--matches", "ind-vs-aus", "--ticks", "8", "--interval-ms", "5"]);
    assert.notEqual(denied.code, 0);
    assert.match(denied.stderr, /401/);
    const ok = await run(bin.cricket, ["--target", demo.url, "--admin-token", "admin-secret", "--matches", "ind-vs-aus", "--ticks", "12", "--interval-ms", "5"]);
    assert.equal(ok.code, 0, ok.stderr);
    await c.next((e) => e.event === "over_complete");
    c.close();
  });
});

describe("sports_demo /admin and watching, one node (issue #16)", () => {
  const token = "admin-secret";
  const auth = { authorization: `Bearer ${token}` };
  const admin = (path, method = "POST", headers = auth) => request(demo.url + "/admin" + path, { method, headers });
  let demo;
  before(async () => { demo = await startDemo(["--admin-token", token]); });
  after(async () => { await demo.stop(); });

  test("GET /matches counts each match's streams as watching: 0, 1, 0", async () => {
    assert.equal((await emit(demo.url, "/emit/football/ful-vs-bre", "score_update", score("ful-vs-bre", 0, 0, 1), auth)).status, 202);
    assert.equal(await watching(demo, "football", "ful-vs-bre"), 0);
    for (const m of (await request(demo.url + "/matches")).json.football) assert.ok(Number.isInteger(m.watching));
    const c = await new SseClient(demo.url + "/stream/football/ful-vs-bre").ready();
    await until("watching 1", () => watching(demo, "football", "ful-vs-bre"), (n) => n === 1, 3000);
    c.close();
    await until("watching 0", () => watching(demo, "football", "ful-vs-bre"), (n) => n === 0, 3000);
  });

  test("GET /admin/{sport}/{match}/clients lists the room's streams with id, node and rooms", async () => {
    const c = await new SseClient(demo.url + "/stream/cricket/wi-vs-sl").ready();
    const other = await new SseClient(demo.url + "/stream/cricket/ban-vs-afg").ready();
    const id = (await c.next((e) => e.event === "connection")).json.clientId;
    const r = await admin("/cricket/wi-vs-sl/clients", "GET");
    assert.equal(r.status, 200, r.body);
    assert.match(r.headers["content-type"], /^application\/json/);
    assert.deepEqual(Object.keys(r.json).sort(), ["clients", "missingNodes"]);
    assert.deepEqual(r.json.missingNodes, []);
    assert.equal(r.json.clients.length, 1, r.body);
    const [listed] = r.json.clients;
    assert.deepEqual(Object.keys(listed).sort(), ["id", "node", "rooms"]);
    assert.equal(listed.id, id);
    assert.ok(typeof listed.node === "string" && listed.node.length > 0);
    assert.ok(listed.rooms.includes("wi-vs-sl"), r.body);
    assert.ok(!listed.rooms.includes("ban-vs-afg"));
    // A room nobody is in: an empty list.
    assert.deepEqual((await admin("/cricket/nobody-here/clients", "GET")).json, { clients: [], missingNodes: [] });
    c.close(); other.close();
  });

  test("the deferred answer keeps the connection: a pipelined request after it is answered", async () => {
    const socket = net.connect(demo.port, "127.0.0.1");
    let wire = "";
    socket.setEncoding("utf8");
    socket.on("data", (d) => (wire += d));
    const closed = new Promise((resolve) => socket.on("close", resolve));
    socket.write(`GET /admin/football/ars-vs-che/clients HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\n\r\n` +
      `GET /admin/cricket/ind-vs-aus/clients HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\n\r\n` +
      "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    await Promise.race([closed, sleep(5000)]);
    socket.destroy();
    const statuses = [...wire.matchAll(/^HTTP\/1\.1 (\d+)/gm)].map((m) => m[1]);
    assert.deepEqual(statuses, ["200", "200", "200"], wire);
    assert.equal(wire.split('{"clients":[],"missingNodes":[]}').length, 3, wire);
    assert.match(wire, /"status":"ok"/);
  });

  test("join?room=R: the match's clients get R's emits; leave?room=R: no more", async () => {
    const c = await new SseClient(demo.url + "/stream/football/ars-vs-che").ready();
    const other = await new SseClient(demo.url + "/stream/football/liv-vs-mci").ready();
    const joined = await admin("/football/ars-vs-che/join?room=ars-fans");
    assert.equal(joined.status, 202, joined.body);
    assert.equal(joined.json.room, "ars-fans");
    const ids = (await admin("/football/ars-vs-che/clients", "GET")).json.clients;
    assert.ok(ids[0].rooms.includes("ars-fans"), JSON.stringify(ids));
    assert.equal((await emit(demo.url, "/emit/football/ars-fans", "announcement", { message: "fans 1" }, auth)).status, 202);
    assert.equal((await c.next((e) => e.event === "announcement")).json.message, "fans 1");

    assert.equal((await admin("/football/ars-vs-che/leave?room=ars-fans")).status, 202);
    assert.equal((await emit(demo.url, "/emit/football/ars-fans", "announcement", { message: "fans 2" }, auth)).status, 202);
    assert.equal((await emit(demo.url, "/emit/football/ars-vs-che", "announcement", { message: "match" }, auth)).status, 202);
    await c.next((e) => e.event === "announcement" && e.json.message === "match");
    assert.deepEqual(c.events.filter((e) => e.event === "announcement").map((e) => e.json.message), ["fans 1", "match"]);
    assert.ok(!other.events.some((e) => e.event === "announcement"));
    c.close(); other.close();
  });

  test("POST /admin/{sport}/{match}/disconnect ends the room's streams within 2 s, and only those", async () => {
    const c1 = await new SseClient(demo.url + "/stream/cricket/eng-vs-nz").ready();
    const c2 = await new SseClient(demo.url + "/stream/cricket/eng-vs-nz").ready();
    const other = await new SseClient(demo.url + "/stream/cricket/ind-vs-aus").ready();
    const r = await admin("/cricket/eng-vs-nz/disconnect");
    assert.equal(r.status, 202, r.body);
    await ended(c1, 2000);
    await ended(c2, 2000);
    assert.equal(other.closed, false);
    assert.deepEqual((await admin("/cricket/eng-vs-nz/clients", "GET")).json.clients, []);
    other.close();
  });

  test("every /admin route needs the admin token as a Bearer header", async () => {
    const routes = [["/football/ars-vs-che/clients", "GET"], ["/football/ars-vs-che/disconnect", "POST"],
      ["/football/ars-vs-che/join?room=x", "POST"], ["/football/ars-vs-che/leave?room=x", "POST"]];
    const c = await new SseClient(demo.url + "/stream/football/ars-vs-che").ready();
    for (const [path, method] of routes) {
      for (const headers of [{}, { authorization: "Bearer nope" }, { authorization: token }]) {
        const r = await admin(path, method, headers);
        assert.equal(r.status, 401, `${method} ${path} ${JSON.stringify(headers)} -> ${r.status}`);
        assert.equal(r.headers["www-authenticate"], "Bearer");
        assert.equal(r.json.status, 401);
        assert.match(r.json.error, /unauthorized/);
      }
      assert.equal((await request(demo.url + "/admin" + path + (path.includes("?") ? "&" : "?") + "token=" + token, { method })).status, 401);
    }
    assert.equal(c.closed, false); // the refused disconnect did nothing
    c.close();
  });

  test("400 for a bad match or room name or a missing room, 404 for an unknown sport or action, 405 with Allow", async () => {
    const cases = [
      ["/football/a%0Ab/clients", "GET", 400, /bad match name/],
      ["/football/a%00b/disconnect", "POST", 400, /bad match name/],
      ["/football/ars-vs-che/join", "POST", 400, /room/],
      ["/football/ars-vs-che/leave?room=", "POST", 400, /room/],
      ["/football/ars-vs-che/join?room=a%0Ab", "POST", 400, /bad room name/],
      ["/tennis/nadal-vs-federer/clients", "GET", 404, /tennis/],
      ["/tennis/nadal-vs-federer/join?room=x", "POST", 404, /tennis/],
      ["/football/ars-vs-che/kick", "POST", 404, /not found/],
      ["/football/ars-vs-che", "GET", 404, /not found/],
    ];
    for (const [path, method, status, why] of cases) {
      const r = await admin(path, method);
      assert.equal(r.status, status, `${method} ${path} -> ${r.status} ${r.body}`);
      assert.match(r.headers["content-type"], /^application\/json/);
      assert.equal(r.json.status, status);
      assert.match(r.json.error, why, r.body);
    }
    for (const [path, method, allow] of [["/football/ars-vs-che/clients", "POST", "GET"], ["/football/ars-vs-che/disconnect", "GET", "POST"],
      ["/cricket/eng-vs-nz/join?room=x", "GET", "POST"], ["/cricket/eng-vs-nz/leave?room=x", "DELETE", "POST"]]) {
      const r = await admin(path, method);
      assert.equal(r.status, 405, `${method} ${path}`);
      assert.equal(r.headers.allow, allow);
      assert.equal(r.json.status, 405);
    }
  });
});

describe("sports_demo /admin without --admin-token", () => {
  let demo;
  before(async () => { demo = await startDemo(); });
  after(async () => { await demo.stop(); });

  test("needs no token", async () => {
    const r = await request(demo.url + "/admin/football/ars-vs-che/clients");
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(r.json, { clients: [], missingNodes: [] });
    assert.equal((await request(demo.url + "/admin/football/ars-vs-che/disconnect", { method: "POST" })).status, 202);
  });
});

describe("sports_demo --simulate", () => {
  test("runs the built-in matches out of the box", async () => {
    const demo = await startDemo(["--simulate", "--heartbeat-ms", "200"]);
    try {
      const c = await new SseClient(demo.url + "/stream/football/ars-vs-che").ready();
      await sleep(1500);
      const r = await request(demo.url + "/matches");
      assert.deepEqual(r.json.football.map((m) => m.id).sort(), ["ars-vs-che", "bay-vs-bvb", "liv-vs-mci", "rma-vs-bar"]);
      assert.deepEqual(r.json.cricket.map((m) => m.id).sort(), ["eng-vs-nz", "ind-vs-aus", "pak-vs-sa"]);
      await c.next((e) => e.event === "score_update", 10000); // the simulator paces events; CI may be busy
      c.close();
    } finally {
      await demo.stop();
    }
  });
});

describe("two sports_demo nodes and a feed on one redis-server", { skip: bin.withRedis ? false : "built without sse::redis" }, () => {
  let redis, a, b, redisUrl;
  before(async () => {
    const port = await freePort();
    redis = await start(bin.redisServer, ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
      { ready: /Ready to accept connections/ });
    redisUrl = `redis://127.0.0.1:${port}`;
    a = await startDemo(["--redis", redisUrl]);
    b = await startDemo(["--redis", redisUrl]);
    for (const node of [a, b]) {
      const deadline = Date.now() + 10000;
      while ((await request(node.url + "/healthz")).json.redis !== "connected") {
        if (Date.now() > deadline) throw new Error("node did not connect to Redis");
        await sleep(50);
      }
    }
  });
  after(async () => {
    for (const n of [a, b]) if (n) await n.stop();
    if (redis) await stop(redis.child);
  });

  test("a client on node B sees what the feed publishes through Redis", async () => {
    const onB = await new SseClient(b.url + "/stream/football/ars-vs-che").ready();
    const onA = await new SseClient(a.url + "/stream/football/ars-vs-che").ready();
    await sleep(300); // the room's subscription reaches Redis
    const fr = await run(bin.football, ["--redis", redisUrl, "--matches", "ars-vs-che", "--ticks", "12", "--interval-ms", "20"]);
    assert.equal(fr.code, 0, fr.stdout + fr.stderr);
    const seenB = await onB.next((e) => e.event === "score_update", 5000);
    const seenA = await onA.next((e) => e.event === "score_update", 5000);
    assert.equal(seenB.json.match, "ars-vs-che");
    assert.deepEqual(seenA.json, seenB.json);
    onA.close(); onB.close();
  });

  test("an emit on node A reaches the room's client on node B exactly once", async () => {
    const onB = await new SseClient(b.url + "/stream/cricket/ind-vs-aus").ready();
    const other = await new SseClient(b.url + "/stream/cricket/eng-vs-nz").ready();
    await sleep(300);
    const r = await emit(a.url, "/emit/cricket/ind-vs-aus", "boundary", { match: "ind-vs-aus", player: "Head", runs: 4 });
    assert.equal(r.status, 202);
    const got = await onB.next((e) => e.event === "boundary");
    assert.equal(got.json.player, "Head");
    await sleep(300);
    assert.equal(onB.events.filter((e) => e.event === "boundary").length, 1);
    assert.equal(other.events.filter((e) => e.event === "boundary").length, 0);
    onB.close(); other.close();
  });

  test("watching counts both nodes' clients within 3 s", async () => {
    const onA = await new SseClient(a.url + "/stream/football/bha-vs-eve").ready();
    const onB = await new SseClient(b.url + "/stream/football/bha-vs-eve").ready();
    await sleep(300); // the room's subscriptions reach Redis
    assert.equal((await emit(a.url, "/emit/football/bha-vs-eve", "score_update", score("bha-vs-eve", 1, 0, 9))).status, 202);
    for (const node of [a, b])
      await until("watching 2", () => watching(node, "football", "bha-vs-eve"), (n) => n === 2, 3000);
    onB.close();
    await until("watching 1 on A", () => watching(a, "football", "bha-vs-eve"), (n) => n === 1, 3000);
    onA.close();
  });

  test("/admin on node A lists, moves and disconnects node B's clients", async () => {
    const onA = await new SseClient(a.url + "/stream/cricket/nz-vs-sa").ready();
    const onB = await new SseClient(b.url + "/stream/cricket/nz-vs-sa").ready();
    const idA = (await onA.next((e) => e.event === "connection")).json.clientId;
    const idB = (await onB.next((e) => e.event === "connection")).json.clientId;
    const r = await request(a.url + "/admin/cricket/nz-vs-sa/clients");
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(r.json.missingNodes, []);
    const listed = Object.fromEntries(r.json.clients.map((c) => [c.id, c]));
    assert.deepEqual(Object.keys(listed).sort(), [idA, idB].sort(), r.body);
    assert.ok(listed[idB].node && listed[idA].node);
    assert.notEqual(listed[idB].node, listed[idA].node);
    assert.ok(listed[idB].rooms.includes("nz-vs-sa"));

    // join on A: B's client joins too and hears the room (emitted on B).
    assert.equal((await request(a.url + "/admin/cricket/nz-vs-sa/join?room=nz-fans", { method: "POST" })).status, 202);
    await until("B's client in nz-fans", async () => (await request(a.url + "/admin/cricket/nz-fans/clients")).json.clients.map((c) => c.id).sort(),
      (ids) => JSON.stringify(ids) === JSON.stringify([idA, idB].sort()), 3000);
    await sleep(300); // B's new room subscription reaches Redis
    assert.equal((await emit(b.url, "/emit/cricket/nz-fans", "announcement", { message: "fans" })).status, 202);
    for (const c of [onA, onB]) assert.equal((await c.next((e) => e.event === "announcement")).json.message, "fans");

    const t = Date.now();
    assert.equal((await request(a.url + "/admin/cricket/nz-vs-sa/disconnect", { method: "POST" })).status, 202);
    await ended(onB, 2000);
    await ended(onA, 2000);
    assert.ok(Date.now() - t < 2500);
  });

  test("node B knows the matches the feed plays, even those no fan of B follows", async () => {
    const fr = await run(bin.cricket, ["--redis", redisUrl, "--matches", "pak-vs-sa", "--ticks", "12", "--interval-ms", "10"]);
    assert.equal(fr.code, 0, fr.stdout + fr.stderr);
    const deadline = Date.now() + 5000;
    for (;;) {
      const m = (await request(b.url + "/matches")).json.cricket.find((x) => x.id === "pak-vs-sa");
      if (m && m.overs >= 2) break;
      if (Date.now() > deadline) throw new Error("node B's /matches never listed pak-vs-sa");
      await sleep(100);
    }
    const metrics = (await request(b.url + "/metrics")).body;
    assert.match(metrics, /^sse_redis_adapter_up 1$/m);
  });
});

// Issue #17's acceptance, run against the demo with its shipped flags (replay on, shared history
// on): local delivery never waits for Redis, and every Redis seam gives each event once, in order.
describe("two sports_demo nodes through a Redis outage", { skip: bin.withRedis ? false : "built without sse::redis" }, () => {
  let redis, a, b, port;
  const startRedis = async () => {
    redis = await start(bin.redisServer, ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
      { ready: /Ready to accept connections/ });
  };
  const redisOf = async (node) => (await request(node.url + "/healthz")).json.redis;
  const waitFor = async (what, cond, ms = 15000) => {
    const deadline = Date.now() + ms;
    while (!(await cond())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await sleep(50);
    }
  };
  // The announcements `client` got, as numbers, checking that its ids strictly increase.
  const said = (client) => {
    let last = -1n;
    const out = [];
    for (const e of client.events) {
      if (e.id !== undefined && e.event !== "connection") {
        const id = BigInt(e.id);
        assert.ok(id > last, `ids went back: ${last} then ${id}`);
        last = id;
      }
      if (e.event === "announcement") out.push(Number(e.json.message));
    }
    return out;
  };
  const lastId = (client) => client.events.filter((e) => e.id !== undefined).at(-1).id;
  const say = async (node, n) => {
    const r = await emit(node.url, "/emit/football/ars-vs-che", "announcement", { message: String(n) });
    assert.equal(r.status, 202);
  };
  const saw = (client, n, ms = 2000) => client.next((e) => e.event === "announcement" && e.json.message === String(n), ms);

  before(async () => {
    port = await freePort();
    await startRedis();
    a = await startDemo(["--redis", `redis://127.0.0.1:${port}`]);
    b = await startDemo(["--redis", `redis://127.0.0.1:${port}`]);
    for (const node of [a, b]) await waitFor("the nodes to connect", async () => (await redisOf(node)) === "connected");
  });
  after(async () => {
    for (const n of [a, b]) if (n) await n.stop();
    if (redis) await stop(redis.child);
  });

  test("stopped: A's client gets each emit at once; restarted: B gets them or a reset; then both ways, and a move", async () => {
    const onA = await new SseClient(a.url + "/stream/football/ars-vs-che").ready();
    const onB = await new SseClient(b.url + "/stream/football/ars-vs-che").ready();
    await sleep(300); // the room's subscriptions reach Redis
    await say(a, 0);
    await saw(onA, 0);
    await saw(onB, 0);

    await stop(redis.child);
    await waitFor("A to see Redis gone", async () => (await redisOf(a)) !== "connected");
    for (let i = 1; i <= 5; ++i) {
      const t = Date.now();
      await say(a, i);
      await saw(onA, i, 2000);
      assert.ok(Date.now() - t < 2000);
    }
    assert.deepEqual(said(onA), [0, 1, 2, 3, 4, 5]);

    await startRedis();
    await waitFor("B to get the 5 or a reset", async () =>
      said(onB).length === 6 || onB.events.some((e) => e.event === "reset"), 20000);
    if (!onB.events.some((e) => e.event === "reset")) assert.deepEqual(said(onB), [0, 1, 2, 3, 4, 5]);
    for (const node of [a, b]) await waitFor("the nodes to reconnect", async () => (await redisOf(node)) === "connected");
    await sleep(300);

    // Then emits from either node reach both, once each, in order.
    for (let i = 6; i < 10; ++i) {
      await say(i % 2 === 0 ? a : b, i);
      await saw(onA, i, 5000);
      await saw(onB, i, 5000);
    }
    assert.deepEqual(said(onA), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const fromB = said(onB);
    assert.deepEqual(fromB.slice(fromB.indexOf(6)), [6, 7, 8, 9]);

    // A's client moves to B with its last id, having missed one emit of each node: it gets
    // exactly those, then live ones.
    const resumeFrom = lastId(onA);
    onA.close();
    await say(a, 10);
    await say(b, 11);
    await saw(onB, 11, 5000);
    const moved = await new SseClient(b.url + "/stream/football/ars-vs-che", { "Last-Event-ID": resumeFrom }).ready();
    await saw(moved, 11, 5000);
    await say(a, 12);
    await saw(moved, 12, 5000);
    assert.deepEqual(said(moved), [10, 11, 12]);
    assert.equal(moved.events.filter((e) => e.event === "reset").length, 0);
    moved.close(); onB.close();
  });
});
