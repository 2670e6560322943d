#include "http/head.hpp"

#include <string.h>  // explicit_bzero

#include <boost/beast/http/status.hpp>

#include "http/head_text.hpp"
#include "util/ascii.hpp"

namespace cloakroom::http {
namespace {

constexpr std::string_view kCrlf = "\r\n";

using detail::trim_ows;

// Splits off the line at the front of `rest` (without its CRLF); false if there is no CRLF.
bool next_line(std::string_view& rest, std::string_view& line) {
    const std::size_t end = rest.find(kCrlf);
    if (end == std::string_view::npos) return false;
    line = rest.substr(0, end);
    rest.remove_prefix(end + kCrlf.size());
    return true;
}

// "HTTP/1.0" or "HTTP/1.1" → 0 or 1.
std::optional<unsigned> parse_version(std::string_view text) {
    if (text.size() != 8 || !text.starts_with("HTTP/1.")) return std::nullopt;
    if (text[7] == '0') return 0u;
    if (text[7] == '1') return 1u;
    return std::nullopt;
}

}  // namespace

bool list_contains(std::string_view list, std::string_view token) {
    while (!list.empty()) {
        const std::size_t comma = list.find(',');
        if (ascii_iequals(trim_ows(list.substr(0, comma)), token)) return true;
        if (comma == std::string_view::npos) break;
        list.remove_prefix(comma + 1);
    }
    return false;
}

namespace {

void append_version(std::string& out, unsigned minor) {
    out += "HTTP/1.";
    out += static_cast<char>('0' + minor);
}

}  // namespace

void Head::clear() {
    bytes_.clear();
    // Set values include injected credentials: they do not stay behind in reused storage.
    for (std::size_t i = 0; i < owned_used_; ++i) {
        if (!owned_[i].empty()) explicit_bzero(owned_[i].data(), owned_[i].size());
        owned_[i].clear();
    }
    owned_used_ = 0;
    fields_.clear();
    method_ = target_ = reason_ = {};
    status_ = 0;
    minor_version_ = 1;
}

bool Head::fail() {
    clear();
    return false;
}

std::size_t Head::retained_bytes() const {
    std::size_t total = bytes_.capacity() + fields_.capacity() * sizeof(HeadField);
    total += owned_.size() * sizeof(std::string);
    for (const std::string& text : owned_) total += text.capacity();
    return total;
}

void Head::replace_value(std::size_t index, std::string_view value) {
    fields_[index].value = own(value);
}

void Head::replace_name(std::size_t index, std::string_view name) {
    fields_[index].name = own(name);
}

std::string_view Head::own(std::string_view text) {
    if (owned_used_ == owned_.size()) owned_.emplace_back();
    std::string& slot = owned_[owned_used_++];
    slot.assign(text);
    return slot;
}

bool Head::parse_fields(std::string_view rest) {
    std::string_view line;
    while (next_line(rest, line)) {
        if (line.empty()) return rest.empty();  // the terminator ends the head
        const std::size_t colon = line.find(':');
        if (colon == std::string_view::npos || colon == 0) return false;
        fields_.push_back(HeadField{line.substr(0, colon), trim_ows(line.substr(colon + 1))});
    }
    return false;
}

bool Head::parse_request(std::string_view bytes) {
    clear();
    bytes_.assign(bytes.begin(), bytes.end());
    std::string_view rest(bytes_.data(), bytes_.size());
    std::string_view line;
    if (!next_line(rest, line)) return fail();
    const std::size_t first = line.find(' ');
    const std::size_t second = first == std::string_view::npos ? first : line.find(' ', first + 1);
    if (second == std::string_view::npos || first == 0 || second == first + 1) {
        return fail();
    }
    const auto minor = parse_version(line.substr(second + 1));
    if (!minor) return fail();
    method_ = line.substr(0, first);
    target_ = line.substr(first + 1, second - first - 1);
    minor_version_ = *minor;
    if (!parse_fields(rest)) return fail();
    return true;
}

bool Head::parse_response(std::string_view bytes) {
    clear();
    bytes_.assign(bytes.begin(), bytes.end());
    std::string_view rest(bytes_.data(), bytes_.size());
    std::string_view line;
    if (!next_line(rest, line) || line.size() < 12 || line[8] != ' ') return fail();
    const auto minor = parse_version(line.substr(0, 8));
    unsigned status = 0;
    for (std::size_t i = 9; i < 12; ++i) {
        if (line[i] < '0' || line[i] > '9') return fail();
        status = status * 10 + static_cast<unsigned>(line[i] - '0');
    }
    if (!minor || status < 100 || (line.size() > 12 && line[12] != ' ')) return fail();
    minor_version_ = *minor;
    status_ = status;
    reason_ = line.size() > 13 ? line.substr(13) : std::string_view();
    if (!parse_fields(rest)) return fail();
    return true;
}

std::optional<std::string_view> Head::find(std::string_view name) const {
    for (const HeadField& field : fields_) {
        if (ascii_iequals(field.name, name)) return field.value;
    }
    return std::nullopt;
}

std::size_t Head::erase(std::string_view name) {
    return erase_if([&](const HeadField& field) { return ascii_iequals(field.name, name); });
}

void Head::set(std::string_view name, std::string_view value) {
    erase(name);
    add(name, value);
}

void Head::add(std::string_view name, std::string_view value) {
    fields_.push_back(HeadField{own(name), own(value)});
}

bool Head::chunked() const {
    const auto coding = find("Transfer-Encoding");
    return coding && ascii_iequals(*coding, "chunked");
}

std::optional<std::uint64_t> Head::content_length() const {
    const auto text = find("Content-Length");
    if (!text || text->empty()) return std::nullopt;
    // Leading zeros are valid 1*DIGIT (the validator accepts any number of them); only the
    // significant digits can overflow.
    std::string_view digits = *text;
    while (digits.size() > 1 && digits.front() == '0') digits.remove_prefix(1);
    if (digits.size() > 19) return std::nullopt;
    std::uint64_t length = 0;
    for (char c : digits) {
        if (c < '0' || c > '9') return std::nullopt;
        length = length * 10 + static_cast<std::uint64_t>(c - '0');
    }
    return length;
}

bool Head::keep_alive() const {
    bool close = false;
    bool keep = false;
    for (const HeadField& field : fields_) {
        if (!ascii_iequals(field.name, "Connection")) continue;
        close = close || list_contains(field.value, "close");
        keep = keep || list_contains(field.value, "keep-alive");
    }
    if (minor_version_ == 0) return keep && !close;
    return !close;
}

void Head::set_keep_alive(bool keep) {
    erase("Connection");
    if (minor_version_ == 0 && keep) add("Connection", "keep-alive");
    if (minor_version_ == 1 && !keep) add("Connection", "close");
}

std::size_t Head::serialized_fields_size() const {
    std::size_t size = 2;
    for (const HeadField& field : fields_) size += field.name.size() + field.value.size() + 4;
    return size;
}

void Head::append_fields(std::string& out) const {
    for (const HeadField& field : fields_) {
        out += field.name;
        out += ": ";
        out += field.value;
        out += kCrlf;
    }
    out += kCrlf;
}

void Head::append_request(std::string& out) const {
    out.reserve(out.size() + method_.size() + target_.size() + 12 + serialized_fields_size());
    out += method_;
    out += ' ';
    out += target_;
    out += ' ';
    append_version(out, minor_version_);
    out += kCrlf;
    append_fields(out);
}

void Head::append_response(std::string& out) const {
    const std::string_view reason =
        reason_.empty()
            ? boost::beast::http::obsolete_reason(static_cast<boost::beast::http::status>(status_))
            : reason_;
    out.reserve(out.size() + reason.size() + 16 + serialized_fields_size());
    append_version(out, minor_version_);
    out += ' ';
    out += static_cast<char>('0' + status_ / 100);
    out += static_cast<char>('0' + (status_ / 10) % 10);
    out += static_cast<char>('0' + status_ % 10);
    out += ' ';
    out += reason;
    out += kCrlf;
    append_fields(out);
}

}  // namespace cloakroom::http
