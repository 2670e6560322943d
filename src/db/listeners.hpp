// The database gateway listeners of `cloakroom serve`: one TCP listener per [[database]], with
// an acceptor on every worker io_context (one shared socket, as the proxy listener), each accepted
// connection handed to its protocol's session with the runtime snapshot current at accept.
#pragma once

#include <boost/asio/io_context.hpp>
#include <memory>
#include <string>
#include <vector>

#include "config/model.hpp"
#include "db/session.hpp"
#include "proxy/gateway_runtime.hpp"
#include "tls/leaf_cache.hpp"
#include "util/result.hpp"

namespace cloakroom::db {

class DatabaseListeners {
  public:
    // Binds every database of `config` on every io_context and starts accepting. The holder and
    // the leaf cache must outlive the listeners. Errors: "serve.listen", "tls.context".
    static Result<std::unique_ptr<DatabaseListeners>> start(
        const config::Config& config, const std::vector<net::io_context*>& workers,
        proxy::RuntimeHolder& runtime, tls::LeafCache& leaves);

    // One line per database: `127.0.0.1:6432 (database app, postgres)`.
    const std::vector<std::string>& bound() const { return bound_; }
    // Listen addresses as configured, by database name, to warn when a reload changes them.
    bool same_listeners(const config::Config& next) const;

    ~DatabaseListeners();

    struct Listener;  // one per database (listeners.cpp)

  private:
    DatabaseListeners() = default;
    std::vector<std::unique_ptr<Listener>> listeners_;
    std::vector<std::string> bound_;
};

}  // namespace cloakroom::db
