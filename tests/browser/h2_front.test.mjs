// The README's nginx front (deploy/nginx/sse.conf.template, as it is) with Debian's nginx, a
// certificate made here, and sports_demo behind it; headless chromium opens ONE page over
// https and, from it, 10 EventSource streams, one per match room. Over HTTP/1.1 a browser
// opens at most 6 connections per origin, so streams 7 to 10 would never connect: every one
// receiving its own room's events proves the browser multiplexes them over HTTP/2.
//   SPORTS_DEMO=... NGINX=/usr/sbin/nginx OPENSSL=/usr/bin/openssl NGINX_TEMPLATE=<template>
//   BROWSER_NODE_MODULES=<dir with playwright-core> CHROMIUM=/usr/bin/chromium
//   ARTIFACTS=<dir: nginx's logs are copied there> node h2_front.test.mjs
// SSE_FRONT_HTTP1=1 runs the same page with "http2" taken off the listen line: the control
// that shows the test fails over HTTP/1.1 (expect "only 6 of 10 streams connected").
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { chownSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync,
         rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { emit, freePort, run, sleep, startDemo } from "../demo/support.mjs";

const require = createRequire(path.join(process.env.BROWSER_NODE_MODULES || path.join(import.meta.dirname ?? ".", "node_modules"), "x.js"));
const { chromium } = require("playwright-core");
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const nginxPath = process.env.NGINX || "/usr/sbin/nginx";
const opensslPath = process.env.OPENSSL || "openssl";
const templatePath = process.env.NGINX_TEMPLATE || path.join(import.meta.dirname, "../../deploy/nginx/sse.conf.template");
const artifacts = process.env.ARTIFACTS || "artifacts";
const overHttp1 = process.env.SSE_FRONT_HTTP1 === "1";
mkdirSync(artifacts, { recursive: true });

const rooms = Array.from({ length: 10 }, (_, i) => `h2-room-${i}`);

let demo, nginx, browser, dir, front;

/** The template with its placeholders filled in; fails on a placeholder it does not know. */
function nginxSiteConfig(values) {
    let text = readFileSync(templatePath, "utf8");
    if (overHttp1) text = text.replace(/^(\s*listen\s+@SSE_LISTEN@\s+ssl)\s+http2;/m, "$1;");
    text = text.replace(/@(SSE_[A-Z_]+)@/g, (all, name) => {
        if (!(name in values)) throw new Error(`${templatePath}: unknown placeholder ${all}`);
        return values[name];
    });
    return text;
}

/** What only the test needs around the site config: every path in `dir`, in the foreground. */
function nginxMainConfig(site) {
    const p = (name) => path.join(dir, name);
    return `daemon off;
master_process off;
worker_processes 1;
pid ${p("nginx.pid")};
error_log ${p("error.log")} info;
events { worker_connections 256; }
http {
    access_log ${p("access.log")};
    client_body_temp_path ${p("client_body")};
    proxy_temp_path ${p("proxy")};
    fastcgi_temp_path ${p("fastcgi")};
    uwsgi_temp_path ${p("uwsgi")};
    scgi_temp_path ${p("scgi")};
    include ${site};
}
`;
}

/** True once something accepts TCP connections on 127.0.0.1:port. */
function accepts(port) {
    return new Promise((resolve) => {
        const s = net.connect(port, "127.0.0.1");
        s.once("connect", () => { s.destroy(); resolve(true); });
        s.once("error", () => resolve(false));
    });
}

/** nginx with our config, as [file, args]; unprivileged (nobody) when we are root. */
function nginxCommand(extra = []) {
    const args = [...extra, "-e", path.join(dir, "error.log"), "-p", dir + "/", "-c", path.join(dir, "nginx.conf")];
    if (process.getuid?.() !== 0 || !existsSync("/usr/bin/setpriv")) return [nginxPath, args];
    // Nothing here needs root: prove it by running nginx as nobody.
    for (const f of [dir, ...readdirSync(dir).map((f) => path.join(dir, f))]) chownSync(f, 65534, 65534);
    return ["/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "--", nginxPath, ...args]];
}

/** Starts nginx on a free port. */
async function startNginx() {
    for (let attempt = 1; ; ++attempt) {
        const port = await freePort();
        const site = path.join(dir, "sse.conf");
        writeFileSync(site, nginxSiteConfig({
            SSE_LISTEN: `127.0.0.1:${port}`,
            SSE_SERVER_NAME: "127.0.0.1",
            SSE_CERTIFICATE: path.join(dir, "cert.pem"),
            SSE_CERTIFICATE_KEY: path.join(dir, "key.pem"),
            SSE_BACKEND: `127.0.0.1:${demo.port}`,
        }));
        writeFileSync(path.join(dir, "nginx.conf"), nginxMainConfig(site));
        const child = spawn(...nginxCommand(), { stdio: ["ignore", "pipe", "pipe"] });
        let output = "";
        child.stdout.on("data", (d) => (output += d));
        child.stderr.on("data", (d) => (output += d));
        const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve(`${code ?? signal}`)));
        let status;
        child.once("exit", (code, signal) => (status = `${code ?? signal}`));
        for (const deadline = Date.now() + 10000; Date.now() < deadline && status === undefined;) {
            if (await accepts(port)) return { child, port, exited };
            await sleep(50);
        }
        const log = existsSync(path.join(dir, "error.log")) ? readFileSync(path.join(dir, "error.log"), "utf8") : "";
        if (status === undefined) child.kill("SIGKILL");
        if (attempt < 3 && /Address already in use/.test(output + log)) continue; // lost the port race
        throw new Error(`nginx did not start (exit ${status ?? "none, killed"}):\n${output}\n${log}`);
    }
}

async function stopNginx() {
    if (!nginx || nginx.child.exitCode !== null || nginx.child.signalCode !== null) return;
    const t = setTimeout(() => nginx.child.kill("SIGKILL"), 5000);
    nginx.child.kill("SIGTERM"); // fast shutdown: closes the streams
    await nginx.exited;
    clearTimeout(t);
}
process.on("exit", () => { try { nginx?.child.kill("SIGKILL"); } catch {} });

before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), "sse-h2-front-"));
    const cert = await run(opensslPath, [
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", path.join(dir, "key.pem"), "-out", path.join(dir, "cert.pem"), "-days", "1",
        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"]);
    assert.equal(cert.code, 0, `openssl could not make a certificate:\n${cert.stderr}`);
    demo = await startDemo(["--heartbeat-ms", "1000"]);
    nginx = await startNginx();
    front = `https://127.0.0.1:${nginx.port}`;
    browser = await chromium.launch({
        executablePath,
        headless: true,
        args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"],
    });
});

after(async () => {
    if (browser) await browser.close().catch(() => {});
    await stopNginx();
    if (demo) await demo.stop();
    for (const log of ["error.log", "access.log"]) {
        if (dir && existsSync(path.join(dir, log))) copyFileSync(path.join(dir, log), path.join(artifacts, `h2_front_nginx_${log}`));
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
});

test("nginx -t accepts the README's configuration", () => {
    const r = spawnSync(...nginxCommand(["-t"]), { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /syntax is ok/);
});

test("one page over HTTP/2 through nginx: 10 streams, each gets its own room's events live", async () => {
    // The certificate was made a moment ago; the browser is told to accept it.
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    const page = await context.newPage();
    const problems = [];
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    // The protocol each stream's response came over, as the browser's network stack saw it.
    const cdp = await context.newCDPSession(page);
    await cdp.send("Network.enable");
    const protocols = {};
    cdp.on("Network.responseReceived", ({ response }) => {
        const url = new URL(response.url);
        if (url.pathname.startsWith("/stream/")) protocols[url.pathname] = response.protocol;
    });

    // One page of the origin (any will do: /healthz has no scripts that open streams).
    const response = await page.goto(`${front}/healthz`);
    assert.equal(response.status(), 200);
    const pageProtocol = await page.evaluate(() => performance.getEntriesByType("navigation")[0].nextHopProtocol);

    await page.evaluate((rooms) => {
        window.sources = [];
        window.streams = rooms.map((room) => {
            const s = { room, connected: false, errors: 0, events: [] };
            const es = new EventSource(`/stream/football/${room}`);
            es.onerror = () => { s.errors++; };
            es.addEventListener("connection", () => { s.connected = true; });
            for (const name of ["score_update", "red_card"])
                es.addEventListener(name, (e) => s.events.push({ event: name, data: JSON.parse(e.data) }));
            window.sources.push(es);
            return s;
        });
    }, rooms);

    // All 10 admitted by the server at once. Over HTTP/1.1 the 7th would wait for a free
    // connection forever; the timeout only bounds how long the failure takes to report.
    const connected = () => page.evaluate(() => window.streams.filter((s) => s.connected).map((s) => s.room));
    try {
        await page.waitForFunction(() => window.streams.every((s) => s.connected), null, { timeout: 15000, polling: 100 });
    } catch {
        const ok = await connected();
        assert.fail(`only ${ok.length} of 10 streams connected over ${pageProtocol || "?"}; ` +
                    `never connected: ${rooms.filter((r) => !ok.includes(r)).join(", ")}`);
    }
    assert.equal(pageProtocol, "h2", "the page did not come over HTTP/2");

    // Now the events, to each room its own, while the streams are open.
    const expected = {};
    for (const [i, room] of rooms.entries()) {
        const score = { match: room, homeScore: i, awayScore: 10 - i, minute: 10 + i };
        const card = { match: room, player: `Player ${i}`, team: "Home", minute: 20 + i };
        for (const [event, data] of [["score_update", score], ["red_card", card]]) {
            const r = await emit(demo.url, `/emit/football/${room}`, event, data);
            assert.equal(r.status, 202, r.body);
        }
        expected[room] = [{ event: "score_update", data: score }, { event: "red_card", data: card }];
    }
    await page.waitForFunction(() => window.streams.every((s) => s.events.length >= 2), null, { timeout: 10000, polling: 100 })
        .catch(() => {});
    const streams = await page.evaluate(() => window.streams.map(({ room, events, errors }) => ({ room, events, errors })));
    for (const s of streams) {
        assert.deepEqual(s.events, expected[s.room], `stream of ${s.room} got other events than its room's`);
        assert.equal(s.errors, 0, `stream of ${s.room} had an error (it reconnected)`);
    }
    // Still open, all of them, each over HTTP/2.
    assert.deepEqual(await page.evaluate(() => window.sources.map((es) => es.readyState)), rooms.map(() => 1));
    for (const room of rooms) assert.equal(protocols[`/stream/football/${room}`], "h2", `protocol of ${room}'s stream`);
    assert.deepEqual(problems, []);
    await context.close();
});
