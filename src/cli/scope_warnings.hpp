// Caveat values that name nothing in the configuration: a token scoped to `api.strpe.com` (a
// typo) or to a database that does not exist is valid but useless, and nothing else would say
// so until an agent fails. `mint` and `attenuate` still produce the token (the configuration
// may be about to change, or belong to another gateway) and print these on stderr.
#pragma once

#include <string>
#include <vector>

#include "cli/caveat_flags.hpp"
#include "config/model.hpp"

namespace cloakroom::cli {

// One message per unknown --hosts entry (not a host of any [[service]]; an [allow] host is
// named as such: no credential is injected there), --db name, and --db-login that no selected
// database (every database without --db) has. "did you mean" hints for near misses.
std::vector<std::string> scope_warnings(const CaveatFlags& flags, const config::Config& config);

}  // namespace cloakroom::cli
