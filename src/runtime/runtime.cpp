#include "runtime/runtime.hpp"

#include <cstdlib>

#include "tls/contexts.hpp"

namespace cloakroom::runtime {

boost::asio::ssl::context& Runtime::upstream_context(const config::Service* service) const {
    const std::string key =
        service != nullptr && service->upstream_ca ? service->upstream_ca->string() : "";
    auto it = upstream_tls.find(key);
    // build_runtime creates a context for every service, so a miss is the system-roots one.
    if (it == upstream_tls.end()) it = upstream_tls.find("");
    return *it->second;
}

namespace {

Result<std::shared_ptr<boost::asio::ssl::context>> make_upstream_context(
    const std::optional<std::filesystem::path>& ca_file) {
    auto native = tls::make_client_context(ca_file);
    if (!native.ok()) return native.error();
    return std::make_shared<boost::asio::ssl::context>(native->release());
}

}  // namespace

Result<std::shared_ptr<const Runtime>> build_runtime(config::Config config,
                                                     std::shared_ptr<AuditSink> previous_audit,
                                                     const std::string& previous_audit_target,
                                                     std::shared_ptr<const Revocations> revocations,
                                                     std::shared_ptr<Limiter> limiter) {
    auto runtime = std::make_shared<Runtime>();
    runtime->revocations = std::move(revocations);
    runtime->limiter = std::move(limiter);
    runtime->verify_cache = std::make_unique<token::VerifyCache>();
    if (std::getenv("MACAROON_SIGNING_KEY") != nullptr) {
        if (auto added = runtime->keys.add_from_env(); !added.ok()) return added.error();
    }
    std::error_code ec;
    if (std::filesystem::exists(config.token.key_dir, ec)) {
        auto loaded = runtime->keys.load_dir(config.token.key_dir.string());
        if (!loaded.ok()) return loaded.error();
    }
    // Like `mint`, the gateway creates the signing key on first use, so on a fresh machine
    // `make run` and `cloakroom mint` agree on one key without any setup.
    if (!runtime->keys.contains(config.token.signing_key_id)) {
        auto generated =
            token::KeyStore::generate(config.token.key_dir.string(), config.token.signing_key_id);
        if (!generated.ok()) return generated.error();
        auto loaded = runtime->keys.load_dir(config.token.key_dir.string());
        if (!loaded.ok()) return loaded.error();
    }

    secrets::SecretSources sources;
    sources.file_root = config.secrets.dir;
    sources.exec_timeout = config.secrets.exec_timeout;
    runtime->resolver = std::make_unique<secrets::SecretResolver>(sources);

    auto system = make_upstream_context(std::nullopt);
    if (!system.ok()) return system.error();
    runtime->upstream_tls.emplace("", *system);
    for (const auto& service : config.services) {
        if (!service.upstream_ca || runtime->upstream_tls.count(service.upstream_ca->string())) {
            continue;
        }
        auto context = make_upstream_context(service.upstream_ca);
        if (!context.ok()) {
            return make_error(
                context.error().code,
                "service \"" + service.name + "\": upstream_ca: " + context.error().message);
        }
        runtime->upstream_tls.emplace(service.upstream_ca->string(), *context);
    }

    for (const auto& database : config.databases) {
        if (database.tls == config::DatabaseTlsMode::Disable) continue;
        auto native = tls::make_database_client_context(
            database.tls != config::DatabaseTlsMode::Require, database.ca_file,
            database.protocol == config::DatabaseProtocol::Postgres ? "postgresql" : "");
        if (!native.ok()) {
            return make_error(native.error().code,
                              "database \"" + database.name + "\": " + native.error().message);
        }
        runtime->database_tls.emplace(
            database.name, std::make_shared<boost::asio::ssl::context>(native->release()));
    }

    if (previous_audit && previous_audit_target == config.gateway.audit_log) {
        runtime->audit = std::move(previous_audit);
    } else {
        auto sink = AuditSink::open(config.gateway.audit_log);
        if (!sink.ok()) return sink.error();
        runtime->audit = std::shared_ptr<AuditSink>(std::move(*sink));
    }
    runtime->config = std::move(config);
    return std::shared_ptr<const Runtime>(std::move(runtime));
}

}  // namespace cloakroom::runtime
