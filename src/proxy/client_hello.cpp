#include "proxy/client_hello.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <memory>

namespace cloakroom::proxy {
namespace {

struct Peeked {
    bool called = false;
    ServerNameExtension extension;
};

int on_client_hello(SSL* ssl, int* alert, void*) {
    auto* peeked = static_cast<Peeked*>(SSL_get_app_data(ssl));
    peeked->called = true;
    const unsigned char* body = nullptr;
    std::size_t length = 0;
    if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &body, &length) == 1) {
        peeked->extension = parse_server_name_extension({body, length});
    } else {
        peeked->extension.ok = true;  // no SNI at all
    }
    // Stop here: this SSL only reads. The bytes go to the real handshake afterwards.
    *alert = SSL_AD_INTERNAL_ERROR;
    return SSL_CLIENT_HELLO_ERROR;
}

// One context for every peek: read-only after creation, so shared between threads.
SSL_CTX* peek_context() {
    static SSL_CTX* const context = [] {
        SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
        if (ctx != nullptr) SSL_CTX_set_client_hello_cb(ctx, on_client_hello, nullptr);
        return ctx;
    }();
    return context;
}

}  // namespace

ServerNameExtension parse_server_name_extension(std::span<const std::uint8_t> body) {
    ServerNameExtension result;
    auto fail = [&](std::string problem) {
        result.ok = false;
        result.host_name.reset();
        result.problem = std::move(problem);
        return result;
    };
    if (body.size() < 2) return fail("server_name extension too short");
    const std::size_t list = (std::size_t{body[0]} << 8) | body[1];
    if (list != body.size() - 2) return fail("server_name list length does not match");
    std::size_t at = 2;
    while (at < body.size()) {
        if (body.size() - at < 3) return fail("server_name entry truncated");
        const std::uint8_t type = body[at];
        const std::size_t length = (std::size_t{body[at + 1]} << 8) | body[at + 2];
        at += 3;
        if (body.size() - at < length) return fail("server_name entry truncated");
        if (type == 0) {  // host_name; RFC 6066: at most one
            if (result.host_name) return fail("two host names in server_name");
            if (length == 0) return fail("empty host name in server_name");
            result.host_name = std::string(reinterpret_cast<const char*>(body.data() + at), length);
        }
        at += length;
    }
    result.ok = true;
    return result;
}

ClientHelloPeek peek_client_hello(std::span<const std::uint8_t> bytes) {
    ClientHelloPeek peek;
    if (bytes.empty()) return peek;
    if (bytes[0] != 0x16) {  // TLS handshake record
        peek.status = ClientHelloPeek::Status::Invalid;
        peek.problem = "not a TLS handshake";
        return peek;
    }
    SSL_CTX* context = peek_context();
    if (context == nullptr) {
        peek.status = ClientHelloPeek::Status::Invalid;
        peek.problem = "no TLS context";
        return peek;
    }
    std::unique_ptr<SSL, decltype(&SSL_free)> ssl(SSL_new(context), SSL_free);
    BIO* in = BIO_new(BIO_s_mem());
    BIO* out = BIO_new(BIO_s_mem());
    if (!ssl || in == nullptr || out == nullptr) {
        BIO_free(in);
        BIO_free(out);
        peek.status = ClientHelloPeek::Status::Invalid;
        peek.problem = "out of memory";
        return peek;
    }
    BIO_set_mem_eof_return(in, -1);  // no more bytes yet = "retry", not end of stream
    BIO_write(in, bytes.data(), static_cast<int>(bytes.size()));
    SSL_set_bio(ssl.get(), in, out);  // the SSL owns both now
    Peeked peeked;
    SSL_set_app_data(ssl.get(), &peeked);
    const int result = SSL_accept(ssl.get());
    const int error = SSL_get_error(ssl.get(), result);
    ERR_clear_error();  // this thread's error queue: the aborted handshake is expected
    if (peeked.called) {
        if (!peeked.extension.ok) {
            peek.status = ClientHelloPeek::Status::Invalid;
            peek.problem = peeked.extension.problem;
            return peek;
        }
        peek.status = ClientHelloPeek::Status::Complete;
        peek.server_name = std::move(peeked.extension.host_name);
        return peek;
    }
    if (error == SSL_ERROR_WANT_READ) return peek;  // NeedMore
    peek.status = ClientHelloPeek::Status::Invalid;
    peek.problem = "not a TLS ClientHello";
    return peek;
}

}  // namespace cloakroom::proxy
