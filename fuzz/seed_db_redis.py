"""Seed inputs for fuzz/db_redis_fuzz.cpp: byte 0 picks the command policy, byte 1 the chunking,
the rest is a RESP byte stream (client commands, server replies, or a mix)."""
import os


def _cmd(*args) -> bytes:
    out = b"*%d\r\n" % len(args)
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        out += b"$%d\r\n%s\r\n" % (len(data), data)
    return out


REFUSAL = (b"-ERR unknown command 'cloakroom.refused:NOPERM Cloakroom: this token does not allow "
           b"'SET'', with args beginning with: \r\n")

STREAMS = {
    "auth": _cmd("AUTH", "acm_token"),
    "auth-user": _cmd("AUTH", "app", "acm_token"),
    "hello": _cmd("HELLO", "3", "AUTH", "app", "acm_token", "SETNAME", "agent"),
    "hello-plain": _cmd("HELLO", "2") + _cmd("HELLO", "3", "SETNAME", "x", "AUTH", "u", "p"),
    "pipeline": _cmd("GET", "a") + _cmd("SET", "a", "1") + _cmd("MGET", "a", "b") + _cmd("PING"),
    "multi": _cmd("MULTI") + _cmd("GET", "k") + _cmd("INCR", "k") + _cmd("EXEC"),
    "client": _cmd("CLIENT", "SETNAME", "me") + _cmd("CLIENT", "KILL", "ID", "1") + _cmd("CLIENT"),
    "reset": _cmd("RESET") + _cmd("auth", "x"),
    "inline": b"SET k \"a b\\x41\\n\"\r\nGET k\n'it\\'s' x\r\n\r\n",
    "inline-bad": b"SET k \"abc\r\n",
    "empty": b"*0\r\n*-1\r\n\r\n" + _cmd("PING"),
    "big": b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100\r\n" + b"v" * 100 + b"\r\n",
    "long-name": _cmd("A" * 80, "x") + _cmd("HELLO", "3", "SETNAME", "n" * 300),
    "garbage": b"*1\r\n:1\r\n",
    "bad-crlf": b"*2\r\n$3\r\nGET\r\n$1\r\nab\r\n",
    "replies": b"+OK\r\n" + REFUSAL + b"$5\r\nhello\r\n:42\r\n*2\r\n" + REFUSAL + b"$-1\r\n",
    "resp3": (b"%2\r\n+proto\r\n:3\r\n+id\r\n:7\r\n>3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:1\r\n"
              b"|1\r\n+ttl\r\n:3\r\n" + REFUSAL + b"~1\r\n,1.5\r\n#t\r\n_\r\n(123\r\n=7\r\ntxt:abc\r\n"
              b"!5\r\nERR x\r\n"),
    "closing": (b"-ERR unknown command 'cloakroom.closing:ERR Protocol error: x', with args "
                b"beginning with: \r\n"),
    "tick": b"-ERR unknown command `cloakroom.refused:NOPERM old`, with args beginning with: \r\n",
}


def write_seeds(out_dir: str) -> None:
    os.makedirs(out_dir, exist_ok=True)
    for name, stream in STREAMS.items():
        for policy in range(4):
            with open(os.path.join(out_dir, f"{name}-p{policy}"), "wb") as f:
                f.write(bytes([policy, 7 * policy + 1]) + stream)


if __name__ == "__main__":
    import sys

    write_seeds(sys.argv[1] if len(sys.argv) > 1 else "fuzz/seeds/db_redis_fuzz")
