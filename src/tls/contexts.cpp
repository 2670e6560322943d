#include "tls/contexts.hpp"

#include <arpa/inet.h>
#include <openssl/err.h>

#include <array>
#include <cstring>
#include <system_error>

#include "tls/client_sessions.hpp"
#include "tls/host_name.hpp"
#include "tls/openssl_error.hpp"

namespace cloakroom::tls {
namespace {

const std::string kContextCode = "tls.context";
constexpr std::string_view kHttp11 = "http/1.1";
// ALPN wire format: length-prefixed protocol names.
constexpr unsigned char kAlpnWire[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
constexpr std::size_t kMaxNamesShown = 5;

constexpr std::string_view kH2 = "h2";

// The protocol the agent offered that Cloakroom prefers: h2 (the HTTP/2 front end), else
// http/1.1. Anything else (a client offering neither) gets NOACK: the handshake goes on without
// ALPN and the client falls back to HTTP/1.1, instead of a fatal no_application_protocol alert.
int select_alpn(SSL* /*ssl*/, const unsigned char** out, unsigned char* outlen,
                const unsigned char* in, unsigned int inlen, void* /*arg*/) {
    for (const std::string_view wanted : {kH2, kHttp11}) {
        for (unsigned int i = 0; i < inlen;) {
            const unsigned int length = in[i];
            if (length == 0 || i + 1 + length > inlen) break;  // malformed list
            if (std::string_view(reinterpret_cast<const char*>(in + i + 1), length) == wanted) {
                *out = in + i + 1;  // must point into `in` or static storage
                *outlen = static_cast<unsigned char>(length);
                return SSL_TLSEXT_ERR_OK;
            }
            i += 1 + length;
        }
    }
    return SSL_TLSEXT_ERR_NOACK;
}

Result<SslCtxPtr> new_context(const SSL_METHOD* method, const char* side) {
    ERR_clear_error();
    SslCtxPtr ctx(SSL_CTX_new(method));
    if (!ctx)
        return openssl_error(kContextCode, std::string("cannot create the ") + side + " context");
    if (SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION) != 1) {
        return openssl_error(kContextCode, "cannot require TLS 1.2");
    }
    // Renegotiation adds attack surface (CVE history, CPU DoS) and nothing HTTP/1.1 needs.
    SSL_CTX_set_options(ctx.get(), SSL_OP_NO_RENEGOTIATION);
    // Idle keep-alive connections give their read/write buffers back.
    SSL_CTX_set_mode(ctx.get(), SSL_MODE_RELEASE_BUFFERS);
    return ctx;
}

std::string ip_text(const ASN1_OCTET_STRING* ip) {
    std::array<char, INET6_ADDRSTRLEN> buf{};
    const int length = ASN1_STRING_length(ip);
    const int family = length == 4 ? AF_INET : length == 16 ? AF_INET6 : -1;
    if (family < 0 ||
        ::inet_ntop(family, ASN1_STRING_get0_data(ip), buf.data(), buf.size()) == nullptr) {
        return "<bad IP>";
    }
    return buf.data();
}

// "a.example, b.example" from the certificate's SAN (or CN when there is none).
std::string certificate_names(const X509* cert) {
    std::string names;
    std::size_t shown = 0;
    GeneralNamesPtr sans(static_cast<GENERAL_NAMES*>(
        X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
    const int count = sans ? sk_GENERAL_NAME_num(sans.get()) : 0;
    for (int i = 0; i < count; ++i) {
        const GENERAL_NAME* name = sk_GENERAL_NAME_value(sans.get(), i);
        std::string text;
        if (name->type == GEN_DNS) {
            const ASN1_IA5STRING* dns = name->d.dNSName;
            text.assign(reinterpret_cast<const char*>(ASN1_STRING_get0_data(dns)),
                        static_cast<std::size_t>(ASN1_STRING_length(dns)));
        } else if (name->type == GEN_IPADD) {
            text = ip_text(name->d.iPAddress);
        } else {
            continue;
        }
        if (shown == kMaxNamesShown) {
            names += ", ...";
            break;
        }
        names += (shown++ == 0 ? "" : ", ") + text;
    }
    if (!names.empty()) return names;
    std::array<char, 256> cn{};
    if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn.data(),
                                  static_cast<int>(cn.size())) > 0) {
        return std::string("CN=") + cn.data();
    }
    return "no names";
}

std::string issuer_text(const X509* cert) {
    std::array<char, 256> buf{};
    X509_NAME_oneline(X509_get_issuer_name(cert), buf.data(), static_cast<int>(buf.size()));
    return buf.data();
}

}  // namespace

Result<SslCtxPtr> make_server_context() {
    auto ctx = new_context(TLS_server_method(), "server");
    if (!ctx) return ctx;
    SSL_CTX* c = ctx->get();
    // No resumption: a session resumed on a connection for another host would skip presenting
    // that host's leaf. TLS 1.3 sends tickets even with SSL_OP_NO_TICKET unless num_tickets = 0.
    SSL_CTX_set_options(c, SSL_OP_NO_TICKET | SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
    if (SSL_CTX_set_num_tickets(c, 0) != 1) {
        return openssl_error(kContextCode, "cannot disable session tickets");
    }
    SSL_CTX_set_alpn_select_cb(c, select_alpn, nullptr);
    // The leaf goes out alone (agents trust the Cloakroom CA itself) and this context has no
    // certificate store to build a chain from: skip OpenSSL's per-handshake attempt to.
    SSL_CTX_set_mode(c, SSL_MODE_NO_AUTO_CHAIN);
    return ctx;
}

Result<SslCtxPtr> make_leaf_server_context(const Leaf& leaf) {
    if (!leaf.cert || !leaf.key) return make_error(kContextCode, "the leaf is incomplete");
    auto ctx = make_server_context();
    if (!ctx) return ctx;
    ERR_clear_error();
    // Both calls take their own reference (the shared leaf stays immutable); the second checks
    // that the key matches the certificate.
    if (SSL_CTX_use_certificate(ctx->get(), leaf.cert.get()) != 1 ||
        SSL_CTX_use_PrivateKey(ctx->get(), leaf.key.get()) != 1) {
        return openssl_error(kContextCode, "cannot install the leaf certificate for " + leaf.host);
    }
    return ctx;
}

Result<void> use_leaf(SSL* ssl, const Leaf& leaf) {
    if (ssl == nullptr || !leaf.cert || !leaf.key) {
        return make_error(kContextCode, "use_leaf needs a connection and a complete leaf");
    }
    ERR_clear_error();
    // Both calls take their own reference; the shared leaf stays immutable.
    if (SSL_use_certificate(ssl, leaf.cert.get()) != 1 ||
        SSL_use_PrivateKey(ssl, leaf.key.get()) != 1) {
        return openssl_error(kContextCode, "cannot install the leaf certificate for " + leaf.host);
    }
    return {};
}

Result<SslCtxPtr> make_client_context(const std::optional<std::filesystem::path>& ca_file) {
    auto ctx = new_context(TLS_client_method(), "client");
    if (!ctx) return ctx;
    SSL_CTX* c = ctx->get();
    SSL_CTX_set_verify(c, SSL_VERIFY_PEER, nullptr);
    if (ca_file) {
        std::error_code ec;
        if (!std::filesystem::is_regular_file(*ca_file, ec)) {
            return make_error(kContextCode, "upstream CA file " + ca_file->string() +
                                                " does not exist or is not a regular file");
        }
        // Only this file: a service pinned to a private CA must not also accept public roots.
        if (SSL_CTX_load_verify_file(c, ca_file->c_str()) != 1) {
            return openssl_error(kContextCode, "cannot load upstream CA file " + ca_file->string());
        }
    } else if (SSL_CTX_set_default_verify_paths(c) != 1) {
        return openssl_error(kContextCode, "cannot load the system trust store");
    }
    X509_VERIFY_PARAM_set_hostflags(SSL_CTX_get0_param(c), X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    // SSL_CTX_set_alpn_protos returns 0 on success, unlike nearly everything else.
    if (SSL_CTX_set_alpn_protos(c, kAlpnWire, sizeof kAlpnWire) != 0) {
        return openssl_error(kContextCode, "cannot set ALPN");
    }
    if (auto sessions = enable_client_sessions(c); !sessions) return sessions.error();
    return ctx;
}

Result<SslCtxPtr> make_database_client_context(bool verify,
                                               const std::optional<std::filesystem::path>& ca_file,
                                               std::string_view alpn) {
    auto ctx = new_context(TLS_client_method(), "client");
    if (!ctx) return ctx;
    SSL_CTX* c = ctx->get();
    SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
    if (!alpn.empty()) {
        if (alpn.size() > 255) return make_error(kContextCode, "ALPN protocol name too long");
        std::string wire(1, static_cast<char>(alpn.size()));
        wire += alpn;
        if (SSL_CTX_set_alpn_protos(c, reinterpret_cast<const unsigned char*>(wire.data()),
                                    static_cast<unsigned>(wire.size())) != 0) {
            return openssl_error(kContextCode, "cannot set ALPN");
        }
    }
    if (!verify) {
        SSL_CTX_set_verify(c, SSL_VERIFY_NONE, nullptr);
        return ctx;
    }
    SSL_CTX_set_verify(c, SSL_VERIFY_PEER, nullptr);
    if (ca_file) {
        std::error_code ec;
        if (!std::filesystem::is_regular_file(*ca_file, ec)) {
            return make_error(kContextCode, "CA file " + ca_file->string() +
                                                " does not exist or is not a regular file");
        }
        if (SSL_CTX_load_verify_file(c, ca_file->c_str()) != 1) {
            return openssl_error(kContextCode, "cannot load CA file " + ca_file->string());
        }
    } else if (SSL_CTX_set_default_verify_paths(c) != 1) {
        return openssl_error(kContextCode, "cannot load the system trust store");
    }
    return ctx;
}

Result<void> prepare_client_ssl(SSL* ssl, std::string_view host) {
    if (ssl == nullptr) return make_error(kContextCode, "prepare_client_ssl needs a connection");
    auto parsed = parse_tls_host(host);
    if (!parsed) return parsed.error();
    ERR_clear_error();
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    if (parsed->is_ip) {
        // RFC 6066: SNI carries DNS names only; the certificate must list the IP as a SAN.
        if (X509_VERIFY_PARAM_set1_host(param, nullptr, 0) != 1 ||
            X509_VERIFY_PARAM_set1_ip_asc(param, parsed->name.c_str()) != 1) {
            return openssl_error(kContextCode, "cannot set IP verification for " + parsed->name);
        }
    } else {
        // SSL_set_tlsext_host_name is a macro with a C cast; this is its expansion.
        if (SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                     const_cast<char*>(parsed->name.c_str())) != 1 ||
            SSL_set1_host(ssl, parsed->name.c_str()) != 1) {
            return openssl_error(kContextCode,
                                 "cannot set SNI/host verification for " + parsed->name);
        }
    }
    SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    return attach_client_target(ssl, parsed->name);
}

std::string verify_failure_reason(const SSL* ssl) {
    if (ssl == nullptr) return "no TLS connection";
    const std::string* target = client_target(ssl);
    const std::string who = target ? *target : std::string("the upstream");
    const long result = SSL_get_verify_result(ssl);
    if (result == X509_V_OK) {
        // Not a certificate problem. Return OpenSSL's reason if one is queued, else nothing, so
        // the caller can fall back to its own error (asio has usually consumed the queue already).
        const unsigned long err = ERR_peek_last_error();
        const char* reason = err != 0 ? ERR_reason_error_string(err) : nullptr;
        return reason ? "TLS handshake with " + who + " failed: " + reason : std::string();
    }
    std::string text =
        "certificate of " + who + " rejected: " + X509_verify_cert_error_string(result);
    STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl);
    const X509* peer =
        chain != nullptr && sk_X509_num(chain) > 0 ? sk_X509_value(chain, 0) : nullptr;
    if (peer == nullptr) return text;
    if (result == X509_V_ERR_HOSTNAME_MISMATCH || result == X509_V_ERR_IP_ADDRESS_MISMATCH) {
        text += " (certificate is for " + certificate_names(peer) + ", not " + who + ")";
    } else if (result == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
               result == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT ||
               result == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT) {
        text += " (issuer " + issuer_text(peer) + " is not trusted)";
    }
    return text;
}

}  // namespace cloakroom::tls
