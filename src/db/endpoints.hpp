// The database gateways' side of `cloakroom serve`: one endpoint per [[database]], with what its
// sessions share (the client TLS context, cancel keys, timeouts), and the handler for a
// connection accepted on its listener. Binding and accepting belong to serve/ (the listener
// registry); each accepted connection becomes its protocol's session with the runtime snapshot
// current at accept.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <memory>
#include <string>
#include <vector>

#include "config/model.hpp"
#include "db/session.hpp"
#include "runtime/runtime.hpp"
#include "tls/leaf_cache.hpp"
#include "util/result.hpp"

namespace cloakroom::db {

class DatabaseEndpoints {
  public:
    struct Endpoint {
        std::string name;
        config::DatabaseProtocol protocol{};
        config::ListenerConfig listen;
        std::shared_ptr<ListenerServices> services = std::make_shared<ListenerServices>();
        // "database app, postgres": how the startup line names the listener.
        std::string description() const;
    };

    // One endpoint per database of `config`. The holder and the leaf cache must outlive the
    // endpoints. Errors: "tls.context".
    // `sessions`: the gateway's live-session registry, where logged-in sessions register.
    // `relay_placement`: the relay threads sessions move to after their login (null: none).
    static Result<std::unique_ptr<DatabaseEndpoints>> create(
        const config::Config& config, runtime::RuntimeHolder& runtime, tls::LeafCache& leaves,
        std::shared_ptr<runtime::SessionRegistry> sessions,
        std::shared_ptr<RelayPlacement> relay_placement = nullptr);

    const std::vector<Endpoint>& endpoints() const { return endpoints_; }

    // Runs one connection accepted on endpoint `index`'s listener, to its session's end.
    boost::asio::awaitable<void> serve(std::size_t index, boost::asio::ip::tcp::socket socket);

    // Listen addresses and protocols as configured, to warn when a reload changes them.
    bool same_listeners(const config::Config& next) const;

  private:
    DatabaseEndpoints() = default;
    runtime::RuntimeHolder* runtime_ = nullptr;
    std::vector<Endpoint> endpoints_;
};

}  // namespace cloakroom::db
