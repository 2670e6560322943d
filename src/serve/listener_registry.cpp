#include "serve/listener_registry.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <exception>

#include "serve/listen.hpp"

namespace cloakroom::serve {
namespace net = boost::asio;
using tcp = net::ip::tcp;

struct ListenerRegistry::Listener {
    std::string what;
    std::string address;
    ConnectionHandler handler;
    std::vector<std::unique_ptr<tcp::acceptor>> acceptors;  // one per worker
};

namespace {

net::awaitable<void> accept_loop(tcp::acceptor& acceptor, const ConnectionHandler& handler,
                                 const std::string& what, std::size_t worker) {
    for (;;) {
        boost::system::error_code ec;
        tcp::socket socket =
            co_await acceptor.async_accept(net::redirect_error(net::use_awaitable, ec));
        if (ec == net::error::operation_aborted) co_return;
        if (ec) continue;  // EMFILE and friends: keep serving the connections we have
        net::co_spawn(acceptor.get_executor(), handler(std::move(socket), worker),
                      [&what](std::exception_ptr error) {
                          if (!error) return;
                          try {
                              std::rethrow_exception(error);
                          } catch (const std::exception& e) {
                              spdlog::warn("{}: connection ended by an internal error: {}", what,
                                           e.what());
                          }
                      });
    }
}

}  // namespace

ListenerRegistry::ListenerRegistry(std::vector<net::io_context*> workers)
    : workers_(std::move(workers)) {}

ListenerRegistry::~ListenerRegistry() = default;

Result<std::string> ListenerRegistry::add(const config::ListenerConfig& address, std::string what,
                                          ConnectionHandler handler) {
    auto bound = bind_acceptors(address, workers_);
    if (!bound.ok()) return bound.error();
    auto listener = std::make_unique<Listener>();
    listener->what = std::move(what);
    listener->address = bound->address;
    listener->handler = std::move(handler);
    listener->acceptors = std::move(bound->acceptors);
    listeners_.push_back(std::move(listener));
    return listeners_.back()->address;
}

void ListenerRegistry::start() {
    for (const auto& listener : listeners_) {
        for (std::size_t worker = 0; worker < listener->acceptors.size(); ++worker) {
            tcp::acceptor& acceptor = *listener->acceptors[worker];
            net::co_spawn(acceptor.get_executor(),
                          accept_loop(acceptor, listener->handler, listener->what, worker),
                          [](std::exception_ptr) {});
        }
    }
}

std::vector<std::string> ListenerRegistry::bound() const {
    std::vector<std::string> lines;
    for (const auto& listener : listeners_) {
        lines.push_back(listener->address + " (" + listener->what + ")");
    }
    return lines;
}

}  // namespace cloakroom::serve
