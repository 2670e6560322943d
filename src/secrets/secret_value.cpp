#include "secrets/secret_value.hpp"

#include <openssl/crypto.h>

#include <ostream>
#include <utility>

namespace cloakroom::secrets {
namespace {

void wipe(std::string& bytes) {
    // Wipe the whole capacity, not just size(): a shrunken string may hold old bytes past the end.
    if (bytes.capacity() > 0) OPENSSL_cleanse(bytes.data(), bytes.capacity());
    bytes.clear();
}

}  // namespace

SecretValue::SecretValue(std::string bytes) : bytes_(std::move(bytes)) {}

SecretValue::SecretValue(const SecretValue& other) : bytes_(other.bytes_) {}

SecretValue& SecretValue::operator=(const SecretValue& other) {
    if (this != &other) {
        wipe(bytes_);
        bytes_ = other.bytes_;
    }
    return *this;
}

// A moved-from std::string keeps short content in its inline buffer (and libstdc++ may hand
// our old heap buffer to it): wiping the source after the move covers both.
SecretValue::SecretValue(SecretValue&& other) noexcept : bytes_(std::move(other.bytes_)) {
    wipe(other.bytes_);
}

SecretValue& SecretValue::operator=(SecretValue&& other) noexcept {
    if (this != &other) {
        wipe(bytes_);
        bytes_ = std::move(other.bytes_);
        wipe(other.bytes_);
    }
    return *this;
}

SecretValue::~SecretValue() {
    wipe(bytes_);
}

void PrintTo(const SecretValue& /*value*/, std::ostream* out) {
    *out << SecretValue::kRedacted;
}

}  // namespace cloakroom::secrets
