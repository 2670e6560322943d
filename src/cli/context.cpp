#include "cli/context.hpp"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <iterator>

namespace cloakroom::cli {

Result<config::Config> load_cli_config(const GlobalOptions& global) {
    const auto env = config::Environment::from_process();
    if (global.config_files.empty()) return config::load_default_config(env);
    std::vector<std::filesystem::path> files(global.config_files.begin(),
                                             global.config_files.end());
    return config::load_config(files, env);
}

token::TokenFormat token_format(const config::Config& config) {
    token::TokenFormat format;
    format.prefix = config.token.prefix;
    format.location = config.token.location;
    return format;
}

Result<token::KeyStore> load_keys(const config::Config& config, KeyPolicy policy) {
    token::KeyStore keys;
    if (std::getenv("MACAROON_SIGNING_KEY") != nullptr) {
        if (auto added = keys.add_from_env(); !added.ok()) return added.error();
    }
    const auto& dir = config.token.key_dir;
    std::error_code ec;
    if (std::filesystem::exists(dir, ec)) {
        auto loaded = keys.load_dir(dir);
        if (!loaded.ok()) return loaded.error();
        for (const auto& warning : *loaded) {
            std::fprintf(stderr, "cloakroom: warning: %s\n", warning.c_str());
        }
    }
    if (policy == KeyPolicy::GenerateMissing && !keys.contains(config.token.signing_key_id)) {
        auto generated = token::KeyStore::generate(dir, config.token.signing_key_id);
        if (!generated.ok()) return generated.error();
        std::fprintf(stderr, "cloakroom: generated signing key '%s' in %s (mode 0600)\n",
                     config.token.signing_key_id.c_str(), dir.c_str());
        auto reloaded = keys.load_dir(dir);
        if (!reloaded.ok()) return reloaded.error();
    }
    return keys;
}

Result<std::string> read_token_argument(const std::string& argument) {
    if (argument != "-") return argument;
    std::string text{std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>()};
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
    if (text.empty()) return make_error("token.missing", "no token on standard input");
    return text;
}

int fail(const std::string& command, const Error& error, int exit_code) {
    std::fprintf(stderr, "cloakroom %s: %s\n", command.c_str(), error.message.c_str());
    return exit_code;
}

}  // namespace cloakroom::cli
