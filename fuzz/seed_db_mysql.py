"""Seed inputs for fuzz/db_mysql_fuzz.cpp.

write_seeds(out_dir) writes the files into out_dir (the target's seed directory, e.g.
fuzz/seeds/db_mysql_fuzz). The first byte of each seed selects what the target drives:
0 server greeting, 1 client login (+ one flag byte: TLS), 2 upstream login (+ one flag byte:
bit 0 TLS, bit 1 caching_sha2_password greeting), 3 raw framing and fields.
Packets are real ones where possible (MariaDB 10.11, MariaDB Connector/C 3.3, PyMySQL 1.0).
Run directly: python3 fuzz/seed_db_mysql.py [out_dir].
"""
import os
import struct
import sys

GREETING, CLIENT, UPSTREAM, FIELDS = 0, 1, 2, 3

NONCE = b"abcdefghijklmnopqrst"

# A MariaDB 10.11 greeting (no CLIENT_MYSQL: extended capabilities in the last reserved bytes).
MARIADB_GREETING = (
    b"\x0a" + b"5.5.5-10.11.6-MariaDB-0+deb12u1\0" + struct.pack("<I", 42) + NONCE[:8] + b"\0"
    + struct.pack("<H", 0xF7FE) + b"\x2d" + struct.pack("<H", 2) + struct.pack("<H", 0x81BF)
    + b"\x15" + b"\0" * 6 + struct.pack("<I", 0x1D) + NONCE[8:] + b"\0"
    + b"mysql_native_password\0")
# A MySQL 8 greeting (CLIENT_MYSQL set, caching_sha2_password).
MYSQL8_GREETING = (
    b"\x0a" + b"8.0.36\0" + struct.pack("<I", 7) + NONCE[:8] + b"\0"
    + struct.pack("<H", 0xFFFF) + b"\xff" + struct.pack("<H", 2) + struct.pack("<H", 0xDFFF)
    + b"\x15" + b"\0" * 10 + NONCE[8:] + b"\0" + b"caching_sha2_password\0")

# Captured logins with password "SECRETTOK" after a caching_sha2_password greeting.
LIBMARIADB_LOGIN = bytes.fromhex(
    "84a2bf000000100021000000000000000000000000000000000000001d0000006167656e7400203a1ebe0acda6"
    "28d2ee070fe28724f62ec9714a85dc0da6aeb723500146b39f4663616368696e675f736861325f70617373776f"
    "7264007e035f6f73054c696e75780c5f636c69656e745f6e616d650a6c69626d617269616462045f7069640437"
    "3039350f5f636c69656e745f76657273696f6e06332e332e3230095f706c6174666f726d067838365f36340c70"
    "726f6772616d5f6e616d65056d7973716c0c5f7365727665725f686f7374093132372e302e302e31")
PYMYSQL_LOGIN = bytes.fromhex(
    "0da23a00ffffff002d00000000000000000000000000000000000000000000006167656e7400203a1ebe0acda6"
    "28d2ee070fe28724f62ec9714a85dc0da6aeb723500146b39f4673686f700063616368696e675f736861325f70"
    "617373776f726400350c5f636c69656e745f6e616d650770796d7973716c045f70696404373936300f5f636c69"
    "656e745f76657273696f6e05312e302e32")

OK = b"\x00\x00\x00\x02\x00\x00\x00"
ERR = b"\xff\x15\x04#28000Access denied for user 'real_user'@'localhost' (using password: YES)"
PEM = (b"-----BEGIN PUBLIC KEY-----\n"
       b"MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQC1Cpwuzo/FfXow9kEY7ANXH6RV\n"
       b"atuLlz7mbAQ0iWhgjptoZkKkSO+mSARp6X5yT7hRxOt09SOeNtR/ornueQirg4fg\n"
       b"34gg2sXNIJ7KTacjqi9iZ9kSOQ/Hlc1JC/CfaEV6JLHaeI69CARb4Dz2YfneFxyx\n"
       b"KfSOy5AcMBrFjJVdqwIDAQAB\n"
       b"-----END PUBLIC KEY-----\n")  # a throwaway 1024-bit key


def packet(seq, payload):
    return struct.pack("<I", len(payload))[:3] + bytes([seq]) + payload


def login(capabilities, user=b"agent", auth=b"", database=None, plugin=b"caching_sha2_password",
          attrs=None):
    out = struct.pack("<IIB", capabilities, 1 << 24, 45) + b"\0" * 23 + user + b"\0"
    if capabilities & (1 << 21):
        out += bytes([len(auth)]) + auth
    elif capabilities & (1 << 15):
        out += bytes([len(auth)]) + auth
    else:
        out += auth + b"\0"
    if database is not None:
        out += database + b"\0"
    if plugin is not None:
        out += plugin + b"\0"
    if attrs is not None:
        out += bytes([len(attrs)]) + attrs
    return out


BASE_CAPS = (1 << 9) | (1 << 15) | (1 << 19)  # protocol 4.1, secure connection, plugin auth


def seeds():
    yield "greeting-mariadb", bytes([GREETING]) + MARIADB_GREETING
    yield "greeting-mysql8", bytes([GREETING]) + MYSQL8_GREETING
    yield "greeting-old", bytes([GREETING]) + MARIADB_GREETING[:48]
    yield "greeting-v9", bytes([GREETING]) + b"\x09" + b"4.0.1\0"

    tls, plain = b"\x01", b"\x00"
    scramble = bytes(range(32))
    yield "client-libmariadb-clear", bytes([CLIENT]) + plain + packet(1, LIBMARIADB_LOGIN) + packet(
        3, b"SECRETTOK\0")
    yield "client-pymysql-rsa", bytes([CLIENT]) + plain + packet(1, PYMYSQL_LOGIN) + packet(
        3, b"\x02") + packet(5, bytes(128))
    yield "client-tls", bytes([CLIENT]) + tls + packet(2, PYMYSQL_LOGIN) + packet(4, b"SECRETTOK\0")
    yield "client-clear-plugin", bytes([CLIENT]) + tls + packet(
        2, login(BASE_CAPS, auth=b"acm_token\0", plugin=b"mysql_clear_password"))
    yield "client-native", bytes([CLIENT]) + plain + packet(
        1, login(BASE_CAPS | 8, auth=scramble[:20], database=b"shop",
                 plugin=b"mysql_native_password"))
    yield "client-nul-auth", bytes([CLIENT]) + plain + packet(
        1, login((1 << 9) | (1 << 19), auth=b"x", plugin=b"caching_sha2_password"))
    yield "client-attrs", bytes([CLIENT]) + plain + packet(
        1, login(BASE_CAPS | (1 << 20), auth=scramble, attrs=b"\x03_os\x05Linux"))
    yield "client-ssl-request", bytes([CLIENT]) + plain + PYMYSQL_LOGIN[:32]

    sha2, native = b"\x02", b"\x00"
    yield "upstream-ok", bytes([UPSTREAM]) + native + packet(2, OK)
    yield "upstream-err", bytes([UPSTREAM]) + native + packet(2, ERR)
    yield "upstream-fast", bytes([UPSTREAM]) + sha2 + packet(2, b"\x01\x03") + packet(3, OK)
    yield "upstream-full-tls", bytes([UPSTREAM]) + b"\x03" + packet(3, b"\x01\x04") + packet(
        5, OK)
    yield "upstream-full-rsa", bytes([UPSTREAM]) + sha2 + packet(2, b"\x01\x04") + packet(
        4, b"\x01" + PEM) + packet(6, OK)
    yield "upstream-switch", bytes([UPSTREAM]) + native + packet(
        2, b"\xfecaching_sha2_password\0" + b"01234567890123456789\0") + packet(
        4, b"\x01\x03") + packet(5, OK)
    yield "upstream-switch-clear", bytes([UPSTREAM]) + b"\x01" + packet(
        2, b"\xfemysql_clear_password\0") + packet(4, OK)
    yield "upstream-old-password", bytes([UPSTREAM]) + native + packet(2, b"\xfe")

    yield "fields-lenenc", bytes([FIELDS]) + b"\xfc\x01\x02\xfd\x01\x02\x03\xfe" + bytes(8) + b"\xfb"
    yield "fields-packets", bytes([FIELDS]) + packet(0, MARIADB_GREETING) + packet(1, ERR)


def write_seeds(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    for name, data in seeds():
        with open(os.path.join(out_dir, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    write_seeds(sys.argv[1] if len(sys.argv) > 1 else os.path.join("fuzz", "seeds", "db_mysql_fuzz"))
