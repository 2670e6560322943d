#include "secrets/secret_buffer.hpp"

#include <openssl/crypto.h>

#include <algorithm>
#include <utility>

namespace cloakroom::secrets {

SecretBuffer::SecretBuffer(std::size_t capacity) : bytes_(capacity, '\0') {}

SecretBuffer::SecretBuffer(SecretBuffer&& other) noexcept
    : bytes_(std::move(other.bytes_)), size_(std::exchange(other.size_, 0)) {
    other.wipe();
}

SecretBuffer& SecretBuffer::operator=(SecretBuffer&& other) noexcept {
    if (this != &other) {
        wipe();
        bytes_ = std::move(other.bytes_);
        size_ = std::exchange(other.size_, 0);
        other.wipe();
    }
    return *this;
}

SecretBuffer::~SecretBuffer() {
    wipe();
}

void SecretBuffer::wipe() {
    if (bytes_.capacity() > 0) OPENSSL_cleanse(bytes_.data(), bytes_.capacity());
    size_ = 0;
}

SecretValue SecretBuffer::take() {
    // Reserve past the small-string buffer so the bytes live on the heap: moving a heap string
    // hands over the pointer, whereas moving a short (inline) string copies it and leaves the
    // old inline bytes behind in a temporary we cannot wipe.
    std::string exact;
    exact.reserve(std::max<std::size_t>(size_, 32));
    exact.assign(bytes_.data(), size_);
    wipe();
    return SecretValue(std::move(exact));
}

}  // namespace cloakroom::secrets
