// `cloakroom secrets check`: is every secret the configuration refers to present and safe?
// Prints ok / missing / unsafe permissions per reference, never a value.
#include <cstdio>
#include <memory>

#include <nlohmann/json.hpp>

#include "cli/command.hpp"
#include "cli/context.hpp"
#include "secrets/resolver.hpp"

namespace cloakroom::cli {
namespace {

// The human form of a status: "unsafe_permissions" reads as "unsafe permissions".
std::string status_text(secrets::SecretStatus::Status status) {
    std::string text(secrets::to_string(status));
    for (char& c : text) c = c == '_' ? ' ' : c;
    return text;
}

int run_check(const GlobalOptions& global, bool as_json) {
    auto config = load_cli_config(global);
    if (!config.ok()) return fail("secrets check", config.error(), kExitUsage);
    secrets::SecretSources sources;
    sources.file_root = config->secrets.dir;
    sources.exec_timeout = config->secrets.exec_timeout;
    const secrets::SecretResolver resolver(sources);
    const auto statuses = resolver.check(config->secret_refs());

    // Unsafe permissions are a warning, not a failure: the gateway uses such a secret too (and
    // logs the same message). One rule on both paths; the exit status is about secrets the
    // gateway could not use.
    bool all_ok = true;
    nlohmann::json report = nlohmann::json::array();
    for (const auto& status : statuses) {
        all_ok = all_ok && (status.status == secrets::SecretStatus::Ok ||
                            status.status == secrets::SecretStatus::UnsafePermissions);
        if (as_json) {
            nlohmann::json warnings = nlohmann::json::array();
            for (const auto& warning : status.warnings) {
                warnings.push_back({{"code", warning.code}, {"message", warning.message}});
            }
            report.push_back({{"secret", status.ref.text()},
                              {"status", secrets::to_string(status.status)},
                              {"detail", status.detail},
                              {"warnings", warnings}});
        } else {
            // Details repeat the reference as their prefix; the column already shows it.
            std::string detail = status.detail;
            const std::string prefix = status.ref.text() + ": ";
            if (detail.starts_with(prefix)) detail.erase(0, prefix.size());
            std::printf("%-20s %s%s%s\n", status_text(status.status).c_str(),
                        status.ref.text().c_str(), detail.empty() ? "" : "  ", detail.c_str());
        }
    }
    if (as_json) {
        std::printf("%s\n", report.dump(2).c_str());
    } else if (statuses.empty()) {
        std::printf("no secrets referenced by the configuration (%zu services)\n",
                    config->services.size());
    }
    return all_ok ? kExitOk : kExitFailure;
}

}  // namespace

void register_secrets(CLI::App& app, const GlobalOptions& global, Commands& commands) {
    auto* secrets_cmd = app.add_subcommand("secrets", "Inspect the secrets the configuration uses");
    secrets_cmd->require_subcommand(1);
    auto as_json = std::make_shared<bool>(false);
    auto* check = secrets_cmd->add_subcommand(
        "check",
        "Resolve every referenced secret: ok / unsafe permissions (a warning) / missing / "
        "invalid / error (exit 1 if any is missing, invalid or an error); values are never "
        "shown");
    check->add_flag("--json", *as_json, "Print the report as JSON");
    commands.push_back({check, [&global, as_json] { return run_check(global, *as_json); }});
}

}  // namespace cloakroom::cli
