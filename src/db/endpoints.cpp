#include "db/endpoints.hpp"

#include <openssl/ssl.h>
#include <spdlog/spdlog.h>

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

std::string DatabaseEndpoints::Endpoint::description() const {
    return "database " + name + ", " + std::string(config::to_string(protocol));
}

Result<std::unique_ptr<DatabaseEndpoints>> DatabaseEndpoints::create(
    const config::Config& config, runtime::RuntimeHolder& runtime, tls::LeafCache& leaves,
    std::shared_ptr<runtime::SessionRegistry> sessions,
    std::shared_ptr<RelayPlacement> relay_placement) {
    std::unique_ptr<DatabaseEndpoints> result(new DatabaseEndpoints());
    result->runtime_ = &runtime;
    for (const config::Database& database : config.databases) {
        Endpoint endpoint;
        endpoint.name = database.name;
        endpoint.protocol = database.protocol;
        endpoint.listen = database.listen;
        endpoint.services->database_name = database.name;
        endpoint.services->sessions = sessions;
        endpoint.services->relay_placement = relay_placement;
        if (database.client_tls != config::ClientTlsMode::Off) {
            auto context = tls::make_server_context();
            if (!context.ok()) return context.error();
            auto selector =
                std::make_shared<LeafSelector>(LeafSelector{&leaves, database.listen.host});
            SSL_CTX_set_cert_cb(context->get(), select_leaf, selector.get());
            endpoint.services->client_tls_state = selector;
            endpoint.services->client_tls = std::make_shared<net::ssl::context>(context->release());
        }
        // Clients without TLS need Cloakroom's RSA key: made now, before they arrive.
        if (database.protocol == config::DatabaseProtocol::Mysql &&
            database.client_tls != config::ClientTlsMode::Required) {
            start_mysql_key_generation();
        }
        result->endpoints_.push_back(std::move(endpoint));
    }
    return result;
}

bool DatabaseEndpoints::same_listeners(const config::Config& next) const {
    if (next.databases.size() != endpoints_.size()) return false;
    for (const auto& endpoint : endpoints_) {
        const config::Database* database = next.find_database(endpoint.name);
        if (database == nullptr || database->listen.address != endpoint.listen.address ||
            database->protocol != endpoint.protocol) {
            return false;
        }
    }
    return true;
}

net::awaitable<void> DatabaseEndpoints::serve(std::size_t index, tcp::socket socket) {
    const Endpoint& endpoint = endpoints_.at(index);
    boost::system::error_code ec;
    socket.set_option(tcp::no_delay(true), ec);
    auto runtime = runtime_->get();
    const config::Database* database = runtime->config.find_database(endpoint.name);
    if (database == nullptr || database->protocol != endpoint.protocol) {
        // Removed (or changed protocol) by a reload: this port no longer serves it.
        spdlog::warn(
            "database \"{}\": refused a connection: the database is no longer configured with "
            "this listener; restart Cloakroom to apply listener changes",
            endpoint.name);
        co_return;
    }
    Session session{DbStream(std::move(socket)),
                    std::move(runtime),
                    database,
                    endpoint.services,
                    std::chrono::steady_clock::now(),
                    std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count()};
    co_await run_session(endpoint.protocol, std::move(session));
}

}  // namespace cloakroom::db
