// `cloakroom attenuate`: narrow a token further. Needs no key: anyone holding a token can
// restrict it before handing it on.
#include <cstdio>
#include <ctime>
#include <memory>

#include "cli/caveat_flags.hpp"
#include "cli/command.hpp"
#include "cli/context.hpp"
#include "cli/scope_warnings.hpp"

namespace cloakroom::cli {
namespace {

struct AttenuateOptions {
    std::string token;
    CaveatFlags caveats;
};

int run_attenuate(const GlobalOptions& global, const AttenuateOptions& options) {
    auto config = load_cli_config(global);
    if (!config.ok()) return fail("attenuate", config.error(), kExitUsage);
    auto text = read_token_argument(options.token);
    if (!text.ok()) return fail("attenuate", text.error(), kExitUsage);
    // No default window here (the token keeps its own), but a requested one obeys the maximum.
    ValidityPolicy policy{std::nullopt, config->token.max_validity};
    auto caveats = build_caveats(options.caveats, std::time(nullptr), policy);
    if (!caveats.ok()) return fail("attenuate", caveats.error(), kExitUsage);
    for (const auto& warning : scope_warnings(options.caveats, *config)) {
        std::fprintf(stderr, "cloakroom attenuate: warning: %s\n", warning.c_str());
    }
    if (caveats->empty()) {
        return fail("attenuate",
                    make_error("usage",
                               "nothing to add: give --hosts, --methods, --paths, --db, "
                               "--db-login, --db-name, --db-commands, --valid-for or "
                               "--not-before"),
                    kExitUsage);
    }
    auto attenuated = token::attenuate_token(*text, *caveats, token_format(*config));
    if (!attenuated.ok()) return fail("attenuate", attenuated.error(), kExitFailure);
    if (options.caveats.show_caveats) {
        auto inspected = token::inspect_token(*attenuated, token_format(*config));
        if (inspected.ok()) {
            std::fprintf(stderr, "%s\n", (*inspected)["caveats"].dump(2).c_str());
        }
    }
    std::printf("%s\n", attenuated->c_str());
    return kExitOk;
}

}  // namespace

void register_attenuate(CLI::App& app, const GlobalOptions& global, Commands& commands) {
    auto options = std::make_shared<AttenuateOptions>();
    auto* command = app.add_subcommand(
        "attenuate", "Add caveats to a token (no key needed); the result can only do less");
    command->add_option("token", options->token, "The token (acm_…, or - to read stdin)")
        ->required();
    add_caveat_flags(command, options->caveats);
    commands.push_back({command, [&global, options] { return run_attenuate(global, *options); }});
}

}  // namespace cloakroom::cli
