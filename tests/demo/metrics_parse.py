#!/usr/bin/python3
"""The demo's GET /metrics through the real Prometheus parser (issue 15).

Starts sports_demo ($SPORTS_DEMO) on a free port, opens N event streams, emits E events to
their room (each waited for by every client before the next), and parses /metrics before and
after with Debian's python3-prometheus-client (text_string_to_metric_families). Checks what a
user would expect: clients == N, emits == E, deliveries == N*E, one latency observation per
write (N*E writes: one event each), cumulative buckets with +Inf == count, no bytes left
queued, HELP and TYPE on every family, and the demo's own series.

Run: SPORTS_DEMO=build/examples/sports/sports_demo /usr/bin/python3 tests/demo/metrics_parse.py
"""
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time

try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:
    sys.exit("python3-prometheus-client is missing: run scripts/setup.sh")

N = 4
E = 6
NS = '/football'
ROOM = 'metrics-parse'


def fail(msg):
    raise AssertionError(msg)


def expect(cond, msg):
    if not cond:
        fail(msg)


class Demo:
    def __init__(self, binary):
        self.proc = subprocess.Popen([binary, '--port', '0', '--heartbeat-ms', '0'],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.time() + 15
        out = ''
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            out += line
            m = re.search(r'listening on [\d.]+:(\d+)', line)
            if m:
                self.port = int(m.group(1))
                # Keep draining its output so that it never blocks on a full pipe.
                threading.Thread(target=lambda: [None for _ in self.proc.stdout],
                                 daemon=True).start()
                return
        self.proc.kill()
        fail('sports_demo did not start:\n' + out)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()

    def request(self, method, path, body=None):
        c = http.client.HTTPConnection('127.0.0.1', self.port, timeout=10)
        headers = {'Content-Type': 'application/json'} if body is not None else {}
        c.request(method, path, body=json.dumps(body) if body is not None else None,
                  headers=headers)
        r = c.getresponse()
        data = r.read().decode()
        c.close()
        return r.status, r.getheader('Content-Type'), data

    def metrics(self):
        status, ctype, text = self.request('GET', '/metrics')
        expect(status == 200, 'GET /metrics: status %d' % status)
        expect(ctype.startswith('text/plain'), 'GET /metrics: Content-Type ' + ctype)
        return parse(text)


def parse(text):
    """{(sample name, frozenset(labels)): value} and {family name: family}, via the parser."""
    samples, families = {}, {}
    for fam in text_string_to_metric_families(text):
        expect(fam.name not in families, 'family declared twice: ' + fam.name)
        families[fam.name] = fam
        expect(fam.documentation, 'no HELP for ' + fam.name)
        expect(fam.type in ('counter', 'gauge', 'histogram'), fam.name + ': type ' + fam.type)
        for s in fam.samples:
            key = (s.name, frozenset(s.labels.items()))
            expect(key not in samples, 'sample twice: %r' % (key,))
            samples[key] = s.value
    return samples, families


def value(samples, name, **labels):
    key = (name, frozenset(labels.items()))
    expect(key in samples, 'missing sample %s%r' % (name, labels))
    return samples[key]


class Stream:
    """One event stream over a raw socket, read on a thread; counts events by name."""

    def __init__(self, port, path):
        self.sock = socket.create_connection(('127.0.0.1', port), timeout=10)
        self.sock.sendall(('GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n'
                           '\r\n' % path).encode())
        self.counts = {}
        self.cond = threading.Condition()
        self.closed = False
        threading.Thread(target=self.run, daemon=True).start()

    def run(self):
        buf = b''
        head_done = False
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    break
                buf += chunk
                if not head_done:
                    if b'\r\n\r\n' not in buf:
                        continue
                    head, buf = buf.split(b'\r\n\r\n', 1)
                    expect(head.startswith(b'HTTP/1.1 200'), 'stream: ' + head.decode()[:40])
                    head_done = True
                while b'\n\n' in buf:
                    block, buf = buf.split(b'\n\n', 1)
                    name = 'message'
                    for line in block.decode().split('\n'):
                        if line.startswith('event:'):
                            name = line[6:].strip()
                    with self.cond:
                        self.counts[name] = self.counts.get(name, 0) + 1
                        self.cond.notify_all()
        except OSError:
            pass
        with self.cond:
            self.closed = True
            self.cond.notify_all()

    def wait(self, name, count, timeout=10):
        with self.cond:
            ok = self.cond.wait_for(
                lambda: self.counts.get(name, 0) >= count or self.closed, timeout)
            expect(ok and self.counts.get(name, 0) >= count,
                   'stream: %d %r events, wanted %d' % (self.counts.get(name, 0), name, count))

    def close(self):
        self.sock.close()


def main():
    binary = os.environ.get('SPORTS_DEMO')
    expect(binary, 'set SPORTS_DEMO to the sports_demo binary')
    demo = Demo(binary)
    streams = []
    try:
        base, families = demo.metrics()
        for fam in families.values():
            if fam.type == 'counter':
                # The parser names a counter family without its _total; every sample has it.
                expect(all(s.name == fam.name + '_total' for s in fam.samples),
                       fam.name + ': counter samples not named _total')
        for name in ('sse_connected_clients', 'sse_rooms', 'sse_connections',
                     'sse_rejected', 'sse_events_emitted', 'sse_deliveries',
                     'sse_slow_consumers_dropped', 'sse_replays', 'sse_resets',
                     'sse_late_events', 'sse_queued_bytes', 'sse_queued_peak_bytes',
                     'sse_emit_to_write_seconds', 'sse_redis_adapter_up', 'sports_matches',
                     'sports_request_errors'):
            expect(name in families, 'no family ' + name)
        expect(families['sse_emit_to_write_seconds'].type == 'histogram', 'histogram type')
        expect(value(base, 'sse_redis_adapter_up') == -1, 'sse_redis_adapter_up: not -1')

        for _ in range(N):
            s = Stream(demo.port, '/stream/football/' + ROOM)
            s.wait('connection', 1)
            streams.append(s)
        time.sleep(0.3)  # whatever the demo sends a new client has left
        before, _ = demo.metrics()
        for k in range(E):
            status, _, body = demo.request('POST', '/emit/football/' + ROOM,
                                           {'event': 'announcement',
                                            'data': {'message': 'metrics %d' % k}})
            expect(status == 202, 'POST /emit: %d %s' % (status, body))
            for s in streams:  # one event, one write, per client
                s.wait('announcement', k + 1)
        deadline = time.time() + 5
        while True:
            after, _ = demo.metrics()
            if value(after, 'sse_queued_bytes', namespace=NS) == 0 or time.time() > deadline:
                break
            time.sleep(0.05)

        def delta(name, **labels):
            return value(after, name, **labels) - value(before, name, **labels)

        expect(value(after, 'sse_connected_clients', namespace=NS) ==
               value(base, 'sse_connected_clients', namespace=NS) + N, 'clients != N')
        expect(delta('sse_events_emitted_total', namespace=NS) == E, 'emits != E')
        expect(delta('sse_deliveries_total', namespace=NS) == N * E, 'deliveries != N*E')
        expect(delta('sse_emit_to_write_seconds_count', namespace=NS) == N * E,
               'histogram count: %d writes observed, wanted N*E = %d'
               % (delta('sse_emit_to_write_seconds_count', namespace=NS), N * E))
        expect(delta('sse_emit_to_write_seconds_sum', namespace=NS) > 0, 'histogram sum')
        expect(value(after, 'sse_queued_bytes', namespace=NS) == 0, 'bytes left queued')
        expect(value(after, 'sse_queued_peak_bytes', namespace=NS) > 0, 'peak never rose')
        for ns in ('/football', '/cricket'):
            buckets = sorted(((float(dict(k[1])['le']), v) for k, v in after.items()
                              if k[0] == 'sse_emit_to_write_seconds_bucket' and
                              dict(k[1])['namespace'] == ns))
            expect(len(buckets) == 18, '%s: %d buckets' % (ns, len(buckets)))
            counts = [v for _, v in buckets]
            expect(counts == sorted(counts), ns + ': buckets not cumulative')
            expect(buckets[-1][0] == float('inf'), ns + ': no +Inf bucket')
            expect(counts[-1] == value(after, 'sse_emit_to_write_seconds_count', namespace=ns),
                   ns + ': +Inf bucket != count')
        expect(value(after, 'sports_request_errors_total') == 0, 'request errors')
        print('ok: %d clients, %d emits, %d writes observed, /metrics parsed by prometheus_client'
              % (N, E, N * E))
    finally:
        for s in streams:
            s.close()
        demo.stop()


if __name__ == '__main__':
    main()
