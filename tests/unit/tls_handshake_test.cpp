// Real TLS handshakes in memory (two SSL objects over a BIO pair): the server side presents a
// minted leaf, the client side verifies it exactly as it will verify real upstreams.
#include <gtest/gtest.h>
#include <openssl/err.h>

#include <cstdlib>
#include <ctime>
#include <optional>
#include <string>
#include <vector>

#include "tls/certificate_authority.hpp"
#include "tls/contexts.hpp"
#include "tls/leaf_cache.hpp"
#include "tls/leaf_contexts.hpp"
#include "tls_test_support.hpp"

namespace cloakroom::tls {
namespace {

using testing_support::TempDir;

// Runs both handshakes to completion or failure. Returns true when both sides finished.
bool handshake(SSL* client, SSL* server) {
    bool client_done = false;
    bool server_done = false;
    for (int round = 0; round < 100 && !(client_done && server_done); ++round) {
        if (!client_done) {
            const int rc = SSL_do_handshake(client);
            client_done = rc == 1;
            const int err = SSL_get_error(client, rc);
            if (rc != 1 && err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) return false;
        }
        if (!server_done) {
            const int rc = SSL_do_handshake(server);
            server_done = rc == 1;
            const int err = SSL_get_error(server, rc);
            if (rc != 1 && err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) return false;
        }
    }
    return client_done && server_done;
}

// One connected pair of SSL objects; each owns its end of the BIO pair.
struct Connection {
    SslPtr client;
    SslPtr server;
};

Connection connect_pair(SSL_CTX* client_ctx, SSL_CTX* server_ctx) {
    Connection c{SslPtr(SSL_new(client_ctx)), SslPtr(SSL_new(server_ctx))};
    BIO* client_bio = nullptr;
    BIO* server_bio = nullptr;
    EXPECT_EQ(BIO_new_bio_pair(&client_bio, 0, &server_bio, 0), 1);
    SSL_set_bio(c.client.get(), client_bio, client_bio);
    SSL_set_bio(c.server.get(), server_bio, server_bio);
    SSL_set_connect_state(c.client.get());
    SSL_set_accept_state(c.server.get());
    return c;
}

std::string alpn(const SSL* ssl) {
    const unsigned char* data = nullptr;
    unsigned int length = 0;
    SSL_get0_alpn_selected(ssl, &data, &length);
    return std::string(reinterpret_cast<const char*>(data), length);
}

// Sends `text` one way and returns what arrived; also lets the client process TLS 1.3 tickets.
std::string transfer(SSL* from, SSL* to, const std::string& text) {
    EXPECT_EQ(SSL_write(from, text.data(), static_cast<int>(text.size())),
              static_cast<int>(text.size()));
    std::string received(text.size() + 16, '\0');
    const int got = SSL_read(to, received.data(), static_cast<int>(received.size()));
    received.resize(got > 0 ? static_cast<std::size_t>(got) : 0);
    return received;
}

class HandshakeTest : public ::testing::Test {
  protected:
    void SetUp() override {
        auto ca = CertificateAuthority::load_or_create(dir_.path());
        ASSERT_TRUE(ca.ok()) << ca.error().message;
        ca_ = *ca;
        cache_ = std::make_unique<LeafCache>(ca_);
        auto server = make_server_context();
        ASSERT_TRUE(server.ok()) << server.error().message;
        server_ctx_ = std::move(*server);
        auto client = make_client_context(ca_->cert_path());
        ASSERT_TRUE(client.ok()) << client.error().message;
        client_ctx_ = std::move(*client);
    }

    // A connection whose server presents the leaf for `leaf_host` and whose client expects
    // `expected_host`. Returns whether the handshake succeeded.
    bool run(Connection& c, std::string_view leaf_host, std::string_view expected_host,
             SSL_CTX* client_ctx = nullptr, SSL_CTX* server_ctx = nullptr) {
        c = connect_pair(client_ctx ? client_ctx : client_ctx_.get(),
                         server_ctx ? server_ctx : server_ctx_.get());
        auto leaf = cache_->get(leaf_host);
        EXPECT_TRUE(leaf.ok());
        EXPECT_TRUE(use_leaf(c.server.get(), **leaf).ok());
        auto prepared = prepare_client_ssl(c.client.get(), expected_host);
        EXPECT_TRUE(prepared.ok()) << (prepared.ok() ? "" : prepared.error().message);
        const bool ok = handshake(c.client.get(), c.server.get());
        ERR_clear_error();
        return ok;
    }

    // A connection to a server made from `server_ctx` alone (a per-host context carrying its
    // leaf), whose client expects `expected_host`.
    bool run_with(Connection& c, SSL_CTX* server_ctx, std::string_view expected_host) {
        c = connect_pair(client_ctx_.get(), server_ctx);
        auto prepared = prepare_client_ssl(c.client.get(), expected_host);
        EXPECT_TRUE(prepared.ok()) << (prepared.ok() ? "" : prepared.error().message);
        const bool ok = handshake(c.client.get(), c.server.get());
        ERR_clear_error();
        return ok;
    }

    std::shared_ptr<SSL_CTX> context_for(LeafContexts& contexts, std::string_view host,
                                         std::int64_t at) {
        auto leaf = cache_->get(host, at);
        EXPECT_TRUE(leaf.ok());
        if (!leaf.ok()) return nullptr;
        auto context = contexts.get(*leaf);
        EXPECT_TRUE(context.ok()) << (context.ok() ? "" : context.error().message);
        return context.ok() ? *context : nullptr;
    }

    TempDir dir_;
    std::shared_ptr<const CertificateAuthority> ca_;
    std::unique_ptr<LeafCache> cache_;
    SslCtxPtr server_ctx_;
    SslCtxPtr client_ctx_;
};

TEST_F(HandshakeTest, RightHostVerifiesAndSpeaksHttp11) {
    Connection c;
    ASSERT_TRUE(run(c, "api.example.com", "api.example.com"))
        << verify_failure_reason(c.client.get());
    EXPECT_EQ(SSL_get_verify_result(c.client.get()), X509_V_OK);
    EXPECT_EQ(alpn(c.client.get()), "http/1.1");
    EXPECT_EQ(alpn(c.server.get()), "http/1.1");
    ASSERT_NE(SSL_get_servername(c.server.get(), TLSEXT_NAMETYPE_host_name), nullptr);
    EXPECT_STREQ(SSL_get_servername(c.server.get(), TLSEXT_NAMETYPE_host_name), "api.example.com");
    EXPECT_GE(SSL_version(c.client.get()), TLS1_2_VERSION);
    EXPECT_EQ(X509_cmp(SSL_get0_peer_certificate(c.client.get()),
                       (*cache_->get("api.example.com"))->cert.get()),
              0);
    EXPECT_EQ(transfer(c.client.get(), c.server.get(), "GET / HTTP/1.1\r\n\r\n"),
              "GET / HTTP/1.1\r\n\r\n");
    EXPECT_EQ(transfer(c.server.get(), c.client.get(), "HTTP/1.1 200 OK\r\n\r\n"),
              "HTTP/1.1 200 OK\r\n\r\n");
}

TEST_F(HandshakeTest, ValidCertificateForAnotherNameIsRejected) {
    Connection c;
    EXPECT_FALSE(run(c, "other.example.com", "api.example.com"));
    EXPECT_EQ(SSL_get_verify_result(c.client.get()), X509_V_ERR_HOSTNAME_MISMATCH);
    const std::string reason = verify_failure_reason(c.client.get());
    EXPECT_NE(reason.find("api.example.com"), std::string::npos) << reason;
    EXPECT_NE(reason.find("hostname mismatch"), std::string::npos) << reason;
    EXPECT_NE(reason.find("other.example.com"), std::string::npos) << reason;
}

TEST_F(HandshakeTest, SystemRootsDoNotTrustTheCloakroomCa) {
    auto system_only = make_client_context(std::nullopt);
    ASSERT_TRUE(system_only.ok()) << system_only.error().message;
    Connection c;
    EXPECT_FALSE(run(c, "api.example.com", "api.example.com", system_only->get()));
    EXPECT_EQ(SSL_get_verify_result(c.client.get()), X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
    const std::string reason = verify_failure_reason(c.client.get());
    EXPECT_NE(reason.find("unable to get local issuer certificate"), std::string::npos) << reason;
    EXPECT_NE(reason.find("Cloakroom CA"), std::string::npos) << reason;
}

TEST_F(HandshakeTest, CaFileReplacesTheSystemRoots) {
    // Make the "system roots" trust our CA (SSL_CERT_FILE is what set_default_verify_paths
    // reads), then pin a service to another CA: the system roots must not rescue it.
    const char* old = std::getenv("SSL_CERT_FILE");
    const std::optional<std::string> saved = old ? std::optional<std::string>(old) : std::nullopt;
    ::setenv("SSL_CERT_FILE", ca_->cert_path().c_str(), 1);
    auto system = make_client_context(std::nullopt);
    TempDir other_dir;
    auto other = CertificateAuthority::load_or_create(other_dir.path());
    ASSERT_TRUE(other.ok());
    auto pinned = make_client_context((*other)->cert_path());
    saved ? ::setenv("SSL_CERT_FILE", saved->c_str(), 1) : ::unsetenv("SSL_CERT_FILE");
    ASSERT_TRUE(system.ok() && pinned.ok());

    Connection via_system;
    EXPECT_TRUE(run(via_system, "api.example.com", "api.example.com", system->get()))
        << verify_failure_reason(via_system.client.get());
    Connection via_pinned;
    EXPECT_FALSE(run(via_pinned, "api.example.com", "api.example.com", pinned->get()));
    EXPECT_EQ(SSL_get_verify_result(via_pinned.client.get()),
              X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
}

TEST_F(HandshakeTest, IpLiteralsVerifyByAddressWithoutSni) {
    Connection v4;
    ASSERT_TRUE(run(v4, "127.0.0.1", "127.0.0.1")) << verify_failure_reason(v4.client.get());
    EXPECT_EQ(SSL_get_servername(v4.server.get(), TLSEXT_NAMETYPE_host_name), nullptr);

    Connection v6;
    ASSERT_TRUE(run(v6, "::1", "[::1]")) << verify_failure_reason(v6.client.get());

    Connection wrong;
    EXPECT_FALSE(run(wrong, "127.0.0.1", "[::1]"));
    EXPECT_EQ(SSL_get_verify_result(wrong.client.get()), X509_V_ERR_IP_ADDRESS_MISMATCH);
    const std::string reason = verify_failure_reason(wrong.client.get());
    EXPECT_NE(reason.find("::1"), std::string::npos) << reason;
    EXPECT_NE(reason.find("127.0.0.1"), std::string::npos) << reason;
}

// The agent-facing server picks h2 whenever the agent offers it (the HTTP/2 front end, whose
// upstream side translates, so an h2-only client always has a working connection), else
// http/1.1, else no ALPN at all rather than a fatal alert.
TEST_F(HandshakeTest, AgentFacingAlpnPrefersH2ThenHttp11) {
    struct Case {
        std::string offer;  // ALPN wire format
        std::string chosen;
    };
    const std::string h2("\x02h2", 3);
    const std::string h11("\x08http/1.1", 9);
    const std::string other("\x06spdy/3", 7);
    const std::vector<Case> cases = {
        {h2, "h2"},        {h11 + h2, "h2"},          {h2 + h11, "h2"},
        {h11, "http/1.1"}, {other + h11, "http/1.1"}, {other, ""},
    };
    for (const Case& test : cases) {
        Connection c = connect_pair(client_ctx_.get(), server_ctx_.get());
        ASSERT_EQ(SSL_set_alpn_protos(c.client.get(),
                                      reinterpret_cast<const unsigned char*>(test.offer.data()),
                                      static_cast<unsigned int>(test.offer.size())),
                  0);
        ASSERT_TRUE(use_leaf(c.server.get(), **cache_->get("api.example.com")).ok());
        ASSERT_TRUE(prepare_client_ssl(c.client.get(), "api.example.com").ok());
        ASSERT_TRUE(handshake(c.client.get(), c.server.get())) << test.chosen;
        EXPECT_EQ(alpn(c.client.get()), test.chosen);
        EXPECT_EQ(alpn(c.server.get()), test.chosen);
    }
}

TEST_F(HandshakeTest, ClientResumesSessionsOnlyForTheSameHost) {
    // The proxy's server side never issues tickets, so a test server that does stands in for
    // a real upstream.
    auto upstream = make_server_context();
    ASSERT_TRUE(upstream.ok());
    SSL_CTX_clear_options(upstream->get(), SSL_OP_NO_TICKET);
    SSL_CTX_set_session_cache_mode(upstream->get(), SSL_SESS_CACHE_SERVER);
    ASSERT_EQ(SSL_CTX_set_num_tickets(upstream->get(), 2), 1);

    Connection first;
    ASSERT_TRUE(run(first, "api.example.com", "api.example.com", nullptr, upstream->get()));
    EXPECT_EQ(SSL_session_reused(first.client.get()), 0);
    EXPECT_EQ(transfer(first.server.get(), first.client.get(), "hi"), "hi");  // reads tickets

    Connection second;
    ASSERT_TRUE(run(second, "api.example.com", "api.example.com", nullptr, upstream->get()));
    EXPECT_EQ(SSL_session_reused(second.client.get()), 1);

    Connection other;
    ASSERT_TRUE(run(other, "other.example.com", "other.example.com", nullptr, upstream->get()));
    EXPECT_EQ(SSL_session_reused(other.client.get()), 0);
}

TEST_F(HandshakeTest, AgentFacingServerNeverResumes) {
    Connection first;
    ASSERT_TRUE(run(first, "api.example.com", "api.example.com"));
    EXPECT_EQ(transfer(first.server.get(), first.client.get(), "hi"), "hi");
    Connection second;
    ASSERT_TRUE(run(second, "api.example.com", "api.example.com"));
    EXPECT_EQ(SSL_session_reused(second.client.get()), 0);
}

// LeafContexts: one cached context per host, presenting that host's leaf and no other.
TEST_F(HandshakeTest, LeafContextsPresentEachHostItsOwnLeaf) {
    LeafContexts contexts;
    const auto t = static_cast<std::int64_t>(std::time(nullptr));
    const std::vector<std::string> hosts = {"api.example.com", "other.example.com", "127.0.0.1"};
    std::vector<std::shared_ptr<SSL_CTX>> made;
    for (const std::string& host : hosts) {
        auto context = context_for(contexts, host, t);
        ASSERT_TRUE(context);
        for (const auto& earlier : made) EXPECT_NE(context.get(), earlier.get()) << host;
        made.push_back(context);
    }
    EXPECT_EQ(contexts.size(), hosts.size());
    for (std::size_t i = 0; i < hosts.size(); ++i) {
        // Asked again (in another order): the same context, still presenting its own host's leaf.
        auto again = context_for(contexts, hosts[i], t);
        EXPECT_EQ(again.get(), made[i].get()) << hosts[i];
        for (std::size_t j = 0; j < hosts.size(); ++j) {
            Connection c;
            const bool ok = run_with(c, made[i].get(), hosts[j]);
            EXPECT_EQ(ok, i == j) << "context of " << hosts[i] << ", client expects " << hosts[j];
            if (i == j && ok) {
                EXPECT_EQ(X509_cmp(SSL_get0_peer_certificate(c.client.get()),
                                   (*cache_->get(hosts[i], t))->cert.get()),
                          0);
            }
        }
    }
}

TEST_F(HandshakeTest, LeafContextsFollowRenewalAndStayBounded) {
    LeafContexts contexts(2);
    const auto t = static_cast<std::int64_t>(std::time(nullptr));
    auto first = context_for(contexts, "api.example.com", t);
    const auto first_leaf = *cache_->get("api.example.com", t);
    // A day later LeafCache has renewed the leaf: the context follows, never the stale one.
    const std::int64_t later = t + 24 * 3600;
    auto renewed = context_for(contexts, "api.example.com", later);
    const auto renewed_leaf = *cache_->get("api.example.com", later);
    ASSERT_TRUE(first && renewed);
    ASSERT_NE(first_leaf.get(), renewed_leaf.get());
    EXPECT_NE(first.get(), renewed.get());
    EXPECT_EQ(X509_cmp(SSL_CTX_get0_certificate(renewed.get()), renewed_leaf->cert.get()), 0);
    EXPECT_EQ(X509_cmp(SSL_CTX_get0_certificate(first.get()), first_leaf->cert.get()), 0);
    EXPECT_EQ(contexts.size(), 1u);

    // Bounded: the least recently used host goes; asked again, it gets a new context of its own.
    auto b = context_for(contexts, "b.example.com", later);
    auto c = context_for(contexts, "c.example.com", later);
    EXPECT_EQ(contexts.size(), 2u);
    auto back = context_for(contexts, "api.example.com", later);
    ASSERT_TRUE(back && b && c);
    EXPECT_EQ(contexts.size(), 2u);
    EXPECT_NE(back.get(), renewed.get());
    EXPECT_EQ(X509_cmp(SSL_CTX_get0_certificate(back.get()), renewed_leaf->cert.get()), 0);
    // A replaced context still works for whoever holds it (the renewed leaf is dated a day
    // ahead, so the first one is the one a client accepts now).
    Connection conn;
    EXPECT_TRUE(run_with(conn, first.get(), "api.example.com"));

    EXPECT_FALSE(contexts.get(nullptr).ok());
    EXPECT_FALSE(contexts.get(std::make_shared<const Leaf>()).ok());
}

// A per-host context behaves as make_server_context(): ALPN choice, no resumption, TLS 1.2+.
TEST_F(HandshakeTest, LeafContextsKeepTheAgentFacingSettings) {
    LeafContexts contexts;
    auto context = context_for(contexts, "api.example.com", std::time(nullptr));
    ASSERT_TRUE(context);
    const std::string offer = std::string("\x08http/1.1", 9) + std::string("\x02h2", 3);
    for (int round = 0; round < 2; ++round) {
        Connection c = connect_pair(client_ctx_.get(), context.get());
        ASSERT_EQ(SSL_set_alpn_protos(c.client.get(),
                                      reinterpret_cast<const unsigned char*>(offer.data()),
                                      static_cast<unsigned int>(offer.size())),
                  0);
        ASSERT_TRUE(prepare_client_ssl(c.client.get(), "api.example.com").ok());
        ASSERT_TRUE(handshake(c.client.get(), c.server.get()));
        EXPECT_EQ(alpn(c.server.get()), "h2");
        EXPECT_EQ(transfer(c.server.get(), c.client.get(), "hi"), "hi");  // reads any ticket
        EXPECT_EQ(SSL_session_reused(c.client.get()), 0);
    }
    EXPECT_EQ(SSL_CTX_get_min_proto_version(context.get()), TLS1_2_VERSION);
    EXPECT_EQ(SSL_CTX_get_num_tickets(context.get()), 0u);
    EXPECT_EQ(SSL_CTX_get_session_cache_mode(context.get()), SSL_SESS_CACHE_OFF);
    EXPECT_NE(SSL_CTX_get_options(context.get()) & SSL_OP_NO_RENEGOTIATION, 0u);

    // A client that stops at TLS 1.1 is refused, as by the shared context.
    Connection old = connect_pair(client_ctx_.get(), context.get());
    SSL_set_max_proto_version(old.client.get(), TLS1_1_VERSION);
    ASSERT_TRUE(prepare_client_ssl(old.client.get(), "api.example.com").ok());
    EXPECT_FALSE(handshake(old.client.get(), old.server.get()));
    ERR_clear_error();
}

TEST_F(HandshakeTest, BadInputsAreErrors) {
    auto missing = make_client_context(dir_ / "no-such-ca.pem");
    ASSERT_FALSE(missing.ok());
    EXPECT_EQ(missing.error().code, "tls.context");
    EXPECT_NE(missing.error().message.find("no-such-ca.pem"), std::string::npos);

    testing_support::write_file(dir_ / "empty.pem", "", 0644);
    EXPECT_FALSE(make_client_context(dir_ / "empty.pem").ok());

    SslPtr ssl(SSL_new(client_ctx_.get()));
    auto bad_host = prepare_client_ssl(ssl.get(), "api.example.com:443");
    ASSERT_FALSE(bad_host.ok());
    EXPECT_EQ(bad_host.error().code, "tls.host");

    SslPtr server(SSL_new(server_ctx_.get()));
    EXPECT_FALSE(use_leaf(server.get(), Leaf{}).ok());

    // No verification failure and nothing queued: empty, so the caller uses its own error.
    ERR_clear_error();
    EXPECT_EQ(verify_failure_reason(ssl.get()), "");
}

}  // namespace
}  // namespace cloakroom::tls
