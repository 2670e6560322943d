// Scratch space for secret bytes on their way into a SecretValue. Wiped on destruction and on
// move, so every early-return path (bad mode, bad UTF-8, timeout) leaves nothing behind in freed
// heap memory. Capacity is reserved up front and never grown: a std::string that reallocates
// frees its old block without wiping it.
#pragma once

#include <cstddef>
#include <string>

#include "secrets/secret_value.hpp"

namespace cloakroom::secrets {

inline constexpr std::size_t kMaxSecretBytes = 64 * 1024;

class SecretBuffer {
  public:
    // Room for `capacity` bytes; the size starts at 0.
    explicit SecretBuffer(std::size_t capacity);
    SecretBuffer(const SecretBuffer&) = delete;
    SecretBuffer& operator=(const SecretBuffer&) = delete;
    SecretBuffer(SecretBuffer&& other) noexcept;
    SecretBuffer& operator=(SecretBuffer&& other) noexcept;
    ~SecretBuffer();

    char* data() { return bytes_.data(); }
    const char* data() const { return bytes_.data(); }
    std::size_t size() const { return size_; }
    std::size_t capacity() const { return bytes_.size(); }
    // Shrinks or grows within capacity (never reallocates).
    void set_size(std::size_t size) { size_ = size < bytes_.size() ? size : bytes_.size(); }
    std::string_view view() const { return {bytes_.data(), size_}; }

    // Copies the bytes into a SecretValue sized to the content (not to the 64 KiB scratch
    // capacity) and wipes this buffer.
    SecretValue take();

  private:
    void wipe();

    std::string bytes_;  // sized to capacity; only the first size_ bytes are content
    std::size_t size_ = 0;
};

}  // namespace cloakroom::secrets
