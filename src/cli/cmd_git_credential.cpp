// `cloakroom git-credential`: git's credential helper inside `cloakroom run` (docs/sandbox.md,
// "git"). `get` answers with the session token from the sandbox's environment; `store` and
// `erase` do nothing (there is nothing to remember: the token is the session's).
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <iterator>
#include <memory>
#include <string>

#include "cli/command.hpp"
#include "sandbox/git_credential.hpp"

namespace cloakroom::cli {
namespace {

struct GitCredentialOptions {
    std::string username = "x-access-token";
    std::string action;
};

int run_git_credential(const GitCredentialOptions& options) {
    // git writes the request and closes its end; read it all (it is a few lines).
    std::string input;
    if (options.action == "get") {
        input.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    }
    const char* token = std::getenv(sandbox::kGitTokenVariable);
    const std::string answer = sandbox::answer_git_credential(
        options.action, input, options.username, token == nullptr ? "" : token);
    std::fwrite(answer.data(), 1, answer.size(), stdout);
    return kExitOk;
}

}  // namespace

void register_git_credential(CLI::App& app, const GlobalOptions&, Commands& commands) {
    auto options = std::make_shared<GitCredentialOptions>();
    auto* command = app.add_subcommand(
        "git-credential",
        "git credential helper for `cloakroom run` (set up inside the sandbox through "
        "GIT_CONFIG_* variables): `get` answers https requests for the configured git hosts "
        "with the session token as the password; store and erase do nothing");
    command->add_option("--username", options->username,
                        "User name to answer with (default x-access-token)");
    // Any other action a future git sends is answered like store/erase: with nothing.
    command->add_option("action", options->action, "get, store or erase (from git)")->required();
    commands.push_back({command, [options] { return run_git_credential(*options); }});
}

}  // namespace cloakroom::cli
