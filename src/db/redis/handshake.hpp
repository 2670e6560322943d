// The Redis login phase as pure functions: what Cloakroom answers to a client's commands before
// it has logged in, which login AUTH <token> means, the errors for a denied token, and the
// command that logs Cloakroom in upstream. redis_session.cpp does the I/O around them.
//
// Before login Cloakroom behaves like a redis-server whose users all need a password: AUTH and
// HELLO <2|3> AUTH log in, QUIT and RESET answer as usual, anything else (PING included) gets
// -NOAUTH. The password a client sends is its Cloakroom token; no reply ever quotes it.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace cloakroom::db::redis {

// A reply to send, and whether to close the connection after it.
struct PreAuthReply {
    std::string bytes;
    bool close = false;
};

// AUTH [login] <token>, or HELLO <2|3> AUTH <login> <token> [SETNAME <name>].
struct AuthRequest {
    std::optional<std::string> login;  // nullopt: "AUTH <token>" (see implicit_login)
    std::string token;
    int hello_version = 0;                   // 0 for AUTH; 2 or 3 for HELLO
    std::optional<std::string> client_name;  // HELLO's SETNAME
};

using PreAuthStep = std::variant<PreAuthReply, AuthRequest>;

// `args` is one non-empty command as parse_command returned it.
PreAuthStep interpret_pre_auth(const std::vector<std::string>& args);

// The login "AUTH <token>" (no user name) selects: "default" when configured, else the only
// login; nullopt when there are several and none is "default".
std::optional<std::string> implicit_login(const std::vector<std::string>& login_names);
// The error for AUTH <token> when implicit_login found none.
std::string no_implicit_login_reply(const std::vector<std::string>& login_names);

// A denied login (db::Denial): WrongPass for a bad or expired token or an unknown login (Redis's
// own -WRONGPASS text, then Cloakroom's reason), NoPerm for a valid token that does not cover
// this database or login, Unavailable when Cloakroom cannot read the login's password.
enum class Refusal { WrongPass, NoPerm, Unavailable };
std::string denial_reply(Refusal kind, std::string_view message);

// The command that logs in upstream as `user` (the login's real user):
//   AUTH flow:  AUTH <password> for "default" (requirepass), AUTH <user> <password> otherwise;
//               "" (send nothing) for "default" without a password.
//   HELLO flow: HELLO <version> [AUTH <user> <password>] [SETNAME <name>].
// A login without a password for another user sends an empty password, which a "nopass" Redis
// ACL user accepts.
std::string upstream_login_command(std::string_view user,
                                   const std::optional<std::string_view>& password,
                                   int hello_version,
                                   const std::optional<std::string>& client_name);

// The client's error when the upstream refused Cloakroom's login (the upstream's error line
// without '-'). The upstream's own text is included only when it cannot quote anything: no
// quotes and none of `secrets` (the password, the token) in it; otherwise only its error code.
std::string upstream_failure_reply(std::string_view upstream_error, std::string_view login,
                                   const std::vector<std::string_view>& secrets);

}  // namespace cloakroom::db::redis
