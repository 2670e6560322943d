#include "policy/access_rules.hpp"

#include <algorithm>
#include <cstddef>

namespace cloakroom::policy {
namespace {

// A long allow list would drown the one line an agent needs; show this many, then a count.
constexpr std::size_t kMaxRulesListed = 8;

char ascii_upper(char c) {
    return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
}

bool equal_upper(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (ascii_upper(a[i]) != ascii_upper(b[i])) return false;
    }
    return true;
}

std::string upper(std::string_view text) {
    std::string out(text);
    for (char& c : out) c = ascii_upper(c);
    return out;
}

std::string join_methods(const Rule& rule) {
    if (rule.methods.empty()) return "any method";
    std::string out;
    for (const std::string& method : rule.methods) {
        if (!out.empty()) out += ",";
        out += upper(method);
    }
    return out;
}

std::string join_paths(const Rule& rule) {
    if (rule.paths.empty()) return "any path";
    std::string out;
    for (const PathPattern& path : rule.paths) {
        if (!out.empty()) out += " or ";
        out += path.text();
    }
    return out;
}

// "methods DELETE, paths /v1/**": names both parts so the agent sees exactly what blocked it.
std::string describe_deny(const Rule& rule) {
    return "methods " + (rule.methods.empty() ? std::string("any") : join_methods(rule)) +
           ", paths " + (rule.paths.empty() ? std::string("any") : join_paths(rule));
}

// "GET /v1/customers/**": reads like the requests it allows.
std::string describe_allow(const Rule& rule) {
    return join_methods(rule) + " " + join_paths(rule);
}

std::string list_allowed(const std::vector<Rule>& allow) {
    std::string out;
    const std::size_t shown = std::min(allow.size(), kMaxRulesListed);
    for (std::size_t i = 0; i < shown; ++i) {
        if (i > 0) out += "; ";
        out += describe_allow(allow[i]);
    }
    if (allow.size() > shown) {
        out += "; and " + std::to_string(allow.size() - shown) + " more";
    }
    return out;
}

}  // namespace

bool Rule::matches(std::string_view method, std::string_view normalized_path) const {
    bool method_ok = methods.empty();
    for (const std::string& allowed : methods) {
        if (equal_upper(allowed, method)) {
            method_ok = true;
            break;
        }
    }
    if (!method_ok) return false;
    if (paths.empty()) return true;
    for (const PathPattern& pattern : paths) {
        if (pattern.matches(normalized_path)) return true;
    }
    return false;
}

RuleDecision AccessRules::evaluate(std::string_view method,
                                   std::string_view normalized_path) const {
    const std::string request = upper(method) + " " + std::string(normalized_path);
    // Deny first and regardless of order: a broad allow must never reopen what a deny closed.
    for (std::size_t i = 0; i < deny.size(); ++i) {
        if (deny[i].matches(method, normalized_path)) {
            return {false, "method " + upper(method) + " on " + std::string(normalized_path) +
                               " is denied by rule deny[" + std::to_string(i) + "] (" +
                               describe_deny(deny[i]) + ")"};
        }
    }
    if (allow.empty()) return {true, request + " is allowed (no rule denies it)"};
    for (std::size_t i = 0; i < allow.size(); ++i) {
        if (allow[i].matches(method, normalized_path)) {
            return {true, request + " is allowed by rule allow[" + std::to_string(i) + "] (" +
                              describe_allow(allow[i]) + ")"};
        }
    }
    return {false, request + " matches no allow rule (allowed: " + list_allowed(allow) + ")"};
}

}  // namespace cloakroom::policy
