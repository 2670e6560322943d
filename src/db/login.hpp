// Who may log in as what: the token the agent sends as its password is verified against the
// database's keys, the DbServices / DbLogins / DbNames / ValidityWindow caveats are checked for
// (database, login, database name), and on success the login's real password is resolved. Pure
// decision logic apart from the secret read; the protocol sessions turn a denial into their
// wire's error (PostgreSQL 28P01 / 28000, MySQL 1045, Redis -WRONGPASS / -NOPERM).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "config/model.hpp"
#include "runtime/runtime.hpp"
#include "secrets/secret_value.hpp"
#include "token/caveat.hpp"

namespace cloakroom::db {

struct LoginRequest {
    std::string_view login;     // the client's user name (selects a DatabaseLogin)
    std::string_view database;  // database name the client asked for ("" when none)
    std::string_view token;     // the client's password
    std::int64_t time_unix = 0;
};

enum class Denial {
    BadToken,      // not a token, bad signature, unknown key, or expired: "wrong password"
    NotAllowed,    // valid token whose caveats do not cover this database/login/name
    UnknownLogin,  // no login of that name on this database
    Unavailable,   // the login's secret could not be read (operator problem; logged)
    Limited,       // a rate limit, concurrency limit or budget (runtime/rate_limit.hpp)
};

struct LoginDenied {
    Denial kind = Denial::BadToken;
    std::string message;   // readable, safe to send to the client (no secret, no token)
    std::string token_id;  // when the token decoded
};

struct LoginGranted {
    const config::DatabaseLogin* login = nullptr;  // points into the runtime's config
    std::optional<secrets::SecretValue> password;  // none when the login has no password
    std::string token_id;
    std::optional<std::int64_t> minted;  // runtime::mint_time: a later revocation compares it
    // Redis command allow-lists (DbCommands caveats) the session must enforce on every command;
    // each inner list must allow a command. Empty = no command restriction.
    std::vector<std::vector<std::string>> command_lists;
    // The limiter's permit: held for the session's life (its concurrency slot). May be null.
    std::unique_ptr<runtime::Limiter::Permit> permit;
};

using LoginDecision = std::variant<LoginGranted, LoginDenied>;

LoginDecision authorize_login(const runtime::Runtime& runtime, const config::Database& database,
                              const LoginRequest& request);

}  // namespace cloakroom::db
