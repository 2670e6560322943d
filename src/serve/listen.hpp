// Listening sockets shared by the proxy, reverse and database listeners: ONE listening socket per
// address, owned exclusively by this process (no SO_REUSEPORT), with a duplicate descriptor of it
// in every worker io_context, so every worker accepts from the same queue.
//
// Why not one SO_REUSEPORT socket per worker: the kernel would then also let a second
// `cloakroom serve` (any process of the same user) bind the same address silently and split the
// connections between the two, so a stale gateway with old secrets and rules would keep serving
// part of the traffic. Probing with a plain bind first and then binding SO_REUSEPORT sockets
// leaves a window in which two starting processes both pass the probe, and lets a later process
// join. A single socket without SO_REUSEPORT makes the kernel refuse any second bind
// (EADDRINUSE) for as long as this process lives. The cost: a new connection wakes every
// worker's epoll and one of them wins accept(); an idle worker takes the next connection instead
// of a hash choosing a possibly busy one.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <memory>
#include <string>
#include <vector>

#include "config/model.hpp"
#include "util/result.hpp"
#include "util/unique_fd.hpp"

namespace cloakroom::serve {

struct BoundAcceptors {
    std::vector<std::unique_ptr<boost::asio::ip::tcp::acceptor>> acceptors;  // one per io_context
    std::string address;  // "127.0.0.1:PORT" / "[::1]:PORT" with the port actually bound
};

// Binds and listens once (port 0: a kernel-picked port), then gives every io_context an acceptor
// on a duplicate of that descriptor. Errors: "serve.listen" naming the configured address and
// the system error; an address taken by another process (e.g. a running `cloakroom serve`) reads
// "cannot listen on 127.0.0.1:3128: address already in use (another process, perhaps another
// `cloakroom serve`, is listening there)".
Result<BoundAcceptors> bind_acceptors(const config::ListenerConfig& listener,
                                      const std::vector<boost::asio::io_context*>& ios);

// The same for a socket that is already listening (handed over by `cloakroom run`, created in
// the sandbox's network namespace): takes ownership of `fd` (closed on error). Errors:
// "serve.adopt".
Result<BoundAcceptors> adopt_acceptors(UniqueFd fd,
                                       const std::vector<boost::asio::io_context*>& ios);

}  // namespace cloakroom::serve
