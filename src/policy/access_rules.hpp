// Service method/path rules (docs/architecture.md, invariant 5: they apply whether or not a token
// is sent). Pure logic: a request is (method, normalized path); no I/O.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "policy/path_pattern.hpp"

namespace cloakroom::policy {

struct Rule {
    std::vector<std::string> methods;  // upper-case; empty = any method
    std::vector<PathPattern> paths;    // empty = any path
    bool matches(std::string_view method, std::string_view normalized_path) const;
};

struct RuleDecision {
    bool allowed = true;
    std::string reason;  // for a denial: which rule or which missing allow, readable by an agent
};

// Deny rules win over allow rules. With no allow rules everything not denied is allowed; with
// allow rules a request must match at least one of them.
struct AccessRules {
    std::vector<Rule> allow;
    std::vector<Rule> deny;
    RuleDecision evaluate(std::string_view method, std::string_view normalized_path) const;
};

}  // namespace cloakroom::policy
