#include "serve/listener_registry.hpp"

#include <spdlog/spdlog.h>

#include <sys/socket.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
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

// A listener handed over by a sandbox: shared with its accept loops, which end when remove()
// closes the sockets (on their own workers: Asio objects are not thread-safe).
struct ListenerRegistry::Adopted {
    std::vector<std::shared_ptr<tcp::acceptor>> acceptors;
    std::shared_ptr<net::ip::udp::socket> datagram;
};

namespace {

void log_internal_error(const std::string& what, std::exception_ptr error) {
    if (!error) return;
    try {
        std::rethrow_exception(error);
    } catch (const std::exception& e) {
        spdlog::warn("{}: ended by an internal error: {}", what, e.what());
    }
}

// The accept loop of an adopted listener: owns what it uses, since remove() may drop the
// registry's reference while the loop still runs.
net::awaitable<void> adopted_accept_loop(std::shared_ptr<tcp::acceptor> acceptor,
                                         ConnectionHandler handler, std::string what,
                                         std::size_t worker) {
    for (;;) {
        boost::system::error_code ec;
        tcp::socket socket =
            co_await acceptor->async_accept(net::redirect_error(net::use_awaitable, ec));
        if (ec == net::error::operation_aborted || ec == net::error::bad_descriptor ||
            !acceptor->is_open()) {
            co_return;
        }
        if (ec) continue;
        net::co_spawn(acceptor->get_executor(), handler(std::move(socket), worker),
                      [what](std::exception_ptr error) { log_internal_error(what, error); });
    }
}

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

Result<AdoptedId> ListenerRegistry::adopt_stream(UniqueFd fd, std::string what,
                                                 ConnectionHandler handler) {
    auto bound = adopt_acceptors(std::move(fd), workers_);
    if (!bound.ok()) return bound.error();
    auto adopted = std::make_shared<Adopted>();
    for (auto& acceptor : bound->acceptors) adopted->acceptors.emplace_back(std::move(acceptor));
    for (std::size_t worker = 0; worker < adopted->acceptors.size(); ++worker) {
        auto& acceptor = adopted->acceptors[worker];
        net::co_spawn(acceptor->get_executor(),
                      adopted_accept_loop(acceptor, handler, what, worker),
                      [](std::exception_ptr) {});
    }
    const std::lock_guard lock(adopted_mutex_);
    const AdoptedId id = next_id_++;
    adopted_.emplace(id, std::move(adopted));
    return id;
}

Result<AdoptedId> ListenerRegistry::adopt_datagram(UniqueFd fd, std::string what,
                                                   DatagramHandler handler) {
    if (workers_.empty()) return make_error("serve.adopt", "no worker to serve on");
    sockaddr_storage local{};
    socklen_t length = sizeof(local);
    if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&local), &length) != 0 ||
        (local.ss_family != AF_INET && local.ss_family != AF_INET6)) {
        return make_error("serve.adopt", "not a UDP/IP socket");
    }
    std::size_t worker = 0;
    {
        const std::lock_guard lock(adopted_mutex_);
        worker = next_datagram_worker_++ % workers_.size();
    }
    auto socket = std::make_shared<net::ip::udp::socket>(*workers_[worker]);
    boost::system::error_code ec;
    socket->assign(local.ss_family == AF_INET ? net::ip::udp::v4() : net::ip::udp::v6(), fd.get(),
                   ec);
    if (ec) return make_error("serve.adopt", "cannot adopt the socket: " + ec.message());
    fd.release();
    net::co_spawn(socket->get_executor(), handler(socket),
                  [what](std::exception_ptr error) { log_internal_error(what, error); });
    auto adopted = std::make_shared<Adopted>();
    adopted->datagram = std::move(socket);
    const std::lock_guard lock(adopted_mutex_);
    const AdoptedId id = next_id_++;
    adopted_.emplace(id, std::move(adopted));
    return id;
}

void ListenerRegistry::remove(AdoptedId id) {
    std::shared_ptr<Adopted> adopted;
    {
        const std::lock_guard lock(adopted_mutex_);
        auto found = adopted_.find(id);
        if (found == adopted_.end()) return;
        adopted = std::move(found->second);
        adopted_.erase(found);
    }
    for (auto& acceptor : adopted->acceptors) {
        net::post(acceptor->get_executor(), [acceptor] {
            boost::system::error_code ec;
            acceptor->close(ec);
        });
    }
    if (auto socket = adopted->datagram) {
        net::post(socket->get_executor(), [socket] {
            boost::system::error_code ec;
            socket->close(ec);
        });
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
