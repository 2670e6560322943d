// The rules every secret value obeys, whichever provider produced it: exactly one trailing "\n"
// or "\r\n" is stripped, then the value must be non-empty, free of NUL, CR and LF, and valid
// UTF-8. A value that breaks a rule is refused rather than repaired, because a header value with
// a stray CR/LF is a request-splitting bug and a silently truncated key is a confusing outage.
#pragma once

#include <cstddef>
#include <string_view>

#include "secrets/secret_buffer.hpp"
#include "util/result.hpp"

namespace cloakroom::secrets {

// Strips one trailing line ending in place, then checks the rules. Errors (code "secret.invalid")
// name the rule and the byte offset, never the content. `source` is the reference text, used
// only to prefix the message.
Result<void> apply_value_rules(SecretBuffer& bytes, std::string_view source);

// Offset of the first byte that is not part of well-formed UTF-8 (RFC 3629: no overlongs, no
// surrogates, nothing above U+10FFFF), with the reason; npos when the whole input is valid.
struct Utf8Problem {
    std::size_t offset = std::string_view::npos;
    std::string_view reason;
};
Utf8Problem find_utf8_problem(std::string_view bytes);

}  // namespace cloakroom::secrets
