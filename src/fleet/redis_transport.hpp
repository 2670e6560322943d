// The byte stream under a fleet Redis connection (fleet/redis_client.hpp): a blocking TCP socket
// with a deadline on connect and on every read and write, optionally wrapped in TLS verified like
// any upstream (system roots or only the configured CA, the certificate must carry the expected
// name). Debian 12's hiredis 0.14 has no TLS, so hiredis only formats commands and parses
// replies; this file moves the bytes.
//
// Blocking is fine: only the fleet thread uses it, and no worker ever waits for it.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "config/model.hpp"
#include "tls/openssl_ptr.hpp"
#include "util/result.hpp"
#include "util/unique_fd.hpp"

namespace cloakroom::fleet {

// What every TLS connection of a fleet shares: the verifying client context (with the client
// certificate for mTLS, if any) and the name certificates must carry ("" = the host dialled).
struct RedisTls {
    std::shared_ptr<SSL_CTX> context;
    std::string server_name;
};

// Builds the context of [fleet]: TLS 1.2+, peer verification against `ca` or the system roots,
// and the client certificate and key when given (each the base64 of its DER form: secret
// values are single lines). Errors: code "fleet.tls".
Result<RedisTls> make_redis_tls(const config::FleetConfig& config, std::string_view client_cert,
                                std::string_view client_key);

class RedisTransport {
  public:
    // Resolves and connects to `node` (each address in turn), then, with `tls`, runs the
    // handshake. Errors: "fleet.connect" (unreachable, timed out, handshake broke off),
    // "fleet.tls" (the certificate was rejected: wrong name, unknown CA, expired...).
    static Result<RedisTransport> connect(const config::RedisNode& node, const RedisTls* tls,
                                          std::chrono::milliseconds timeout);

    RedisTransport(RedisTransport&&) noexcept = default;
    RedisTransport& operator=(RedisTransport&&) noexcept = default;
    ~RedisTransport() = default;

    // Errors: "fleet.io" (timeout, reset, closed).
    Result<void> write_all(std::string_view bytes);
    // At least one byte, or an error ("fleet.io"; the peer closing is one too).
    Result<std::size_t> read_some(char* buffer, std::size_t size);

    const config::RedisNode& node() const { return node_; }

  private:
    RedisTransport(config::RedisNode node, UniqueFd fd, tls::SslPtr ssl)
        : node_(std::move(node)), fd_(std::move(fd)), ssl_(std::move(ssl)) {}

    config::RedisNode node_;
    UniqueFd fd_;
    tls::SslPtr ssl_;  // declared after fd_: freed before the socket closes
};

}  // namespace cloakroom::fleet
