// Every subcommand registers itself on the CLI11 app and leaves a runner behind; main() parses
// once and runs the runner of the subcommand that was chosen. Runners return the exit code.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>

namespace cloakroom::cli {

// Exit codes shared by all subcommands.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;  // denied, invalid token, a check failed
inline constexpr int kExitUsage = 2;    // bad flags or arguments

struct GlobalOptions {
    std::vector<std::string> config_files;  // --config, repeatable
};

struct Command {
    CLI::App* app = nullptr;
    std::function<int()> run;
};

using Commands = std::vector<Command>;

void register_mint(CLI::App& app, const GlobalOptions& global, Commands& commands);
void register_attenuate(CLI::App& app, const GlobalOptions& global, Commands& commands);
void register_inspect(CLI::App& app, const GlobalOptions& global, Commands& commands);
void register_verify(CLI::App& app, const GlobalOptions& global, Commands& commands);
void register_keys(CLI::App& app, const GlobalOptions& global, Commands& commands);
void register_secrets(CLI::App& app, const GlobalOptions& global, Commands& commands);
void register_config(CLI::App& app, const GlobalOptions& global, Commands& commands);
void register_serve(CLI::App& app, const GlobalOptions& global, Commands& commands);
void register_ca(CLI::App& app, const GlobalOptions& global, Commands& commands);
void register_env(CLI::App& app, const GlobalOptions& global, Commands& commands);
void register_revoke(CLI::App& app, const GlobalOptions& global, Commands& commands);
void register_run(CLI::App& app, const GlobalOptions& global, Commands& commands);
void register_ps(CLI::App& app, const GlobalOptions& global, Commands& commands);
void register_stop(CLI::App& app, const GlobalOptions& global, Commands& commands);
void register_git_credential(CLI::App& app, const GlobalOptions& global, Commands& commands);
void register_open(CLI::App& app, const GlobalOptions& global, Commands& commands);
void register_admin_token(CLI::App& app, const GlobalOptions& global, Commands& commands);
void register_dashboard(CLI::App& app, const GlobalOptions& global, Commands& commands);

}  // namespace cloakroom::cli
