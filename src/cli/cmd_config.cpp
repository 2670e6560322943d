// `cloakroom config`: validate the configuration, or print the embedded default.
#include <cstdio>

#include "cli/command.hpp"
#include "cli/context.hpp"
#include "config/profile.hpp"

namespace cloakroom::cli {
namespace {

int run_check(const GlobalOptions& global) {
    auto config = load_cli_config(global);
    if (!config.ok()) return fail("config check", config.error(), kExitFailure);
    std::printf("configuration ok\n");
    for (const auto& source : config->sources) std::printf("  source: %s\n", source.c_str());
    std::printf("  proxy listener: %s\n", config->gateway.proxy.address.c_str());
    std::printf("  strict mode: %s\n", config->gateway.strict ? "on" : "off");
    for (const auto& service : config->services) {
        std::string hosts;
        for (const auto& host : service.hosts) hosts += (hosts.empty() ? "" : ", ") + host;
        std::printf("  service %s: %s%s\n", service.name.c_str(), hosts.c_str(),
                    service.credential ? "" : " (no credential)");
    }
    for (const auto& host : config->allowed_hosts)
        std::printf("  allowed host: %s\n", host.c_str());
    for (const auto& database : config->databases) {
        std::string logins;
        for (const auto& login : database.logins) {
            logins += (logins.empty() ? "" : ", ") + login.name;
        }
        std::printf("  database %s (%s): %s -> %s, tls %s, client tls %s, logins: %s\n",
                    database.name.c_str(),
                    std::string(config::to_string(database.protocol)).c_str(),
                    database.listen.address.c_str(), database.upstream.c_str(),
                    std::string(config::to_string(database.tls)).c_str(),
                    std::string(config::to_string(database.client_tls)).c_str(), logins.c_str());
        if (database.tls == config::DatabaseTlsMode::Require) {
            std::printf(
                "  warning: database %s: tls = \"require\" encrypts but does not check "
                "the server's certificate; prefer \"verify-full\"\n",
                database.name.c_str());
        }
    }
    for (const auto& spec : config->profiles) {
        // Resolved (extends merged), as `cloakroom run --profile` will use it; the load
        // already refused unresolvable ones.
        auto profile = config::resolve_profile(spec.name, config->profiles);
        if (!profile.ok()) continue;
        auto join = [](const std::vector<std::string>& list) {
            std::string text;
            for (const auto& item : list) text += (text.empty() ? "" : ", ") + item;
            return text.empty() ? std::string("none") : text;
        };
        std::string chain;
        for (std::size_t i = 1; i < profile->chain.size(); ++i)
            chain += (i == 1 ? " (extends " : " <- ") + profile->chain[i];
        if (!chain.empty()) chain += ")";
        std::printf("  profile %s%s: services %s; allowed hosts %s; writable %s; hidden %s\n",
                    spec.name.c_str(), chain.c_str(),
                    profile->services ? join(*profile->services).c_str() : "all configured",
                    join(profile->allowed_hosts).c_str(), join(profile->writable_paths).c_str(),
                    join(profile->hidden_paths).c_str());
    }
    return kExitOk;
}

}  // namespace

void register_config(CLI::App& app, const GlobalOptions& global, Commands& commands) {
    auto* config_cmd = app.add_subcommand("config", "Check or show the configuration");
    config_cmd->require_subcommand(1);
    auto* check =
        config_cmd->add_subcommand("check", "Validate the configuration and summarize it");
    commands.push_back({check, [&global] { return run_check(global); }});
    auto* show_default =
        config_cmd->add_subcommand("default", "Print the embedded default configuration");
    commands.push_back({show_default, [] {
                            std::printf("%s",
                                        std::string(config::embedded_default_config()).c_str());
                            return kExitOk;
                        }});
}

}  // namespace cloakroom::cli
