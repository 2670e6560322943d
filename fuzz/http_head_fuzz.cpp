// libFuzzer target for the strict HTTP head validator (DESIGN.md invariant 8). Besides "no
// crash" it checks the property the proxy relies on: the validator is at least as strict as
// Boost.Beast, so every head it accepts parses in Beast, completely and to the same end.
//
// Input: arbitrary bytes, treated as the start of a connection's byte stream.
#include <boost/asio/buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <optional>
#include <string_view>

#include "http/head_validator.hpp"

namespace {

namespace beast_http = boost::beast::http;
using cloakroom::http::HeadRejection;

void require(bool condition) {
    if (!condition) std::abort();
}

void check_rejection(const std::optional<HeadRejection>& rejection, bool request) {
    if (!rejection) return;
    require(!rejection->reason.empty());
    for (char c : rejection->reason) require(c >= 0x20 && c <= 0x7E);
    if (request) {
        const unsigned s = rejection->status;
        require(s == 400 || s == 414 || s == 431 || s == 501);
    } else {
        require(rejection->status == 502);
    }
}

template <bool IsRequest>
void require_beast_accepts(std::string_view head) {
    beast_http::parser<IsRequest, beast_http::empty_body> parser;
    parser.eager(false);
    parser.header_limit(std::numeric_limits<std::uint32_t>::max());
    // Not boost::none: Beast 1.74 then refuses every Content-Length (see the agreement test).
    parser.body_limit(std::numeric_limits<std::uint64_t>::max());
    boost::beast::error_code ec;
    const std::size_t used = parser.put(boost::asio::buffer(head.data(), head.size()), ec);
    require(!ec || ec == beast_http::error::need_more);
    // A need_more here would mean Beast looks for the end elsewhere: also a disagreement.
    require(!ec && parser.is_header_done() && used == head.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace cloakroom::http;
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    HeadLimits limits;
    if (size > 0 && data[0] == 'x') {  // small limits now and then, to reach the limit paths
        limits = HeadLimits{.max_head_bytes = 200, .max_fields = 4, .max_line_bytes = 40};
    }

    const auto end = find_head_end(input);
    if (!end) {
        check_rejection(check_incomplete_request_head(input, limits), true);
        check_rejection(check_incomplete_response_head(input, limits), false);
        check_rejection(validate_request_head(input, limits), true);
        return 0;
    }
    require(end->size >= 2 && end->size <= size);
    const std::string_view head = input.substr(0, end->size);
    require(head.ends_with("\n"));
    if (!end->malformed_terminator) require(head.ends_with("\r\n\r\n"));

    const auto request = validate_request_head(head, limits);
    const auto response = validate_response_head(head, limits);
    check_rejection(request, true);
    check_rejection(response, false);
    if (end->malformed_terminator) require(request.has_value() && response.has_value());
    if (!request) require_beast_accepts<true>(head);
    if (!response) require_beast_accepts<false>(head);
    return 0;
}
