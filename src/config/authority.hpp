// Host names and host:port authorities as written in configuration, and as the proxy sees them
// (CONNECT authority, SNI). One normalization for both sides so lookups cannot disagree.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "util/result.hpp"

namespace cloakroom::config {

struct Authority {
    std::string host;                   // lower-case DNS name, IPv4, or IPv6 without brackets
    std::optional<std::uint16_t> port;  // none = not written
    bool is_ipv6() const { return host.find(':') != std::string::npos; }
    // "host", "host:port", "[v6]" or "[v6]:port".
    std::string text() const;
};

// Accepts "api.example.com", "API.Example.COM." (lower-cased, trailing dot dropped),
// "api.example.com:8443", "10.0.0.1", "[::1]:5432" (IPv6 re-written canonically).
// Rejects schemes ("https://"), paths, user info, wildcards, spaces, unbracketed IPv6,
// invalid labels (empty, >63 chars, leading/trailing '-'), names >253 chars, bad IPv4 literals,
// and ports outside 1-65535. Errors: code "config.host", message says what is wrong.
Result<Authority> parse_authority(std::string_view text);

// A listen address: parse_authority() rules, but the port is required and may be 0.
Result<Authority> parse_listen_address(std::string_view text);

}  // namespace cloakroom::config
