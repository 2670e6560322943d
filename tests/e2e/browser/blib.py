"""Helpers of the browser bridge e2e tests: a real headless Chromium with two tabs (one allowed,
one not), pages to show in them, and `cloakroom serve` with the bridge (docs/browser.md)."""
import http.server
import json
import os
import pathlib
import re
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[3]
BIN = os.environ.get("CLOAKROOM_BIN", str(ROOT / "build" / "cloakroom"))

CHROMIUM = shutil.which("chromium")
# What the disallowed tab shows: it must never reach the agent through the proxy.
SECRET_TITLE = "Inbox 5e7c0a11-canary"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Pages(http.server.ThreadingHTTPServer):
    daemon_threads = True


def page_server(title):
    body = f"<html><head><title>{title}</title></head><body><p>{title}</p>" \
           f"<input type=file id=f></body></html>".encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path.startswith("/redirect?to="):
                # A page inside the rules that sends the browser elsewhere.
                self.send_response(302)
                self.send_header("Location", urllib.parse.unquote(self.path[len("/redirect?to="):]))
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Set-Cookie", f"session={title.replace(' ', '_')}")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = Pages(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def held_page_server(host, title, cookie):
    """A page outside the rules whose answer waits until `server.release` is set
    (`server.asked` is set when the browser's request arrives): a navigation to it stays between
    its start and its commit for as long as a test needs."""
    body = f"<html><head><title>{title}</title></head><body>{title}</body></html>".encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.server.asked.set()
            self.server.release.wait(60)
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Set-Cookie", cookie)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = Pages((host, 0), Handler)
    server.asked = threading.Event()
    server.release = threading.Event()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def real_json(port, path, method="GET"):
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method)
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


class Browser:
    def __init__(self, tmp, extra_args=()):
        self.profile = tmp / "profile"
        self.profile.mkdir()
        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
             f"--user-data-dir={self.profile}", *extra_args, "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        active = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not active.exists():
            if self.proc.poll() is not None:
                raise AssertionError("chromium exited: " + self.proc.stderr.read().decode(errors="replace"))
            time.sleep(0.1)
        if not active.exists():
            self.stop()
            raise AssertionError("chromium did not open its DevTools port")
        self.port = int(active.read_text().split()[0])

    def open_tab(self, url):
        return real_json(self.port, "/json/new?" + url, method="PUT")

    def targets(self):
        return real_json(self.port, "/json/list")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class Serve:
    def __init__(self, tmp, config_text, ready=r"listening on 127\.0\.0\.1:(\d+) \(DevTools proxy\)"):
        self.tmp = tmp
        self.config = tmp / "cloakroom.toml"
        self.config.write_text(config_text)
        self.audit_path = tmp / "audit.jsonl"
        home = tmp / "home"
        home.mkdir(exist_ok=True)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home),
               "XDG_CONFIG_HOME": str(home / "config"), "XDG_DATA_HOME": str(home / "data"),
               "LANG": "C.UTF-8"}
        self.env = env
        self.proc = subprocess.Popen([BIN, "--config", str(self.config), "serve"], env=env,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        self.lines = []
        threading.Thread(target=self._pump, daemon=True).start()
        deadline = time.monotonic() + 15
        self.cdp_port = None
        started = False
        while time.monotonic() < deadline and not started:
            for line in list(self.lines):
                m = re.search(r"listening on 127\.0\.0\.1:(\d+) \(DevTools proxy\)", line)
                if m:
                    self.cdp_port = int(m.group(1))
                started = started or re.search(ready, line) is not None
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        assert started, "serve did not start:\n" + "".join(self.lines)

    def _pump(self):
        for line in self.proc.stderr:
            self.lines.append(line)

    def audit(self):
        if not self.audit_path.exists():
            return []
        text = self.audit_path.read_text()
        # Only whole lines: a record being written right now may be read half.
        return [json.loads(line) for line in text[:text.rfind("\n") + 1].splitlines() if line]

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


class Bridge:
    """Everything one test module needs: the browser, its tabs and the proxy in front."""

    def __init__(self, tmp):
        self.secret_title = SECRET_TITLE
        self.app_server = page_server("My App")
        self.secret_server = page_server(SECRET_TITLE)
        self.app_url = f"http://127.0.0.1:{self.app_server.server_address[1]}/app"
        self.secret_url = f"http://127.0.0.1:{self.secret_server.server_address[1]}/inbox"
        self.browser = Browser(tmp)
        try:
            self._start(tmp)
        except BaseException:
            # The fixture never yields, so nothing else would stop the browser: an orphaned
            # headless chromium kept a core busy for hours once.
            if getattr(self, "serve", None) is not None:
                self.serve.stop()
            self.browser.stop()
            self.app_server.shutdown()
            self.secret_server.shutdown()
            raise

    def _start(self, tmp):
        self.app_tab = self.browser.open_tab(self.app_url)
        self.secret_tab = self.browser.open_tab(self.secret_url)
        app_port = self.app_server.server_address[1]
        self.serve = Serve(tmp, f"""
[gateway]
listen = "127.0.0.1:0"
data_dir = "{tmp / 'data'}"
audit_log = "{tmp / 'audit.jsonl'}"

[browser]
cdp_upstream = "127.0.0.1:{self.browser.port}"
cdp_listen = "127.0.0.1:0"

[[browser.cdp_target]]
type = "page"
url = "http://127.0.0.1:{app_port}/*"
""")
        self.proxy = f"127.0.0.1:{self.serve.cdp_port}"
        # Both tabs finish loading before tests look at titles.
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            titles = {t["title"] for t in self.browser.targets()}
            if "My App" in titles and SECRET_TITLE in titles:
                break
            time.sleep(0.1)

    def stop(self):
        self.serve.stop()
        self.browser.stop()
        self.app_server.shutdown()
        self.secret_server.shutdown()


