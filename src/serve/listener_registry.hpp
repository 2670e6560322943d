// Every listener of `cloakroom serve` in one place: the forward proxy, the reverse base-URL
// listener, each database, the transparent listener, and the listeners adopted from a sandbox
// (`cloakroom run` hands over sockets it created in its network namespace: serve/handover.hpp). A
// listener is an address and a handler for its connections; the registry binds each address once
// (serve/listen.hpp), runs one accept loop per listener and worker, and hands every accepted
// connection to the handler on the worker that accepted it. Front ends know nothing about
// accepting; the registry nothing about protocols.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "config/model.hpp"
#include "util/result.hpp"
#include "util/unique_fd.hpp"

namespace cloakroom::serve {

// Runs one accepted connection on worker `worker` (an index into the registry's workers).
using ConnectionHandler = std::function<boost::asio::awaitable<void>(
    boost::asio::ip::tcp::socket socket, std::size_t worker)>;

// Serves one UDP socket (a DNS listener) until the socket is closed.
using DatagramHandler =
    std::function<boost::asio::awaitable<void>(std::shared_ptr<boost::asio::ip::udp::socket>)>;

// Names an adopted listener, for remove().
using AdoptedId = std::uint64_t;

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

    // Adopts an already-listening TCP socket and starts accepting on it at once, on every
    // worker. Takes ownership of `fd` (closed on error). Errors: "serve.adopt".
    Result<AdoptedId> adopt_stream(UniqueFd fd, std::string what, ConnectionHandler handler);
    // Adopts a bound UDP socket, served by `handler` on one worker (chosen round-robin).
    Result<AdoptedId> adopt_datagram(UniqueFd fd, std::string what, DatagramHandler handler);
    // Closes an adopted listener: no new connection or datagram is taken from it; connections
    // already accepted go on. Unknown ids are ignored. Thread-safe.
    void remove(AdoptedId id);

    // One line per listener: "127.0.0.1:3128 (forward proxy)".
    std::vector<std::string> bound() const;

  private:
    struct Listener;
    struct Adopted;
    std::vector<boost::asio::io_context*> workers_;
    std::vector<std::unique_ptr<Listener>> listeners_;
    std::mutex adopted_mutex_;
    std::map<AdoptedId, std::shared_ptr<Adopted>> adopted_;
    AdoptedId next_id_ = 1;
    std::size_t next_datagram_worker_ = 0;
};

}  // namespace cloakroom::serve
