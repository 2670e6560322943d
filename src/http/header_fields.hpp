// Header field checks, one line at a time, plus the framing state that spans lines
// (Content-Length, Transfer-Encoding, Host). Internal to src/http.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "http/head_text.hpp"
#include "http/head_validator.hpp"

namespace cloakroom::http::detail {

// Statuses are the request-side ones (400, 501); the response validator maps them to 502.
// Reasons follow the rule of head_text.hpp: on the response side they quote no received byte.
class FieldChecker {
  public:
    FieldChecker(Side side, int minor_version) : side_(side), minor_version_(minor_version) {}

    // `line` is one field line without its CRLF, known to hold no CR or LF. `next_is_folded`:
    // the following line starts with SP/HTAB, i.e. continues this one (obs-fold). It is
    // reported before anything about this line's value, which a fold makes meaningless.
    std::optional<HeadRejection> add(std::string_view line, bool next_is_folded);
    // After the last field: what only the whole head can tell (a missing Host).
    std::optional<HeadRejection> finish() const;

  private:
    std::optional<HeadRejection> check_framing(std::string_view name, std::string_view value);
    std::optional<HeadRejection> check_content_length(std::string_view value);
    std::optional<HeadRejection> check_transfer_encoding(std::string_view value);
    std::optional<HeadRejection> check_host(std::string_view value);

    Side side_;
    int minor_version_;
    bool first_ = true;
    bool has_content_length_ = false;
    bool has_transfer_encoding_ = false;
    bool has_host_ = false;
};

}  // namespace cloakroom::http::detail
