// The transport of an exchange: where its upstream connection comes from and where it goes
// afterwards. The pipeline (exchange_pipeline.hpp) asks a leg for a connection, may ask once
// more for a fresh one (a pooled connection the server closed before reading our request), and
// hands it back when the response was read completely.
//   TlsUpstreamLeg: a service's upstream, verified TLS, pooled per worker (invariant 6).
//   PlainUpstreamLeg: an [allow] host by absolute-form http://, plain TCP, one per request
//   (allowed hosts are not a hot path).
// Both dial only addresses the address policy accepts (invariant 7).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <memory>
#include <string>
#include <variant>

#include "proxy/gateway.hpp"
#include "proxy/upstream.hpp"
#include "runtime/metrics.hpp"
#include "runtime/refusal.hpp"

namespace cloakroom::proxy {

inline runtime::Refusal refusal_of(DialFailure failure) {
    return {failure.status, std::move(failure.error), std::move(failure.reason)};
}

class TlsUpstreamLeg {
  public:
    using Connection = UpstreamConnection;
    using Opened = std::variant<std::unique_ptr<Connection>, runtime::Refusal>;

    // `fresh`: a connection just dialed for this exchange (the upstream chose HTTP/1.1 when
    // offered h2, upstream_h2_exchange.hpp), taken before the pool.
    TlsUpstreamLeg(Worker& worker, const Runtime& runtime, const config::Service& service,
                   std::string host, std::uint16_t port,
                   std::unique_ptr<Connection> fresh = nullptr)
        : worker_(worker),
          runtime_(runtime),
          service_(service),
          target_{std::move(host), port, service.connect_to, service.allow_private},
          fresh_(std::move(fresh)) {}

    // A pooled connection, or null (then dial()). Not a coroutine: the common case, a
    // kept-alive upstream, costs no coroutine frame.
    std::unique_ptr<Connection> take_pooled() {
        if (fresh_) return std::move(fresh_);
        // Per thread and reused: written and read with no suspension in between.
        thread_local std::string pool_key;
        write_pool_key(pool_key, target_.host, target_.port, target_.connect_to,
                       target_.allow_private);
        auto pooled = worker_.pool.take(pool_key);
        if (pooled) runtime::metrics().add(runtime::Event::PoolReused);
        return pooled;
    }

    boost::asio::awaitable<Opened> dial() {
        runtime::metrics().add(runtime::Event::PoolDialed);
        auto dialed = co_await dial_upstream(target_, runtime_.upstream_context(&service_),
                                             worker_.gateway.timeouts.dial);
        if (auto* failure = std::get_if<DialFailure>(&dialed)) {
            co_return Opened{refusal_of(std::move(*failure))};
        }
        auto connection = std::move(std::get<std::unique_ptr<Connection>>(dialed));
        if (require_http11_ && !connection->http11) {
            // It chose h2 when offered, and now no protocol: it speaks HTTP/2 only.
            co_return Opened{runtime::Refusal{
                502, "upstream_websocket_unsupported",
                "the upstream speaks only HTTP/2 and does not enable extended CONNECT "
                "(SETTINGS_ENABLE_CONNECT_PROTOCOL, RFC 8441): a WebSocket cannot be opened"}};
        }
        co_return Opened{std::move(connection)};
    }

    // For a WebSocket to an upstream that chose h2 without extended CONNECT: the new connection
    // must choose "http/1.1" on ALPN (an upstream that does not speaks HTTP/2 only).
    void require_http11() { require_http11_ = true; }

    void release(std::unique_ptr<Connection> connection) {
        worker_.pool.put(std::move(connection));
    }

  private:
    Worker& worker_;
    const Runtime& runtime_;
    const config::Service& service_;
    UpstreamTarget target_;
    std::unique_ptr<Connection> fresh_;
    bool require_http11_ = false;
};

struct PlainConnection {
    explicit PlainConnection(boost::beast::tcp_stream connected) : stream(std::move(connected)) {}
    boost::beast::tcp_stream stream;
    boost::beast::flat_buffer buffer;
    bool reused = false;
};

class PlainUpstreamLeg {
  public:
    using Connection = PlainConnection;
    using Opened = std::variant<std::unique_ptr<Connection>, runtime::Refusal>;

    PlainUpstreamLeg(const Gateway& gateway, std::string host, std::uint16_t port)
        : gateway_(gateway), host_(std::move(host)), port_(port) {}

    std::unique_ptr<Connection> take_pooled() { return nullptr; }  // never pooled

    boost::asio::awaitable<Opened> dial() {
        // [allow] hosts are public by definition: private and metadata addresses are refused.
        auto dialed = co_await dial_tcp(host_, port_, /*allow_private=*/false,
                                        gateway_.timeouts.dial.connect);
        if (auto* failure = std::get_if<DialFailure>(&dialed)) {
            co_return Opened{refusal_of(std::move(*failure))};
        }
        co_return Opened{
            std::make_unique<Connection>(std::move(std::get<boost::beast::tcp_stream>(dialed)))};
    }

    // The request asked the upstream to close (apply_plan); nothing to keep.
    void release(std::unique_ptr<Connection>) {}

  private:
    const Gateway& gateway_;
    std::string host_;
    std::uint16_t port_;
};

}  // namespace cloakroom::proxy
