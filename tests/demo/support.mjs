// Helpers for the black-box tests of sports_demo: start real processes, read real SSE streams.
import { spawn } from "node:child_process";
import http from "node:http";
import net from "node:net";

export const bin = {
  demo: process.env.SPORTS_DEMO,
  football: process.env.FOOTBALL_FEED,
  cricket: process.env.CRICKET_FEED,
  withRedis: process.env.SSE_DEMO_REDIS === "1",
  redisServer: process.env.REDIS_SERVER || "redis-server",
};

const children = new Set();
process.on("exit", () => { for (const c of children) try { c.kill("SIGKILL"); } catch {} });

/** Spawns `file args`, resolves once a stdout line matches `ready` (with the match). */
export function start(file, args, { ready = /listening on [\d.]+:(\d+)/, timeout = 10000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ["ignore", "pipe", "pipe"] });
    children.add(child);
    let out = "", err = "";
    const timer = setTimeout(() => { child.kill("SIGKILL"); reject(new Error(`${file} did not start:\n${out}${err}`)); }, timeout);
    child.stdout.on("data", (d) => {
      out += d;
      const m = out.match(ready);
      if (m && timer) { clearTimeout(timer); resolve({ child, match: m, output: () => out + err }); }
    });
    child.stderr.on("data", (d) => { err += d; });
    child.on("exit", (code) => { children.delete(child); clearTimeout(timer); reject(new Error(`${file} exited with ${code}:\n${out}${err}`)); });
    child.on("error", reject);
  });
}

/** Starts sports_demo on a free port; returns { url, port, stop() }. */
export async function startDemo(args = []) {
  const { child, match } = await start(bin.demo, ["--port", "0", ...args]);
  const port = Number(match[1]);
  return { child, port, url: `http://127.0.0.1:${port}`, stop: () => stop(child) };
}

export function stop(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const t = setTimeout(() => child.kill("SIGKILL"), 5000);
    child.once("exit", () => { clearTimeout(t); resolve(); });
    child.kill("SIGTERM");
  });
}

/** Runs a program to its end; resolves { code, stdout, stderr }. */
export function run(file, args, timeout = 30000) {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "", stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const t = setTimeout(() => { child.kill("SIGKILL"); reject(new Error(`${file} timed out:\n${stdout}${stderr}`)); }, timeout);
    child.on("exit", (code) => { clearTimeout(t); resolve({ code, stdout, stderr }); });
    child.on("error", reject);
  });
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => { const { port } = s.address(); s.close(() => resolve(port)); });
    s.on("error", reject);
  });
}

/** A raw HTTP request; resolves { status, headers, body, json }. */
export function request(url, { method = "GET", headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, agent: false }, (res) => {
      let data = "";
      res.setEncoding("utf8");
      res.on("data", (d) => (data += d));
      res.on("end", () => {
        let json;
        try { json = JSON.parse(data); } catch {}
        resolve({ status: res.statusCode, headers: res.headers, body: data, json });
      });
    });
    req.on("error", reject);
    req.setTimeout(10000, () => req.destroy(new Error(`timeout: ${method} ${url}`)));
    if (body !== undefined) req.write(typeof body === "string" || Buffer.isBuffer(body) ? body : JSON.stringify(body));
    req.end();
  });
}

export function emit(base, path, event, data, headers = {}) {
  return request(base + path, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: { event, data },
  });
}

/** An EventSource-like reader over a raw HTTP response (WHATWG field parsing). */
export class SseClient {
  constructor(url, headers = {}) {
    this.events = [];
    this.waiters = [];
    this.closed = false;
    this.opened = new Promise((resolve, reject) => {
      this.req = http.get(url, { headers, agent: false }, (res) => {
        this.status = res.statusCode;
        this.headers = res.headers;
        let buf = "", ev = { event: "message", data: [], id: undefined };
        res.setEncoding("utf8");
        res.on("data", (chunk) => {
          buf += chunk;
          let nl;
          while ((nl = buf.search(/\r\n|\r|\n/)) >= 0) {
            const line = buf.slice(0, nl);
            buf = buf.slice(nl + (buf.startsWith("\r\n", nl) ? 2 : 1));
            if (line === "") {
              if (ev.data.length) this.push({ event: ev.event, data: ev.data.join("\n"), id: ev.id });
              ev = { event: "message", data: [], id: ev.id };
              continue;
            }
            if (line.startsWith(":")) continue;
            const colon = line.indexOf(":");
            const field = colon < 0 ? line : line.slice(0, colon);
            let value = colon < 0 ? "" : line.slice(colon + 1);
            if (value.startsWith(" ")) value = value.slice(1);
            if (field === "event") ev.event = value;
            else if (field === "data") ev.data.push(value);
            else if (field === "id") ev.id = value;
          }
        });
        res.on("end", () => { this.closed = true; this.body = buf; this.wake(); });
        res.on("error", () => { this.closed = true; this.wake(); });
        resolve(this);
      });
      this.req.on("error", (e) => { this.closed = true; this.wake(); reject(e); });
    });
  }
  push(e) {
    try { e.json = JSON.parse(e.data); } catch {}
    this.events.push(e);
    this.wake();
  }
  wake() { for (const w of this.waiters.splice(0)) w(); }
  /** The first event (from the start) matching `pred`, waiting up to `timeout` ms. */
  async next(pred = () => true, timeout = 5000) {
    const deadline = Date.now() + timeout;
    for (;;) {
      const found = this.events.find(pred);
      if (found) return found;
      if (this.closed) throw new Error(`stream closed before the expected event; got ${JSON.stringify(this.events.map((e) => e.event))}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no matching event in ${timeout} ms; got ${JSON.stringify(this.events.map((e) => [e.event, e.data]))}`);
      await new Promise((r) => { const t = setTimeout(r, left); this.waiters.push(() => { clearTimeout(t); r(); }); });
    }
  }
  /** Waits until the server has admitted us (the `connection` event). */
  async ready() {
    await this.opened;
    if (this.status !== 200) throw new Error(`stream answered ${this.status}`);
    await this.next((e) => e.event === "connection");
    return this;
  }
  close() { this.req.destroy(); }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
