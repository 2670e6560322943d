#include "proxy/body_framing.hpp"

#include <array>
#include <boost/asio/buffer.hpp>
#include <charconv>
#include <cstdint>
#include <limits>
#include <string_view>

#include "util/ascii.hpp"

namespace cloakroom::proxy {
namespace {

namespace bhttp = boost::beast::http;

// A head of a few dozen bytes, built on the stack: this runs for every response.
class SyntheticHead {
  public:
    void append(std::string_view text) {
        for (char c : text) bytes_[size_++] = c;
    }
    void append_number(std::uint64_t value) {
        size_ = static_cast<std::size_t>(
            std::to_chars(bytes_.data() + size_, bytes_.data() + bytes_.size(), value).ptr -
            bytes_.data());
    }
    // The framing fields of `head`, then the end of the head.
    void append_framing(const http::Head& head) {
        if (head.chunked()) {
            append("Transfer-Encoding: chunked\r\n");
        } else if (const auto length = head.content_length()) {
            append("Content-Length: ");
            append_number(*length);
            append("\r\n");
        }
        append("\r\n");
    }
    boost::asio::const_buffer buffer() const { return {bytes_.data(), size_}; }

  private:
    std::array<char, 128> bytes_{};
    std::size_t size_ = 0;
};

template <bool IsRequest>
bool put_head(bhttp::parser<IsRequest, bhttp::buffer_body>& parser, const SyntheticHead& head) {
    // Not boost::none: Beast 1.74 then refuses every Content-Length (helper finding, pinned by
    // http_beast_agreement_test).
    parser.body_limit(std::numeric_limits<std::uint64_t>::max());
    boost::beast::error_code ec;
    parser.put(head.buffer(), ec);
    if (ec == bhttp::error::need_more) ec = {};
    return !ec && parser.is_header_done();
}

}  // namespace

bool request_has_body(const http::Head& head) {
    if (head.chunked()) return true;
    const auto length = head.content_length();
    return length && *length > 0;
}

bool frame_request_body(const http::Head& head, RequestParser& parser) {
    SyntheticHead text;
    text.append("POST / HTTP/1.1\r\n");
    text.append_framing(head);
    return put_head(parser, text);
}

bool frame_response_body(const http::Head& head, ResponseParser& parser, bool head_request) {
    SyntheticHead text;
    text.append("HTTP/1.1 ");
    text.append_number(head.status());
    text.append(" -\r\n");
    text.append_framing(head);
    if (head_request) parser.skip(true);
    return put_head(parser, text);
}

bool ResponseBody::frame(const http::Head& head, bool head_request) {
    parser_.reset();
    remaining_ = 0;
    done_ = true;
    const unsigned status = head.status();
    // RFC 9112 §6.3: these never have a body, whatever their fields say.
    if (head_request || (status >= 100 && status < 200) || status == 204 || status == 304) {
        kind_ = Kind::None;
        return true;
    }
    if (head.chunked()) {
        kind_ = Kind::Chunked;
        return frame_response_body(head, parser_.emplace(), false);
    }
    if (const auto length = head.content_length()) {
        kind_ = *length == 0 ? Kind::None : Kind::Length;
        remaining_ = *length;
        done_ = *length == 0;
        return true;
    }
    kind_ = Kind::UntilClose;
    done_ = false;
    return true;
}

std::vector<std::pair<std::string, std::string>> ResponseBody::trailers() const {
    std::vector<std::pair<std::string, std::string>> out;
    if (kind_ != Kind::Chunked || !parser_ || !parser_->is_done()) return out;
    for (const auto& field : parser_->get()) {
        const std::string_view name = field.name_string();
        if (ascii_iequals(name, "Transfer-Encoding") || ascii_iequals(name, "Content-Length")) {
            continue;
        }
        out.emplace_back(std::string(name), std::string(field.value()));
    }
    return out;
}

}  // namespace cloakroom::proxy
