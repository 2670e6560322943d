#include "db/postgres/pg_relay_filters.hpp"

#include <algorithm>

#include "db/postgres/pg_protocol.hpp"

namespace cloakroom::db::postgres {
namespace {

std::uint32_t length_word(std::string_view header) {
    std::uint32_t out = 0;
    for (std::size_t i = 1; i < kMessageHeaderSize; ++i) {
        out = (out << 8) | static_cast<unsigned char>(header[i]);
    }
    return out;
}

}  // namespace

bool frontend_type_allowed(char type) {
    // Bind, Close, CopyData, CopyDone, CopyFail, Describe, Execute, Flush, FunctionCall, Parse,
    // Query, Sync, Terminate. Not 'p': the authentication responses belong to the login only.
    static constexpr std::string_view kAllowed = "BCdcfDEHFPQSX";
    return kAllowed.find(type) != std::string_view::npos;
}

bool ClientGuard::fail(std::string error) {
    failed_ = true;
    error_ = std::move(error);
    return false;
}

bool ClientGuard::feed(std::string_view chunk, std::string& out) {
    if (failed_) return false;
    std::size_t i = 0;
    while (i < chunk.size()) {
        if (in_body_) {
            const auto n =
                static_cast<std::size_t>(std::min<std::uint64_t>(left_, chunk.size() - i));
            out.append(chunk.substr(i, n));
            i += n;
            left_ -= n;
            if (left_ == 0) in_body_ = false;
            continue;
        }
        if (header_.empty()) {
            const char type = chunk[i];
            if (type == 'p') {
                return fail(
                    "a password, SASL or GSSAPI message after login is refused: Cloakroom's "
                    "login is the only one in a session");
            }
            if (!frontend_type_allowed(type)) {
                return fail(type == '\0'
                                ? "a startup, SSL, GSSAPI or cancel request inside a session is "
                                  "refused: Cloakroom's login is the only one in a session"
                                : "invalid frontend message type " + describe_type(type));
            }
        }
        const std::size_t n = std::min(kMessageHeaderSize - header_.size(), chunk.size() - i);
        header_.append(chunk.substr(i, n));
        i += n;
        if (header_.size() < kMessageHeaderSize) continue;
        const std::uint32_t length = length_word(header_);
        if (length < 4) return fail("invalid message length");
        out += header_;
        header_.clear();
        left_ = length - 4;
        in_body_ = left_ > 0;
    }
    return true;
}

ReplyGuard::ReplyGuard(std::vector<std::string_view> secrets) : redactor_(std::move(secrets)) {}

bool ReplyGuard::feed(std::string_view chunk, std::string& out) {
    if (broken_) return false;
    std::size_t i = 0;
    while (i < chunk.size()) {
        if (in_body_) {
            const auto n =
                static_cast<std::size_t>(std::min<std::uint64_t>(left_, chunk.size() - i));
            redactor_.feed(chunk.substr(i, n), out);
            i += n;
            left_ -= n;
            if (left_ == 0) {
                redactor_.finish(out);  // a secret never spans two messages
                redactor_.reset();
                in_body_ = false;
            }
            continue;
        }
        const std::size_t n = std::min(kMessageHeaderSize - header_.size(), chunk.size() - i);
        header_.append(chunk.substr(i, n));
        i += n;
        if (header_.size() < kMessageHeaderSize) continue;
        const std::uint32_t length = length_word(header_);
        if (length < 4) {
            // No framing left to redact within: nothing more reaches the client.
            broken_ = true;
            return false;
        }
        out += header_;
        header_.clear();
        left_ = length - 4;
        in_body_ = left_ > 0;
    }
    return true;
}

}  // namespace cloakroom::db::postgres
