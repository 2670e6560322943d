// The two TLS contexts of an intercepted connection: the server side that terminates the agent's
// TLS with a minted leaf, and the client side that opens a verified connection to the real
// upstream. Pure OpenSSL: the proxy owns sockets and drives the handshakes.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "tls/leaf_cache.hpp"
#include "tls/openssl_ptr.hpp"
#include "util/result.hpp"

namespace cloakroom::tls {

// Agent-facing: TLS 1.2+, no certificate on the context (use_leaf sets one per connection),
// ALPN selects "http/1.1" when offered and otherwise acknowledges nothing, so an h2-only client
// still connects and falls back to HTTP/1.1. No session resumption (tickets or cache): each
// connection may present a different leaf. Errors: code "tls.context".
Result<SslCtxPtr> make_server_context();

// make_server_context() presenting `leaf` on every connection made from it (LeafContexts caches
// these per host). Errors: code "tls.context".
Result<SslCtxPtr> make_leaf_server_context(const Leaf& leaf);

// Installs the leaf certificate and key on one server SSL before its handshake. The SSL takes
// its own references; `leaf` may be released afterwards.
Result<void> use_leaf(SSL* ssl, const Leaf& leaf);

// Upstream-facing: TLS 1.2+, SSL_VERIFY_PEER always, trusting the system roots
// (SSL_CTX_set_default_verify_paths, which honours SSL_CERT_FILE/SSL_CERT_DIR) or ONLY `ca_file`
// when given. ALPN "http/1.1". Sessions are cached per verified host name inside the context and
// offered again by prepare_client_ssl (resumption). Errors: code "tls.context".
Result<SslCtxPtr> make_client_context(const std::optional<std::filesystem::path>& ca_file);

// Towards a database server (db gateways): TLS 1.2+, no session cache, ALPN `alpn` when not
// empty ("postgresql": PostgreSQL 17+ checks it). verify=false is tls = "require" (encrypted,
// unauthenticated: the operator's explicit choice); otherwise SSL_VERIFY_PEER against ONLY
// `ca_file` when given, else the system roots. The host name check is per connection
// (DbStream::connect_tls). Errors: code "tls.context".
Result<SslCtxPtr> make_database_client_context(bool verify,
                                               const std::optional<std::filesystem::path>& ca_file,
                                               std::string_view alpn);

// Per upstream connection, before the handshake: SNI (DNS names only, never IP literals, per
// RFC 6066) and name verification (SSL_set1_host, or the IP for literals; no partial wildcards),
// so a valid certificate for another name is rejected; offers a cached session for the host.
// `host` follows parse_tls_host (brackets stripped). Errors: "tls.host", "tls.context".
Result<void> prepare_client_ssl(SSL* ssl, std::string_view host);

// After a failed client handshake: why, in words fit for a 502 body or a log line. Names the
// host, the verification error and, for a name mismatch, the names the certificate does carry
// (for an untrusted issuer, the issuer). When verification was not the problem: OpenSSL's queued
// reason if any, otherwise "" so the caller can use its own error (e.g. the asio error_code).
std::string verify_failure_reason(const SSL* ssl);

}  // namespace cloakroom::tls
