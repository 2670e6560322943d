"""Runs inside `unshare --net` (only the loopback interface): starts `cloakroom serve`, sends one request per
host through it, prints {host: {status, body, error_header}} as JSON. Nothing can leave the machine from here.
With a 4th argument (a PKI directory) it also serves the Python TLS upstream on TUNNEL_ADDR (an address
that exists only on this namespace's loopback) and reports what a CONNECT to that [allow] host gives.
Usage: netns_probe.py BIN CONFIG HOSTS_JSON [PKI_DIR]"""
import http.server
import json
import socket
import signal
import subprocess
import sys
import threading
import time

import gwlib
import upstreams

# A public address, so that the guard lets an [allow] host reach it; it exists only inside this
# network namespace (added to its loopback), so nothing is ever sent off the machine.
TUNNEL_ADDR = "100.0.0.1"


def tunnel_probe(gw, upstream, pki):
    """CONNECT to the [allow] host: a plain tunnel, so TLS is the upstream's own (test CA)."""
    try:
        t = gwlib.Tunnel(gw, f"{TUNNEL_ADDR}:{upstream.port}")
        if not t.ok:
            return {"connect": t.connect.status, "body": t.connect.text[:500]}
        t.start_tls("stream.example.com", pki.ca)
        r = t.request(gwlib.http_request("GET", "/record/tunnel", "stream.example.com",
                                         [("Authorization", "Bearer acm_not_even_looked_at"),
                                          ("Connection", "close")]))
        t.close()
        return {"connect": 200, "issuer": gwlib.issuer_cn(t.cert), "status": r.status, "echo": r.json()}
    except Exception as e:  # noqa: BLE001 - reported to the test
        return {"connect": None, "error": repr(e)}


def halfclose_probe(gw):
    """A blind tunnel passes each side's EOF on as a half-close: a server that answers only after
    the client's EOF (like `nc -N` or an upload-then-ack protocol) still gets to answer, however
    long it takes while the client stays silent."""
    listener = socket.create_server((TUNNEL_ADDR, 0))
    upload = 300_000

    def serve():
        conn, _ = listener.accept()
        got = 0
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                break
            got += len(chunk)
        # The client is silent from here on; the answer trickles.
        for _ in range(6):
            conn.sendall(b"." * 1000)
            time.sleep(0.2)
        conn.sendall(f"got {got} bytes".encode())
        conn.close()

    threading.Thread(target=serve, daemon=True).start()
    try:
        t = gwlib.Tunnel(gw, f"{TUNNEL_ADDR}:{listener.getsockname()[1]}")
        if not t.ok:
            return {"connect": t.connect.status}
        t.sock.sendall(b"u" * upload)
        t.sock.shutdown(socket.SHUT_WR)
        answer = b""
        while True:
            chunk = t.sock.recv(65536)
            if not chunk:
                break
            answer += chunk
        t.sock.close()
        return {"connect": 200, "answer": answer.decode(errors="replace")[-40:],
                "answer_bytes": len(answer), "upload": upload}
    except Exception as e:  # noqa: BLE001 - reported to the test
        return {"connect": None, "error": repr(e)}
    finally:
        listener.close()


def plain_http_probe(gw):
    """Absolute-form http:// to the [allow] host: forwarded as plain HTTP, path normalized,
    Proxy-Authorization dropped. The upstream is a plain http.server on TUNNEL_ADDR."""

    class Echo(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            body = json.dumps({"path": self.path, "headers": [[k, v] for k, v in self.headers.items()]}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer((TUNNEL_ADDR, 0), Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        authority = f"{TUNNEL_ADDR}:{server.server_address[1]}"
        with socket.create_connection(("127.0.0.1", gw.port), timeout=10) as s:
            s.sendall((f"GET http://{authority}/plain/x/../y?q=1 HTTP/1.1\r\nHost: {authority}\r\n"
                       "Proxy-Authorization: Basic dXNlcjpwYXNz\r\nConnection: close\r\n\r\n").encode())
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        status = int(head.split(b" ")[1])
        return {"status": status, "echo": json.loads(body) if status == 200 else body.decode(errors="replace")}
    except Exception as e:  # noqa: BLE001 - reported to the test
        return {"status": None, "error": repr(e)}
    finally:
        server.shutdown()


def main():
    binary, config, hosts = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    upstream = None
    if len(sys.argv) > 4:
        subprocess.run(["ip", "addr", "add", f"{TUNNEL_ADDR}/32", "dev", "lo"], check=True)
        pki = upstreams.PKI(__import__("pathlib").Path(sys.argv[4]))
        upstream = upstreams.PyUpstream(pki, host=TUNNEL_ADDR).start()
    proc = subprocess.Popen([binary, "--config", config, "serve"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    port = None
    lines = []
    deadline = time.monotonic() + 10
    while port is None and time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        lines.append(line)
        m = gwlib.LISTEN_RE.search(line)
        if m:
            port = int(m.group(1))
    if port is None:
        proc.kill()
        sys.stderr.write("".join(lines))
        sys.exit("cloakroom serve did not start in the namespace")
    threading.Thread(target=lambda: [lines.append(l) for l in proc.stderr], daemon=True).start()

    class GW:
        pass
    gw = GW()
    gw.port = port
    ca = None
    results = {}
    try:
        for host in hosts:
            try:
                t = gwlib.Tunnel(gw, f"{host}:443")
                if t.ok:
                    if ca is None:
                        ca = subprocess.run([binary, "--config", config, "ca", "path"], capture_output=True,
                                            text=True).stdout.strip()
                    t.start_tls(host, ca)
                    r = t.request(gwlib.http_request("GET", "/latest/meta-data/", host, [("Connection", "close")]))
                else:
                    r = t.connect
                t.close()
                results[host] = {"status": r.status, "body": r.text[:500],
                                 "error_header": r.headers.get("x-cloakroom-error", "")}
            except Exception as e:  # report, do not crash: the test prints it
                results[host] = {"status": None, "body": repr(e), "error_header": ""}
        if upstream is not None:
            results["tunnel"] = tunnel_probe(gw, upstream, pki)
            results["plain"] = plain_http_probe(gw)
            results["halfclose"] = halfclose_probe(gw)
    finally:
        if upstream is not None:
            upstream.stop()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
    sys.stderr.write("".join(lines))
    print(json.dumps(results))


if __name__ == "__main__":
    main()
