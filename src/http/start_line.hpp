// Request line and status line checks. Internal to src/http.
#pragma once

#include <optional>
#include <string_view>

#include "http/head_validator.hpp"

namespace cloakroom::http::detail {

struct StartLine {
    int minor_version = 1;  // HTTP/1.<minor>; only 0 and 1 pass
};

// request-line = method SP request-target SP HTTP-version, exactly one SP each, with a target
// form that fits the method (RFC 9112 §3.2). Statuses are the request-side ones (400).
std::optional<HeadRejection> check_request_line(std::string_view line, StartLine& out);
// status-line = HTTP-version SP 3DIGIT SP reason-phrase. Returned status is 400; the response
// validator turns every rejection into 502.
std::optional<HeadRejection> check_status_line(std::string_view line, StartLine& out);

}  // namespace cloakroom::http::detail
