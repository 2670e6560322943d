// The loopback fixture shared by the stream tests (proxy_tls_stream_test, proxy_io_now_test):
// a CA with a leaf for api.example.com, server and client TLS contexts, connected socket pairs,
// and a runner for coroutines with a time limit.
#pragma once

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <utility>

#include "proxy/tls_stream.hpp"
#include "tls/certificate_authority.hpp"
#include "tls/contexts.hpp"
#include "tls/leaf_cache.hpp"
#include "tls_test_support.hpp"

namespace cloakroom::proxy::testing_support {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;
using boost::system::error_code;

constexpr auto kUse = net::use_awaitable;

class StreamTest : public ::testing::Test {
  protected:
    void SetUp() override {
        auto ca = tls::CertificateAuthority::load_or_create(dir_.path());
        ASSERT_TRUE(ca.ok()) << ca.error().message;
        ca_ = *ca;
        leaves_ = std::make_unique<tls::LeafCache>(ca_);
        auto server = tls::make_server_context();
        ASSERT_TRUE(server.ok());
        server_ctx_ = std::move(*server);
        auto client = tls::make_client_context(ca_->cert_path());
        ASSERT_TRUE(client.ok());
        client_ctx_ = std::move(*client);
        acceptor_.open(tcp::v4());
        acceptor_.bind(tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
        acceptor_.listen();
    }

    // A connected pair of plain sockets (client, server).
    std::pair<tcp::socket, tcp::socket> connect() {
        tcp::socket client(io_);
        client.connect(acceptor_.local_endpoint());
        tcp::socket server = acceptor_.accept();
        return {std::move(client), std::move(server)};
    }

    std::unique_ptr<TlsStream> server_stream(tcp::socket socket, const std::string& host) {
        auto stream = std::make_unique<TlsStream>(std::move(socket), server_ctx_.get());
        EXPECT_TRUE(stream->ok());
        auto leaf = leaves_->get(host);
        EXPECT_TRUE(leaf.ok());
        EXPECT_TRUE(tls::use_leaf(stream->native_handle(), **leaf).ok());
        return stream;
    }

    std::unique_ptr<TlsStream> client_stream(tcp::socket socket, const std::string& host) {
        auto stream = std::make_unique<TlsStream>(std::move(socket), client_ctx_.get());
        EXPECT_TRUE(stream->ok());
        EXPECT_TRUE(tls::prepare_client_ssl(stream->native_handle(), host).ok());
        return stream;
    }

    // Runs the coroutines to completion (or fails the test after `limit`).
    template <class... Coroutines>
    void run(std::chrono::milliseconds limit, Coroutines&&... coroutines) {
        int finished = 0;
        constexpr int total = static_cast<int>(sizeof...(Coroutines));
        (net::co_spawn(io_, std::forward<Coroutines>(coroutines),
                       [&](std::exception_ptr error) {
                           // Watchdog timers may still be pending: stop once all are done.
                           if (++finished == total) io_.stop();
                           if (error) {
                               try {
                                   std::rethrow_exception(error);
                               } catch (const std::exception& e) {
                                   ADD_FAILURE() << "coroutine threw: " << e.what();
                               }
                           }
                       }),
         ...);
        io_.restart();
        io_.run_for(limit);
        EXPECT_EQ(finished, total) << "coroutines still running";
    }

    // Handshakes both sides of a fresh connection.
    std::pair<std::unique_ptr<TlsStream>, std::unique_ptr<TlsStream>> tls_pair() {
        auto [c, s] = connect();
        auto client = client_stream(std::move(c), "api.example.com");
        auto server = server_stream(std::move(s), "api.example.com");
        error_code client_ec = net::error::would_block, server_ec = net::error::would_block;
        run(
            5s,
            [&]() -> net::awaitable<void> {
                co_await client->async_handshake(net::ssl::stream_base::client,
                                                 net::redirect_error(kUse, client_ec));
            },
            [&]() -> net::awaitable<void> {
                co_await server->async_handshake(net::ssl::stream_base::server,
                                                 net::redirect_error(kUse, server_ec));
            });
        EXPECT_FALSE(client_ec) << client_ec.message() << " "
                                << tls::verify_failure_reason(client->native_handle());
        EXPECT_FALSE(server_ec) << server_ec.message();
        return {std::move(client), std::move(server)};
    }

    tls::testing_support::TempDir dir_;
    std::shared_ptr<const tls::CertificateAuthority> ca_;
    std::unique_ptr<tls::LeafCache> leaves_;
    tls::SslCtxPtr server_ctx_;
    tls::SslCtxPtr client_ctx_;
    net::io_context io_;
    tcp::acceptor acceptor_{io_};
};

inline std::string pattern(std::size_t size) {
    std::string out(size, '\0');
    for (std::size_t i = 0; i < size; ++i) out[i] = static_cast<char>('a' + (i * 7 + i / 13) % 26);
    return out;
}

}  // namespace cloakroom::proxy::testing_support
