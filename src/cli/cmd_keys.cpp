// `cloakroom keys`: signing keys by id. Rotation = generate a new id, point [token] signing_key
// at it, and keep the old file until every token signed with it has expired.
#include <cstdio>
#include <memory>

#include "cli/command.hpp"
#include "cli/context.hpp"

namespace cloakroom::cli {
namespace {

int run_list(const GlobalOptions& global) {
    auto config = load_cli_config(global);
    if (!config.ok()) return fail("keys list", config.error(), kExitUsage);
    auto keys = load_keys(*config, KeyPolicy::VerifyOnly);
    if (!keys.ok()) return fail("keys list", keys.error(), kExitFailure);
    std::printf("key directory: %s\n", config->token.key_dir.c_str());
    for (const auto& id : keys->ids()) {
        std::printf("%s%s\n", id.c_str(),
                    id == config->token.signing_key_id ? "  (signing key)" : "");
    }
    return kExitOk;
}

int run_generate(const GlobalOptions& global, const std::string& id) {
    auto config = load_cli_config(global);
    if (!config.ok()) return fail("keys generate", config.error(), kExitUsage);
    auto generated = token::KeyStore::generate(config->token.key_dir, id);
    if (!generated.ok()) return fail("keys generate", generated.error(), kExitFailure);
    std::printf("generated key '%s' in %s\n", id.c_str(), config->token.key_dir.c_str());
    if (id != config->token.signing_key_id) {
        std::printf("to sign new tokens with it, set [token] signing_key = \"%s\"\n", id.c_str());
    }
    return kExitOk;
}

}  // namespace

void register_keys(CLI::App& app, const GlobalOptions& global, Commands& commands) {
    auto* keys = app.add_subcommand("keys", "Manage signing keys (values are never printed)");
    keys->require_subcommand(1);
    auto* list = keys->add_subcommand(
        "list", "List key ids from MACAROON_SIGNING_KEY and the key directory");
    commands.push_back({list, [&global] { return run_list(global); }});
    auto id = std::make_shared<std::string>();
    auto* generate =
        keys->add_subcommand("generate", "Create a new random 32-byte key (mode 0600)");
    generate->add_option("id", *id, "Key id ([A-Za-z0-9._-]+)")->required();
    commands.push_back({generate, [&global, id] { return run_generate(global, *id); }});
}

}  // namespace cloakroom::cli
