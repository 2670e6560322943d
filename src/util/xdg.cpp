#include "util/xdg.hpp"

#include <cstdlib>

namespace cloakroom::xdg {
namespace {

Result<std::filesystem::path> base_dir(const EnvLookup& env, const char* variable,
                                       const char* home_relative) {
    if (auto value = env(variable); value && !value->empty()) {
        std::filesystem::path path(*value);
        if (path.is_absolute()) return path;
    }
    auto home = env("HOME");
    if (!home || home->empty() || !std::filesystem::path(*home).is_absolute()) {
        return make_error("xdg.home", std::string("cannot locate $") + variable +
                                          ": it is not set to an absolute path and $HOME is not "
                                          "an absolute path either");
    }
    return std::filesystem::path(*home) / home_relative;
}

Result<std::filesystem::path> with_cloakroom(Result<std::filesystem::path> base) {
    if (!base.ok()) return base;
    return *base / "cloakroom";
}

}  // namespace

EnvLookup process_env() {
    return [](std::string_view name) -> std::optional<std::string> {
        const char* value = std::getenv(std::string(name).c_str());
        if (value == nullptr) return std::nullopt;
        return std::string(value);
    };
}

Result<std::filesystem::path> config_home(const EnvLookup& env) {
    return base_dir(env, "XDG_CONFIG_HOME", ".config");
}
Result<std::filesystem::path> data_home(const EnvLookup& env) {
    return base_dir(env, "XDG_DATA_HOME", ".local/share");
}
Result<std::filesystem::path> state_home(const EnvLookup& env) {
    return base_dir(env, "XDG_STATE_HOME", ".local/state");
}

Result<std::filesystem::path> cloakroom_config_dir(const EnvLookup& env) {
    return with_cloakroom(config_home(env));
}
Result<std::filesystem::path> cloakroom_data_dir(const EnvLookup& env) {
    return with_cloakroom(data_home(env));
}
Result<std::filesystem::path> cloakroom_state_dir(const EnvLookup& env) {
    return with_cloakroom(state_home(env));
}

}  // namespace cloakroom::xdg
