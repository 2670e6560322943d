#include "tls/host_name.hpp"

#include <arpa/inet.h>

#include <array>
#include <cctype>
#include <optional>

namespace cloakroom::tls {
namespace {

constexpr std::size_t kMaxDnsName = 253;
constexpr std::size_t kMaxLabel = 63;

// Printable form for error messages: a hostile host must not inject control bytes into logs.
std::string printable(std::string_view text) {
    std::string out;
    for (const char c : text.substr(0, 80)) {
        const auto u = static_cast<unsigned char>(c);
        if (u >= 0x20 && u < 0x7f) {
            out += c;
        } else {
            static constexpr char kHex[] = "0123456789abcdef";
            out += "\\x";
            out += kHex[u >> 4];
            out += kHex[u & 0xf];
        }
    }
    if (text.size() > 80) out += "...";
    return out;
}

Error host_error(std::string_view host, const std::string& why) {
    return make_error("tls.host", "invalid TLS host '" + printable(host) + "': " + why);
}

bool label_char(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '_';
}

std::optional<std::string> canonical_ip(const std::string& text) {
    std::array<unsigned char, 16> bytes{};
    std::array<char, INET6_ADDRSTRLEN> out{};
    if (::inet_pton(AF_INET, text.c_str(), bytes.data()) == 1) {
        return std::string(::inet_ntop(AF_INET, bytes.data(), out.data(), out.size()));
    }
    if (::inet_pton(AF_INET6, text.c_str(), bytes.data()) == 1) {
        return std::string(::inet_ntop(AF_INET6, bytes.data(), out.data(), out.size()));
    }
    return std::nullopt;
}

}  // namespace

Result<TlsHost> parse_tls_host(std::string_view host) {
    if (host.empty()) return host_error(host, "empty");
    if (host.find('\0') != std::string_view::npos) return host_error(host, "contains NUL");
    std::string_view bare = host;
    const bool bracketed = bare.front() == '[';
    if (bracketed) {
        if (bare.size() < 3 || bare.back() != ']') return host_error(host, "unbalanced brackets");
        bare = bare.substr(1, bare.size() - 2);
    }
    if (bare.find('%') != std::string_view::npos) {
        return host_error(host, "IPv6 zone ids cannot appear in a certificate");
    }
    const std::string bare_text(bare);
    if (auto ip = canonical_ip(bare_text)) {
        if (bracketed && bare.find(':') == std::string_view::npos) {
            return host_error(host, "brackets are only for IPv6 addresses");
        }
        return TlsHost{*ip, true};
    }
    if (bracketed) return host_error(host, "not an IPv6 address");
    if (bare.find(':') != std::string_view::npos) {
        return host_error(host, "not a host name (a port or a malformed IPv6 address?)");
    }

    std::string name(bare);
    if (name.back() == '.') name.pop_back();  // "example.com." is the same host
    if (name.empty()) return host_error(host, "empty");
    if (name.size() > kMaxDnsName) {
        return host_error(host, "longer than " + std::to_string(kMaxDnsName) + " characters");
    }
    std::size_t label_start = 0;
    bool last_label_numeric = true;
    for (std::size_t i = 0; i <= name.size(); ++i) {
        if (i == name.size() || name[i] == '.') {
            const std::size_t length = i - label_start;
            if (length == 0) return host_error(host, "empty label");
            if (length > kMaxLabel) {
                return host_error(
                    host, "a label is longer than " + std::to_string(kMaxLabel) + " characters");
            }
            last_label_numeric = true;
            for (std::size_t j = label_start; j < i; ++j) {
                last_label_numeric =
                    last_label_numeric && std::isdigit(static_cast<unsigned char>(name[j])) != 0;
            }
            label_start = i + 1;
            continue;
        }
        if (name[i] == ' ') return host_error(host, "contains a space");
        if (!label_char(name[i])) {
            return host_error(host, "character '" + printable(std::string_view(&name[i], 1)) +
                                        "' is not allowed in a host name");
        }
        name[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(name[i])));
    }
    // Clients parse "1.2.3" or "010.1.1.1" as (odd) IPv4 forms, never as DNS names: minting a DNS
    // certificate for them would be wrong either way.
    if (last_label_numeric) return host_error(host, "neither a DNS name nor an IP address");
    return TlsHost{std::move(name), false};
}

}  // namespace cloakroom::tls
