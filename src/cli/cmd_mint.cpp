// `cloakroom mint`: a new token signed with a Cloakroom key.
#include <cstdio>
#include <ctime>
#include <memory>

#include "cli/caveat_flags.hpp"
#include "cli/command.hpp"
#include "cli/context.hpp"
#include "cli/scope_warnings.hpp"

namespace cloakroom::cli {
namespace {

struct MintOptions {
    CaveatFlags caveats;
    std::string key_id;
};

int run_mint(const GlobalOptions& global, const MintOptions& options) {
    auto config = load_cli_config(global);
    if (!config.ok()) return fail("mint", config.error(), kExitUsage);
    ValidityPolicy policy{config->token.default_validity, config->token.max_validity};
    auto caveats = build_caveats(options.caveats, std::time(nullptr), policy);
    if (!caveats.ok()) return fail("mint", caveats.error(), kExitUsage);
    // Still minted: the configuration may be about to change, or belong to another gateway.
    for (const auto& warning : scope_warnings(options.caveats, *config)) {
        std::fprintf(stderr, "cloakroom mint: warning: %s\n", warning.c_str());
    }

    auto keys = load_keys(*config, KeyPolicy::GenerateMissing);
    if (!keys.ok()) return fail("mint", keys.error(), kExitFailure);
    const std::string key_id =
        options.key_id.empty() ? config->token.signing_key_id : options.key_id;
    auto minted = token::mint_token(*keys, key_id, *caveats, token_format(*config));
    if (!minted.ok()) return fail("mint", minted.error(), kExitFailure);

    if (options.caveats.show_caveats) {
        auto inspected = token::inspect_token(*minted, token_format(*config));
        if (inspected.ok()) {
            std::fprintf(stderr, "%s\n", (*inspected)["caveats"].dump(2).c_str());
        }
    }
    std::printf("%s\n", minted->c_str());
    return kExitOk;
}

}  // namespace

void register_mint(CLI::App& app, const GlobalOptions& global, Commands& commands) {
    auto options = std::make_shared<MintOptions>();
    auto* command = app.add_subcommand(
        "mint",
        "Mint a token. Without caveat flags it may use every configured service and database; "
        "--hosts/--methods/--paths limit it to HTTP, --db* flags to databases. It always "
        "expires (default 24h, at most [token] max_validity)");
    add_caveat_flags(command, options->caveats);
    command->add_option("--key-id", options->key_id,
                        "Signing key id (default: [token] signing_key, usually 'primary')");
    commands.push_back({command, [&global, options] { return run_mint(global, *options); }});
}

}  // namespace cloakroom::cli
