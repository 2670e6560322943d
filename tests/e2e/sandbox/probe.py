"""Runs INSIDE `cloakroom run`: tries every escape the suite knows and prints one JSON object
{check: {"escaped": bool, "detail": str}}. Usage: probe.py < PARAMS_JSON (stdin: argv would put the canary in /proc/self/cmdline)
PARAMS: canary (a secret value), secret_files (paths that must not be readable), host_tcp_port,
host_udp_port (host listeners on 127.0.0.1 that must receive nothing), scan_dirs."""
import ctypes
import errno
import json
import os
import socket
import subprocess
import sys

params = json.loads(sys.stdin.read())
canary = params["canary"].encode()
libc = ctypes.CDLL(None, use_errno=True)
results = {}


def record(name, escaped, detail=""):
    results[name] = {"escaped": bool(escaped), "detail": str(detail)[:300]}


def syscall_errno(number, *args):
    libc.syscall.restype = ctypes.c_long
    rc = libc.syscall(ctypes.c_long(number), *[ctypes.c_long(a) for a in args])
    return rc, ctypes.get_errno()


# --- files ---
for path in params["secret_files"]:
    try:
        if os.path.isdir(path):
            names = os.listdir(path)
            record(f"read:{path}", bool(names), f"listing {names}")
        else:
            with open(path, "rb") as f:
                data = f.read()
            record(f"read:{path}", bool(data), f"{len(data)} bytes")
    except OSError as e:
        record(f"read:{path}", False, repr(e))

# A canary anywhere in the visible files of these trees (bounded walk).
found = []
seen = 0
for root in params["scan_dirs"]:
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames:
            seen += 1
            if seen > 20000:
                break
            full = os.path.join(dirpath, name)
            try:
                if os.path.isfile(full) and os.path.getsize(full) < 1 << 20:
                    with open(full, "rb") as f:
                        if canary in f.read():
                            found.append(full)
            except OSError:
                pass
record("canary_in_files", bool(found), found)

# --- environment and other processes ---
record("canary_in_env", any(canary in v.encode() for v in os.environ.values()),
       [k for k, v in os.environ.items() if canary in v.encode()])
leaks = []
for pid in os.listdir("/proc"):
    if not pid.isdigit():
        continue
    for what in ("environ", "cmdline"):
        try:
            with open(f"/proc/{pid}/{what}", "rb") as f:
                if canary in f.read():
                    leaks.append(f"{pid}/{what}")
        except OSError:
            pass
record("canary_in_proc", bool(leaks), leaks)
host_pid = params.get("host_pid")
if host_pid:
    try:
        with open(f"/proc/{host_pid}/environ", "rb") as f:
            data = f.read()
        record("host_process_environ", canary in data, f"{len(data)} bytes")
    except OSError as e:
        record("host_process_environ", False, repr(e))

# --- network ---
try:
    c = socket.create_connection(("127.0.0.1", params["host_tcp_port"]), timeout=3)
    c.sendall(b"ESCAPED\n")
    c.close()
    record("tcp_host_loopback", False, "connected (judged by whatever listens inside)")
except OSError as e:
    record("tcp_host_loopback", False, repr(e))
for target in (("192.0.2.77", 443), ("1.1.1.1", 80)):
    try:
        c = socket.create_connection(target, timeout=3)
        c.sendall(b"GET / HTTP/1.0\r\n\r\n")
        data = c.recv(100)
        c.close()
        record(f"tcp_direct:{target[0]}", False, f"connected, got {data[:40]!r}")
    except OSError as e:
        record(f"tcp_direct:{target[0]}", False, repr(e))
for target in (("127.0.0.1", params["host_udp_port"]), ("192.0.2.77", 9999)):
    try:
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.sendto(b"ESCAPED", target)
        record(f"udp:{target[0]}", False, "sent (must not arrive)")
    except OSError as e:
        record(f"udp:{target[0]}", False, repr(e))
for name, family, kind, proto in (("raw_icmp", socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP),
                                  ("raw_ipv6", socket.AF_INET6, socket.SOCK_RAW, 58),
                                  ("packet", 17, socket.SOCK_RAW, 0),
                                  ("sctp", socket.AF_INET, socket.SOCK_STREAM, 132),
                                  ("mptcp", socket.AF_INET, socket.SOCK_STREAM, 262),
                                  ("netlink_netfilter", 16, socket.SOCK_RAW, 12)):
    try:
        s = socket.socket(family, kind, proto)
        s.close()
        record(f"socket:{name}", True, "opened")
    except OSError as e:
        record(f"socket:{name}", False, repr(e))

# --- kernel interfaces ---
rc, err = syscall_errno(425, 8, 0)  # io_uring_setup(8, NULL)
record("io_uring_setup", rc >= 0 or err == errno.EFAULT, f"rc={rc} errno={err}")
rc = libc.unshare(0x10000000)  # CLONE_NEWUSER
record("unshare_newuser", rc == 0, f"errno={ctypes.get_errno()}")
rc = libc.unshare(0x00020000)  # CLONE_NEWNS
record("unshare_newns", rc == 0, f"errno={ctypes.get_errno()}")
rc = libc.ptrace(16, 1, 0, 0)  # PTRACE_ATTACH to pid 1
record("ptrace", rc == 0, f"errno={ctypes.get_errno()}")
rc = libc.mount(b"none", b"/tmp", b"tmpfs", 0, None)
record("mount", rc == 0, f"errno={ctypes.get_errno()}")
rc, err = syscall_errno(321, 0, 0, 0)  # bpf(0, NULL, 0)
record("bpf", err not in (errno.EPERM, errno.ENOSYS), f"rc={rc} errno={err}")
rc, err = syscall_errno(250, 0, 0, 0, 0, 0)  # keyctl(GET_KEYRING_ID, 0)
record("keyctl", err not in (errno.EPERM, errno.ENOSYS), f"rc={rc} errno={err}")
rc = libc.ioctl(0, 0x5412, ctypes.c_char_p(b"x"))  # TIOCSTI
record("tiocsti", ctypes.get_errno() != errno.EPERM, f"rc={rc} errno={ctypes.get_errno()}")
with open("/proc/self/status") as f:
    caps = {l.split(":")[0]: l.split()[1] for l in f if l.startswith("Cap")}
# netns mode empties the bounding set too; an unprivileged landlock command has no capabilities
# and no way to gain any (no_new_privs), but keeps the default bounding set.
record("capabilities", int(caps["CapEff"], 16) != 0 or int(caps["CapPrm"], 16) != 0
       or int(caps["CapAmb"], 16) != 0
       or (params.get("empty_bounding_set", True) and int(caps["CapBnd"], 16) != 0), caps)
try:
    b = socket.socket()
    b.bind(("127.0.0.1", 0))
    b.listen()
    record("tcp_bind_listen", params.get("bind_refused", False), "bound")
except OSError as e:
    record("tcp_bind_listen", False, repr(e))
# An x32 system call number (getpid | __X32_SYSCALL_BIT): the filter kills the process.
child = subprocess.run([sys.executable, "-c",
                        "import ctypes; ctypes.CDLL(None).syscall(0x40000000 | 39); print('alive')"],
                       capture_output=True, text=True)
record("x32_syscall", child.returncode != -31, f"rc={child.returncode} out={child.stdout!r}")

# --- writes ---
home = os.environ.get("HOME", "/")
try:
    with open(os.path.join(home, "written-from-sandbox"), "w") as f:
        f.write("x")
    record("write_home", True, "written")
except OSError as e:
    record("write_home", False, repr(e))
for rel in (".git/hooks/post-checkout", ".envrc"):
    try:
        with open(rel, "w") as f:
            f.write("echo pwned\n")
        record(f"write_cwd:{rel}", True, "written")
    except OSError as e:
        record(f"write_cwd:{rel}", False, repr(e))

print(json.dumps(results))
