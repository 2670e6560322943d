"""Self-tests of the upstream fixtures, without Cloakroom: a broken fixture must not pass for a gateway bug."""
import hashlib
import os
import socket
import ssl
import subprocess

import pytest

import gwlib
import upstreams


def direct(port, host, request: bytes, cafile, method="GET"):
    ctx = upstreams.client_context(cafile)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        with ctx.wrap_socket(s, server_hostname=host) as t:
            t.sendall(request)
            f = t.makefile("rb")
            return gwlib.read_response(f, method)


def test_pki(pki):
    ok = subprocess.run(["openssl", "verify", "-CAfile", pki.ca, pki.cert], capture_output=True)
    assert ok.returncode == 0, ok.stderr
    bad = subprocess.run(["openssl", "verify", "-CAfile", pki.ca, pki.rogue_cert], capture_output=True)
    assert bad.returncode != 0
    key = subprocess.run(["openssl", "x509", "-in", pki.cert, "-noout", "-text"],
                         capture_output=True, text=True).stdout
    assert "prime256v1" in key or "P-256" in key
    assert "DNS:api.example.com" in key


def test_nginx_echo_recognises_credentials(nginx, pki):
    s = gwlib.SECRETS
    r = direct(nginx.port, "api.example.com", gwlib.http_request(
        "GET", "/v1/x?key=" + s["query"], "api.example.com",
        [("Authorization", "Bearer " + s["bearer"]), ("X-Api-Key", s["x_api_key"]), ("Connection", "close")],
    ), pki.ca)
    assert r.status == 200
    echo = r.json()
    assert echo["auth_check"] == "bearer-ok"
    assert echo["xkey_check"] == "ok"
    assert echo["query_check"] == "ok"
    assert echo["request_uri"] == "/v1/x?key=" + s["query"]
    assert echo["host"] == "api.example.com"
    assert r.headers["x-echo-authorization"] == "Bearer " + s["bearer"]
    r = direct(nginx.port, "api.example.com", gwlib.http_request(
        "GET", "/v1/x", "api.example.com", [("Authorization", "Bearer nope"), ("Connection", "close")]),
        pki.ca)
    assert r.json()["auth_check"] == "other" and r.json()["query_check"] == "none"


def test_nginx_static_files(nginx, pki):
    for path, (size, digest) in nginx.files.items():
        r = direct(nginx.port, "api.example.com",
                   gwlib.http_request("GET", path, "api.example.com", [("Connection", "close")]), pki.ca)
        assert r.status == 200 and len(r.body) == size
        assert hashlib.sha256(r.body).hexdigest() == digest


def test_nginx_rogue_listener_fails_verification(nginx, pki):
    with pytest.raises(ssl.SSLCertVerificationError):
        direct(nginx.rogue_port, "api.example.com",
               gwlib.http_request("GET", "/", "api.example.com", [("Connection", "close")]), pki.ca)
    r = direct(nginx.rogue_port, "api.example.com",
               gwlib.http_request("GET", "/", "api.example.com", [("Connection", "close")]), pki.rogue_ca)
    assert r.json()["rogue"] is True


def test_git_smart_http_direct(nginx, pki, tmp_path):
    env = {
        "PATH": os.environ["PATH"], "HOME": str(tmp_path), "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_TERMINAL_PROMPT": "0", "GIT_SSL_CAINFO": str(pki.ca),
        "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    resolve = ["-c", f"http.curloptResolve=git.example.com:{nginx.port}:127.0.0.1"]
    pw = gwlib.SECRETS["git_password"]
    url = f"https://gitbot:{pw}@git.example.com:{nginx.port}/repo.git"

    def git(*args, cwd=None, check=True):
        p = subprocess.run(["git", *resolve, *args], cwd=cwd, env=env, capture_output=True, text=True,
                           timeout=60)
        assert not check or p.returncode == 0, p.stderr
        return p

    bad = git("clone", f"https://gitbot:wrong@git.example.com:{nginx.port}/repo.git",
              str(tmp_path / "bad"), check=False)
    assert bad.returncode != 0
    git("clone", "-q", url, str(tmp_path / "c"))
    assert (tmp_path / "c" / "README.md").exists()
    (tmp_path / "c" / "direct.txt").write_text("pushed directly\n")
    git("add", "direct.txt", cwd=tmp_path / "c")
    git("commit", "-q", "-m", "fixture self-test push", cwd=tmp_path / "c")
    git("push", "-q", "origin", "HEAD:refs/heads/fixture-selftest", cwd=tmp_path / "c")
    log = subprocess.run(["git", "--git-dir", str(nginx.bare), "log", "--format=%s",
                          "fixture-selftest"], capture_output=True, text=True).stdout
    assert "fixture self-test push" in log


def test_py_upstream_echo_upload_sse(pyup, pki):
    pyup.clear()
    r = direct(pyup.port, "stream.example.com", gwlib.http_request(
        "GET", "/record/x", "stream.example.com", [("X-Test", "1"), ("Connection", "close")]), pki.ca)
    assert r.json()["requestline"] == "GET /record/x HTTP/1.1"
    assert ["X-Test", "1"] in r.json()["headers"]
    assert len(pyup.records()) == 1

    data = os.urandom(300_000)
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(data[i:i + 70000]), data[i:i + 70000])
                      for i in range(0, len(data), 70000)) + b"0\r\n\r\n"
    r = direct(pyup.port, "stream.example.com", gwlib.http_request(
        "POST", "/upload", "stream.example.com",
        [("Transfer-Encoding", "chunked"), ("Connection", "close")]) + chunks, pki.ca)
    assert r.json() == {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data),
                        "framing": "chunked"}

    # SSE: event two is only sent once the test releases the gate.
    ctx = upstreams.client_context(pki.ca)
    with socket.create_connection(("127.0.0.1", pyup.port), timeout=10) as s, \
            ctx.wrap_socket(s, server_hostname="stream.example.com") as t:
        t.sendall(gwlib.http_request("GET", "/sse?id=selftest", "stream.example.com",
                                     [("Connection", "close")]))
        f = t.makefile("rb")
        buf = b""
        while b"event-one" not in buf:
            buf += f.read1(4096)
        assert "sent2" not in pyup.sse_state("selftest")
        pyup.release("selftest")
        rest = f.read()
        assert b"event-two" in rest and b"event-three" in rest
    assert pyup.sse_state("selftest")["released"] is True
