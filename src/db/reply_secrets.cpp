#include "db/reply_secrets.hpp"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cctype>

#include "util/base64.hpp"
#include "util/hex.hpp"

namespace cloakroom::db {
namespace {

void wipe(std::string& text) {
    if (text.capacity() > 0) OPENSSL_cleanse(text.data(), text.capacity());
    text.clear();
}

}  // namespace

SessionSecrets::~SessionSecrets() {
    for (auto& needle : needles_) wipe(needle);
}

void SessionSecrets::add_password(std::string_view password) {
    if (password.empty()) return;
    auto add = [this](std::string value) {
        if (value.empty() || std::find(needles_.begin(), needles_.end(), value) != needles_.end()) {
            wipe(value);
            return;
        }
        needles_.push_back(std::move(value));
    };
    add(std::string(password));
    std::string hex = hex_encode(password);
    std::string upper = hex;
    std::transform(upper.begin(), upper.end(), upper.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    add(std::move(hex));
    add(std::move(upper));
    add(base64_encode(password));
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char*>(password.data()), password.size(), digest);
    add(hex_encode(std::string_view(reinterpret_cast<const char*>(digest), sizeof digest)));
    OPENSSL_cleanse(digest, sizeof digest);
}

std::vector<std::string_view> SessionSecrets::needles() const {
    return {needles_.begin(), needles_.end()};
}

}  // namespace cloakroom::db
