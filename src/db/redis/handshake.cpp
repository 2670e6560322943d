#include "db/redis/handshake.hpp"

#include <algorithm>

#include "db/redis/commands.hpp"
#include "db/redis/resp.hpp"

namespace cloakroom::db::redis {
namespace {

constexpr std::string_view kHelloNoAuth =
    "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO "
    "<proto> AUTH <user> <pass> option can be used to authenticate the client and select the "
    "RESP protocol version at the same time";

PreAuthReply reply(std::string_view error_text) {
    return PreAuthReply{error_reply(error_text)};
}

bool valid_client_name(std::string_view name) {
    // redis-server's validateClientName: printable ASCII without spaces.
    return std::all_of(name.begin(), name.end(), [](char c) { return c >= '!' && c <= '~'; });
}

std::string printable(std::string_view text, std::size_t limit) {
    std::string out;
    for (const char c : text.substr(0, limit)) {
        const auto byte = static_cast<unsigned char>(c);
        out += (byte < 0x20 || byte >= 0x7f) ? ' ' : c;
    }
    return out;
}

}  // namespace

PreAuthStep interpret_pre_auth(const std::vector<std::string>& args) {
    const std::string name = ascii_upper(args.at(0));
    if (name == "AUTH") {
        if (args.size() < 2) return reply("ERR wrong number of arguments for 'auth' command");
        if (args.size() > 3) return reply("ERR syntax error");
        AuthRequest request;
        if (args.size() == 3) request.login = args[1];
        request.token = args.back();
        return request;
    }
    if (name == "HELLO") {
        if (args.size() < 2) return reply(kHelloNoAuth);
        std::int64_t version = 0;
        if (!parse_length(args[1], true, version)) {
            return reply("ERR Protocol version is not an integer or out of range");
        }
        if (version != 2 && version != 3) return reply("NOPROTO unsupported protocol version");
        AuthRequest request;
        request.hello_version = static_cast<int>(version);
        bool auth = false;
        for (std::size_t j = 2; j < args.size(); ++j) {
            const std::size_t more = args.size() - 1 - j;
            const std::string option = ascii_upper(args[j]);
            if (option == "AUTH" && more >= 2) {
                request.login = args[j + 1];
                request.token = args[j + 2];
                auth = true;
                j += 2;
            } else if (option == "SETNAME" && more >= 1) {
                request.client_name = args[j + 1];
                ++j;
            } else {
                // No quoting of the option: a misplaced token would be echoed.
                return reply(
                    "ERR Syntax error in HELLO options (expected HELLO <2|3> AUTH <login> <token> "
                    "[SETNAME <name>])");
            }
        }
        if (!auth) return reply(kHelloNoAuth);
        if (request.client_name && !valid_client_name(*request.client_name)) {
            return reply("ERR Client names cannot contain spaces, newlines or special characters.");
        }
        return request;
    }
    if (name == "QUIT") return PreAuthReply{"+OK\r\n", true};
    if (name == "RESET") return PreAuthReply{"+RESET\r\n"};
    return reply("NOAUTH Authentication required.");
}

std::optional<std::string> implicit_login(const std::vector<std::string>& login_names) {
    if (std::find(login_names.begin(), login_names.end(), "default") != login_names.end()) {
        return std::string("default");
    }
    if (login_names.size() == 1) return login_names.front();
    return std::nullopt;
}

std::string no_implicit_login_reply(const std::vector<std::string>& login_names) {
    std::string names;
    for (const auto& login : login_names) {
        if (!names.empty()) names += ", ";
        names += printable(login, 64);
        if (names.size() > 200) {
            names += ", ...";
            break;
        }
    }
    return error_reply("ERR Cloakroom: this database has several logins (" + names +
                       "); use AUTH <login> <token>");
}

std::string denial_reply(Refusal kind, std::string_view message) {
    const std::string reason = printable(message, 400);
    switch (kind) {
        case Refusal::WrongPass:
            return error_reply(
                "WRONGPASS invalid username-password pair or user is disabled. Cloakroom: " +
                reason);
        case Refusal::NoPerm:
            return error_reply("NOPERM Cloakroom: " + reason);
        case Refusal::Unavailable:
            break;
    }
    return error_reply("ERR Cloakroom: " + reason);
}

std::string upstream_login_command(std::string_view user,
                                   const std::optional<std::string_view>& password,
                                   int hello_version,
                                   const std::optional<std::string>& client_name) {
    const bool is_default = user == "default";
    std::vector<std::string> args;
    if (hello_version == 0) {
        if (!password && is_default) return {};
        args = {"AUTH"};
        if (!is_default) args.emplace_back(user);
        args.emplace_back(password ? *password : std::string_view());
        return encode_command(args);
    }
    args = {"HELLO", std::to_string(hello_version)};
    if (password || !is_default) {
        args.emplace_back("AUTH");
        args.emplace_back(user);
        args.emplace_back(password ? *password : std::string_view());
    }
    if (client_name) {
        args.emplace_back("SETNAME");
        args.emplace_back(*client_name);
    }
    return encode_command(args);
}

std::string upstream_failure_reply(std::string_view upstream_error, std::string_view login,
                                   const std::vector<std::string_view>& secrets) {
    std::size_t code_end = 0;
    while (code_end < upstream_error.size() && code_end < 32 && upstream_error[code_end] >= 'A' &&
           upstream_error[code_end] <= 'Z') {
        ++code_end;
    }
    const std::string code =
        code_end == 0 ? std::string("error") : std::string(upstream_error.substr(0, code_end));
    bool quotable = !upstream_error.empty() && upstream_error.size() <= 300 &&
                    upstream_error.find_first_of("'\"`") == std::string_view::npos;
    for (const std::string_view secret : secrets) {
        if (!secret.empty() && upstream_error.find(secret) != std::string_view::npos) {
            quotable = false;
        }
    }
    std::string text =
        "ERR Cloakroom: the database refused Cloakroom's login for '" + display_name(login) +
        "': " + (quotable ? printable(upstream_error, 300) : code + " (details withheld)");
    if (code == "WRONGPASS") text += " (the operator should check this login's password)";
    return error_reply(text);
}

}  // namespace cloakroom::db::redis
