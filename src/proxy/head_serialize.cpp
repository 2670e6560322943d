#include "proxy/head_serialize.hpp"

#include <boost/beast/http/status.hpp>

namespace cloakroom::proxy {
namespace bhttp = boost::beast::http;

namespace {

void append_version(std::string& out, unsigned version) {
    out += "HTTP/";
    out += static_cast<char>('0' + version / 10);
    out += '.';
    out += static_cast<char>('0' + version % 10);
}

template <class Fields>
void append_fields(std::string& out, const Fields& fields) {
    for (const auto& field : fields) {
        out += field.name_string();
        out += ": ";
        out += field.value();
        out += "\r\n";
    }
    out += "\r\n";
}

std::size_t estimate(const bhttp::fields& fields) {
    std::size_t size = 64;
    for (const auto& field : fields) size += field.name_string().size() + field.value().size() + 4;
    return size;
}

}  // namespace

std::string serialize_request_head(const bhttp::request_header<>& header) {
    std::string out;
    out.reserve(estimate(header) + header.target().size());
    out += header.method_string();
    out += ' ';
    out += header.target();
    out += ' ';
    append_version(out, header.version());
    out += "\r\n";
    append_fields(out, header);
    return out;
}

std::string serialize_response_head(const bhttp::response_header<>& header) {
    std::string out;
    out.reserve(estimate(header) + header.reason().size());
    append_version(out, header.version());
    const unsigned code = header.result_int();
    out += ' ';
    out += static_cast<char>('0' + code / 100);
    out += static_cast<char>('0' + (code / 10) % 10);
    out += static_cast<char>('0' + code % 10);
    out += ' ';
    const auto reason = header.reason();
    out += reason.empty() ? bhttp::obsolete_reason(static_cast<bhttp::status>(code)) : reason;
    out += "\r\n";
    append_fields(out, header);
    return out;
}

}  // namespace cloakroom::proxy
