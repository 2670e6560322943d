#include "db/listeners.hpp"

#include <openssl/ssl.h>
#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "proxy/listen.hpp"
#include "tls/contexts.hpp"

namespace cloakroom::db {
namespace {

// Presents a fresh leaf from Cloakroom's CA at every handshake (leaves are renewed, so a
// context-wide certificate would go stale): for the name the client asked for (SNI), or else
// for the listen address.
struct LeafSelector {
    tls::LeafCache* leaves = nullptr;
    std::string default_host;
};

int select_leaf(SSL* ssl, void* arg) {
    const auto* selector = static_cast<const LeafSelector*>(arg);
    const char* sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    auto leaf = selector->leaves->get(sni != nullptr ? sni : selector->default_host);
    if (!leaf.ok() && sni != nullptr) leaf = selector->leaves->get(selector->default_host);
    if (!leaf.ok()) {
        spdlog::warn("database listener: no certificate for the client: {}", leaf.error().message);
        return 0;
    }
    return tls::use_leaf(ssl, **leaf).ok() ? 1 : 0;
}

}  // namespace

struct DatabaseListeners::Listener {
    std::string name;
    config::DatabaseProtocol protocol{};
    std::string configured_address;
    std::shared_ptr<ListenerServices> services = std::make_shared<ListenerServices>();
    runtime::RuntimeHolder* runtime = nullptr;
    std::vector<std::unique_ptr<tcp::acceptor>> acceptors;
};

namespace {

net::awaitable<void> run_session(config::DatabaseProtocol protocol, Session session) {
    switch (protocol) {
        case config::DatabaseProtocol::Postgres:
            co_await run_postgres_session(std::move(session));
            break;
        case config::DatabaseProtocol::Mysql:
            co_await run_mysql_session(std::move(session));
            break;
        case config::DatabaseProtocol::Redis:
            co_await run_redis_session(std::move(session));
            break;
    }
}

}  // namespace

static net::awaitable<void> accept_loop(tcp::acceptor& acceptor,
                                        DatabaseListeners::Listener& listener);

DatabaseListeners::~DatabaseListeners() = default;

Result<std::unique_ptr<DatabaseListeners>> DatabaseListeners::start(
    const config::Config& config, const std::vector<net::io_context*>& workers,
    runtime::RuntimeHolder& runtime, tls::LeafCache& leaves) {
    std::unique_ptr<DatabaseListeners> result(new DatabaseListeners());
    for (const config::Database& database : config.databases) {
        auto listener = std::make_unique<Listener>();
        listener->name = database.name;
        listener->protocol = database.protocol;
        listener->configured_address = database.listen.address;
        listener->runtime = &runtime;
        listener->services->database_name = database.name;
        if (database.client_tls != config::ClientTlsMode::Off) {
            auto context = tls::make_server_context();
            if (!context.ok()) return context.error();
            auto selector =
                std::make_shared<LeafSelector>(LeafSelector{&leaves, database.listen.host});
            SSL_CTX_set_cert_cb(context->get(), select_leaf, selector.get());
            listener->services->client_tls_state = selector;
            listener->services->client_tls =
                std::make_shared<net::ssl::context>(context->release());
        }

        auto bound = proxy::bind_acceptors(database.listen, workers);
        if (!bound.ok()) {
            return make_error(bound.error().code,
                              "database \"" + database.name + "\": " + bound.error().message);
        }
        listener->acceptors = std::move(bound->acceptors);
        result->bound_.push_back(bound->address + " (database " + database.name + ", " +
                                 std::string(config::to_string(database.protocol)) + ")");
        result->listeners_.push_back(std::move(listener));
    }
    for (auto& listener : result->listeners_) {
        for (auto& acceptor : listener->acceptors) {
            net::co_spawn(acceptor->get_executor(), accept_loop(*acceptor, *listener),
                          [](std::exception_ptr) {});
        }
    }
    return result;
}

bool DatabaseListeners::same_listeners(const config::Config& next) const {
    if (next.databases.size() != listeners_.size()) return false;
    for (const auto& listener : listeners_) {
        const config::Database* database = next.find_database(listener->name);
        if (database == nullptr || database->listen.address != listener->configured_address ||
            database->protocol != listener->protocol) {
            return false;
        }
    }
    return true;
}

static net::awaitable<void> accept_loop(tcp::acceptor& acceptor,
                                        DatabaseListeners::Listener& listener) {
    for (;;) {
        boost::system::error_code ec;
        tcp::socket socket =
            co_await acceptor.async_accept(net::redirect_error(net::use_awaitable, ec));
        if (ec == net::error::operation_aborted) co_return;
        if (ec) continue;  // EMFILE and friends: keep serving the sessions we have
        socket.set_option(tcp::no_delay(true), ec);
        auto runtime = listener.runtime->get();
        const config::Database* database = runtime->config.find_database(listener.name);
        if (database == nullptr || database->protocol != listener.protocol) {
            // Removed (or changed protocol) by a reload: this port no longer serves it.
            spdlog::warn(
                "database \"{}\": refused a connection: the database is no longer "
                "configured with this listener; restart Cloakroom to apply listener "
                "changes",
                listener.name);
            continue;
        }
        Session session{DbStream(std::move(socket)),
                        std::move(runtime),
                        database,
                        listener.services,
                        std::chrono::steady_clock::now(),
                        std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count()};
        net::co_spawn(acceptor.get_executor(), run_session(listener.protocol, std::move(session)),
                      [name = listener.name](std::exception_ptr error) {
                          if (!error) return;
                          try {
                              std::rethrow_exception(error);
                          } catch (const std::exception& e) {
                              spdlog::warn(
                                  "database \"{}\": session ended by an internal error: {}", name,
                                  e.what());
                          }
                      });
    }
}

}  // namespace cloakroom::db
