// libFuzzer target for the strict HTTP head validator (docs/architecture.md, invariant 8) and the
// head parser behind it (http/head.hpp). Besides "no crash" it checks the properties the proxy
// relies on: the validator is at least as strict as Boost.Beast, so every head it accepts parses in
// Beast, completely and to the same end; our own parse of such a head reads the same start line,
// fields, framing and persistence as Beast; and writing the parsed head out and parsing it again
// gives the same head.
//
// Input: arbitrary bytes, treated as the start of a connection's byte stream.
#include <algorithm>
#include <boost/asio/buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http/head.hpp"
#include "http/head_validator.hpp"
#include "util/ascii.hpp"

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
        // A response's reason quotes none of its bytes (http/head_text.hpp): no quoted byte
        // ('\xNN' is how quote() writes one) and no quoted text.
        require(rejection->reason.find("\\x") == std::string::npos);
        require(rejection->reason.find("...") == std::string::npos);
    }
}

// Name (lowercase) and value of every field, stably sorted by name: Beast keeps the fields of
// one name together (a repeat goes after the last of its name), Head keeps the order received.
// Either way the values of one name keep their order, and that is what must agree.
using FieldList = std::vector<std::pair<std::string, std::string>>;

FieldList by_name(FieldList fields) {
    for (auto& field : fields) {
        for (char& c : field.first) c = cloakroom::ascii_lower(c);
    }
    std::stable_sort(fields.begin(), fields.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    return fields;
}

template <bool IsRequest>
void require_same_fields(const cloakroom::http::Head& ours,
                         const beast_http::header<IsRequest>& beast) {
    FieldList a;
    FieldList b;
    for (const auto& field : ours.fields()) a.emplace_back(field.name, field.value);
    for (const auto& field : beast) b.emplace_back(field.name_string(), field.value());
    require(by_name(std::move(a)) == by_name(std::move(b)));
}

bool same_head(const cloakroom::http::Head& a, const cloakroom::http::Head& b) {
    if (a.method() != b.method() || a.target() != b.target() || a.status() != b.status() ||
        a.minor_version() != b.minor_version() || a.fields().size() != b.fields().size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.fields().size(); ++i) {
        if (a.fields()[i].name != b.fields()[i].name) return false;
        if (a.fields()[i].value != b.fields()[i].value) return false;
    }
    return true;
}

template <bool IsRequest>
void require_head_agrees(std::string_view head,
                         const beast_http::parser<IsRequest, beast_http::empty_body>& parser) {
    const auto& beast = parser.get();
    cloakroom::http::Head ours;
    cloakroom::http::Head again;
    std::string written;
    if constexpr (IsRequest) {
        require(ours.parse_request(head));
        require(ours.method() == beast.method_string());
        require(ours.target() == beast.target());
        ours.append_request(written);
        require(again.parse_request(written));
    } else {
        require(ours.parse_response(head));
        require(ours.status() == beast.result_int());
        // Beast reads an empty reason as the standard phrase, which Head writes out for it.
        require((ours.reason().empty()
                     ? beast_http::obsolete_reason(static_cast<beast_http::status>(ours.status()))
                     : ours.reason()) == beast.reason());
        ours.append_response(written);
        require(again.parse_response(written));
    }
    require(10 + ours.minor_version() == beast.version());
    require_same_fields(ours, beast);
    require(ours.chunked() == parser.chunked());
    // Beast reports a length of its own for heads without the field: compare the field, and
    // the value where Beast has one from it.
    require(ours.content_length().has_value() == beast.has_content_length());
    if (ours.content_length() && parser.content_length()) {
        require(*ours.content_length() == *parser.content_length());
    }
    // Persistence: the parser's keep_alive() combines every Connection field, as Head does
    // (the message's reads only the first one), but also says "no" for a body that ends with
    // the connection; there the message's answer is compared, with one Connection field at most.
    if (!parser.need_eof()) {
        require(ours.keep_alive() == parser.keep_alive());
    } else {
        std::size_t connection_fields = 0;
        for (const auto& field : ours.fields()) {
            connection_fields += cloakroom::ascii_iequals(field.name, "Connection") ? 1 : 0;
        }
        if (connection_fields <= 1) require(ours.keep_alive() == beast.keep_alive());
    }
    if (ours.reason().empty() && !IsRequest) {
        require(!again.reason().empty());  // the standard phrase was written
    } else {
        require(again.reason() == ours.reason());
    }
    require(same_head(ours, again));
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
    require_head_agrees<IsRequest>(head, parser);
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
