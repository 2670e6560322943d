// `cloakroom run --profile NAME`: the built-in profiles and the resolution of a profile through
// its `extends` chain (docs/sandbox.md, "Profiles"). Pure: no I/O.
//
// Merging, from the root of the chain down to the named profile: a list field a profile does not
// write inherits its parent's; a written list adds its entries to the parent's (no duplicates,
// parent's first); a written empty list clears it. Scalars (contain, valid_for): the nearest
// written value wins.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/model.hpp"
#include "util/result.hpp"

namespace cloakroom::config {

struct Profile {
    std::string name;
    std::vector<std::string> chain;  // the named profile first, then each parent
    bool builtin = false;            // the named profile is a built-in
    // nullopt: no profile in the chain writes services (the session gets every configured one).
    std::optional<std::vector<std::string>> services;
    std::vector<std::string> hidden_paths;
    std::vector<std::string> writable_paths;
    std::vector<std::string> allowed_hosts;
    std::optional<std::string> contain;
    std::optional<std::chrono::seconds> valid_for;
};

// claude, codex, gemini, opencode (see the .cpp for what each holds).
const std::vector<ProfileSpec>& builtin_profiles();

// Resolves `name` among the user's profiles, then the built-ins (a user profile shadows a
// built-in of the same name; `extends = "<its own name>"` then means the built-in). Errors
// "profile.unknown" (the known names listed), "profile.cycle" (the chain spelled out, with
// where each profile is written), "profile.parent" (an unknown parent, with the file and line
// of the extends).
Result<Profile> resolve_profile(std::string_view name, const std::vector<ProfileSpec>& user);

// "~/x" -> home/x; "~" -> home; anything else unchanged. "" home leaves "~" paths unchanged.
std::string expand_home(std::string_view path, std::string_view home);

}  // namespace cloakroom::config
