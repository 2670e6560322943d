#include "config/environment.hpp"

#include <unistd.h>

namespace cloakroom::config {

Environment Environment::from_process() {
    Variables variables;
    for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
        const std::string_view text(*entry);
        const std::size_t equals = text.find('=');
        if (equals == std::string_view::npos) continue;
        // First definition wins, as with getenv().
        variables.emplace(std::string(text.substr(0, equals)),
                          std::string(text.substr(equals + 1)));
    }
    return Environment(std::move(variables));
}

std::optional<std::string> Environment::get(std::string_view name) const {
    auto found = variables_.find(name);
    if (found == variables_.end()) return std::nullopt;
    return found->second;
}

xdg::EnvLookup Environment::lookup() const {
    return [this](std::string_view name) { return get(name); };
}

}  // namespace cloakroom::config
