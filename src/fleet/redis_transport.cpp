#include "fleet/redis_transport.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <cerrno>
#include <cstring>

#include "tls/contexts.hpp"
#include "tls/openssl_error.hpp"
#include "util/base64.hpp"

namespace cloakroom::fleet {
namespace {

timeval to_timeval(std::chrono::milliseconds timeout) {
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
    return tv;
}

std::string errno_text(int error) {
    if (error == EAGAIN || error == EWOULDBLOCK) return "timed out";
    return std::strerror(error);
}

// One address: a non-blocking connect bounded by `timeout`, then a blocking socket whose reads
// and writes time out after `timeout` each (SO_RCVTIMEO/SO_SNDTIMEO, which also bound the TLS
// handshake).
Result<UniqueFd> dial(const addrinfo& address, std::chrono::milliseconds timeout) {
    UniqueFd fd(::socket(address.ai_family, address.ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                         address.ai_protocol));
    if (!fd) return make_error("fleet.connect", errno_text(errno));
    if (::connect(fd.get(), address.ai_addr, address.ai_addrlen) != 0) {
        if (errno != EINPROGRESS) return make_error("fleet.connect", errno_text(errno));
        pollfd watch{fd.get(), POLLOUT, 0};
        int ready = 0;
        do {
            ready = ::poll(&watch, 1, static_cast<int>(timeout.count()));
        } while (ready < 0 && errno == EINTR);
        if (ready == 0) return make_error("fleet.connect", "timed out");
        if (ready < 0) return make_error("fleet.connect", errno_text(errno));
        int error = 0;
        socklen_t length = sizeof error;
        if (::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &error, &length) != 0) error = errno;
        if (error != 0) return make_error("fleet.connect", errno_text(error));
    }
    const int flags = ::fcntl(fd.get(), F_GETFL);
    const timeval tv = to_timeval(timeout);
    const int one = 1;
    if (flags < 0 || ::fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK) != 0 ||
        ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0 ||
        ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) != 0) {
        return make_error("fleet.connect", errno_text(errno));
    }
    (void)::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

struct AddrInfoFree {
    void operator()(addrinfo* list) const { ::freeaddrinfo(list); }
};

Result<tls::SslPtr> handshake(int fd, const RedisTls& tls, const std::string& host) {
    tls::SslPtr ssl(SSL_new(tls.context.get()));
    if (!ssl) return tls::openssl_error("fleet.tls", "cannot create a TLS connection");
    const std::string& name = tls.server_name.empty() ? host : tls.server_name;
    if (auto prepared = tls::prepare_client_ssl(ssl.get(), name); !prepared.ok()) {
        return make_error("fleet.tls", prepared.error().message);
    }
    if (SSL_set_fd(ssl.get(), fd) != 1) {
        return tls::openssl_error("fleet.tls", "cannot attach the TLS connection");
    }
    ERR_clear_error();
    errno = 0;
    if (SSL_connect(ssl.get()) != 1) {
        const int saved = errno;
        if (SSL_get_verify_result(ssl.get()) != X509_V_OK) {
            std::string reason = tls::verify_failure_reason(ssl.get());
            ERR_clear_error();
            return make_error("fleet.tls", "TLS to Redis: " + reason);
        }
        std::string reason = tls::verify_failure_reason(ssl.get());
        ERR_clear_error();
        if (!reason.empty()) {
            // The server spoke, but not TLS as configured (plain Redis on a TLS port, an alert
            // about our client certificate): a configuration mistake, like a rejected one.
            return make_error("fleet.tls", reason);
        }
        return make_error(
            "fleet.connect",
            "TLS handshake with " + name + " failed: " +
                (saved != 0 ? errno_text(saved) : std::string("the connection was closed")));
    }
    return ssl;
}

}  // namespace

Result<RedisTls> make_redis_tls(const config::FleetConfig& config, std::string_view client_cert,
                                std::string_view client_key) {
    auto context = tls::make_database_client_context(true, config.ca, "");
    if (!context.ok()) return make_error("fleet.tls", "[fleet] " + context.error().message);
    SSL_CTX* ctx = context->get();
    if (!client_cert.empty() || !client_key.empty()) {
        // Secret values are one line (the resolver refuses line feeds), so the certificate and
        // key come as the base64 of their DER form (`openssl x509 -outform DER | base64 -w0`).
        auto cert_der = base64_decode(client_cert);
        if (!cert_der.ok()) {
            return make_error("fleet.tls",
                              "[fleet] client_cert is not base64 (of a DER certificate)");
        }
        auto key_der = base64_decode(client_key);
        if (!key_der.ok()) {
            return make_error("fleet.tls",
                              "[fleet] client_key is not base64 (of a DER private key)");
        }
        const auto* cert_bytes = reinterpret_cast<const unsigned char*>(cert_der->data());
        tls::X509Ptr cert(d2i_X509(nullptr, &cert_bytes, static_cast<long>(cert_der->size())));
        const auto* key_bytes = reinterpret_cast<const unsigned char*>(key_der->data());
        tls::EvpPkeyPtr key(
            d2i_AutoPrivateKey(nullptr, &key_bytes, static_cast<long>(key_der->size())));
        OPENSSL_cleanse(key_der->data(), key_der->size());
        if (!cert) {
            return tls::openssl_error("fleet.tls", "[fleet] client_cert is not a DER certificate");
        }
        if (!key)
            return tls::openssl_error("fleet.tls", "[fleet] client_key is not a DER private key");
        if (SSL_CTX_use_certificate(ctx, cert.get()) != 1 ||
            SSL_CTX_use_PrivateKey(ctx, key.get()) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
            return tls::openssl_error("fleet.tls",
                                      "[fleet] client_cert and client_key do not belong together");
        }
        ERR_clear_error();
    }
    RedisTls out;
    out.context = std::shared_ptr<SSL_CTX>(context->release(), SSL_CTX_free);
    out.server_name = config.server_name;
    return out;
}

Result<RedisTransport> RedisTransport::connect(const config::RedisNode& node, const RedisTls* tls,
                                               std::chrono::milliseconds timeout) {
    const std::string where = "Redis at " + node.text();
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    addrinfo* raw = nullptr;
    const std::string port = std::to_string(node.port);
    if (const int rc = ::getaddrinfo(node.host.c_str(), port.c_str(), &hints, &raw); rc != 0) {
        return make_error("fleet.connect",
                          "cannot connect to " + where + ": " + ::gai_strerror(rc));
    }
    std::unique_ptr<addrinfo, AddrInfoFree> list(raw);
    std::string last = "no address";
    for (const addrinfo* address = list.get(); address != nullptr; address = address->ai_next) {
        auto fd = dial(*address, timeout);
        if (!fd.ok()) {
            last = fd.error().message;
            continue;
        }
        tls::SslPtr ssl;
        if (tls != nullptr) {
            auto secured = handshake(fd->get(), *tls, node.host);
            if (!secured.ok()) {
                return make_error(secured.error().code,
                                  "cannot connect to " + where + ": " + secured.error().message);
            }
            ssl = std::move(*secured);
        }
        return RedisTransport(node, std::move(*fd), std::move(ssl));
    }
    return make_error("fleet.connect", "cannot connect to " + where + ": " + last);
}

Result<void> RedisTransport::write_all(std::string_view bytes) {
    while (!bytes.empty()) {
        long written = 0;
        if (ssl_) {
            ERR_clear_error();
            const int n = SSL_write(ssl_.get(), bytes.data(), static_cast<int>(bytes.size()));
            if (n <= 0) {
                const int saved = errno;
                ERR_clear_error();
                return make_error("fleet.io", "Redis at " + node_.text() + ": write failed (" +
                                                  errno_text(saved) + ")");
            }
            written = n;
        } else {
            written = ::send(fd_.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
            if (written < 0) {
                if (errno == EINTR) continue;
                return make_error("fleet.io", "Redis at " + node_.text() + ": write failed (" +
                                                  errno_text(errno) + ")");
            }
        }
        bytes.remove_prefix(static_cast<std::size_t>(written));
    }
    return {};
}

Result<std::size_t> RedisTransport::read_some(char* buffer, std::size_t size) {
    while (true) {
        if (ssl_) {
            ERR_clear_error();
            errno = 0;
            const int n = SSL_read(ssl_.get(), buffer, static_cast<int>(size));
            if (n > 0) return static_cast<std::size_t>(n);
            const int saved = errno;
            const int reason = SSL_get_error(ssl_.get(), n);
            if (reason == SSL_ERROR_SSL) {
                // E.g. "tlsv13 alert certificate required": with TLS 1.3 a server refuses a
                // client certificate (or its absence) only after the handshake.
                return make_error("fleet.io", "Redis at " + node_.text() +
                                                  ": TLS error: " + tls::take_openssl_errors());
            }
            ERR_clear_error();
            if (reason == SSL_ERROR_ZERO_RETURN || (reason == SSL_ERROR_SYSCALL && saved == 0)) {
                return make_error("fleet.io",
                                  "Redis at " + node_.text() + " closed the connection");
            }
            return make_error("fleet.io", "Redis at " + node_.text() + ": read failed (" +
                                              (saved != 0 ? errno_text(saved) : "TLS error") + ")");
        }
        const long n = ::recv(fd_.get(), buffer, size, 0);
        if (n > 0) return static_cast<std::size_t>(n);
        if (n == 0) {
            return make_error("fleet.io", "Redis at " + node_.text() + " closed the connection");
        }
        if (errno == EINTR) continue;
        return make_error("fleet.io",
                          "Redis at " + node_.text() + ": read failed (" + errno_text(errno) + ")");
    }
}

}  // namespace cloakroom::fleet
