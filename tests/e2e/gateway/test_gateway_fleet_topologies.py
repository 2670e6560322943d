"""Fleet mode over the other ways to reach Redis (docs/configuration.md, [fleet]): TLS with an ACL
user, a client certificate and a CA this test makes (openssl); a 3-master Redis Cluster made with
`redis-cli --cluster create`; a master + replica watched by a Sentinel, failed over mid-test. In
each, two real gateways share revocations: revoked on A is refused on B within a second. A
server certificate with the wrong name or from an unknown CA is a start-up error naming the
problem, and a health state when it appears later. The Redis password never appears in any
output."""
import base64
import pathlib
import secrets
import shutil
import subprocess
import time

import pytest

from test_gateway_fleet import Member, free_port, wait_port

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
PASSWORD_ENV = "CLOAKROOM_TEST_REDIS_PASSWORD"
SENTINEL_PASSWORD_ENV = "CLOAKROOM_TEST_SENTINEL_PASSWORD"
CERT_ENV = "CLOAKROOM_TEST_REDIS_CLIENT_CERT"
KEY_ENV = "CLOAKROOM_TEST_REDIS_CLIENT_KEY"
# What fleet mode runs, and nothing else, on the fleet's keys only.
ACL_COMMANDS = ("-@all +ping +auth +set +get +llen +lrange +rpush +incrby +mget +hset +hgetall "
                "+hdel +eval +evalsha +expireat +persist +ttl +role +asking")


def wait_until(what, check, timeout=20, interval=0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(interval)


class Server:
    """One redis-server (or sentinel) process on loopback, without persistence."""

    def __init__(self, tmp: pathlib.Path, name, lines, sentinel=False):
        self.dir = tmp / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.conf = self.dir / "redis.conf"
        self.conf.write_text("\n".join([
            "bind 127.0.0.1", f"dir {self.dir}", 'save ""', "appendonly no", "daemonize no",
            f"logfile {self.dir / 'redis.log'}",
            *[line.replace("{port}", str(self.port)) for line in lines],
        ]) + "\n")
        self.sentinel = sentinel
        self.proc = None

    def start(self, wait=True):
        args = [REDIS_SERVER, str(self.conf)] + (["--sentinel"] if self.sentinel else [])
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if wait:
            wait_port(self.port)
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)

    def log(self):
        path = self.dir / "redis.log"
        return path.read_text(errors="replace") if path.exists() else ""


def cli(port, *args, extra=()):
    p = subprocess.run(["redis-cli", "-p", str(port), "--no-auth-warning", *extra, *args],
                       capture_output=True, text=True, timeout=30)
    return p.stdout.strip()


def acl_user(password):
    return f"user cloakroom on >{password} ~{{cloakroom}}:* {ACL_COMMANDS}"


def member(make_gateway, instance, fleet_lines, env):
    extra = "\n[admin]\nlisten = \"127.0.0.1:0\"\n\n[fleet]\n" + "\n".join(fleet_lines) + \
        f'\ninstance = "{instance}"\nmax_staleness = "5s"\n\n[limits]\ntoken_budget = 100\n'
    return Member(make_gateway(reverse_listen="127.0.0.1:0", extra=extra, env_extra=env))


def start_failure(make_gateway, fleet_lines, env):
    extra = "\n[fleet]\n" + "\n".join(fleet_lines) + '\ninstance = "gw-bad"\n'
    with pytest.raises(AssertionError) as failed:
        make_gateway(reverse_listen="127.0.0.1:0", extra=extra, env_extra=env)
    return str(failed.value)


def assert_revocations_propagate(a, b, reason, limit=1.0):
    """Revoked on A (admin API) is refused on B within `limit` seconds; another token is not."""
    tok, other = a.gw.mint(), a.gw.mint()
    for m in (a, b):
        assert m.get(tok).status_code == 200
    since = a.revoke(a.gw.token_id(tok), reason)
    while b.served(tok) and time.monotonic() - since < 3:
        time.sleep(0.02)
    elapsed = time.monotonic() - since
    r = b.get(tok)
    assert r.status_code == 401 and r.json()["error"] == "token_revoked", r.text
    assert reason in r.json()["reason"]
    assert elapsed <= limit, f"B refused the token {elapsed:.2f}s after A revoked it"
    assert b.get(other).status_code == 200
    return a.gw.token_id(tok)


def assert_budget_counts(a, b, node, extra=()):
    """Requests on A and B count in one budget on `node`, whose script cache may not know the
    counting script yet (a node a slot moved to, a promoted replica): none is lost."""
    tok = a.gw.mint()
    for m in (a, b, a):
        assert m.get(tok).status_code == 200
        for n in (a, b):
            n.wait_rounds()
    assert cli(node.port, "GET", "{cloakroom}:budget:G:" + a.gw.token_id(tok), extra=extra) == "3"
    for m in (a, b):
        assert m.fleet()["state"] == "synced", m.fleet()


def script_fallbacks(node):
    """How often `node` answered NOSCRIPT to EVALSHA, and ran EVAL (INFO commandstats)."""
    stats = {}
    for line in cli(node.port, "INFO", "commandstats").splitlines():
        name, _, fields = line.partition(":")
        stats[name] = dict(f.split("=") for f in fields.split(",")) if fields else {}
    return (int(stats.get("cmdstat_evalsha", {}).get("failed_calls", 0)),
            int(stats.get("cmdstat_eval", {}).get("calls", 0)))


def assert_secret_absent(secret, *members):
    for m in members:
        gw = m.gw
        texts = {"stderr": gw.stderr_text(), "config": gw.config.read_text(),
                 "audit": gw.audit_path.read_text() if gw.audit_path.exists() else "",
                 "fleet API": str(m.fleet())}
        for what, text in texts.items():
            assert secret not in text, f"a secret is in the {what}"


# ---- TLS ----

def openssl(*args, cwd):
    p = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr


class Pki:
    """A CA, a server certificate for "redis.test" (and no IP), a client certificate; and a
    second CA nobody configures."""

    def __init__(self, tmp: pathlib.Path):
        self.dir = tmp / "pki"
        self.dir.mkdir()
        for ca in ("ca", "other-ca"):
            openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", f"{ca}.key", "-out", f"{ca}.crt", "-days", "2",
                    "-subj", f"/CN=cloakroom test {ca}", cwd=self.dir)
        self.issue("server", "ca", "/CN=redis.test", "subjectAltName=DNS:redis.test")
        self.issue("stranger", "other-ca", "/CN=redis.test", "subjectAltName=DNS:redis.test")
        self.issue("client", "ca", "/CN=cloakroom-gateway", "extendedKeyUsage=clientAuth")

    def issue(self, name, ca, subject, extension):
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", subject, cwd=self.dir)
        (self.dir / f"{name}.ext").write_text(extension + "\n")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key",
                "-CAcreateserial", "-out", f"{name}.crt", "-days", "2", "-extfile",
                f"{name}.ext", cwd=self.dir)

    def path(self, name):
        return str(self.dir / name)


def tls_server(tmp, pki, password, cert="server"):
    return Server(tmp, f"redis-tls-{cert}", [
        "port 0", "tls-port {port}", f"tls-cert-file {pki.path(cert + '.crt')}",
        f"tls-key-file {pki.path(cert + '.key')}", f"tls-ca-cert-file {pki.path('ca.crt')}",
        "tls-auth-clients yes", f"requirepass {secrets.token_hex(16)}", acl_user(password),
    ])


def der_base64(pki, *args):
    """Secret values are single lines: the client certificate and key go as base64 DER."""
    p = subprocess.run(["openssl", *args, "-outform", "DER"], cwd=pki.dir, capture_output=True,
                       timeout=30)
    assert p.returncode == 0, p.stderr
    return base64.b64encode(p.stdout).decode()


def tls_env(pki, password):
    return {PASSWORD_ENV: password, CERT_ENV: der_base64(pki, "x509", "-in", "client.crt"),
            KEY_ENV: der_base64(pki, "pkey", "-in", "client.key")}


def tls_lines(port, pki, server_name="redis.test", ca="ca.crt"):
    lines = [f'redis = "rediss://127.0.0.1:{port}"', 'user = "cloakroom"',
             f'password = "env:{PASSWORD_ENV}"', f'ca = "{pki.path(ca)}"',
             f'client_cert = "env:{CERT_ENV}"', f'client_key = "env:{KEY_ENV}"']
    if server_name:
        lines.append(f'server_name = "{server_name}"')
    return lines


@pytest.fixture
def redis_pki(tmp_path):
    return Pki(tmp_path)


def test_tls_with_an_acl_user_and_a_client_certificate(make_gateway, redis_pki, tmp_path):
    pki = redis_pki
    password = "redis_tls_canary_" + secrets.token_hex(12)
    redis = tls_server(tmp_path, pki, password).start()
    try:
        env = tls_env(pki, password)
        lines = tls_lines(redis.port, pki)
        a = member(make_gateway, "gw-a", lines, env)
        b = member(make_gateway, "gw-b", lines, env)
        assert a.gw.wait_stderr(r"fleet instance gw-a on rediss://127\.0\.0\.1:\d+ \(synced\)")
        token_id = assert_revocations_propagate(a, b, "leaked over tls")
        # The record went through the TLS server (read back over TLS with the client cert).
        tls_args = ["--tls", "--cacert", pki.path("ca.crt"), "--cert", pki.path("client.crt"),
                    "--key", pki.path("client.key"), "--sni", "redis.test", "--user",
                    "cloakroom", "--pass", password]
        listed = cli(redis.port, "LRANGE", "{cloakroom}:revocations", "0", "-1", extra=tls_args)
        assert token_id in listed, listed
        assert_secret_absent(password, a, b)
        assert_secret_absent(env[KEY_ENV][-40:], a, b)
        # The server requires a client certificate: without one, no sync (TLS 1.3 refuses it
        # after the handshake, so this is a health state rather than a start-up error).
        anonymous = member(make_gateway, "gw-anonymous",
                           [line for line in lines if not line.startswith("client_")], env)
        # (Some rounds see only the reset connection that follows the alert.)
        fleet = wait_until("the alert in /api/v1/fleet", lambda: (
            f := anonymous.fleet())["last_error"].find("certificate required") >= 0 and f)
        assert fleet["state"] == "stale", fleet
    finally:
        redis.stop()


def test_a_bad_server_certificate_is_refused_with_a_clear_message(make_gateway, redis_pki,
                                                                 tmp_path):
    pki = redis_pki
    password = "redis_tls_canary_" + secrets.token_hex(12)
    redis = tls_server(tmp_path, pki, password).start()
    stranger = tls_server(tmp_path, pki, password, cert="stranger").start()
    env = tls_env(pki, password)
    try:
        # The right CA, the wrong name (the certificate names redis.test, not 127.0.0.1).
        text = start_failure(make_gateway, tls_lines(redis.port, pki, server_name=None), env)
        assert "(exit 1)" in text and "certificate of 127.0.0.1 rejected" in text, text
        assert "redis.test" in text, text  # the names the certificate does carry
        text = start_failure(make_gateway, tls_lines(redis.port, pki, server_name="other.test"),
                             env)
        assert "certificate of other.test rejected" in text, text
        # The right name from a CA the gateway does not trust (either way round).
        text = start_failure(make_gateway, tls_lines(stranger.port, pki), env)
        assert "certificate of redis.test rejected" in text and "issuer" in text, text
        text = start_failure(make_gateway, tls_lines(redis.port, pki, ca="other-ca.crt"), env)
        assert "certificate of redis.test rejected" in text, text
        # TLS settings that cannot work say so too.
        text = start_failure(make_gateway, tls_lines(redis.port, pki, ca="missing.crt"), env)
        assert "CA file" in text and "missing.crt" in text, text
        text = start_failure(make_gateway, tls_lines(redis.port, pki),
                             dict(env, **{KEY_ENV: "not a key"}))
        assert "client_key is not base64" in text, text
        assert password not in text
        # A gateway that started while Redis was down meets the wrong certificate later: stale,
        # and its health says why.
        port = free_port()
        late = member(make_gateway, "gw-late", tls_lines(port, pki), env)
        assert late.fleet()["state"] == "stale"
        moved = Server(tmp_path, "redis-late", [
            "port 0", f"tls-port {port}", f"tls-cert-file {pki.path('stranger.crt')}",
            f"tls-key-file {pki.path('stranger.key')}", f"tls-ca-cert-file {pki.path('ca.crt')}",
            "tls-auth-clients yes", acl_user(password)])
        moved.port = port
        moved.start()
        try:
            fleet = wait_until("the certificate error in /api/v1/fleet",
                               lambda: (f := late.fleet())["last_error"].find("rejected") >= 0
                               and f)
            assert fleet["state"] == "stale", fleet
            assert "certificate of redis.test rejected" in fleet["last_error"], fleet
            assert late.admin_get("/readyz", auth=False).status_code == 503
        finally:
            moved.stop()
        assert_secret_absent(password, late)
    finally:
        redis.stop()
        stranger.stop()


# ---- Redis Cluster ----

class Cluster:
    def __init__(self, tmp, password, masters=3):
        self.nodes = [Server(tmp, f"cluster-{i}", [
            # The bus port defaults to port + 10000: set it, so that any free port works.
            "port {port}", "cluster-enabled yes", f"cluster-port {free_port()}",
            f"cluster-config-file nodes-{i}.conf",
            "cluster-node-timeout 2000", acl_user(password)]) for i in range(masters)]
        for node in self.nodes:
            node.start()
        addresses = [f"127.0.0.1:{n.port}" for n in self.nodes]
        p = subprocess.run(["redis-cli", "--cluster", "create", *addresses, "--cluster-yes"],
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stdout + p.stderr
        for node in self.nodes:
            wait_until("cluster_state:ok",
                       lambda: "cluster_state:ok" in cli(node.port, "CLUSTER", "INFO"))
        self.slot = int(cli(self.nodes[0].port, "CLUSTER", "KEYSLOT", "{cloakroom}"))

    def owner(self):
        """The master that serves the fleet's slot (CLUSTER NODES: "... connected 0-5460")."""
        for line in cli(self.nodes[0].port, "CLUSTER", "NODES").splitlines():
            fields = line.split()
            if "master" not in fields[2]:
                continue
            for span in fields[8:]:
                low, _, high = span.partition("-")
                if low.isdigit() and int(low) <= self.slot <= int(high or low):
                    port = int(fields[1].split("@")[0].rsplit(":", 1)[1])
                    return next(n for n in self.nodes if n.port == port)
        raise AssertionError(f"nobody serves slot {self.slot}")

    def node_id(self, node):
        return cli(node.port, "CLUSTER", "MYID")

    def stop(self):
        for node in self.nodes:
            node.stop()


def test_a_three_master_cluster(make_gateway, tmp_path):
    password = "redis_cluster_canary_" + secrets.token_hex(12)
    cluster = Cluster(tmp_path, password)
    try:
        owner = cluster.owner()
        others = [n for n in cluster.nodes if n is not owner]
        dead = free_port()  # a seed that is down: skipped
        # Seeds that do not hold the slot come first: the gateways must follow MOVED.
        seeds = [f"127.0.0.1:{dead}"] + [f"127.0.0.1:{n.port}" for n in others]
        lines = ["cluster = [" + ", ".join(f'"{s}"' for s in seeds) + "]", 'user = "cloakroom"',
                 f'password = "env:{PASSWORD_ENV}"']
        env = {PASSWORD_ENV: password}
        a = member(make_gateway, "gw-a", lines, env)
        b = member(make_gateway, "gw-b", lines, env)
        for m in (a, b):
            fleet = m.fleet()
            assert fleet["state"] == "synced" and fleet["node"] == f"127.0.0.1:{owner.port}", fleet
        first = assert_revocations_propagate(a, b, "leaked in a cluster")
        assert_budget_counts(a, b, owner)
        # Everything lives on the slot owner (the hash tag), nothing elsewhere.
        assert first in cli(owner.port, "LRANGE", "{cloakroom}:revocations", "0", "-1")
        for node in others:
            assert cli(node.port, "DBSIZE") == "0"

        # Move the slot to another master mid-test, as `redis-cli --cluster reshard` does:
        # while its keys are migrated the old owner answers ASK, afterwards MOVED.
        target = others[0]
        src_id, dst_id = cluster.node_id(owner), cluster.node_id(target)
        slot = str(cluster.slot)
        assert cli(target.port, "CLUSTER", "SETSLOT", slot, "IMPORTING", src_id) == "OK"
        assert cli(owner.port, "CLUSTER", "SETSLOT", slot, "MIGRATING", dst_id) == "OK"
        keys = cli(owner.port, "CLUSTER", "GETKEYSINSLOT", slot, "100").split()
        assert "{cloakroom}:revocations" in keys, keys
        out = cli(owner.port, "MIGRATE", "127.0.0.1", str(target.port), "", "0", "5000",
                  "KEYS", *keys)
        assert out == "OK", out
        # Mid-migration: the keys are on the target, the slot still on the owner (ASK).
        assert_revocations_propagate(a, b, "revoked while the slot migrates")
        # New keys are created on the target (ASK), whose script cache is empty (read back the
        # way the gateways reach it: redis-cli -c follows MOVED and ASK).
        assert_budget_counts(a, b, target, extra=["-c"])
        noscript, evals = script_fallbacks(target)
        assert noscript >= 1 and evals >= 1, (noscript, evals)
        for node in cluster.nodes:
            assert cli(node.port, "CLUSTER", "SETSLOT", slot, "NODE", dst_id) == "OK"
        assert_revocations_propagate(a, b, "revoked after the slot moved")
        assert_budget_counts(a, b, target)
        assert int(cli(target.port, "LLEN", "{cloakroom}:revocations")) == 3
        for m in (a, b):
            fleet = m.fleet()
            assert fleet["state"] == "synced" and fleet["node"] == f"127.0.0.1:{target.port}", fleet
        assert_secret_absent(password, a, b)
    finally:
        cluster.stop()


# ---- Sentinel ----

def test_a_sentinel_failover_mid_test(make_gateway, tmp_path):
    password = "redis_sentinel_canary_" + secrets.token_hex(12)
    sentinel_password = "redis_sentinel_auth_canary_" + secrets.token_hex(12)
    master = Server(tmp_path, "master", ["port {port}", acl_user(password)]).start()
    replica = Server(tmp_path, "replica", ["port {port}", acl_user(password),
                                           f"replicaof 127.0.0.1 {master.port}"]).start()
    sentinel = Server(tmp_path, "sentinel", [
        "port {port}", f"sentinel monitor fleet 127.0.0.1 {master.port} 1",
        "sentinel down-after-milliseconds fleet 2000", "sentinel failover-timeout fleet 10000",
        f"requirepass {sentinel_password}"], sentinel=True).start()
    sentinel_cli = ["-a", sentinel_password]
    try:
        # The sentinel knows the replica, and the replica is in sync: failover can pick it.
        wait_until("the sentinel to see a healthy replica", lambda: "master-link-status\nok" in
                   cli(sentinel.port, "SENTINEL", "REPLICAS", "fleet", extra=sentinel_cli))
        dead = free_port()  # a sentinel that is down: skipped
        lines = [f'sentinel = ["127.0.0.1:{dead}", "127.0.0.1:{sentinel.port}"]',
                 'sentinel_master = "fleet"', f'sentinel_password = "env:{SENTINEL_PASSWORD_ENV}"',
                 'user = "cloakroom"', f'password = "env:{PASSWORD_ENV}"']
        env = {PASSWORD_ENV: password, SENTINEL_PASSWORD_ENV: sentinel_password}
        a = member(make_gateway, "gw-a", lines, env)
        b = member(make_gateway, "gw-b", lines, env)
        before = assert_revocations_propagate(a, b, "revoked before the failover")
        assert_budget_counts(a, b, master)
        assert before in cli(master.port, "LRANGE", "{cloakroom}:revocations", "0", "-1")

        out = cli(sentinel.port, "SENTINEL", "FAILOVER", "fleet", extra=sentinel_cli)
        assert out == "OK", out
        wait_until("the replica to become the master", lambda: cli(
            sentinel.port, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", "fleet",
            extra=sentinel_cli).split() == ["127.0.0.1", str(replica.port)]
            and cli(replica.port, "ROLE").split()[:1] == ["master"])
        # Within a second (the sentinel is asked again every second) both gateways talk to the
        # new master, before the sentinel gets round to demoting the old one.
        for m in (a, b):
            wait_until("the gateway to follow the failover",
                       lambda: m.fleet()["node"] == f"127.0.0.1:{replica.port}", timeout=3)
        after = assert_revocations_propagate(a, b, "revoked after the failover")
        # The promoted replica never ran the script: its cache is empty (NOSCRIPT, then EVAL).
        assert_budget_counts(a, b, replica)
        noscript, evals = script_fallbacks(replica)
        assert noscript >= 1 and evals >= 1, (noscript, evals)
        # Written to the new master, which has the records from before the failover too.
        listed = cli(replica.port, "LRANGE", "{cloakroom}:revocations", "0", "-1")
        assert after in listed and before in listed, listed
        for m in (a, b):
            m.wait_state("synced", timeout=5)
            assert m.fleet()["instances"], m.fleet()
        assert_secret_absent(password, a, b)
        assert_secret_absent(sentinel_password, a, b)
    finally:
        sentinel.stop()
        replica.stop()
        master.stop()
