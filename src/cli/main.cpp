#include <cstdio>

#include "cli/command.hpp"
#include "cli/log_style.hpp"

int main(int argc, char** argv) {
    using namespace cloakroom::cli;
    CLI::App app{"cloakroom: agents get tokens, Cloakroom holds the real credentials", "cloakroom"};
    app.require_subcommand(1);
    // Global options are accepted after the subcommand too (`cloakroom serve --config f.toml`,
    // `cloakroom keys list -c f.toml`): options a subcommand does not know fall through to its
    // parent. Inherited by the subcommands added below, so it must be set before them.
    app.fallthrough();
    install_log_style();
    app.set_version_flag("--version", CLOAKROOM_VERSION);

    GlobalOptions global;
    app.add_option("-c,--config", global.config_files,
                   "Configuration file (repeatable: cloakroom.toml, or agent-creds.toml + "
                   "vault.toml). Default: $CLOAKROOM_CONFIG, then "
                   "$XDG_CONFIG_HOME/cloakroom/cloakroom.toml, then the embedded default")
        ->check(CLI::ExistingFile);

    Commands commands;
    register_serve(app, global, commands);
    register_mint(app, global, commands);
    register_attenuate(app, global, commands);
    register_inspect(app, global, commands);
    register_verify(app, global, commands);
    register_keys(app, global, commands);
    register_secrets(app, global, commands);
    register_config(app, global, commands);
    register_ca(app, global, commands);
    register_env(app, global, commands);
    register_revoke(app, global, commands);
    register_run(app, global, commands);
    register_ps(app, global, commands);
    register_stop(app, global, commands);
    register_git_credential(app, global, commands);
    register_open(app, global, commands);
    register_admin_token(app, global, commands);
    register_dashboard(app, global, commands);

    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        app.exit(e);
        return kExitUsage;
    }
    // The chosen subcommand is the deepest parsed one (e.g. "keys generate").
    for (auto it = commands.rbegin(); it != commands.rend(); ++it) {
        if (it->app->parsed()) return it->run();
    }
    std::fputs(app.help().c_str(), stderr);
    return kExitUsage;
}
