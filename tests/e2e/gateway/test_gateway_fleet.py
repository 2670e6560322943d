"""Fleet mode (docs/deployment.md, "Fleet mode"): two real gateways share revocations and budgets
through a real redis-server (an ACL user with a password), one of the tests behind a real haproxy
running examples/haproxy/cloakroom.cfg. Revoked on A is refused on B within a second; a budget
of N holds across both; Redis stopped makes a gateway stale (503 fleet_stale, /readyz 503) once
max_staleness has passed, and it recovers when Redis is back (even empty: the gateways push
their revocations again); a wrong password is a clear start-up error; the Redis password never
appears in any output."""
import os
import pathlib
import secrets
import shutil
import socket
import subprocess
import threading
import time
import types

import pytest
import requests

import gwlib

ROOT = pathlib.Path(__file__).resolve().parents[3]
HAPROXY_EXAMPLE = ROOT / "examples" / "haproxy" / "cloakroom.cfg"
PASSWORD_ENV = "CLOAKROOM_TEST_REDIS_PASSWORD"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listens on 127.0.0.1:{port}")


class Redis:
    """A throwaway redis-server without persistence: a restart starts it empty. The ACL user
    "cloakroom" may run only the commands fleet mode needs, on {cloakroom}:* keys (the hash tag
    that keeps them in one Redis Cluster slot)."""

    COMMANDS = ("+ping +auth +set +get +llen +lrange +rpush +incrby +mget +hset +hgetall +hdel "
                "+eval +evalsha +expireat +persist +ttl")

    def __init__(self, tmp: pathlib.Path, commands=COMMANDS):
        self.tmp = tmp
        self.port = free_port()
        self.password = "redis_fleet_canary_" + secrets.token_hex(12)
        self.admin_password = "redis_admin_canary_" + secrets.token_hex(12)
        tmp.mkdir(parents=True, exist_ok=True)
        (tmp / "redis.conf").write_text(f"""bind 127.0.0.1
port {self.port}
dir {tmp}
save ""
appendonly no
daemonize no
logfile {tmp / 'redis.log'}
requirepass {self.admin_password}
user cloakroom on >{self.password} ~{{cloakroom}}:* -@all {commands}
""")
        self.proc = None
        self.start()

    def start(self):
        self.proc = subprocess.Popen([shutil.which("redis-server") or "/usr/bin/redis-server",
                                      str(self.tmp / "redis.conf")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)

    def cli(self, *args):
        p = subprocess.run(["redis-cli", "-p", str(self.port), "--no-auth-warning", "-a",
                            self.admin_password, *args], capture_output=True, text=True, timeout=10)
        return p.stdout.strip()

    def command_calls(self, name):
        """Calls of a command since the last CONFIG RESETSTAT: (succeeded, failed + rejected)."""
        for line in self.cli("INFO", "commandstats").splitlines():
            if line.startswith(f"cmdstat_{name}:"):
                fields = dict(f.split("=") for f in line.split(":", 1)[1].split(","))
                failed = int(fields.get("failed_calls", 0)) + int(fields.get("rejected_calls", 0))
                return int(fields["calls"]) - int(fields.get("failed_calls", 0)), failed
        return 0, 0


@pytest.fixture
def redis_server(tmp_path):
    r = Redis(tmp_path / "redis")
    yield r
    r.stop()


def fleet_toml(redis, instance, staleness="5s", extra=""):
    return f"""
[admin]
listen = "127.0.0.1:0"

[fleet]
redis = "redis://127.0.0.1:{redis.port}"
user = "cloakroom"
password = "env:{PASSWORD_ENV}"
instance = "{instance}"
max_staleness = "{staleness}"
{extra}"""


class Member:
    """One gateway of the fleet: its reverse base URL and its admin API."""

    def __init__(self, gw):
        self.gw = gw
        assert gw.wait_stderr(r"reverse base URL", timeout=5), gw.stderr_text()
        line = gw.wait_stderr(r"admin API on http://", timeout=5)
        self.admin = "http://" + line.split("http://", 1)[1].strip()
        self.admin_token = gw.cli("admin-token").stdout.strip()
        self.http = requests.Session()
        self.http.trust_env = False

    def get(self, tok, path="/v1/fleet"):
        r = self.http.get(f"http://127.0.0.1:{self.gw.reverse_port}/api{path}",
                          headers={"Authorization": f"Bearer {tok}", "Connection": "close"},
                          timeout=10)
        self.gw.record("fleet GET", r.text)
        return r

    def served(self, tok):
        """Whether a request with `tok` is answered 200. A revocation that lands while the
        request is in flight ends its connection (the token's connections are closed): that
        is the revocation taking effect, not a failure."""
        try:
            return self.get(tok).status_code == 200
        except requests.ConnectionError:
            return False

    def admin_get(self, path, auth=True):
        headers = {"Authorization": f"Bearer {self.admin_token}"} if auth else {}
        r = self.http.get(self.admin + path, headers=headers, timeout=10)
        self.gw.record("admin GET " + path, r.text)
        return r

    def revoke(self, token_id, reason):
        r = self.http.post(self.admin + "/api/v1/revoke", timeout=10,
                           headers={"Authorization": f"Bearer {self.admin_token}"},
                           json={"token_id": token_id, "reason": reason})
        assert r.status_code == 200, r.text
        return time.monotonic()

    def fleet(self):
        return self.admin_get("/api/v1/fleet").json()

    def wait_rounds(self, n=2, timeout=5):
        """Waits until `n` more sync rounds succeeded: what was admitted before is then in Redis
        (pushed by a round that started after it) and what Redis held is here."""
        start = self.fleet()["syncs"]
        deadline = time.monotonic() + timeout
        while self.fleet()["syncs"] < start + n:
            assert time.monotonic() < deadline, self.fleet()
            time.sleep(0.02)

    def wait_state(self, state, timeout=10):
        deadline = time.monotonic() + timeout
        while True:
            fleet = self.fleet()
            if fleet["state"] == state:
                return fleet
            assert time.monotonic() < deadline, fleet
            time.sleep(0.05)

    def metric(self, name, **labels):
        text = self.admin_get("/metrics").text
        for line in text.splitlines():
            if line.startswith(name) and all(f'{k}="{v}"' in line for k, v in labels.items()):
                return float(line.rsplit(" ", 1)[1])
        return None


def start_member(make_gateway, redis, instance, staleness="5s", limits=""):
    gw = make_gateway(reverse_listen="127.0.0.1:0",
                      extra=fleet_toml(redis, instance, staleness) + limits,
                      env_extra={PASSWORD_ENV: redis.password})
    return Member(gw)


def haproxy_env(lb_port, a, b):
    """What examples/haproxy/cloakroom.cfg reads: the balancer's address, the gateways' agent
    addresses (here their reverse base URLs) and their admin listeners (the /readyz check)."""
    return dict(os.environ, CLOAKROOM_LB=f"127.0.0.1:{lb_port}",
                CLOAKROOM_GW1=f"127.0.0.1:{a.gw.reverse_port}",
                CLOAKROOM_GW2=f"127.0.0.1:{b.gw.reverse_port}",
                CLOAKROOM_GW1_ADMIN=a.admin.removeprefix("http://"),
                CLOAKROOM_GW2_ADMIN=b.admin.removeprefix("http://"))


def assert_no_password(redis, *members):
    for m in members:
        gw = m.gw
        outputs = {"stderr": gw.stderr_text(), "config": gw.config.read_text(),
                   "audit": gw.audit_path.read_text() if gw.audit_path.exists() else "",
                   "revocations": (gw.data_dir / "revocations").read_text()
                   if (gw.data_dir / "revocations").exists() else ""}
        for what, text in outputs.items():
            assert redis.password not in text, f"the Redis password is in the {what}"


def test_revoked_on_one_gateway_is_refused_by_the_other_within_a_second(make_gateway,
                                                                          redis_server):
    a = start_member(make_gateway, redis_server, "gw-a")
    b = start_member(make_gateway, redis_server, "gw-b")
    assert a.gw.wait_stderr(r"fleet instance gw-a on redis://127\.0\.0\.1:\d+ \(synced\)")
    tok, other, cli_tok = a.gw.mint(), a.gw.mint(), a.gw.mint()
    for m in (a, b):
        for t in (tok, other, cli_tok):
            assert m.get(t).status_code == 200
    # The admin API of A.
    since = a.revoke(a.gw.token_id(tok), "leaked in fleet test")
    while b.served(tok) and time.monotonic() - since < 3:
        time.sleep(0.02)
    elapsed = time.monotonic() - since
    r = b.get(tok)
    assert r.status_code == 401 and r.json()["error"] == "token_revoked", r.text
    assert "leaked in fleet test" in r.json()["reason"]
    assert elapsed <= 1.0, f"B refused the token {elapsed:.2f}s after A revoked it"
    assert b.get(other).status_code == 200
    # `cloakroom revoke` on A's machine (the file; A pushes it).
    p = a.gw.cli("revoke", a.gw.token_id(cli_tok), "--reason", "by the cli")
    since = time.monotonic()
    while b.served(cli_tok) and time.monotonic() - since < 3:
        time.sleep(0.02)
    elapsed = time.monotonic() - since
    r = b.get(cli_tok)
    assert r.status_code == 401 and "by the cli" in r.json()["reason"], (p.stderr, r.text)
    assert elapsed <= 1.0, f"B refused the token {elapsed:.2f}s after `cloakroom revoke` on A"
    # B stored both (they survive a restart without Redis) and audited them.
    stored = (b.gw.data_dir / "revocations").read_text()
    assert a.gw.token_id(tok) in stored and a.gw.token_id(cli_tok) in stored
    # The audit record of a revocation may land just after the refusal it caused: wait for both.
    wanted = {a.gw.token_id(tok), a.gw.token_id(cli_tok)}
    deadline = time.monotonic() + 5
    while True:
        applied = {rec["token_id"] for rec in b.gw.audit() if rec["kind"] == "revocation"}
        if applied >= wanted or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert applied >= wanted
    # Each record once in Redis, whichever gateway saw it first.
    assert int(redis_server.cli("LLEN", "{cloakroom}:revocations")) == 2
    # Both gateways see each other (heartbeats).
    deadline = time.monotonic() + 5
    while len(b.fleet()["instances"]) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [i["instance"] for i in b.fleet()["instances"]] == ["gw-a", "gw-b"]
    assert b.metric("cloakroom_fleet_state", state="synced") == 1
    assert b.metric("cloakroom_fleet_instances") == 2
    assert_no_password(redis_server, a, b)


def test_a_budget_holds_across_two_gateways_behind_haproxy(make_gateway, redis_server, tmp_path):
    haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
    assert os.path.exists(haproxy), "haproxy missing: run scripts/setup-e2e"
    limits = "\n[limits]\ntoken_budget = 4\n"
    a = start_member(make_gateway, redis_server, "gw-a", limits=limits)
    b = start_member(make_gateway, redis_server, "gw-b", limits=limits)
    lb_port = free_port()
    env = haproxy_env(lb_port, a, b)
    check = subprocess.run([haproxy, "-c", "-f", str(HAPROXY_EXAMPLE)], env=env,
                           capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stdout + check.stderr
    lb = subprocess.Popen([haproxy, "-db", "-f", str(HAPROXY_EXAMPLE)], env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(lb_port)
        tok = a.gw.mint(valid_for="2h")
        minted = time.time()
        http = requests.Session()
        http.trust_env = False
        statuses = []
        for _ in range(6):
            r = http.get(f"http://127.0.0.1:{lb_port}/api/v1/budget",
                         headers={"Authorization": f"Bearer {tok}", "Connection": "close"},
                         timeout=10)
            a.gw.record("haproxy GET", r.text)
            statuses.append((r.status_code, r.json().get("error") if r.status_code != 200 else None))
            # Both gateways know the count before the next request (rounds, not a sleep).
            a.wait_rounds()
            b.wait_rounds()
        assert statuses == [(200, None)] * 4 + [(429, "budget_exhausted")] * 2, statuses
        # haproxy spread the requests over both gateways.
        served = [len([rec for rec in m.gw.audit() if rec.get("kind") == "http"]) for m in (a, b)]
        assert served[0] >= 2 and served[1] >= 2, served
        # And directly, on either gateway: spent.
        for m in (a, b):
            r = m.get(tok)
            assert r.status_code == 429 and r.json()["error"] == "budget_exhausted", r.text
        key = "{cloakroom}:budget:G:" + a.gw.token_id(tok)
        assert int(redis_server.cli("GET", key)) == 4
        # The count lives until the token's expiry plus an hour's margin, not forever.
        expires_at = int(redis_server.cli("EXPIRETIME", key))
        assert abs(expires_at - (minted + 2 * 3600 + 3600)) <= 60, (expires_at, minted)
    finally:
        lb.terminate()
        lb.wait(timeout=10)
    assert_no_password(redis_server, a, b)


class Relay:
    """A TCP relay from one gateway to Redis: cut() takes Redis away from that gateway only
    (connections closed, new ones closed at once) while the others keep it."""

    def __init__(self, target_port):
        self.target_port = target_port
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.open = True
        self.conns = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                if not self.open:
                    client.close()
                    continue
                try:
                    upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
                except OSError:
                    client.close()
                    continue
                upstream.settimeout(None)
                self.conns += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()

    @staticmethod
    def _pump(src, dst):
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self):
        with self.lock:
            self.open = False
            conns, self.conns = self.conns, []
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()

    def restore(self):
        with self.lock:
            self.open = True

    def close(self):
        self.cut()
        self.listener.close()


def test_haproxy_takes_a_stale_gateway_out_of_the_rotation(make_gateway, redis_server, tmp_path):
    """examples/haproxy/cloakroom.cfg checks each gateway's /readyz: a gateway that lost Redis
    (only it) turns stale, answers 503 there, and haproxy stops sending it connections while the
    other keeps serving; once Redis is back it returns to the rotation."""
    haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
    assert os.path.exists(haproxy), "haproxy missing: run scripts/setup-e2e"
    relay = Relay(redis_server.port)
    a = start_member(make_gateway, redis_server, "gw-a", staleness="2s")
    b = start_member(make_gateway,
                     types.SimpleNamespace(port=relay.port, password=redis_server.password),
                     "gw-b", staleness="2s")
    lb_port = free_port()
    lb_log = tmp_path / "haproxy.log"
    with open(lb_log, "wb") as out:
        lb = subprocess.Popen([haproxy, "-db", "-f", str(HAPROXY_EXAMPLE)],
                              env=haproxy_env(lb_port, a, b), stdout=out, stderr=subprocess.STDOUT)
    http = requests.Session()
    http.trust_env = False

    def through_lb(n):
        statuses = []
        for _ in range(n):
            r = http.get(f"http://127.0.0.1:{lb_port}/api/v1/fleet", timeout=10,
                         headers={"Authorization": f"Bearer {tok}", "Connection": "close"})
            statuses.append(r.status_code)
        return statuses

    def served(m):
        return len([rec for rec in m.gw.audit() if rec.get("kind") == "http"])

    def wait_served(m, n, timeout=10):
        # An audit line is written when its exchange ends, which may be just after the answer.
        deadline = time.monotonic() + timeout
        while served(m) < n:
            assert time.monotonic() < deadline, (n, served(m))
            time.sleep(0.02)

    def wait_log(pattern, timeout=15):
        deadline = time.monotonic() + timeout
        while pattern not in lb_log.read_text(errors="replace"):
            assert time.monotonic() < deadline, (pattern, lb_log.read_text(errors="replace"))
            time.sleep(0.05)

    try:
        wait_port(lb_port)
        tok = a.gw.mint()
        assert through_lb(4) == [200] * 4
        wait_served(a, 2)
        relay.cut()
        b.wait_state("stale", timeout=10)
        assert b.admin_get("/readyz", auth=False).status_code == 503
        wait_served(b, 2)  # both of the first four: their lines are written
        before_b = served(b) + 1
        assert b.get(tok).status_code == 503  # directly: it refuses every token
        wait_served(b, before_b)
        wait_log("readyz_gw2/gw2 is DOWN")
        before_a = served(a)
        assert through_lb(6) == [200] * 6  # a 503 fleet_stale would show here too
        wait_served(a, before_a + 6)
        assert served(b) == before_b, "haproxy sent a connection to the stale gateway"
        # Redis is back for B: ready again, and back in the rotation.
        relay.restore()
        b.wait_state("synced", timeout=10)
        wait_log("readyz_gw2/gw2 is UP")
        before_b = served(b)
        assert through_lb(6) == [200] * 6
        wait_served(b, before_b + 2)
    finally:
        lb.terminate()
        lb.wait(timeout=10)
        relay.close()
    assert_no_password(redis_server, a, b)


def test_a_budget_count_expires_an_hour_after_the_latest_token_that_counted(make_gateway,
                                                                           redis_server):
    """Budget keys do not live forever: the key expires an hour after the latest expiry of the
    tokens of that id that counted in it. An attenuated token (shorter life) sets it first;
    its parent extends it; the child counted on another gateway, which has seen only the child,
    does not shorten it."""
    limits = "\n[limits]\ntoken_budget = 100\n"
    a = start_member(make_gateway, redis_server, "gw-a", limits=limits)
    b = start_member(make_gateway, redis_server, "gw-b", limits=limits)
    parent = a.gw.mint(valid_for="3h")
    minted = time.time()
    child = a.gw.cli("attenuate", parent, "--valid-for", "10m").stdout.strip()
    assert child.startswith("acm_") and a.gw.token_id(child) == a.gw.token_id(parent)
    key = "{cloakroom}:budget:G:" + a.gw.token_id(parent)

    def expires_after(member, tok):
        assert member.get(tok).status_code == 200
        member.wait_rounds()
        return int(redis_server.cli("EXPIRETIME", key)) - minted

    assert abs(expires_after(a, child) - (600 + 3600)) <= 60
    assert abs(expires_after(a, parent) - (3 * 3600 + 3600)) <= 60
    assert abs(expires_after(b, child) - (3 * 3600 + 3600)) <= 60
    assert int(redis_server.cli("GET", key)) == 3


def test_redis_down_makes_the_gateway_stale_and_it_recovers(make_gateway, redis_server):
    a = start_member(make_gateway, redis_server, "gw-a", staleness="2s")
    b = start_member(make_gateway, redis_server, "gw-b", staleness="2s")
    tok, revoked_meanwhile = a.gw.mint(), a.gw.mint()
    assert b.get(tok).status_code == 200
    assert b.admin_get("/readyz", auth=False).json() == {
        "status": "ready", "fleet": {"state": "synced", "sync_age_ms": pytest.approx(0, abs=1000)}}
    redis_server.stop()
    stopped = time.monotonic()
    # Within max_staleness: degraded, still serving.
    b.wait_state("degraded", timeout=2)
    assert b.get(tok).status_code == 200
    # Beyond it: every token refused, not ready.
    b.wait_state("stale", timeout=5)
    assert time.monotonic() - stopped >= 2 - 0.3
    r = b.get(tok)
    assert r.status_code == 503 and r.json()["error"] == "fleet_stale", r.text
    assert "max_staleness" in r.json()["reason"]
    ready = b.admin_get("/readyz", auth=False)
    assert ready.status_code == 503 and ready.json()["status"] == "fleet_stale", ready.text
    assert ready.json()["fleet"]["state"] == "stale"
    assert b.metric("cloakroom_fleet_state", state="stale") == 1
    assert b.metric("cloakroom_fleet_sync_age_seconds") >= 2
    refused = [rec for rec in b.gw.wait_audit(1) if rec.get("status") == 503]
    assert refused and refused[-1]["decision"] == "deny", refused
    assert "max_staleness" in refused[-1]["reason"] and refused[-1]["token_id"]
    # A revocation made on A while Redis is down reaches B once Redis is back, although Redis
    # restarts empty: A pushes its records again.
    a.revoke(a.gw.token_id(revoked_meanwhile), "while redis was down")
    redis_server.start()
    b.wait_state("synced", timeout=5)
    a.wait_state("synced", timeout=5)
    a.wait_rounds()
    b.wait_rounds()
    assert b.get(tok).status_code == 200
    r = b.get(revoked_meanwhile)
    assert r.status_code == 401 and "while redis was down" in r.json()["reason"], r.text
    assert b.admin_get("/readyz", auth=False).status_code == 200
    assert_no_password(redis_server, a, b)


def test_a_wrong_redis_password_is_a_start_up_error(make_gateway, redis_server):
    wrong = "redis_wrong_canary_" + secrets.token_hex(8)
    for env, user_line, words in [
        ({PASSWORD_ENV: wrong}, None, ["refused the login of user \"cloakroom\"", "WRONGPASS"]),
        ({PASSWORD_ENV: redis_server.password}, 'user = "nobody"', ["WRONGPASS"]),
    ]:
        extra = fleet_toml(redis_server, "gw-x")
        if user_line:
            extra = extra.replace('user = "cloakroom"', user_line)
        with pytest.raises(AssertionError) as failed:
            make_gateway(reverse_listen="127.0.0.1:0", extra=extra, env_extra=env)
        text = str(failed.value)
        assert "(exit 1)" in text, text
        for word in words:
            assert word in text, text
        assert wrong not in text and redis_server.password not in text
    # No password at all, to a server that needs one.
    extra = fleet_toml(redis_server, "gw-y").replace(f'password = "env:{PASSWORD_ENV}"\n', "")
    with pytest.raises(AssertionError) as failed:
        make_gateway(reverse_listen="127.0.0.1:0", extra=extra)
    assert "NOAUTH" in str(failed.value) or "Authentication required" in str(failed.value)


def test_fleet_configuration_errors(make_gateway, redis_server):
    cases = [
        ('redis = "redis://user:pw@127.0.0.1:6379"', "must not hold a user or password"),
        ('redis = "redis://a:1,b:2"', "cluster = ["),
        ('redis = "redis-sentinel://127.0.0.1:26379"', "sentinel_master"),
        ('sentinel = ["127.0.0.1:26379"]', "sentinel needs sentinel_master"),
        ('cluster = ["127.0.0.1:7000", "127.0.0.1:0"]', 'cluster "127.0.0.1:0"'),
        ('redis = "redis://127.0.0.1:6379"\nca = "ca.pem"', "ca needs TLS"),
    ]
    for line, words in cases:
        gw = make_gateway.new_dir()
        config = make_gateway.config(gw, extra=f"\n[fleet]\n{line}\n")
        (gw / "cloakroom.toml").write_text(config)
        p = subprocess.run([gwlib.BIN, "--config", str(gw / "cloakroom.toml"), "config", "check"],
                           capture_output=True, text=True, timeout=30,
                           env={"PATH": os.environ["PATH"], "HOME": str(gw)})
        assert p.returncode != 0 and words in p.stderr + p.stdout, (line, p.stderr, p.stdout)
    # A literal password is not a secret reference.
    gw = make_gateway.new_dir()
    config = make_gateway.config(
        gw, extra=f'\n[fleet]\nredis = "redis://127.0.0.1:{redis_server.port}"\npassword = "not-a-reference"\n')
    (gw / "cloakroom.toml").write_text(config)
    p = subprocess.run([gwlib.BIN, "--config", str(gw / "cloakroom.toml"), "config", "check"],
                       capture_output=True, text=True, timeout=30,
                       env={"PATH": os.environ["PATH"], "HOME": str(gw)})
    assert p.returncode != 0 and "password" in p.stderr + p.stdout, p.stderr


def test_the_example_systemd_unit_verifies(tmp_path):
    """examples/systemd/cloakroom.service (docs/deployment.md): systemd-analyze finds nothing
    to say about it (it exits 0 even for unknown keys, so its output must be empty)."""
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze missing: run scripts/setup-e2e"
    unit = (ROOT / "examples" / "systemd" / "cloakroom.service").read_text()
    for setting in ("ProtectSystem=strict", "NoNewPrivileges=yes", "LoadCredential=",
                    "ReadWritePaths=/var/lib/cloakroom", "LimitCORE=0"):
        assert setting in unit, setting
    # The binary must exist for verify: the one under test stands in for /usr/local/bin.
    path = tmp_path / "cloakroom.service"
    path.write_text(unit.replace("/usr/local/bin/cloakroom", gwlib.BIN))
    p = subprocess.run([analyze, "verify", str(path)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and not (p.stdout + p.stderr).strip(), p.stdout + p.stderr


def spend(members, tok, rounds=True):
    """One request per member in turn (each admitted), a round on all between requests."""
    for m in members:
        assert m.get(tok).status_code == 200
        if rounds:
            for n in members:
                n.wait_rounds()


def test_budget_counts_go_by_sha_and_survive_a_script_flush(make_gateway, redis_server):
    """Rounds send the counting script by its SHA1 (EVALSHA), not its text (EVAL). A node that
    lost its script cache (SCRIPT FLUSH here; a restart, a Cluster node a slot moved to or a
    promoted replica alike) answers NOSCRIPT, and the count is sent again as EVAL: no count is
    lost, and EVALSHA works again afterwards."""
    limits = "\n[limits]\ntoken_budget = 9\n"
    a = start_member(make_gateway, redis_server, "gw-a", limits=limits)
    b = start_member(make_gateway, redis_server, "gw-b", limits=limits)
    tok = a.gw.mint(valid_for="2h")
    key = "{cloakroom}:budget:G:" + a.gw.token_id(tok)
    assert redis_server.cli("CONFIG", "RESETSTAT") == "OK"
    spend([a, b, a, b], tok)
    assert int(redis_server.cli("GET", key)) == 4
    evalsha, noscript = redis_server.command_calls("evalsha")
    evals, _ = redis_server.command_calls("eval")
    # Each count by SHA1; the script's text went at most once per gateway (the very first count
    # finds Redis without the script).
    assert evalsha >= 4 - evals and evals <= 2 and noscript == evals, (evalsha, noscript, evals)

    assert redis_server.cli("SCRIPT", "FLUSH") == "OK"
    assert redis_server.cli("CONFIG", "RESETSTAT") == "OK"
    spend([b, a, b], tok)
    assert int(redis_server.cli("GET", key)) == 7
    evalsha, noscript = redis_server.command_calls("evalsha")
    evals, _ = redis_server.command_calls("eval")
    assert 1 <= noscript <= 2 and evals == noscript and evalsha >= 1, (evalsha, noscript, evals)
    spend([a, b], tok)
    for m in (a, b):
        r = m.get(tok)
        assert r.status_code == 429 and r.json()["error"] == "budget_exhausted", r.text
        assert m.fleet()["state"] == "synced"
    assert int(redis_server.cli("GET", key)) == 9
    assert redis_server.command_calls("eval")[0] == evals  # no EVAL once the script is back
    assert_no_password(redis_server, a, b)


def test_an_acl_without_evalsha_falls_back_to_eval(make_gateway, tmp_path):
    """An ACL written for a release that sent EVAL keeps working: the gateway says once that
    EVALSHA is refused and sends the script's text every round."""
    redis = Redis(tmp_path / "redis-old-acl", commands=Redis.COMMANDS.replace(" +evalsha", ""))
    try:
        limits = "\n[limits]\ntoken_budget = 3\n"
        a = start_member(make_gateway, redis, "gw-a", limits=limits)
        tok = a.gw.mint()
        spend([a, a, a], tok)
        r = a.get(tok)
        assert r.status_code == 429 and r.json()["error"] == "budget_exhausted", r.text
        assert int(redis.cli("GET", "{cloakroom}:budget:G:" + a.gw.token_id(tok))) == 3
        assert a.fleet()["state"] == "synced"
        assert a.gw.stderr_text().count("the Redis ACL refuses EVALSHA") == 1, a.gw.stderr_text()
        assert redis.command_calls("eval")[0] >= 3
    finally:
        redis.stop()
