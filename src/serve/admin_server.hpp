// The admin listener (docs/operations.md): a loopback TCP address ([admin] listen) and/or a unix
// socket (mode 0600 in a 0700 directory, the default transport), answering HTTP/1.1 with the
// admin API of serve/admin_api.hpp. Runs on the control thread, never on the workers that serve
// agents, and has no handler in common with the agents' listeners.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/model.hpp"
#include "serve/admin_api.hpp"
#include "util/result.hpp"

namespace cloakroom::serve {

class AdminServer {
  public:
    // Binds what `config` names (nothing when neither is set). Error code "admin.listen".
    static Result<std::unique_ptr<AdminServer>> open(const config::AdminConfig& config,
                                                     boost::asio::io_context& io,
                                                     std::string admin_token,
                                                     AdminBackend& backend);
    ~AdminServer();
    AdminServer(const AdminServer&) = delete;
    AdminServer& operator=(const AdminServer&) = delete;

    // The bound TCP address (port 0 resolved), if any.
    std::optional<boost::asio::ip::tcp::endpoint> tcp_endpoint() const;
    // Startup lines: "http://127.0.0.1:9464", "unix socket /path".
    std::vector<std::string> describe() const;

    struct State;

  private:
    explicit AdminServer(std::shared_ptr<State> state) : state_(std::move(state)) {}
    std::shared_ptr<State> state_;
};

}  // namespace cloakroom::serve
