// An immutable snapshot of environment variables. The loader reads the environment only through
// this, so tests can pass exactly the variables they mean without touching the real process.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "util/xdg.hpp"

namespace cloakroom::config {

class Environment {
  public:
    using Variables = std::map<std::string, std::string, std::less<>>;

    Environment() = default;  // no variables at all
    explicit Environment(Variables variables) : variables_(std::move(variables)) {}

    // Copies the current process environment.
    static Environment from_process();

    std::optional<std::string> get(std::string_view name) const;
    // The same lookup in the form util/xdg.hpp takes; valid while this Environment lives.
    xdg::EnvLookup lookup() const;

  private:
    Variables variables_;
};

}  // namespace cloakroom::config
