// Requests that once took sports_demo down, or could: each must get a well-formed answer while
// the process, and every stream it serves, carries on.
//   SPORTS_DEMO=... node hostile_input.test.mjs
import assert from "node:assert/strict";
import http from "node:http";
import net from "node:net";
import { after, before, describe, test } from "node:test";
import { bin, emit, request, SseClient, start, startDemo, stop } from "./support.mjs";

if (!bin.demo) throw new Error("set SPORTS_DEMO to the binary's path");

/** A request whose body and target are sent as raw bytes; resolves with the raw answer. */
function rawRequest(url, { method = "POST", path, body }) {
  return new Promise((resolve, reject) => {
    const req = http.request(url + path, { method, agent: false, headers: { "content-type": "application/json" } }, (res) => {
      const chunks = [];
      res.on("data", (d) => chunks.push(d));
      res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, bytes: Buffer.concat(chunks) }));
    });
    req.on("error", reject);
    req.setTimeout(10000, () => req.destroy(new Error(`timeout: ${method} ${path}`)));
    if (body !== undefined) req.write(body);
    req.end();
  });
}

/** The answer is JSON in valid UTF-8 (a fatal decoder refuses anything else). */
function strictJson(answer) {
  assert.match(answer.headers["content-type"], /^application\/json/);
  const text = new TextDecoder("utf-8", { fatal: true }).decode(answer.bytes);
  return JSON.parse(text);
}

describe("sports_demo answers hostile input and keeps serving", () => {
  let demo;
  before(async () => { demo = await startDemo(); });
  after(async () => { await demo.stop(); });

  // The crash of issue 13: invalid UTF-8 inside a JSON string made the 400 answer throw
  // (nlohmann type_error 316) and abort the process, taking every stream with it.
  test("an emit whose JSON holds invalid UTF-8 is a 400; the process and its streams live on", async () => {
    const fans = [
      await new SseClient(demo.url + "/stream/football/ars-vs-che").ready(),
      await new SseClient(demo.url + "/stream/football/liv-vs-mci").ready(),
      await new SseClient(demo.url + "/stream/cricket/ind-vs-aus").ready(),
    ];
    const body = Buffer.concat([
      Buffer.from('{"event":"announcement","data":{"message":"a'),
      Buffer.from([0xff, 0xfe]),
      Buffer.from('b"}}'),
    ]);
    const r = await rawRequest(demo.url, { path: "/emit/football", body });
    assert.equal(r.status, 400);
    const answer = strictJson(r);
    assert.equal(answer.status, 400);
    assert.match(answer.error, /invalid JSON/);

    assert.equal((await request(demo.url + "/healthz")).status, 200);
    // The fans connected before it still have their streams: a later valid emit reaches them.
    assert.equal((await emit(demo.url, "/emit/football", "announcement", { message: "still here" })).status, 202);
    assert.equal((await emit(demo.url, "/emit/cricket", "announcement", { message: "still here" })).status, 202);
    for (const fan of fans) {
      const got = await fan.next((e) => e.event === "announcement");
      assert.equal(got.json.message, "still here");
    }
    for (const fan of fans) fan.close();
  });

});

/** Writes `bytes` on one connection and resolves with everything read until the server closes. */
function rawExchange(port, bytes) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    const sock = net.connect(port, "127.0.0.1", () => sock.end(bytes));
    sock.on("data", (d) => chunks.push(d));
    sock.on("end", () => resolve(Buffer.concat(chunks).toString("latin1")));
    sock.on("error", reject);
    sock.setTimeout(10000, () => sock.destroy(new Error("timeout")));
  });
}

describe("memory stays bounded", () => {
  // Each emit to a new match name adds it to /matches: without a bound, a sender could grow
  // the process (and every /matches answer) for ever.
  test("emits naming ever new matches keep /matches at 1000 per sport, the newest kept", async () => {
    const demo = await startDemo();
    try {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
      const post = (match) => new Promise((resolve, reject) => {
        const body = JSON.stringify({ event: "score_update", data: { match, homeScore: 1, awayScore: 0, minute: 1 } });
        const req = http.request(`${demo.url}/emit/football/${match}`, { method: "POST", agent, headers: { "content-type": "application/json" } }, (res) => {
          res.resume();
          res.on("end", () => resolve(res.statusCode));
        });
        req.on("error", reject);
        req.end(body);
      });
      for (let i = 0; i < 1100; i += 50) {
        const batch = [];
        for (let j = i; j < i + 50; j++) batch.push(post(`m${j}`));
        for (const status of await Promise.all(batch)) assert.equal(status, 202);
      }
      agent.destroy();
      const r = await request(demo.url + "/matches");
      assert.equal(r.json.football.length, 1000);
      const ids = new Set(r.json.football.map((m) => m.id));
      assert.ok(ids.has("m1099") && !ids.has("m0"), "the newest stay, the oldest go");
    } finally {
      await demo.stop();
    }
  });
});

describe("HEAD answers carry no body", () => {
  let demo;
  before(async () => { demo = await startDemo(); });
  after(async () => { await demo.stop(); });

  // A body after the answer to a HEAD would be read as the start of the next response on a
  // kept-alive connection.
  test("HEAD then GET on one connection: the second answer starts right after the first's headers", async () => {
    for (const path of ["/healthz", "/matches", "/nowhere", "/emit/football"]) {
      const got = await rawExchange(demo.port,
        `HEAD ${path} HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      const end = got.indexOf("\r\n\r\n");
      assert.ok(end > 0, got);
      assert.match(got.slice(0, end), /^HTTP\/1\.1 \d{3} /);
      assert.match(got.slice(end + 4), /^HTTP\/1\.1 200 OK\r\n/, `after HEAD ${path}: ${JSON.stringify(got)}`);
    }
  });
});

describe("examples/hello answers HEAD with headers only", { skip: process.env.HELLO_SERVER ? false : "HELLO_SERVER not set" }, () => {
  test("HEAD / then GET / on one connection", async () => {
    const { child, match } = await start(process.env.HELLO_SERVER, ["--port", "0"]);
    try {
      const got = await rawExchange(Number(match[1]),
        "HEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
      const end = got.indexOf("\r\n\r\n");
      assert.match(got.slice(0, end), /^HTTP\/1\.1 200 OK/);
      assert.match(got.slice(end + 4), /^HTTP\/1\.1 404 /, JSON.stringify(got.slice(0, 300)));
    } finally {
      await stop(child);
    }
  });
});

// The same class: an error answer that quotes what the peer sent, or a parser error the emit
// route did not expect. Each case gets its own process, so that each one that kills it fails
// on its own.
describe("error answers built from hostile input are valid JSON, and the process lives on", () => {
  const cases = [
    ["POST", "/emit/%FF%FE", undefined, 404, /unknown sport/],
    ["POST", "/emit/%FF%FE/ars-vs-che", undefined, 404, /unknown sport/],
    ["GET", "/stream/%C3%28/ars-vs-che", undefined, 404, /unknown sport/],
    ["GET", "/stream/football/%FF%FE", undefined, 400, /bad match name/],
    ["POST", "/emit/football/%FF", '{"event":"announcement","data":{"message":"x"}}', 400, /bad match name/],
    ["POST", "/emit/football/ars-vs-che", Buffer.from([0x7b, 0x22, 0xc3, 0x28]), 400, /invalid JSON/, "a truncated string holding C3 28"],
    ["POST", "/emit/football", Buffer.concat([Buffer.from('{"event":"x'), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('","data":{}}')]), 400, /invalid JSON/, "a UTF-16 surrogate in the event name"],
    // Not a parse_error but an out_of_range: no double holds it.
    ["POST", "/emit/football", '{"event":"announcement","data":{"message":"x","n":1e400}}', 400, /invalid JSON/, "the number 1e400"],
  ];
  for (const [method, path, body, status, why, what] of cases) {
    test(`${method} ${path}${what ? " with " + what : ""} -> ${status}`, async () => {
      const demo = await startDemo();
      try {
        const r = await rawRequest(demo.url, { method, path, body });
        assert.equal(r.status, status, `${r.status} ${r.bytes}`);
        const answer = strictJson(r);
        assert.equal(answer.status, status);
        assert.match(answer.error, why);
        assert.equal((await request(demo.url + "/healthz")).status, 200);
      } finally {
        await demo.stop();
      }
    });
  }
});
