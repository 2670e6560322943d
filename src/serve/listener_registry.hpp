// Every listener of `cloakroom serve` in one place: the forward proxy, the reverse base-URL
// listener, each database (later: transparent, admin, DNS). A listener is an address and a
// handler for its connections; the registry binds each address once (serve/listen.hpp), runs one
// accept loop per listener and worker, and hands every accepted connection to the handler on the
// worker that accepted it. Front ends know nothing about accepting; the registry nothing about
// protocols.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "config/model.hpp"
#include "util/result.hpp"

namespace cloakroom::serve {

// Runs one accepted connection on worker `worker` (an index into the registry's workers).
using ConnectionHandler = std::function<boost::asio::awaitable<void>(
    boost::asio::ip::tcp::socket socket, std::size_t worker)>;

class ListenerRegistry {
  public:
    explicit ListenerRegistry(std::vector<boost::asio::io_context*> workers);
    ~ListenerRegistry();
    ListenerRegistry(const ListenerRegistry&) = delete;
    ListenerRegistry& operator=(const ListenerRegistry&) = delete;

    // Binds `address` for every worker. `what` names the listener in the startup line
    // ("forward proxy", "database app, postgres"). Returns the bound address ("127.0.0.1:3128",
    // the port the kernel picked for port 0). Errors: "serve.listen".
    Result<std::string> add(const config::ListenerConfig& address, std::string what,
                            ConnectionHandler handler);

    // Starts accepting on every listener added so far.
    void start();

    // One line per listener: "127.0.0.1:3128 (forward proxy)".
    std::vector<std::string> bound() const;

  private:
    struct Listener;
    std::vector<boost::asio::io_context*> workers_;
    std::vector<std::unique_ptr<Listener>> listeners_;
};

}  // namespace cloakroom::serve
