"""Helpers of the transparent listener / DNS / hand-over tests: the configuration and the sandbox runner."""
import json
import pathlib
import subprocess
import sys

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "gateway"))

import gwlib  # noqa: E402

PYTHON = "/usr/bin/python3"

LOCAL_SERVICE = """
[[service]]
name = "local"
hosts = ["localhost"]
credential = {{ type = "bearer", secret = "file:api.key" }}
connect_to = {connect_to}
upstream_ca = {ca}
allow_private = true
"""


def transparent_config(factory, tmp, transparent_listen=None, allow_hosts=None, **kw):
    """The gateway suite's configuration, plus a service on "localhost" (a name the host resolves, for
    literal-address destinations) and optionally a transparent_listen key."""
    return _transparent_text(factory, factory.config(tmp, allow_hosts=allow_hosts, **kw), transparent_listen)


def reload_transparent(gw, edit=None, transparent_listen=None, allow_hosts=("127.0.0.1",), **kw):
    """Hot-reloads (SIGHUP) a gateway started with transparent_config: the same configuration built
    with `kw` (gwlib.build_config's keys), then passed through `edit` (text -> text); waits until the
    gateway says it applied it."""
    text = _transparent_text(gw.factory, gw.build(allow_hosts=list(allow_hosts), **kw), transparent_listen)
    if edit is not None:
        text = edit(text)
    line = gw.reload(text, wait_pattern=r"reload .*(configuration applied|failed)", timeout=10)
    assert line and "configuration applied" in line, gw.stderr_text()


def _transparent_text(factory, text, transparent_listen):
    if transparent_listen is not None:
        text = text.replace("[gateway]\n", "[gateway]\ntransparent_listen = " +
                            json.dumps(transparent_listen) + "\n", 1)
    return text + LOCAL_SERVICE.format(connect_to=gwlib.toml_str(f"127.0.0.1:{factory.nginx.port}"),
                                       ca=gwlib.toml_str(factory.pki.ca))


def wait_handover(gw):
    """The gateway announces the hand-over socket after its forward listener, which is what
    gwlib waits for: wait for that line too."""
    line = gw.wait_stderr(r"sandbox hand-over socket ", timeout=10)
    assert line, gw.stderr_text()
    return line.split("sandbox hand-over socket ", 1)[1].strip()


def handover_path(gw):
    return gw.data_dir / "run" / "sandbox.sock"


def run_sandbox(gw, spec, timeout=90):
    """Runs tests/e2e/transparent/sandbox.py in a new user + network namespace; returns its report."""
    p = subprocess.run(["unshare", "-Urn", PYTHON, str(HERE / "sandbox.py"), str(handover_path(gw)),
                        json.dumps(spec)], capture_output=True, timeout=timeout)
    out = p.stdout.decode("utf-8", "replace")
    err = p.stderr.decode("utf-8", "replace")
    gw.record("sandbox", out + err)
    assert p.returncode == 0, f"sandbox.py failed ({p.returncode}):\n{err}\n{out}"
    return json.loads(out)
