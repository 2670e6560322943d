// The one place that decides what a TLS host name is. Leaf minting (SAN), the leaf cache key
// and upstream verification all go through parse_tls_host, so "API.Example.com.", "[::1]" and
// "0:0::1" each name exactly one certificate and one verification target.
#pragma once

#include <string>
#include <string_view>

#include "util/result.hpp"

namespace cloakroom::tls {

struct TlsHost {
    std::string name;  // canonical: lowercase DNS name without trailing dot, or IP text (inet_ntop)
    bool is_ip = false;
};

// Accepts a DNS name (labels of [A-Za-z0-9_-], 1-63 characters, at most 253 in all, one trailing
// dot dropped) or an IPv4/IPv6 literal (IPv6 optionally in brackets; zone ids are refused).
// Wildcards, ports, spaces, NUL and other characters are errors (code "tls.host"): they would
// otherwise end up inside a certificate or a verification parameter.
Result<TlsHost> parse_tls_host(std::string_view host);

}  // namespace cloakroom::tls
