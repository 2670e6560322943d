"""Seed inputs for fuzz/db_postgres_fuzz.cpp.

write_seeds(out_dir) writes the files into out_dir (the target's seed directory, e.g.
fuzz/seeds/db_postgres_fuzz). The first byte of each seed selects the parser (see the target):
0 startup packet, 1 backend messages, 2 upstream authentication, 3 SCRAM server messages.
Run directly: python3 fuzz/seed_db_postgres.py [out_dir].
"""
import os
import struct
import sys

STARTUP, BACKEND, AUTH, SCRAM = 0, 1, 2, 3


def _startup(code, payload=b""):
    return struct.pack(">II", 8 + len(payload), code) + payload


def _params(*pairs):
    out = b""
    for key, value in pairs:
        out += key + b"\0" + value + b"\0"
    return out + b"\0"


def _msg(kind, body):
    return kind + struct.pack(">I", 4 + len(body)) + body


def _auth(code, data=b""):
    return _msg(b"R", struct.pack(">I", code) + data)


def _error(code, message):
    return _msg(b"E", b"SFATAL\0VFATAL\0C" + code + b"\0M" + message + b"\0\0")


RFC_SERVER_FIRST = (b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                    b"s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")
RFC_SERVER_FINAL = b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="


def seeds():
    yield "startup-v3", bytes([STARTUP]) + _startup(
        196608,
        _params((b"user", b"readonly"), (b"database", b"shop"), (b"application_name", b"psql")))
    yield "startup-v32", bytes([STARTUP]) + _startup(
        196610, _params((b"user", b"u"), (b"_pq_.x", b"1")))
    yield "startup-repl", bytes([STARTUP]) + _startup(
        196608, _params((b"user", b"u"), (b"replication", b"database")))
    yield "startup-ssl", bytes([STARTUP]) + _startup(80877103)
    yield "startup-gss", bytes([STARTUP]) + _startup(80877104)
    yield "startup-cancel", bytes([STARTUP]) + _startup(
        80877102, struct.pack(">II", 4242, 0xDEADBEEF))
    yield "startup-v2", bytes([STARTUP]) + _startup(131072, b"garbage")
    yield "startup-dup", bytes([STARTUP]) + _startup(
        196608, _params((b"user", b"a"), (b"user", b"b")))
    yield "backend-login", bytes([BACKEND]) + (
        _auth(0) + _msg(b"S", b"server_version\x0015.5\0") + _msg(b"K", struct.pack(">II", 7, 9))
        + _msg(b"Z", b"I"))
    yield "backend-error", bytes([BACKEND]) + _error(b"28P01", b"password authentication failed")
    yield "backend-sasl", bytes([BACKEND]) + _auth(10, b"SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0")
    yield "backend-nego", bytes([BACKEND]) + _msg(b"v", struct.pack(">II", 0, 1) + b"_pq_.x\0")
    yield "backend-password", bytes([BACKEND]) + _msg(b"p", b"acm_token\0")
    yield "auth-md5", bytes([AUTH]) + _auth(5, b"\x01\x02\x03\x04") + _auth(0)
    yield "auth-clear", bytes([AUTH]) + _auth(3) + _auth(0)
    yield "auth-scram", bytes([AUTH]) + _auth(10, b"SCRAM-SHA-256\0\0") + _auth(
        11, b"r=fixednonceSERVER,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=16") + _auth(
        12, RFC_SERVER_FINAL) + _auth(0)
    yield "auth-gss", bytes([AUTH]) + _auth(7)
    yield "scram-first", bytes([SCRAM]) + RFC_SERVER_FIRST
    yield "scram-first-small", bytes([SCRAM]) + b"r=abcdef,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=8,x=y"
    yield "scram-final", bytes([SCRAM]) + RFC_SERVER_FINAL
    yield "scram-error", bytes([SCRAM]) + b"e=invalid-proof"


def write_seeds(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    for name, data in seeds():
        with open(os.path.join(out_dir, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    default = os.path.join("fuzz", "seeds", "db_postgres_fuzz")
    write_seeds(sys.argv[1] if len(sys.argv) > 1 else default)
