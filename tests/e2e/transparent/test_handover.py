"""The hand-over socket (docs/transparent.md): listening sockets created in a network namespace are
adopted by `cloakroom serve`, served with the gateway's handlers (upstreams dialled from the host's
network), closed when the hand-over connection ends; bad messages and wrong descriptors get precise
errors, every descriptor not adopted is closed, and only the gateway's own user may connect."""
import errno
import json
import os
import pathlib
import re
import shutil
import socket
import stat
import subprocess
import tempfile
import time

import pytest

import gwlib
from tlib import handover_path, run_sandbox, transparent_config, wait_handover


def connect(gw):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.settimeout(10)
    s.connect(str(handover_path(gw)))
    return s


def ask(conn, message, fds=()):
    data = message if isinstance(message, bytes) else json.dumps(message).encode()
    socket.send_fds(conn, [data], [f.fileno() if hasattr(f, "fileno") else f for f in fds])
    return json.loads(conn.recv(65536))


def status(gw):
    with connect(gw) as c:
        return ask(c, {"op": "status"})


def adopt(kinds, session="s1"):
    return {"op": "adopt", "session": session, "token_id": "ab12", "listeners": kinds}


def listening_tcp():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    return s


def refused(port, timeout=5):
    """True once nothing accepts on 127.0.0.1:port (the listening socket is closed everywhere)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except ConnectionRefusedError:
            return True
        except ConnectionResetError:
            pass  # queued while the socket was being closed: look again
        time.sleep(0.05)
    return False


def proxied_curl(gw, proxy_port, token, path):
    p = subprocess.run(["curl", "-sS", "--max-time", "20", "--proxy", f"http://127.0.0.1:{proxy_port}",
                        "--cacert", str(gw.ca_path), "-H", f"Authorization: Bearer {token}",
                        f"https://api.example.com{path}"], capture_output=True, timeout=30)
    gw.record("curl", p.stdout + p.stderr)
    return p


def test_socket_file_is_private_and_announced(tgw):
    path = handover_path(tgw)
    assert stat.S_ISSOCK(path.stat().st_mode)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert f"sandbox hand-over socket {path}" in tgw.stderr_text()
    assert status(tgw) == {"ok": True, "sessions": []}


def test_forward_listener_from_a_network_namespace(tgw):
    """The sandbox's 127.0.0.1:3128 is the gateway: curl inside reaches the upstream (which listens in
    the host's network namespace) with the real credential injected."""
    tok = tgw.mint(methods="GET")
    cmd = (f"curl -sS --max-time 20 --proxy http://127.0.0.1:3128 --cacert {tgw.ca_path} "
           f"-H 'Authorization: Bearer {tok}' https://api.example.com/v1/handover")
    r = run_sandbox(tgw, {"listeners": ["forward"], "command": cmd, "session": "fwd"})
    assert r["reply"] == {"ok": True}
    assert r["rc"] == 0, r["stderr"]
    echo = json.loads(r["stdout"])
    assert echo["auth_check"] == "bearer-ok", echo
    assert echo["request_uri"] == "/v1/handover"
    assert tok not in r["stdout"]
    assert r["status"]["sessions"] == [{"session": "fwd", "token_id": "ab12", "listeners": 1}]
    recs = [a for a in tgw.wait_audit(1) if a.get("path") == "/v1/handover"]
    assert recs and recs[-1]["decision"] == "allow"
    # The sandbox is gone, so is its session.
    deadline = time.monotonic() + 5
    while status(tgw)["sessions"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert status(tgw)["sessions"] == []


def test_adopted_listener_lives_as_long_as_the_connection(tgw):
    tok = tgw.mint(methods="GET")
    listener = listening_tcp()
    port = listener.getsockname()[1]
    conn = connect(tgw)
    assert ask(conn, adopt(["forward"], "live"), [listener]) == {"ok": True}
    listener.close()  # only the gateway holds it now
    p = proxied_curl(tgw, port, tok, "/v1/adopted")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["auth_check"] == "bearer-ok"
    assert status(tgw)["sessions"] == [{"session": "live", "token_id": "ab12", "listeners": 1}]
    conn.close()
    assert refused(port), "the adopted listener still accepts after its hand-over connection closed"
    assert status(tgw)["sessions"] == []


def test_one_session_per_connection(tgw):
    a, b = listening_tcp(), listening_tcp()
    with connect(tgw) as conn:
        assert ask(conn, adopt(["forward"], "one"), [a]) == {"ok": True}
        reply = ask(conn, adopt(["forward"], "two"), [b])
        assert reply == {"ok": False, "error": 'this connection already handed over sandbox "one"'}
        port_b = b.getsockname()[1]
        b.close()
        assert refused(port_b), "a descriptor the gateway did not adopt stayed open"
    a.close()


def test_bad_messages_get_precise_errors_and_their_descriptors_are_closed(tgw):
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    unbound_udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    connected_only = socket.socket()  # a TCP socket nobody called listen() on
    unix_a, unix_b = socket.socketpair()
    regular = open(__file__, "rb")
    cases = [
        (b"{", [], "bad JSON"),
        (b"\xff\xfe", [], "bad JSON"),
        ({"op": "launch"}, [], 'unknown op "launch" (expected "adopt" or "status")'),
        ({"op": "status"}, [listening_tcp()], '"status" takes no file descriptors'),
        (adopt(["forward"]), [udp], "listener 1 (forward): a UDP socket, expected a listening TCP socket"),
        (adopt(["transparent"]), [connected_only],
         "listener 1 (transparent): a TCP socket that is not listening (listen() was not called)"),
        (adopt(["forward", "transparent"]), [listening_tcp(), unix_a],
         "listener 2 (transparent): a unix socket, expected an IP socket"),
        (adopt(["dns"]), [regular], "listener 1 (dns): not a socket"),
        (adopt(["dns"]), [listening_tcp()], "listener 1 (dns): a TCP socket, expected a bound UDP socket"),
        (adopt(["dns"]), [unbound_udp], "listener 1 (dns): a UDP socket that is not bound to a port"),
        (adopt(["forward", "dns"]), [listening_tcp()],
         '"listeners" names 2 sockets but 1 came with the message'),
        (adopt(["socks"]), [listening_tcp()],
         'unknown listener kind "socks" (expected forward, transparent, dns, dns-tcp, cdp, '
         'connector or '
         'database:NAME)'),
        (adopt(["database:"]), [listening_tcp()], 'listener kind "database:" names no database'),
        (adopt(["forward", "database:nope"]), [listening_tcp(), listening_tcp()],
         'listener 2 (database:nope): this gateway has no database "nope" (its databases: none)'),
        (adopt(["database:nope"]), [udp],
         "listener 1 (database:nope): a UDP socket, expected a listening TCP socket"),
        (b"x" * 5000, [], "message too long (at most 4096 bytes)"),
    ]
    with connect(tgw) as conn:
        for message, fds, error in cases:
            reply = ask(conn, message, fds)
            assert reply == {"ok": False, "error": error}, (message, reply)
            # Every listening socket that came with a refused message was closed by the gateway.
            for f in fds:
                if isinstance(f, socket.socket) and f.type == socket.SOCK_STREAM and \
                        f.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
                    port = f.getsockname()[1]
                    f.close()
                    assert refused(port), f"gateway kept the descriptor of a refused message: {message!r}"
        # Too many descriptors for one message.
        many = [listening_tcp() for _ in range(17)]
        reply = ask(conn, adopt(["forward"] * 17), many)
        assert reply == {"ok": False, "error": "too many file descriptors in one message (at most 16)"}
        for s in many:
            port = s.getsockname()[1]
            s.close()
            assert refused(port)
        # The connection still works after all that.
        good = listening_tcp()
        assert ask(conn, adopt(["forward"], "after-errors"), [good]) == {"ok": True}
        good.close()
    assert tgw.proc.poll() is None
    for f in (udp, unbound_udp, connected_only, unix_a, unix_b, regular):
        f.close()


def _connect_as_nobody(path):
    """Connects from a child running as uid/gid 65534; returns (errno or None, reply or None)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            s.settimeout(5)
            try:
                s.connect(str(path))
            except OSError as e:
                os.write(w, json.dumps({"errno": e.errno}).encode())
                os._exit(0)
            # The gateway answers at once and hangs up: nothing we could send would be read.
            os.write(w, json.dumps({"reply": s.recv(65536).decode()}).encode())
        except BaseException as e:  # noqa: BLE001 - reported to the test
            os.write(w, json.dumps({"child_error": repr(e)}).encode())
        finally:
            os._exit(0)
    os.close(w)
    data = b""
    while chunk := os.read(r, 65536):
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    return json.loads(data)


def test_only_the_gateways_user_may_hand_over(make_gateway):
    if os.geteuid() != 0:
        pytest.skip("needs root to run a client as another user")
    base = pathlib.Path(tempfile.mkdtemp(prefix="cr-hs-", dir="/tmp"))
    try:
        os.chmod(base, 0o755)
        path = base / "run" / "sandbox.sock"
        gw = make_gateway(config_text=lambda tmp: transparent_config(make_gateway, tmp).replace(
            "[gateway]\n", f"[gateway]\nsandbox_socket = {gwlib.toml_str(path)}\n", 1))
        assert wait_handover(gw) == str(path)
        # The directory the gateway created (0700) keeps other users out first...
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        assert _connect_as_nobody(path) == {"errno": errno.EACCES}
        # ...and with the file modes opened up, SO_PEERCRED still refuses them.
        os.chmod(path.parent, 0o755)
        os.chmod(path, 0o777)
        got = _connect_as_nobody(path)
        assert "reply" in got, got
        assert json.loads(got["reply"]) == {
            "ok": False, "error": "only the gateway's own user may hand over listeners"}
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_stale_socket_is_replaced_and_a_live_one_is_refused(make_gateway, tmp_path):
    sock_path = tmp_path / "hs" / "sandbox.sock"
    sock_path.parent.mkdir()
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    stale.bind(str(sock_path))
    stale.close()  # the file stays, nothing listens
    extra = f"sandbox_socket = {gwlib.toml_str(sock_path)}\n"

    def config(tmp):
        return transparent_config(make_gateway, tmp).replace("[gateway]\n", "[gateway]\n" + extra, 1)

    first = make_gateway(config_text=config)
    assert wait_handover(first) == str(sock_path)
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as c:
        c.connect(str(sock_path))
        c.send(b'{"op":"status"}')
        assert json.loads(c.recv(4096)) == {"ok": True, "sessions": []}
    # The second gateway binds its own (kernel-chosen) ports, then stops at the hand-over socket.
    second = make_gateway(config_text=config)
    assert second.proc.wait(timeout=10) == 1
    assert second.wait_stderr(re.escape(f"another `cloakroom serve` is already listening on {sock_path}"))
    assert first.proc.poll() is None
    first.stop()
    assert not sock_path.exists(), "the socket file outlived the gateway"


def test_empty_sandbox_socket_disables_the_hand_over(make_gateway):
    gw = make_gateway(config_text=lambda tmp: transparent_config(make_gateway, tmp).replace(
        "[gateway]\n", '[gateway]\nsandbox_socket = ""\n', 1))
    assert not handover_path(gw).exists()
    assert "sandbox hand-over socket" not in gw.stderr_text()


def test_default_socket_path_too_long_is_a_warning(make_gateway):
    """A deep data directory must not stop a gateway; an explicit path must work or fail."""
    deep = "d" * 90

    def config(tmp):
        return transparent_config(make_gateway, tmp).replace(
            f"data_dir = {gwlib.toml_str(tmp / 'data')}", f"data_dir = {gwlib.toml_str(tmp / deep)}", 1)

    gw = make_gateway(config_text=config)
    line = gw.wait_stderr(r"warning: sandbox socket path .* is too long for a unix socket")
    assert line and "set [gateway] sandbox_socket to a shorter path" in line, gw.stderr_text()
    assert gw.proc.poll() is None

    def explicit(tmp):
        return transparent_config(make_gateway, tmp).replace(
            "[gateway]\n", f"[gateway]\nsandbox_socket = {gwlib.toml_str(tmp / deep / 'x.sock')}\n", 1)

    bad = make_gateway(config_text=explicit)
    assert bad.proc.wait(timeout=10) == 1
    assert bad.wait_stderr(r"is too long for a unix socket")
