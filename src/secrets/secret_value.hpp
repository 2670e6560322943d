// A secret's bytes. It cannot be printed, formatted, streamed or serialized: the only way to the
// content is reveal(), which call sites use at the single point of injection. Memory is wiped
// (OPENSSL_cleanse) on destruction and on move-from.
#pragma once

#include <iosfwd>
#include <string>
#include <string_view>

namespace cloakroom::secrets {

class SecretValue {
  public:
    SecretValue() = default;
    explicit SecretValue(std::string bytes);
    SecretValue(const SecretValue&);
    SecretValue& operator=(const SecretValue&);
    SecretValue(SecretValue&&) noexcept;
    SecretValue& operator=(SecretValue&&) noexcept;
    ~SecretValue();

    // The content. Name chosen so every use is easy to find in review.
    std::string_view reveal() const { return bytes_; }
    std::size_t size() const { return bytes_.size(); }
    bool empty() const { return bytes_.empty(); }

    // What logs and JSON get instead of the value.
    static constexpr std::string_view kRedacted = "[REDACTED]";

  private:
    std::string bytes_;
};

// GoogleTest's printer for values (found by ADL). Without it, a failing assertion that mentions
// a SecretValue would hex-dump the object's bytes, and a short string keeps its characters
// inline. Prints kRedacted. This is deliberately not operator<<: nothing else may stream it.
void PrintTo(const SecretValue& value, std::ostream* out);

}  // namespace cloakroom::secrets
