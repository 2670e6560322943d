#include "serve/server.hpp"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <sys/prctl.h>
#include <sys/resource.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <cstdio>
#include <ctime>
#include <list>
#include <optional>
#include <set>
#include <thread>

#include "bridge/cdp_proxy.hpp"
#include "bridge/open_server.hpp"
#include "config/config.hpp"
#include "db/endpoints.hpp"
#include "fleet/fleet.hpp"
#include "proxy/connection.hpp"
#include "proxy/dns_listener.hpp"
#include "proxy/gateway.hpp"
#include "proxy/reserved_endpoints.hpp"
#include "proxy/transparent_connection.hpp"
#include "runtime/exchange.hpp"
#include "runtime/metrics.hpp"
#include "runtime/recent_audit.hpp"
#include "runtime/revocation_store.hpp"
#include "runtime/session_registry.hpp"
#include "runtime/token_usage.hpp"
#include "serve/admin_server.hpp"
#include "serve/admin_token.hpp"
#include "serve/dashboard.hpp"
#include "serve/handover.hpp"
#include "serve/listener_registry.hpp"
#include "tls/contexts.hpp"
#include "token/token.hpp"
#include "util/time_parse.hpp"

namespace cloakroom::serve {
namespace net = boost::asio;
using tcp = net::ip::tcp;
using proxy::Gateway;
using proxy::Runtime;
using proxy::Worker;
using runtime::build_runtime;

namespace {

// How often the revocation file is checked (one stat when nothing changed): a revocation made by
// `cloakroom revoke` is enforced within this delay.
constexpr std::chrono::milliseconds kRevocationPoll{200};

Result<config::Config> load(const ServeOptions& options, const config::Environment& environment) {
    if (options.config_files.empty()) return config::load_default_config(environment);
    return config::load_config(options.config_files, environment);
}

// What a reload watches: the files the configuration came from (not the embedded default).
std::vector<std::filesystem::path> watched_files(const config::Config& config) {
    std::vector<std::filesystem::path> files;
    for (const auto& source : config.sources) {
        if (source != config::kEmbeddedDefaultName) files.emplace_back(source);
    }
    return files;
}

std::vector<std::filesystem::file_time_type> mtimes(
    const std::vector<std::filesystem::path>& files) {
    std::vector<std::filesystem::file_time_type> times;
    for (const auto& file : files) {
        std::error_code ec;
        times.push_back(std::filesystem::last_write_time(file, ec));
    }
    return times;
}

class Server : public AdminBackend {
  public:
    Server(const ServeOptions& options, const config::Environment& environment)
        : options_(options), environment_(environment) {}

    int run() {
        auto config = load(options_, environment_);
        if (!config.ok()) {
            std::fprintf(stderr, "cloakroom serve: %s\n", config.error().message.c_str());
            return 1;
        }
        auto authority = tls::CertificateAuthority::load_or_create(config->data_dir / "ca");
        if (!authority.ok()) {
            std::fprintf(stderr, "cloakroom serve: %s\n", authority.error().message.c_str());
            return 1;
        }
        const std::string audit_target = config->gateway.audit_log;
        const auto listeners = config->gateway;
        watched_ = watched_files(*config);
        watched_times_ = mtimes(watched_);
        // Revocations are enforced from the first request on: a file that cannot be read is
        // a reason not to start (fail closed), never one to start without them.
        revocations_ =
            std::make_shared<runtime::Revocations>(runtime::revocations_path(config->data_dir));
        if (auto loaded = revocations_->refresh(); !loaded.ok()) {
            std::fprintf(stderr, "cloakroom serve: %s\n", loaded.error().message.c_str());
            return 1;
        }
        revocations_seen_ = revocations_->current()->records().size();
        auto admin_token = load_or_create_admin_token(config->data_dir);
        if (!admin_token.ok()) {
            std::fprintf(stderr, "cloakroom serve: %s\n", admin_token.error().message.c_str());
            return 1;
        }
        const config::AdminConfig admin = config->admin;
        auto runtime = build_runtime(std::move(*config), nullptr, "", revocations_, limiter_);
        if (!runtime.ok()) {
            std::fprintf(stderr, "cloakroom serve: %s\n", runtime.error().message.c_str());
            return 1;
        }
        audit_target_ = audit_target;
        auto server_context = tls::make_server_context();
        if (!server_context.ok()) {
            std::fprintf(stderr, "cloakroom serve: %s\n", server_context.error().message.c_str());
            return 1;
        }
        gateway_ = std::make_unique<Gateway>(*runtime, *authority,
                                             net::ssl::context(server_context->release()));
        gateway_->sessions = sessions_;
        // Before any listener: a wrong Redis password stops the start-up before anything serves,
        // and the first sync has run before the first request.
        if (auto started = start_fleet(); !started.ok()) {
            std::fprintf(stderr, "cloakroom serve: %s\n", started.error().message.c_str());
            return 1;
        }

        // Signals are caught from here on, before anyone can learn the port and send SIGHUP.
        net::signal_set stop(control_, SIGINT, SIGTERM);
        net::signal_set hangup(control_, SIGHUP);

        unsigned threads = options_.threads != 0
                               ? options_.threads
                               : std::max(1u, std::thread::hardware_concurrency());
        if (auto bound = register_listeners(listeners, threads); !bound.ok()) {
            std::fprintf(stderr, "cloakroom serve: %s\n", bound.error().message.c_str());
            return 1;
        }
        registry_->start();
        if (auto opened = open_handover(listeners); !opened.ok()) {
            std::fprintf(stderr, "cloakroom serve: %s\n", opened.error().message.c_str());
            return 1;
        }
        if (auto opened = open_browser_socket(); !opened.ok()) {
            std::fprintf(stderr, "cloakroom serve: %s\n", opened.error().message.c_str());
            return 1;
        }
        if (auto opened = open_admin(admin, std::move(*admin_token)); !opened.ok()) {
            std::fprintf(stderr, "cloakroom serve: %s\n", opened.error().message.c_str());
            return 1;
        }
        for (const auto& database : gateway_->runtime.get()->config.databases) {
            if (database.tls == config::DatabaseTlsMode::Require) {
                std::fprintf(stderr,
                             "cloakroom: warning: database %s: tls = \"require\" does not check "
                             "the server's certificate; prefer \"verify-full\"\n",
                             database.name.c_str());
            }
        }
        std::fprintf(stderr, "cloakroom: CA certificate %s\n", gateway_->ca->cert_path().c_str());
        std::fprintf(stderr, "cloakroom: audit log %s\n",
                     audit_target_ == "-" ? "on standard output" : audit_target_.c_str());
        std::fflush(stderr);

        std::vector<std::thread> pool;
        for (auto& worker : workers_) {
            pool.emplace_back([&worker] { worker->io.run(); });
        }
        for (std::size_t i = 0; i < relay_threads_.size(); ++i) {
            pool.emplace_back([this, i] {
                // Named, so that `top -H` and the tests can tell relaying from the workers.
                const std::string name = "db-relay-" + std::to_string(i);
                ::prctl(PR_SET_NAME, name.c_str());
                relay_threads_[i]->io.run();
            });
        }
        ready_ = true;
        run_control(stop, hangup);
        ready_ = false;
        fleet_.reset();  // its thread stops; its heartbeat entry is removed
        admin_.reset();
        handover_.reset();  // adopted listeners close; the socket file goes away
        open_server_.reset();
        for (auto& worker : workers_) worker->io.stop();
        for (auto& relay : relay_threads_) relay->io.stop();
        for (auto& thread : pool) thread.join();
        registry_.reset();
        databases_.reset();
        std::fprintf(stderr, "cloakroom: stopped\n");
        return 0;
    }

  private:
    struct WorkerThread {
        explicit WorkerThread(Gateway& gateway) : io(1), worker{gateway, {}, {}} {}
        net::io_context io;
        Worker worker;
    };

    // A database relay thread (db/relay_placement.hpp): runs until stopped, sessions or not.
    struct RelayThread {
        net::io_context io{1};
        net::executor_work_guard<net::io_context::executor_type> keep{io.get_executor()};
    };

    // Every listener into the registry, and the startup lines naming them.
    Result<void> register_listeners(const config::GatewayConfig& gateway, unsigned threads) {
        std::vector<net::io_context*> ios;
        for (unsigned i = 0; i < threads; ++i) {
            workers_.push_back(std::make_unique<WorkerThread>(*gateway_));
            ios.push_back(&workers_.back()->io);
        }
        registry_ = std::make_unique<ListenerRegistry>(ios);
        std::vector<std::string> lines;

        auto forward = registry_->add(
            gateway.proxy, "forward proxy", [this](tcp::socket socket, std::size_t worker) {
                return proxy::run_client_connection(std::move(socket), workers_[worker]->worker);
            });
        if (!forward.ok()) return forward.error();
        lines.push_back(*forward + " (forward proxy)");
        if (gateway.reverse) {
            auto reverse = registry_->add(*gateway.reverse, "reverse base URL",
                                          [this](tcp::socket socket, std::size_t worker) {
                                              return proxy::run_reverse_connection(
                                                  std::move(socket), workers_[worker]->worker);
                                          });
            if (!reverse.ok()) return reverse.error();
            lines.push_back(*reverse + " (reverse base URL: http://" + *reverse + "/<service>/)");
        }

        for (const auto& transparent : gateway.transparent) {
            auto bound = registry_->add(transparent, "transparent",
                                        [this](tcp::socket socket, std::size_t worker) {
                                            return proxy::run_transparent_connection(
                                                std::move(socket), workers_[worker]->worker);
                                        });
            if (!bound.ok()) return bound.error();
            lines.push_back(*bound + " (transparent)");
        }

        if (const auto& cdp = gateway_->runtime.get()->config.browser.cdp_listen) {
            auto bound =
                registry_->add(*cdp, "DevTools proxy", [this](tcp::socket socket, std::size_t) {
                    return bridge::run_cdp_connection(std::move(socket), gateway_->runtime);
                });
            if (!bound.ok()) return bound.error();
            lines.push_back(*bound + " (DevTools proxy)");
        }

        std::vector<net::io_context*> relay_contexts;
        for (unsigned i = 0; i < options_.db_relay_threads; ++i) {
            relay_threads_.push_back(std::make_unique<RelayThread>());
            relay_contexts.push_back(&relay_threads_.back()->io);
        }
        auto databases = db::DatabaseEndpoints::create(
            gateway_->runtime.get()->config, gateway_->runtime, gateway_->leaves, sessions_,
            std::make_shared<db::RelayPlacement>(std::move(relay_contexts)));
        if (!databases.ok()) return databases.error();
        databases_ = std::move(*databases);
        const auto& endpoints = databases_->endpoints();
        for (std::size_t i = 0; i < endpoints.size(); ++i) {
            auto bound = registry_->add(endpoints[i].listen, endpoints[i].description(),
                                        [this, i](tcp::socket socket, std::size_t) {
                                            return databases_->serve(i, std::move(socket));
                                        });
            if (!bound.ok()) {
                return make_error(bound.error().code, "database \"" + endpoints[i].name +
                                                          "\": " + bound.error().message);
            }
            lines.push_back(*bound + " (" + endpoints[i].description() + ")");
        }
        for (const auto& line : lines) {
            std::fprintf(stderr, "cloakroom: listening on %s\n", line.c_str());
        }
        return {};
    }

    // The browser bridge's open-URL socket (bridge/open_server.hpp), on the control thread.
    Result<void> open_browser_socket() {
        const auto path = gateway_->runtime.get()->config.data_dir / "run" / "browser.sock";
        auto server =
            bridge::OpenServer::open(path, control_, gateway_->runtime, gateway_->blocking);
        if (!server.ok()) {
            if (server.error().code == "bridge.open.path") {
                std::fprintf(stderr, "cloakroom: warning: %s; `cloakroom open` is unavailable\n",
                             server.error().message.c_str());
                return {};
            }
            return server.error();
        }
        open_server_ = std::move(*server);
        // Which sandbox asked: the one whose listeners live in the asking process's network
        // namespace (OAuth callbacks are routed into it).
        open_server_->set_sandbox_finder([this](pid_t pid) -> std::optional<bridge::SandboxLink> {
            if (!handover_) return std::nullopt;
            auto netns = process_netns(pid);
            if (!netns) return std::nullopt;
            return handover_->find_sandbox(*netns);
        });
        return {};
    }

    // The hand-over socket of `cloakroom run` (serve/handover.hpp), on the control thread.
    Result<void> open_handover(const config::GatewayConfig& gateway) {
        if (gateway.sandbox_socket.empty()) return {};
        HandoverHandlers handlers;
        handlers.forward = [this](tcp::socket socket, std::size_t worker) {
            return proxy::run_client_connection(std::move(socket), workers_[worker]->worker);
        };
        handlers.transparent = [this](tcp::socket socket, std::size_t worker) {
            return proxy::run_transparent_connection(std::move(socket), workers_[worker]->worker);
        };
        handlers.dns_tcp = [this](tcp::socket socket, std::size_t) {
            return proxy::run_dns_tcp_connection(std::move(socket), *gateway_);
        };
        handlers.dns = [this](std::shared_ptr<net::ip::udp::socket> socket) {
            return proxy::run_dns_datagrams(std::move(socket), *gateway_);
        };
        // A sandbox's database listener is served like the configured one of that name (the
        // listeners are fixed at start-up, so the index stays valid across reloads).
        handlers.database = [this](const std::string& name) -> Result<ConnectionHandler> {
            const auto& endpoints = databases_->endpoints();
            std::string known;
            for (std::size_t i = 0; i < endpoints.size(); ++i) {
                if (endpoints[i].name == name) {
                    return ConnectionHandler([this, i](tcp::socket socket, std::size_t) {
                        return databases_->serve(i, std::move(socket));
                    });
                }
                known += (known.empty() ? "" : ", ") + endpoints[i].name;
            }
            return make_error("serve.handover",
                              "this gateway has no database \"" + name +
                                  "\" (its databases: " + (known.empty() ? "none" : known) + ")");
        };
        // The DevTools proxy inside a sandbox: the same filter as on cdp_listen.
        handlers.cdp = [this](tcp::socket socket, std::size_t) {
            return bridge::run_cdp_connection(std::move(socket), gateway_->runtime);
        };
        handlers.session_ended = [this] {
            if (open_server_) open_server_->prune_callbacks();
        };
        auto server =
            HandoverServer::open(gateway.sandbox_socket, control_, *registry_, std::move(handlers));
        if (!server.ok()) {
            // A deep data directory must not stop a gateway that never sees a sandbox; a path
            // the user chose must work or fail loudly.
            const auto default_path =
                gateway_->runtime.get()->config.data_dir / "run" / "sandbox.sock";
            if (server.error().code == "serve.handover.path" &&
                gateway.sandbox_socket == default_path) {
                std::fprintf(stderr,
                             "cloakroom: warning: %s; no sandbox hand-over (set [gateway] "
                             "sandbox_socket to a shorter path)\n",
                             server.error().message.c_str());
                return {};
            }
            return server.error();
        }
        handover_ = std::move(*server);
        std::fprintf(stderr, "cloakroom: sandbox hand-over socket %s\n",
                     gateway.sandbox_socket.c_str());
        return {};
    }

    // Counts the outcome (metrics) and says it on stderr; returns the number of services.
    Result<std::size_t> reload(const char* why) {
        auto done = reload_config(why);
        runtime::metrics().add(done.ok() ? runtime::Event::ReloadOk : runtime::Event::ReloadFailed);
        last_reload_ = LastReload{runtime::unix_ms_now(), why, done.ok(),
                                  done.ok() ? std::string() : done.error().message};
        if (!done.ok()) {
            spdlog::error("reload ({}) failed, keeping the previous configuration: {}", why,
                          done.error().message);
        }
        return done;
    }

    Result<std::size_t> reload_config(const char* why) {
        auto config = load(options_, environment_);
        if (!config.ok()) return config.error();
        const auto previous = gateway_->runtime.get();
        const auto& current_gateway = previous->config.gateway;
        if (config->gateway.proxy.address != current_gateway.proxy.address ||
            (config->gateway.reverse ? config->gateway.reverse->address : "") !=
                (current_gateway.reverse ? current_gateway.reverse->address : "")) {
            spdlog::warn("reload: the listen address changed; restart Cloakroom to apply it");
        }
        const config::FleetConfig& fleet = previous->config.fleet;
        if (config->fleet != fleet) {
            spdlog::warn("reload: [fleet] changed; restart Cloakroom to apply it");
        }
        if (databases_ && !databases_->same_listeners(*config)) {
            spdlog::warn("reload: database listeners changed; restart Cloakroom to apply them");
        }
        const std::string audit_target = config->gateway.audit_log;
        auto current = gateway_->runtime.get();
        auto next = build_runtime(std::move(*config), current->audit, audit_target_, revocations_,
                                  limiter_);
        if (!next.ok()) return next.error();
        // Verify cache counts of the snapshot going away, so the metric never goes back.
        if (current->verify_cache) {
            verify_hits_carried_ += current->verify_cache->hits();
            verify_misses_carried_ += current->verify_cache->misses();
        }
        audit_target_ = audit_target;
        watched_ = watched_files((*next)->config);
        watched_times_ = mtimes(watched_);
        gateway_->runtime.set(*next);
        spdlog::info("reload ({}): configuration applied ({} services)", why,
                     (*next)->config.services.size());
        return (*next)->config.services.size();
    }

    void run_control(net::signal_set& stop, net::signal_set& hangup) {
        net::io_context& control = control_;
        stop.async_wait([&](const boost::system::error_code&, int) { control.stop(); });
        std::function<void()> wait_hangup = [&] {
            hangup.async_wait([&](const boost::system::error_code& ec, int) {
                if (ec) return;
                (void)reload("SIGHUP");
                wait_hangup();
            });
        };
        wait_hangup();
        net::steady_timer watch(control);
        std::function<void()> poll = [&] {
            watch.expires_after(std::chrono::seconds(1));
            watch.async_wait([&](const boost::system::error_code& ec) {
                if (ec) return;
                if (!watched_.empty() && mtimes(watched_) != watched_times_) {
                    watched_times_ = mtimes(watched_);
                    (void)reload("file changed");
                }
                poll();
            });
        };
        poll();
        net::steady_timer revocation_watch(control);
        std::function<void()> poll_revocations = [&] {
            revocation_watch.expires_after(kRevocationPoll);
            revocation_watch.async_wait([&](const boost::system::error_code& ec) {
                if (ec) return;
                (void)apply_revocations();
                poll_revocations();
            });
        };
        poll_revocations();
        control.run();
    }

    // A changed revocation file (`cloakroom revoke`, from another process): the new list is
    // enforced from the next access decision on, every live session it revokes is ended, and
    // each new record gets an audit line saying how many sessions it ended. A broken file keeps
    // the previous list (revocations are never dropped) and says why, once per problem.
    // Returns how many live sessions the new records ended.
    std::size_t apply_revocations() {
        std::size_t ended_total = 0;
        auto changed = revocations_->refresh();
        if (!changed.ok()) {
            if (changed.error().message != revocation_error_) {
                revocation_error_ = changed.error().message;
                spdlog::error("revocations: keeping the previous list: {}", revocation_error_);
            }
            return 0;
        }
        revocation_error_.clear();
        if (!*changed) return 0;
        const auto list = revocations_->current();
        const auto& records = list->records();
        const auto audit = gateway_->runtime.get()->audit;
        for (std::size_t i = std::min(revocations_seen_, records.size()); i < records.size(); ++i) {
            runtime::RevocationList one;
            one.add(records[i]);
            const std::size_t ended = sessions_->end_revoked(one);
            ended_total += ended;
            runtime::AuditRecord record;
            record.time_ms = runtime::unix_ms_now();
            record.kind = runtime::kAuditRevocation;
            record.token_id = records[i].token_id;
            record.decision = std::string(runtime::kDeny);
            record.reason =
                (records[i].before ? "every token minted before " +
                                         format_time_utc(*records[i].before) + " revoked"
                                   : std::string("token revoked")) +
                (records[i].reason.empty() ? "" : " (" + records[i].reason + ")") +
                "; live sessions ended: " + std::to_string(ended);
            if (audit) audit->write(record);
            runtime::recent_audit().record(record);
            runtime::metrics().add(runtime::Event::RevocationApplied);
            runtime::metrics().add(runtime::Event::SessionsEndedByRevocation, ended);
            spdlog::info("revocation applied: {}", record.reason);
        }
        revocations_seen_ = records.size();
        if (fleet_) fleet_->offer(records);
        return ended_total;
    }

    // ---- Fleet mode (fleet/fleet.hpp) ----

    Result<void> start_fleet() {
        const auto current = gateway_->runtime.get();
        const config::FleetConfig& config = current->config.fleet;
        if (!config.enabled()) return {};
        fleet::FleetSecrets resolved;
        const std::pair<const std::optional<secrets::SecretRef>*, std::string*> wanted[] = {
            {&config.password, &resolved.password},
            {&config.sentinel_password, &resolved.sentinel_password},
            {&config.client_cert, &resolved.client_cert},
            {&config.client_key, &resolved.client_key}};
        const char* const names[] = {"password", "sentinel_password", "client_cert", "client_key"};
        for (std::size_t i = 0; i < std::size(wanted); ++i) {
            if (!*wanted[i].first) continue;
            auto secret = current->resolver->resolve(**wanted[i].first);
            if (!secret.ok()) {
                return make_error("fleet.secret", std::string("[fleet] ") + names[i] + ": " +
                                                      secret.error().message);
            }
            *wanted[i].second = std::string(secret->reveal());
        }
        fleet::FleetHooks hooks;
        hooks.revocations = [this](std::vector<runtime::RevocationRecord> records) {
            net::post(control_,
                      [this, records = std::move(records)] { store_fleet_revocations(records); });
        };
        hooks.live = [sessions = sessions_] {
            return std::pair<std::uint64_t, std::uint64_t>{sessions->live(runtime::kAuditHttp),
                                                           sessions->live(runtime::kAuditDatabase)};
        };
        auto started =
            fleet::Fleet::start(config, std::move(resolved), revocations_->current()->records(),
                                revocations_, limiter_, hooks);
        if (!started.ok()) {
            return make_error(started.error().code, "fleet: " + started.error().message);
        }
        fleet_ = std::move(*started);
        std::fprintf(stderr, "cloakroom: fleet instance %s on %s (%s)\n", config.instance.c_str(),
                     config.redis.c_str(),
                     std::string(fleet::to_string(fleet_->status().state)).c_str());
        return {};
    }

    // Records other gateways revoked (already enforced by the fleet thread): written to the
    // local file, so that they survive a restart without Redis, then applied like a local
    // `cloakroom revoke` (sessions ended, one audit record each).
    void store_fleet_revocations(const std::vector<runtime::RevocationRecord>& records) {
        std::set<std::string> in_file;
        if (auto loaded = runtime::load_revocations(revocations_->path()); loaded.ok()) {
            for (const auto& record : loaded->records()) {
                in_file.insert(runtime::format_revocation(record));
            }
        }
        for (const auto& record : records) {
            if (in_file.contains(runtime::format_revocation(record))) continue;
            if (auto appended = runtime::append_revocation(revocations_->path(), record);
                !appended.ok()) {
                spdlog::error(
                    "fleet: cannot store a revocation from the fleet (it is enforced "
                    "until the gateway stops): {}",
                    appended.error().message);
            }
        }
        (void)apply_revocations();
    }

    nlohmann::json fleet() const override {
        if (!fleet_) return nullptr;
        const fleet::FleetStatus status = fleet_->status();
        nlohmann::json instances = nlohmann::json::array();
        for (const auto& instance : status.instances) {
            instances.push_back(
                {{"instance", instance.name},
                 {"live", {{"http", instance.live_http}, {"database", instance.live_database}}},
                 {"last_seen", runtime::rfc3339_ms(instance.seen_ms)}});
        }
        nlohmann::json out = {{"enabled", true},
                              {"state", std::string(fleet::to_string(status.state))},
                              {"instance", status.instance},
                              {"redis", status.redis},
                              {"node", status.node},
                              {"sync_age_ms", status.sync_age_ms},
                              {"syncs", status.syncs},
                              {"failures", status.failures},
                              {"instances", instances}};
        if (!status.last_error.empty()) out["last_error"] = status.last_error;
        return out;
    }

    // ---- The admin listener (serve/admin_server.hpp) and what its API acts on ----

    Result<void> open_admin(config::AdminConfig admin, std::string token) {
        if (!admin.listen && admin.socket.empty()) return {};
        auto server = AdminServer::open(admin, control_, token, *this);
        const auto default_path = gateway_->runtime.get()->config.data_dir / "run" / "admin.sock";
        if (!server.ok() && server.error().code == "admin.path" && admin.socket == default_path) {
            // Like the hand-over socket: a deep data directory must not stop the gateway.
            std::fprintf(stderr,
                         "cloakroom: warning: %s; no admin socket (set [admin] socket to a "
                         "shorter path)\n",
                         server.error().message.c_str());
            admin.socket.clear();
            if (!admin.listen) return {};
            server = AdminServer::open(admin, control_, std::move(token), *this);
        }
        if (!server.ok()) return server.error();
        admin_ = std::move(*server);
        // The admin API is never reachable through the gateway (reserved_endpoints.hpp).
        if (auto endpoint = admin_->tcp_endpoint()) proxy::reserve_endpoint(*endpoint);
        for (const auto& line : admin_->describe()) {
            std::fprintf(stderr, "cloakroom: admin API on %s\n", line.c_str());
        }
        if (const auto lines = admin_->describe(); admin_->tcp_endpoint() && !lines.empty()) {
            // The token is not in this line (logs are read by more people than the token file).
            std::fprintf(stderr,
                         "cloakroom: dashboard on %s/dashboard (`cloakroom dashboard` prints the "
                         "address with the admin token)\n",
                         lines.front().c_str());
        }
        return {};
    }

    bool ready() const override { return ready_; }

    std::string metrics_text() const override {
        const auto current = gateway_->runtime.get();
        std::set<std::string, std::less<>> names;
        for (const auto& service : current->config.services) names.insert(service.name);
        for (const auto& database : current->config.databases) names.insert(database.name);
        std::string out = runtime::metrics().exposition(names);
        runtime::ExpositionWriter writer(out);
        writer.family("cloakroom_leaf_cache_lookups_total", "counter",
                      "Leaf certificate cache lookups for intercepted hosts, by result.");
        writer.sample("cloakroom_leaf_cache_lookups_total", {{"result", "hit"}},
                      static_cast<double>(gateway_->leaves.hits()));
        writer.sample("cloakroom_leaf_cache_lookups_total", {{"result", "miss"}},
                      static_cast<double>(gateway_->leaves.misses()));
        writer.family("cloakroom_leaf_cache_entries", "gauge", "Leaf certificates cached.");
        writer.sample("cloakroom_leaf_cache_entries", {},
                      static_cast<double>(gateway_->leaves.size()));
        const std::uint64_t hits =
            verify_hits_carried_ + (current->verify_cache ? current->verify_cache->hits() : 0);
        const std::uint64_t misses =
            verify_misses_carried_ + (current->verify_cache ? current->verify_cache->misses() : 0);
        writer.family("cloakroom_verify_cache_lookups_total", "counter",
                      "Token verification cache lookups, by result.");
        writer.sample("cloakroom_verify_cache_lookups_total", {{"result", "hit"}},
                      static_cast<double>(hits));
        writer.sample("cloakroom_verify_cache_lookups_total", {{"result", "miss"}},
                      static_cast<double>(misses));
        writer.family("cloakroom_live_sessions", "gauge",
                      "Live sessions by kind (agent connections that carried a token, database "
                      "sessions).");
        for (std::string_view kind : {runtime::kAuditHttp, runtime::kAuditDatabase}) {
            writer.sample("cloakroom_live_sessions", {{"kind", kind}},
                          static_cast<double>(sessions_->live(kind)));
        }
        writer.family("cloakroom_revocations", "gauge", "Revocation records in force.");
        writer.sample("cloakroom_revocations", {},
                      static_cast<double>(revocations_->current()->records().size()));
        if (fleet_) {
            const fleet::FleetStatus status = fleet_->status();
            writer.family("cloakroom_fleet_state", "gauge",
                          "Fleet mode: 1 for the state this gateway is in (synced, degraded, "
                          "stale), 0 for the others.");
            for (auto state : {fleet::FleetState::Synced, fleet::FleetState::Degraded,
                               fleet::FleetState::Stale}) {
                writer.sample("cloakroom_fleet_state", {{"state", fleet::to_string(state)}},
                              status.state == state ? 1 : 0);
            }
            writer.family("cloakroom_fleet_sync_age_seconds", "gauge",
                          "Seconds since the last successful sync with Redis (-1: never).");
            writer.sample(
                "cloakroom_fleet_sync_age_seconds", {},
                status.sync_age_ms < 0 ? -1.0 : static_cast<double>(status.sync_age_ms) / 1000);
            writer.family("cloakroom_fleet_syncs_total", "counter",
                          "Sync rounds with Redis, by result.");
            writer.sample("cloakroom_fleet_syncs_total", {{"result", "ok"}},
                          static_cast<double>(status.syncs));
            writer.sample("cloakroom_fleet_syncs_total", {{"result", "failed"}},
                          static_cast<double>(status.failures));
            writer.family("cloakroom_fleet_instances", "gauge",
                          "Gateways of the fleet with a recent heartbeat.");
            writer.sample("cloakroom_fleet_instances", {},
                          static_cast<double>(status.instances.size()));
            std::uint64_t http = 0;
            std::uint64_t database = 0;
            for (const auto& instance : status.instances) {
                http += instance.live_http;
                database += instance.live_database;
            }
            writer.family("cloakroom_fleet_live_sessions", "gauge",
                          "Live sessions of the whole fleet by kind, as of the last heartbeats.");
            writer.sample("cloakroom_fleet_live_sessions", {{"kind", runtime::kAuditHttp}},
                          static_cast<double>(http));
            writer.sample("cloakroom_fleet_live_sessions", {{"kind", runtime::kAuditDatabase}},
                          static_cast<double>(database));
        }
        writer.family("cloakroom_ready", "gauge", "1 once every listener is serving.");
        writer.sample("cloakroom_ready", {}, ready_ ? 1 : 0);
        return out;
    }

    nlohmann::json config_summary() const override {
        const auto current = gateway_->runtime.get();
        const config::Config& config = current->config;
        auto limits_json = [](const config::Limits& limits) {
            nlohmann::json out = nlohmann::json::object();
            if (limits.rate) out["rate"] = limits.rate->text;
            if (limits.concurrency) out["concurrency"] = *limits.concurrency;
            if (limits.token_rate) out["token_rate"] = limits.token_rate->text;
            if (limits.token_concurrency) out["token_concurrency"] = *limits.token_concurrency;
            if (limits.token_budget) out["token_budget"] = *limits.token_budget;
            return out;
        };
        // Names and shapes only: no secret reference (an exec: helper's command line may hold
        // arguments an operator would not publish), no key material.
        nlohmann::json services = nlohmann::json::array();
        for (const auto& service : config.services) {
            services.push_back({{"name", service.name},
                                {"hosts", service.hosts},
                                {"credential", service.credential ? std::string(config::to_string(
                                                                        service.credential->type))
                                                                  : std::string("none")},
                                {"allow_private", service.allow_private},
                                {"limits", limits_json(service.limits)}});
        }
        nlohmann::json databases = nlohmann::json::array();
        for (const auto& database : config.databases) {
            nlohmann::json logins = nlohmann::json::array();
            for (const auto& login : database.logins) logins.push_back(login.name);
            databases.push_back({{"name", database.name},
                                 {"protocol", std::string(config::to_string(database.protocol))},
                                 {"listen", database.listen.address},
                                 {"upstream", database.upstream},
                                 {"tls", std::string(config::to_string(database.tls))},
                                 {"logins", logins},
                                 {"limits", limits_json(database.limits)}});
        }
        nlohmann::json listeners = {{"proxy", config.gateway.proxy.address}};
        if (config.gateway.reverse) listeners["reverse"] = config.gateway.reverse->address;
        return {{"sources", config.sources},
                {"data_dir", config.data_dir.string()},
                {"strict", config.gateway.strict},
                {"listeners", listeners},
                {"allowed_hosts", config.allowed_hosts},
                {"services", services},
                {"databases", databases},
                {"limits", limits_json(config.limits)},
                {"revocations", revocations_->current()->records().size()},
                {"last_reload", last_reload_json()}};
    }

    // The outcome of the last reload (SIGHUP, a changed file, the admin API), null before the
    // first: a failed one keeps the previous configuration serving, and the dashboard says why.
    nlohmann::json last_reload_json() const {
        if (!last_reload_) return nullptr;
        nlohmann::json out = {{"time", runtime::rfc3339_ms(last_reload_->time_ms)},
                              {"trigger", last_reload_->trigger},
                              {"ok", last_reload_->ok}};
        if (!last_reload_->ok) out["error"] = last_reload_->error;
        return out;
    }

    nlohmann::json audit_records(std::uint64_t after, std::size_t limit) const override {
        const auto& recent = runtime::recent_audit();
        // last_seq taken with the records: the page asks for what follows it next time.
        const auto slice = recent.since(after, limit);
        return recent_records_json(slice.records, slice.last_seq, recent.capacity());
    }

    nlohmann::json decisions() const override {
        return decision_series_json(runtime::recent_audit().series(runtime::unix_ms_now() / 1000));
    }

    nlohmann::json sessions() const override {
        const auto live = sessions_->live_by_token();
        const auto uses = runtime::token_usage().snapshot();
        nlohmann::json tokens = nlohmann::json::array();
        std::set<std::string> listed;
        const auto revoked = revocations_->current();
        auto entry = [&](const std::string& token_id) {
            // Revoked by id (a `before` record needs the token's mint time, not known here).
            const auto* record = revoked->find(token_id, std::nullopt);
            nlohmann::json out = {{"token_id", token_id},
                                  {"live", nlohmann::json::object()},
                                  {"revoked", record != nullptr && !record->token_id.empty()}};
            if (auto found = live.find(token_id); found != live.end()) {
                for (const auto& [kind, count] : found->second) out["live"][kind] = count;
            }
            return out;
        };
        for (const auto& use : uses) {
            nlohmann::json one = entry(use.token_id);
            one["service"] = use.service;
            one["requests"] = use.requests;
            one["denied"] = use.denied;
            one["bytes_in"] = use.bytes_in;
            one["bytes_out"] = use.bytes_out;
            one["last_seen"] = runtime::rfc3339_ms(use.last_seen_ms);
            tokens.push_back(std::move(one));
            listed.insert(use.token_id);
        }
        for (const auto& [token_id, kinds] : live) {
            if (!listed.contains(token_id)) tokens.push_back(entry(token_id));
        }
        return {{"tokens", tokens}, {"live_total", sessions_->live()}};
    }

    Result<nlohmann::json> revoke(const nlohmann::json& request) override {
        auto text = [&](const char* key) -> std::optional<std::string> {
            auto found = request.find(key);
            if (found == request.end() || !found->is_string()) return std::nullopt;
            return found->get<std::string>();
        };
        runtime::RevocationRecord record;
        record.revoked_at = static_cast<std::int64_t>(std::time(nullptr));
        record.reason = text("reason").value_or("");
        if (auto problem = runtime::check_reason(record.reason); !problem.empty()) {
            return make_error("admin.revoke", "reason: " + problem);
        }
        const auto current = gateway_->runtime.get();
        if (auto before = text("before")) {
            auto parsed = parse_time(*before);
            if (!parsed.ok()) return parsed.error();
            if (*parsed > record.revoked_at + 60) {
                return make_error("admin.revoke",
                                  "before is in the future: it would also "
                                  "revoke the tokens minted until then");
            }
            record.before = *parsed;
        } else if (auto token = text("token")) {
            const token::TokenFormat format{current->config.token.prefix,
                                            current->config.token.location};
            auto inspected = token::inspect_token(*token, format);
            if (!inspected.ok()) return make_error("admin.revoke", "not a token of this gateway");
            record.token_id = (*inspected)["token_id"].get<std::string>();
        } else if (auto id = text("token_id")) {
            if (auto problem = runtime::check_token_id(*id); !problem.empty()) {
                return make_error("admin.revoke", "token_id: " + problem);
            }
            record.token_id = *id;
        } else {
            return make_error("admin.revoke", "give \"token_id\", \"token\" or \"before\"");
        }
        if (auto appended = runtime::append_revocation(revocations_->path(), record);
            !appended.ok()) {
            return appended.error();
        }
        const std::size_t ended = apply_revocations();  // now, not at the next poll
        nlohmann::json out = {{"revoked", true}, {"sessions_ended", ended}};
        if (!record.token_id.empty()) out["token_id"] = record.token_id;
        if (record.before) out["before"] = format_time_utc(*record.before);
        return out;
    }

    Result<nlohmann::json> reload() override {
        auto done = reload("admin API");
        if (!done.ok()) return done.error();
        return nlohmann::json{{"reloaded", true}, {"services", *done}};
    }

    net::io_context control_{1};
    const ServeOptions& options_;
    const config::Environment& environment_;
    std::unique_ptr<Gateway> gateway_;
    std::vector<std::unique_ptr<WorkerThread>> workers_;
    std::unique_ptr<db::DatabaseEndpoints> databases_;
    // After workers_, so destroyed before them: a session still relaying at shutdown unwinds
    // here and may post to the worker it came from (its live-session registration).
    std::vector<std::unique_ptr<RelayThread>> relay_threads_;
    std::unique_ptr<ListenerRegistry> registry_;
    std::unique_ptr<HandoverServer> handover_;
    std::unique_ptr<bridge::OpenServer> open_server_;
    std::unique_ptr<AdminServer> admin_;
    std::unique_ptr<fleet::Fleet> fleet_;  // fleet mode only
    bool ready_ = false;                   // control thread only (the admin server runs there too)
    // Rate limits and budgets: one limiter for the process, kept across reloads.
    std::shared_ptr<runtime::Limiter> limiter_ = runtime::Limiter::create();
    std::uint64_t verify_hits_carried_ = 0;
    std::uint64_t verify_misses_carried_ = 0;
    // Live sessions by token: database sessions register once logged in.
    std::shared_ptr<runtime::SessionRegistry> sessions_ =
        std::make_shared<runtime::SessionRegistry>();
    // The revocation list every snapshot shares, re-read when its file changes.
    std::shared_ptr<runtime::Revocations> revocations_;
    std::size_t revocations_seen_ = 0;  // records already applied (the file only grows)
    std::string revocation_error_;      // the last refresh problem reported
    std::string audit_target_;
    struct LastReload {
        std::int64_t time_ms = 0;
        std::string trigger;
        bool ok = false;
        std::string error;
    };
    std::optional<LastReload> last_reload_;  // control thread only, like every reload
    std::vector<std::filesystem::path> watched_;
    std::vector<std::filesystem::file_time_type> watched_times_;
};

}  // namespace

int serve(const ServeOptions& options, const config::Environment& environment) {
    // Invariant 1: secrets never reach a core dump. No core file, and not dumpable/ptrace-able
    // by other processes of the same user.
    const rlimit no_core{0, 0};
    ::setrlimit(RLIMIT_CORE, &no_core);
    ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    // A client that hangs up mid-write must not kill the process.
    std::signal(SIGPIPE, SIG_IGN);
    // Logs go to stderr: stdout may carry the audit log (audit_log = "-").
    spdlog::set_default_logger(spdlog::stderr_logger_mt("cloakroom"));
    Server server(options, environment);
    return server.run();
}

}  // namespace cloakroom::serve
