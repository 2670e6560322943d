"""What `cloakroom run` reads at start-up: when the public CA files are current (written by a
gateway or an earlier run), it uses them and never loads the CA key; when they are stale, it
loads the CA (and its key) and rewrites them. Shown with a CA key that cannot be loaded: runs
start while the files are current, and stop with the CA's error once ca.pem changes."""
import os


def test_current_public_files_need_no_ca_key(session):
    first = session.run("true", run_args=("--no-network",))
    assert first.returncode == 0, first.stderr
    ca_dir = session.data_dir / "ca"
    key = ca_dir / "ca.key"
    assert key.exists(), list(session.data_dir.rglob("*"))
    key.write_text("not a key: a file the CA cannot load\n")
    key.chmod(0o600)
    if session.user is not None:
        os.chown(key, session.user.pw_uid, session.user.pw_gid)
    again = session.run("true", run_args=("--no-network",))
    assert again.returncode == 0, again.stderr  # the key was not read
    # ca.pem changed (another CA's, say): the public copy is stale, the CA is loaded, the broken
    # key is found.
    cert = ca_dir / "ca.pem"
    cert.write_text(cert.read_text() + "\n")
    stale = session.run("true", run_args=("--no-network",))
    assert stale.returncode != 0
    assert "ca.key" in stale.stderr, stale.stderr
