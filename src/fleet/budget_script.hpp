// The Lua script that adds a gateway's budget delta to a shared count in Redis, and how it is
// sent: by its SHA1 (EVALSHA, 40 bytes) rather than its text (EVAL, ~330 bytes) every round.
//
// Every Redis node keeps its own script cache, and loses it on a restart or SCRIPT FLUSH: a
// Cluster node a slot moved to, or a replica Sentinel promoted, has never seen the script. Such
// a node answers NOSCRIPT without running anything, so the count is sent again as EVAL, which
// runs the script once and caches it there; later rounds use EVALSHA again. An ACL written for
// an older gateway may allow EVAL but not EVALSHA (NOPERM): then the fleet keeps using EVAL.
#pragma once

#include <string>
#include <string_view>

namespace cloakroom::fleet {

// Adds ARGV[1] to KEYS[1] and keeps the key until the latest expiry ARGV[2] (Unix seconds;
// 0: a token that never expires). Returns the new count.
const std::string& budget_script();
// Its SHA1 as Redis names it (40 lowercase hex digits), computed once.
const std::string& budget_script_sha1();

// Lowercase hex SHA1 of `text` ("" if OpenSSL fails, which makes every EVALSHA a NOSCRIPT and
// so falls back to EVAL).
std::string sha1_hex(std::string_view text);

// What a reply to EVALSHA asks for.
enum class EvalshaOutcome {
    Ran,       // the script ran (its reply, or an error the script raised)
    NoScript,  // the node lacks the script: send EVAL instead (nothing ran)
    NoPerm,    // the ACL refuses EVALSHA (nothing ran): send EVAL instead, from now on
};
EvalshaOutcome classify_evalsha_error(std::string_view error_text);

}  // namespace cloakroom::fleet
