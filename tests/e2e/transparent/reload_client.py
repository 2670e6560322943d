"""Run inside the sandbox namespace by test_reload.py: opens one HTTPS connection to api.example.com
and one plain-HTTP connection to plain.example.com (both land on the transparent listener), asks a
request on each, creates READY, waits for GO (the test reloads meanwhile), then asks more requests on
the SAME connections (auto-reconnect off; the local ports are compared). Prints the statuses as JSON.
Usage: reload_client.py CA TOKEN READY GO"""
import http.client
import json
import os
import ssl
import sys
import time

ca, token, ready, go = sys.argv[1:5]
tls = http.client.HTTPSConnection("api.example.com", 443, timeout=15,
                                  context=ssl.create_default_context(cafile=ca))
plain = http.client.HTTPConnection("plain.example.com", 80, timeout=15)
auth = {"Authorization": f"Bearer {token}"}


def get(conn, path, headers):
    conn.request("GET", path, headers=headers)
    r = conn.getresponse()
    r.read()
    return r.status


for conn in (tls, plain):
    conn.connect()
    conn.auto_open = 0  # a closed connection raises instead of dialing again
ports = [tls.sock.getsockname(), plain.sock.getsockname()]
out = {"before": [get(tls, "/v1/soon-denied/1", auth), get(plain, "/v1/soon-denied/2", {})]}
open(ready, "w").close()
deadline = time.monotonic() + 30
while not os.path.exists(go) and time.monotonic() < deadline:
    time.sleep(0.05)
out["after"] = [get(tls, "/v1/customers/3", auth), get(tls, "/v1/soon-denied/4", auth),
                get(plain, "/v1/other/5", {}), get(plain, "/v1/soon-denied/6", {})]
out["same_connections"] = ports == [tls.sock.getsockname(), plain.sock.getsockname()]
print(json.dumps(out))
