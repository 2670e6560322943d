// The accept loop step shared by the gateway's unix-socket servers (the sandbox hand-over and the
// browser bridge's URL opener): wait, accept, and never spin on a descriptor shortage.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <memory>

#include "util/unique_fd.hpp"

namespace cloakroom {

// The next connection on `listener`, a listening unix socket. After an error such as EMFILE it
// pauses 100 ms and tries again, so the connections already served keep working. An invalid fd
// means the listener was closed or reset (the server is stopping). `listener` is re-read after
// every wait, so the caller may reset it from another coroutine on the same executor.
boost::asio::awaitable<UniqueFd> accept_unix(
    std::unique_ptr<boost::asio::posix::stream_descriptor>& listener);

}  // namespace cloakroom
