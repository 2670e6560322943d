// The byte strings a database reply must never carry to the agent: the session's real upstream
// password(s) and their obvious encodings. A reply from a database is agent-visible output like an
// HTTP response body (docs/databases.md, "Replies are redacted"): a value the server echoes, an
// error quoting a statement, `CONFIG GET requirepass`.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace cloakroom::db {

class SessionSecrets {
  public:
    SessionSecrets() = default;
    ~SessionSecrets();
    SessionSecrets(SessionSecrets&&) noexcept = default;
    SessionSecrets& operator=(SessionSecrets&&) noexcept = default;
    SessionSecrets(const SessionSecrets&) = delete;
    SessionSecrets& operator=(const SessionSecrets&) = delete;

    // The password as sent, its hexadecimal (lower and upper case) and base64 forms, and the
    // lower-case hex SHA-256 (what Redis ACL LIST / ACL GETUSER print for a password). Empty
    // passwords add nothing.
    void add_password(std::string_view password);

    // Views into this object's copies (valid while it lives and add_password is not called).
    std::vector<std::string_view> needles() const;
    bool empty() const { return needles_.empty(); }

  private:
    std::vector<std::string> needles_;  // wiped on destruction
};

}  // namespace cloakroom::db
