#include "serve/server.hpp"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <sys/prctl.h>
#include <sys/resource.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <cstdio>
#include <list>
#include <optional>
#include <thread>

#include "config/config.hpp"
#include "db/endpoints.hpp"
#include "proxy/connection.hpp"
#include "proxy/dns_listener.hpp"
#include "proxy/gateway.hpp"
#include "proxy/transparent_connection.hpp"
#include "runtime/exchange.hpp"
#include "runtime/revocation_store.hpp"
#include "runtime/session_registry.hpp"
#include "serve/handover.hpp"
#include "serve/listener_registry.hpp"
#include "tls/contexts.hpp"
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

class Server {
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
        auto runtime = build_runtime(std::move(*config), nullptr, "", revocations_);
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
        run_control(stop, hangup);
        handover_.reset();  // adopted listeners close; the socket file goes away
        for (auto& worker : workers_) worker->io.stop();
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

        auto databases = db::DatabaseEndpoints::create(
            gateway_->runtime.get()->config, gateway_->runtime, gateway_->leaves, sessions_);
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

    void reload(const char* why) {
        auto config = load(options_, environment_);
        if (!config.ok()) {
            spdlog::error("reload ({}) failed, keeping the previous configuration: {}", why,
                          config.error().message);
            return;
        }
        const auto previous = gateway_->runtime.get();
        const auto& current_gateway = previous->config.gateway;
        if (config->gateway.proxy.address != current_gateway.proxy.address ||
            (config->gateway.reverse ? config->gateway.reverse->address : "") !=
                (current_gateway.reverse ? current_gateway.reverse->address : "")) {
            spdlog::warn("reload: the listen address changed; restart Cloakroom to apply it");
        }
        if (databases_ && !databases_->same_listeners(*config)) {
            spdlog::warn("reload: database listeners changed; restart Cloakroom to apply them");
        }
        const std::string audit_target = config->gateway.audit_log;
        auto current = gateway_->runtime.get();
        auto next = build_runtime(std::move(*config), current->audit, audit_target_, revocations_);
        if (!next.ok()) {
            spdlog::error("reload ({}) failed, keeping the previous configuration: {}", why,
                          next.error().message);
            return;
        }
        audit_target_ = audit_target;
        watched_ = watched_files((*next)->config);
        watched_times_ = mtimes(watched_);
        gateway_->runtime.set(*next);
        spdlog::info("reload ({}): configuration applied ({} services)", why,
                     (*next)->config.services.size());
    }

    void run_control(net::signal_set& stop, net::signal_set& hangup) {
        net::io_context& control = control_;
        stop.async_wait([&](const boost::system::error_code&, int) { control.stop(); });
        std::function<void()> wait_hangup = [&] {
            hangup.async_wait([&](const boost::system::error_code& ec, int) {
                if (ec) return;
                reload("SIGHUP");
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
                    reload("file changed");
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
                apply_revocations();
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
    void apply_revocations() {
        auto changed = revocations_->refresh();
        if (!changed.ok()) {
            if (changed.error().message != revocation_error_) {
                revocation_error_ = changed.error().message;
                spdlog::error("revocations: keeping the previous list: {}", revocation_error_);
            }
            return;
        }
        revocation_error_.clear();
        if (!*changed) return;
        const auto list = revocations_->current();
        const auto& records = list->records();
        const auto audit = gateway_->runtime.get()->audit;
        for (std::size_t i = std::min(revocations_seen_, records.size()); i < records.size(); ++i) {
            runtime::RevocationList one;
            one.add(records[i]);
            const std::size_t ended = sessions_->end_revoked(one);
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
            spdlog::info("revocation applied: {}", record.reason);
        }
        revocations_seen_ = records.size();
    }

    net::io_context control_{1};
    const ServeOptions& options_;
    const config::Environment& environment_;
    std::unique_ptr<Gateway> gateway_;
    std::vector<std::unique_ptr<WorkerThread>> workers_;
    std::unique_ptr<db::DatabaseEndpoints> databases_;
    std::unique_ptr<ListenerRegistry> registry_;
    std::unique_ptr<HandoverServer> handover_;
    // Live sessions by token: database sessions register once logged in.
    std::shared_ptr<runtime::SessionRegistry> sessions_ =
        std::make_shared<runtime::SessionRegistry>();
    // The revocation list every snapshot shares, re-read when its file changes.
    std::shared_ptr<runtime::Revocations> revocations_;
    std::size_t revocations_seen_ = 0;  // records already applied (the file only grows)
    std::string revocation_error_;      // the last refresh problem reported
    std::string audit_target_;
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
