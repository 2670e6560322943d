"""Where database sessions run (docs/databases.md, "Threads"): after its login a plaintext session
moves to the database relay thread, so relay traffic is that thread's work while logins run on
the workers and still finish while other sessions stream; with `--db-relay-threads 0` every
session stays on its worker. (Cancel requests and revocation of moved sessions: test_db_postgres
and test_db_revocation, which run with the default placement.)"""
import os
import pathlib
import secrets
import threading
import time

import pytest
import redis

from dblib import CloakroomDb
from redis_server import redis_server  # noqa: F401  (session fixture)

CLK_TCK = os.sysconf("SC_CLK_TCK")


def database(upstream_port):
    return f"""[[database]]
name = "cache"
protocol = "redis"
listen = "127.0.0.1:0"
upstream = "127.0.0.1:{upstream_port}"
tls = "disable"
client_tls = "off"
[database.logins]
app = {{ user = "app", password = "file:redis_app" }}
"""


def thread_cpu(pid):
    """{thread name: CPU seconds} of every thread of `pid` (names repeat: summed)."""
    out = {}
    for task in pathlib.Path(f"/proc/{pid}/task").iterdir():
        try:
            name = (task / "comm").read_text().strip()
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / CLK_TCK
    return out


def start(tmp_path, rs, *serve_args):
    return CloakroomDb(tmp_path / "gw", database(rs.port), {"redis_app": rs.app_password},
                       serve_args=serve_args).start()


def client(gw, token):
    return redis.Redis(host="127.0.0.1", port=gw.port("cache"), password=token,
                       socket_timeout=20)


def test_relay_traffic_runs_on_the_relay_thread_while_logins_finish(redis_server, tmp_path):  # noqa: F811
    gw = start(tmp_path, redis_server)
    try:
        token = gw.mint("--db", "cache", "--db-login", "app")
        key = "placement-" + secrets.token_hex(4)
        value = secrets.token_bytes(512 * 1024)
        setter = client(gw, token)
        setter.set(key, value)
        setter.close()
        names = thread_cpu(gw.proc.pid)
        assert "db-relay-0" in names, names

        stop = threading.Event()
        errors = []
        moved = [0]

        def stream():
            c = client(gw, token)
            try:
                while not stop.is_set():
                    assert c.get(key) == value
                    moved[0] += len(value)
            except Exception as e:  # noqa: BLE001 (reported below)
                errors.append(repr(e))
            finally:
                c.close()

        before = thread_cpu(gw.proc.pid)
        streams = [threading.Thread(target=stream) for _ in range(2)]
        for t in streams:
            t.start()
        # Logins while the two sessions stream: each finishes, and within a bound far below
        # what queueing behind the streams' traffic for the whole test would take. Spaced, so
        # that the streams do most of the work whatever the machine's load.
        slowest = 0.0
        logins = 20
        for _ in range(logins):
            started = time.monotonic()
            c = client(gw, token)
            assert c.ping()
            c.close()
            slowest = max(slowest, time.monotonic() - started)
            time.sleep(0.1)
        # Enough relayed bytes for the CPU ticks to compare (not a fixed time: CI is loaded).
        deadline = time.monotonic() + 60
        while moved[0] < 600 * len(value) and not errors and time.monotonic() < deadline:
            time.sleep(0.1)
        stop.set()
        for t in streams:
            t.join(timeout=30)
        after = thread_cpu(gw.proc.pid)
        assert not errors, errors
        assert moved[0] >= 600 * len(value), f"the streams moved only {moved[0]} bytes"
        assert slowest < 5.0, f"a login took {slowest:.2f}s while other sessions streamed"

        used = {name: after.get(name, 0.0) - before.get(name, 0.0) for name in after}
        total = sum(used.values())
        relay = used.get("db-relay-0", 0.0)
        assert total >= 0.1, used  # enough ticks to compare
        assert relay >= 0.6 * total, f"relaying ran on the workers: {used}"
        records = gw.audit(wait_for=logins + 3)
        allowed = [r for r in records if r.get("decision") == "allow"]
        assert len(allowed) >= logins, records[-3:]
    finally:
        gw.stop()


def test_without_relay_threads_sessions_stay_on_their_workers(redis_server, tmp_path):  # noqa: F811
    gw = start(tmp_path, redis_server, "--db-relay-threads", "0")
    try:
        token = gw.mint("--db", "cache", "--db-login", "app")
        c = client(gw, token)
        key = "placement-" + secrets.token_hex(4)
        c.set(key, b"kept")
        assert c.get(key) == b"kept"
        assert not any(name.startswith("db-relay") for name in thread_cpu(gw.proc.pid))
    finally:
        gw.stop()
