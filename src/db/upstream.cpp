#include "db/upstream.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace cloakroom::db {

net::awaitable<Result<DbStream>> dial_database(const config::Database& database,
                                               std::chrono::seconds timeout) {
    auto executor = co_await net::this_coro::executor;
    tcp::resolver resolver(executor);
    tcp::socket socket(executor);
    net::steady_timer timer(executor);
    bool timed_out = false;
    timer.expires_after(timeout);
    timer.async_wait([&](const boost::system::error_code& ec) {
        if (ec) return;
        timed_out = true;
        resolver.cancel();
        boost::system::error_code ignored;
        socket.close(ignored);
    });

    boost::system::error_code ec;
    const auto endpoints = co_await resolver.async_resolve(
        database.upstream_host, std::to_string(database.upstream_port),
        net::redirect_error(net::use_awaitable, ec));
    if (!ec) {
        co_await net::async_connect(socket, endpoints, net::redirect_error(net::use_awaitable, ec));
    }
    timer.cancel();
    if (timed_out) {
        co_return make_error("db.upstream", "database \"" + database.name + "\": connecting to " +
                                                database.upstream + " timed out after " +
                                                std::to_string(timeout.count()) + "s");
    }
    if (ec) {
        co_return make_error("db.upstream", "database \"" + database.name +
                                                "\": cannot connect to " + database.upstream +
                                                ": " + ec.message());
    }
    socket.set_option(tcp::no_delay(true), ec);
    co_return DbStream(std::move(socket));
}

}  // namespace cloakroom::db
