#include "db/login.hpp"

#include <spdlog/spdlog.h>

#include "db/token_shape.hpp"
#include "runtime/access.hpp"
#include "runtime/admission.hpp"
#include "token/evaluate.hpp"
#include "token/token.hpp"

namespace cloakroom::db {
namespace {

LoginDenied deny(Denial kind, std::string message, std::string token_id = {}) {
    return LoginDenied{kind, std::move(message), std::move(token_id)};
}

}  // namespace

LoginDecision authorize_login(const runtime::Runtime& runtime, const config::Database& database,
                              const LoginRequest& request) {
    const token::TokenFormat format{runtime.config.token.prefix, runtime.config.token.location};
    const token::DbAccessRequest access{
        database.name, std::string(request.login), std::string(request.database),
        std::string(config::to_string(database.protocol)), request.time_unix};
    // A token in the name fields: never verified, never quoted (the message names no input).
    if (looks_like_token(request.login, format.prefix)) {
        return deny(Denial::BadToken, std::string(kTokenAsUserHint));
    }
    if (looks_like_token(request.database, format.prefix)) {
        return deny(Denial::BadToken,
                    "a token was sent as the database name; send it as the password");
    }
    if (request.token.empty()) {
        return deny(Denial::BadToken, "no password given: send your Cloakroom token (" +
                                          format.prefix + "...) as the password");
    }
    const runtime::AccessContext context{runtime.keys, format, runtime.verify_cache.get(),
                                         runtime.revocations.get()};
    const runtime::AccessDecision outcome = runtime::decide_access(request.token, access, context);
    using Verdict = runtime::AccessDecision::Verdict;
    switch (outcome.verdict) {
        case Verdict::Invalid:
            return deny(Denial::BadToken,
                        "the password is not a valid Cloakroom token (" +
                            std::string(outcome.stage) + "): " + outcome.detail,
                        outcome.token_id);
        case Verdict::Expired:
            // About the token itself, like a wrong password.
            return deny(Denial::BadToken,
                        "the Cloakroom token has expired or is not valid yet: " + outcome.detail +
                            "; ask for a new token",
                        outcome.token_id);
        case Verdict::Revoked:
            // About the token itself, like a wrong password.
            return deny(
                Denial::BadToken,
                "the Cloakroom token has been revoked: " + outcome.detail + "; ask for a new token",
                outcome.token_id);
        case Verdict::Unavailable:
            // The gateway's problem, not the token's (PostgreSQL 08006, MySQL HY000, Redis -ERR).
            return deny(Denial::Unavailable,
                        "Cloakroom cannot check this token now: " + outcome.detail,
                        outcome.token_id);
        case Verdict::Forbidden: {
            std::string what = "login \"" + std::string(request.login) + "\" on database \"" +
                               database.name + "\"";
            if (!request.database.empty())
                what += " (database name \"" + std::string(request.database) + "\")";
            return deny(Denial::NotAllowed,
                        "the Cloakroom token does not allow " + what + ": " + outcome.detail,
                        outcome.token_id);
        }
        case Verdict::Ok:
            break;
    }

    const config::DatabaseLogin* login = database.find_login(request.login);
    if (login == nullptr) {
        std::string names;
        for (const auto& known : database.logins) {
            names += names.empty() ? "" : ", ";
            names += known.name;
        }
        return deny(Denial::UnknownLogin,
                    "database \"" + database.name + "\" has no login \"" +
                        std::string(request.login) + "\" (use one of: " + names + ")",
                    outcome.token_id);
    }

    LoginGranted granted;
    // A session is one request for the limits; checked before the password is read.
    const auto caveat_limits = token::usage_limits(outcome.caveats);
    if (auto limited =
            runtime::admit_limits(runtime, database.name, &database.limits, outcome.token_id,
                                  caveat_limits, token::expiry(outcome.caveats), granted.permit)) {
        return deny(Denial::Limited, limited->reason, outcome.token_id);
    }
    granted.login = login;
    granted.token_id = outcome.token_id;
    granted.minted = outcome.minted;
    granted.command_lists = token::command_lists(outcome.caveats);
    if (login->password) {
        auto secret = runtime.resolver->resolve(*login->password);
        if (!secret.ok()) {
            // The operator's problem, not the agent's: the details go to the log only.
            spdlog::error("database \"{}\" login \"{}\": cannot read its password: {}",
                          database.name, login->name, secret.error().message);
            return deny(Denial::Unavailable,
                        "Cloakroom cannot read the password of login \"" + login->name +
                            "\"; the operator has been told (see Cloakroom's log)",
                        outcome.token_id);
        }
        granted.password = std::move(*secret);
    }
    return granted;
}

}  // namespace cloakroom::db
