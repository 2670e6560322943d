// XDG Base Directory locations (https://specifications.freedesktop.org/basedir-spec/).
// The environment is passed in as a lookup so callers (and tests) decide where it comes from.
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "util/result.hpp"

namespace cloakroom::xdg {

// Returns the variable's value, or nullopt when it is not set.
using EnvLookup = std::function<std::optional<std::string>(std::string_view name)>;

// Reads the real process environment (getenv) at call time.
EnvLookup process_env();

// $XDG_CONFIG_HOME, $XDG_DATA_HOME, $XDG_STATE_HOME when set to an absolute path (the spec says
// relative values are invalid and must be ignored), else $HOME/.config, $HOME/.local/share,
// $HOME/.local/state. Error "xdg.home" when the fallback is needed and $HOME is unset/relative.
Result<std::filesystem::path> config_home(const EnvLookup& env);
Result<std::filesystem::path> data_home(const EnvLookup& env);
Result<std::filesystem::path> state_home(const EnvLookup& env);

// The same with "/cloakroom" appended: where Cloakroom keeps its own files.
Result<std::filesystem::path> cloakroom_config_dir(const EnvLookup& env);
Result<std::filesystem::path> cloakroom_data_dir(const EnvLookup& env);
Result<std::filesystem::path> cloakroom_state_dir(const EnvLookup& env);

}  // namespace cloakroom::xdg
