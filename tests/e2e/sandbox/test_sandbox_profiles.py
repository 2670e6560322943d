"""`cloakroom run --profile`: a profile from the configuration (extending a built-in) and an
agent-creds agent-creds.toml change what the session token names, what the sandbox may write or
sees hidden and which hosts the session's gateway answers for; `cloakroom ps` and the start-up
summary name the profile. Also `--contain auto` saying which mode it chose, and an explicit mode
the kernel lacks stopping with the missing feature named (CLOAKROOM_TEST_MISSING, the documented
test hook, makes a feature look absent)."""
import json
import os
import subprocess
import sys

import pytest

from sbxlib import BIN

NO_NET = ("--no-network",)

PROFILE = '''
[profile.agent]
extends = "claude"
services = ["stripe"]
hidden_paths = ["~/private"]
writable_paths = ["~/.agentstate"]
allowed_hosts = ["pkgs.example.org"]
'''

INSIDE = r'''
import json, os, socket, sys
home = os.environ["HOME"]
out = {}
def attempt(name, fn):
    try:
        out[name] = fn()
    except OSError as e:
        out[name] = "error " + type(e).__name__
def write(path):
    with open(path, "w") as f:
        f.write("from the sandbox\n")
    return "ok"
attempt("write_profile_dir", lambda: write(home + "/.agentstate/state"))
attempt("write_builtin_dir", lambda: write(home + "/.claude/settings"))
attempt("write_home", lambda: write(home + "/elsewhere"))
attempt("read_hidden", lambda: open(home + "/private/note").read())
for name in ("pkgs.example.org", "registry.npmjs.org", "api.stripe.com", "unknown.example.net"):
    attempt("resolve " + name, lambda: socket.getaddrinfo(name, 443)[0][4][0])
out["stripe_token"] = os.environ.get("STRIPE_API_KEY", "")[:4]
out["github_token"] = os.environ.get("GITHUB_TOKEN", "")
print(json.dumps(out))
'''


def owned(session, path):
    if session.user is not None:
        os.chown(path, session.user.pw_uid, session.user.pw_gid)


def run_inside(session, run_args, **kw):
    script = session.project / "inside.py"
    script.write_text(INSIDE)
    owned(session, script)
    proc = session.run(sys.executable, "inside.py", run_args=run_args, timeout=120, **kw)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc


def test_config_profile_extending_a_builtin(session):
    session.config.write_text(session.config.read_text() + PROFILE)
    private = session.home / "private"
    private.mkdir()
    (private / "note").write_text("private note\n")
    for p in (private, private / "note"):
        owned(session, p)
    out, proc = run_inside(session, ("--profile", "agent", "--name", "prof"))
    assert "profile agent (extends claude)" in proc.stderr, proc.stderr
    assert str(session.home / ".agentstate") in proc.stderr
    assert out["write_profile_dir"] == "ok", out
    assert out["write_builtin_dir"] == "ok", out  # ~/.claude from the built-in, created for it
    assert out["write_home"].startswith("error"), out  # the rest of $HOME stays read-only
    assert out["read_hidden"] in ("", ) or out["read_hidden"].startswith("error"), out
    # The session's gateway answers for the profile's hosts (own and inherited) and the
    # service, and for nothing else.
    for name in ("pkgs.example.org", "registry.npmjs.org", "api.stripe.com"):
        assert not out["resolve " + name].startswith("error"), (name, out)
    assert out["resolve unknown.example.net"].startswith("error"), out
    # The token is limited to the profile's services: stripe's variable has it, github's not.
    assert out["stripe_token"] == "acm_", out
    assert out["github_token"] == "", out
    assert (session.home / ".agentstate" / "state").read_text() == "from the sandbox\n"
    assert (session.home / ".claude" / "settings").exists()
    assert not (session.home / "elsewhere").exists()
    # The overlay configuration that allowed the profile's hosts is gone with the session.
    assert not list((session.data_dir / "run").glob("profile-*.toml"))


def test_without_the_profile_its_hosts_are_unknown(session):
    out, _ = run_inside(session, ())
    assert out["resolve pkgs.example.org"].startswith("error"), out
    assert out["resolve registry.npmjs.org"].startswith("error"), out
    assert out["github_token"].startswith("acm_")  # no profile: every configured service


def test_agent_creds_file_is_a_profile(session):
    agent_creds = session.home / "agent-creds.toml"
    agent_creds.write_text('[sandbox]\nname = "myproject"\n\n[upstream."api.stripe.com"]\n'
                           '[upstream."pkgs.example.org"]\n')
    owned(session, agent_creds)
    out, proc = run_inside(session, ("--profile", str(agent_creds)))
    assert "profile myproject" in proc.stderr, proc.stderr
    assert out["stripe_token"] == "acm_", out
    assert out["github_token"] == "", out
    assert not out["resolve pkgs.example.org"].startswith("error"), out
    assert out["resolve registry.npmjs.org"].startswith("error"), out  # not claude's


@pytest.mark.parametrize("extra,message", [
    ("", 'profile "ghost" is neither in the configuration nor built in'),
    ('[profile.a]\nextends = "b"\n[profile.b]\nextends = "a"\n', "profile extends cycle"),
    ('[profile.a]\nextends = "nowhere"\n', 'extends "nowhere", which is neither'),
    ('[profile.ghost]\nservices = ["nope"]\n', 'service "nope" is neither'),
])
def test_profile_errors_are_precise(session, extra, message):
    session.config.write_text(session.config.read_text() + extra)
    proc = session.run("true", run_args=(*NO_NET, "--profile", "ghost"))
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr, proc.stderr


def test_profile_defaults_and_explicit_options(session):
    session.config.write_text(session.config.read_text() +
                              '[profile.short]\nservices = ["stripe"]\nvalid_for = "90s"\n')
    token = {}
    for label, args in (("profile", ()), ("explicit", ("--valid-for", "1h"))):
        proc = session.run("printenv", "STRIPE_API_KEY",
                           run_args=("--profile", "short", *args))
        assert proc.returncode == 0, proc.stderr
        inspected = subprocess.run([BIN, "inspect", "-"], input=proc.stdout.strip(),
                                   capture_output=True, text=True, env=session.env)
        assert inspected.returncode == 0, inspected.stderr
        token[label] = inspected.stdout
    def window(text):
        import re
        times = [int(t) for t in re.findall(r'"(?:not_before|not_after|nbf|exp|from|until)"\s*:\s*(\d+)', text)]
        return max(times) - min(times) if len(times) >= 2 else None
    assert window(token["profile"]) == 90, token["profile"]
    assert window(token["explicit"]) == 3600, token["explicit"]


def test_auto_says_which_mode_it_chose(session):
    proc = session.run("true", run_args=(*NO_NET, "--contain", "auto"))
    assert proc.returncode == 0, proc.stderr
    assert "--contain auto chose netns" in proc.stderr


def _landlock_abi():
    import ctypes
    return ctypes.CDLL(None, use_errno=True).syscall(444, None, 0, 1)


def test_auto_falls_back_to_landlock_and_says_why(session):
    if _landlock_abi() < 4:
        pytest.skip("Landlock ABI < 4 (no TCP port rules): nothing to fall back to")
    proc = session.run("true", run_args=(*NO_NET, "--contain", "auto"),
                       env={"CLOAKROOM_TEST_MISSING": "userns"})
    assert proc.returncode == 0, proc.stderr
    assert "--contain auto chose landlock: user namespaces are unavailable" in proc.stderr
    assert "landlock sandbox (ABI" in proc.stderr  # and it is the landlock summary that follows


@pytest.mark.parametrize("missing,contain,message", [
    ("userns", "netns", "netns mode: user namespaces are unavailable to this user"),
    ("landlock", "landlock", "landlock mode: Landlock unavailable"),
    ("userns,landlock", "auto", "no containment available: user namespaces are unavailable"),
])
def test_a_mode_the_kernel_lacks_stops_naming_the_feature(session, missing, contain, message):
    proc = session.run("true", run_args=(*NO_NET, "--contain", contain),
                       env={"CLOAKROOM_TEST_MISSING": missing})
    assert proc.returncode == 1, proc.stderr
    assert message in proc.stderr, proc.stderr
    assert "sandbox:" not in proc.stderr  # nothing ran, not even a weaker sandbox


def test_profile_contain_default_and_writable_path_in_landlock_mode(session):
    if _landlock_abi() < 4:
        pytest.skip("Landlock ABI < 4 (no TCP port rules)")
    session.config.write_text(session.config.read_text() +
                              '[profile.ll]\ncontain = "landlock"\n'
                              'writable_paths = ["~/.agentstate"]\n')
    proc = session.run("sh", "-c", 'echo state > "$HOME/.agentstate/f" && echo ok; '
                       'cat "$HOME/.ssh/id_ed25519" 2>/dev/null || echo no-ssh',
                       run_args=(*NO_NET, "--profile", "ll"))
    assert proc.returncode == 0, proc.stderr
    assert "landlock sandbox (ABI" in proc.stderr, proc.stderr  # the profile's default mode
    assert proc.stdout.split() == ["ok", "no-ssh"], proc.stdout
    assert (session.home / ".agentstate" / "f").read_text() == "state\n"
    # An explicit --contain wins over the profile's.
    proc = session.run("true", run_args=(*NO_NET, "--profile", "ll", "--contain", "netns"))
    assert proc.returncode == 0, proc.stderr
    assert "netns sandbox" in proc.stderr and "landlock sandbox" not in proc.stderr
    assert "profile ll;" in proc.stderr, proc.stderr  # named with --no-network too


def test_landlock_refuses_a_writable_path_holding_a_hidden_one(session):
    if _landlock_abi() < 4:
        pytest.skip("Landlock ABI < 4 (no TCP port rules)")
    session.config.write_text(session.config.read_text() +
                              '[profile.wide]\nwritable_paths = ["~"]\n')
    proc = session.run("true", run_args=(*NO_NET, "--profile", "wide", "--contain", "landlock"))
    assert proc.returncode == 2, proc.stderr
    assert "landlock mode cannot hide" in proc.stderr and "narrow the writable path" in proc.stderr
    # netns mode mounts the hidden paths over the writable home: allowed, and still hidden.
    proc = session.run("sh", "-c", 'cat "$HOME/.ssh/id_ed25519" 2>/dev/null || echo no-ssh',
                       run_args=(*NO_NET, "--profile", "wide", "--contain", "netns"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["no-ssh"], proc.stdout


def test_config_check_summarizes_resolved_profiles(session):
    session.config.write_text(session.config.read_text() + PROFILE)
    proc = subprocess.run([BIN, "config", "check"], env=session.env, capture_output=True,
                          text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    line = [l for l in proc.stdout.splitlines() if l.strip().startswith("profile agent")]
    assert line, proc.stdout
    assert "(extends claude)" in line[0]
    assert "services api.anthropic.com, stripe" in line[0]
    assert "registry.npmjs.org" in line[0] and "pkgs.example.org" in line[0]
    assert "writable ~/.claude, ~/.claude.json, ~/.agentstate" in line[0]
