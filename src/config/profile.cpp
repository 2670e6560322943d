#include "config/profile.hpp"

#include <algorithm>

namespace cloakroom::config {
namespace {

using Strings = std::vector<std::string>;

ProfileSpec builtin(std::string name, Strings services, Strings allowed, Strings writable) {
    ProfileSpec spec;
    spec.name = std::move(name);
    spec.services = std::move(services);
    spec.allowed_hosts = std::move(allowed);
    spec.writable_paths = std::move(writable);
    spec.where = SourceLocation{"<built-in>"};
    return spec;
}

const ProfileSpec* find(const std::vector<ProfileSpec>& list, std::string_view name) {
    auto it = std::find_if(list.begin(), list.end(), [&](const auto& p) { return p.name == name; });
    return it == list.end() ? nullptr : &*it;
}

std::string known_names(const std::vector<ProfileSpec>& user) {
    std::string text;
    for (const auto& p : user) text += (text.empty() ? "" : ", ") + p.name;
    for (const auto& p : builtin_profiles()) {
        if (find(user, p.name) == nullptr) text += (text.empty() ? "" : ", ") + p.name;
    }
    return text;
}

// parent list + own entries, without duplicates; a written empty list clears.
void merge(Strings& into, const std::optional<Strings>& own) {
    if (!own) return;
    if (own->empty()) {
        into.clear();
        return;
    }
    for (const auto& entry : *own) {
        if (std::find(into.begin(), into.end(), entry) == into.end()) into.push_back(entry);
    }
}

// A link of the chain: the spec and whether it came from the built-ins.
struct Link {
    const ProfileSpec* spec;
    bool builtin;
};

std::string describe(const Link& link) {
    return "\"" + link.spec->name + "\" (" + link.spec->where.text() + ")";
}

}  // namespace

const std::vector<ProfileSpec>& builtin_profiles() {
    // Each agent's model API is a service entry given by host: with a configured service that
    // owns the host the session token reaches it with the real credential injected; without one
    // the host is only reachable and the agent uses its own login (kept in its state directory).
    static const std::vector<ProfileSpec> profiles = {
        // Claude Code: npm for its own updates and the MCP servers it runs with npx; PyPI for
        // the Python ones (uvx).
        builtin("claude", {"api.anthropic.com"},
                {"statsig.anthropic.com", "console.anthropic.com", "claude.ai",
                 "registry.npmjs.org", "pypi.org", "files.pythonhosted.org"},
                {"~/.claude", "~/.claude.json"}),
        // Codex CLI (npm package, ChatGPT login at auth.openai.com).
        builtin("codex", {"api.openai.com"},
                {"auth.openai.com", "chatgpt.com", "registry.npmjs.org", "pypi.org",
                 "files.pythonhosted.org"},
                {"~/.codex"}),
        // Gemini CLI (npm package, Google login and Code Assist endpoints).
        builtin("gemini", {"generativelanguage.googleapis.com"},
                {"cloudcode-pa.googleapis.com", "oauth2.googleapis.com", "accounts.google.com",
                 "registry.npmjs.org", "pypi.org", "files.pythonhosted.org"},
                {"~/.gemini"}),
        // OpenCode: several model providers; models.dev lists them; bun/npm for its plugins.
        builtin("opencode",
                {"api.anthropic.com", "api.openai.com", "generativelanguage.googleapis.com"},
                {"models.dev", "opencode.ai", "registry.npmjs.org"},
                {"~/.config/opencode", "~/.local/share/opencode", "~/.local/state/opencode",
                 "~/.cache/opencode"}),
    };
    return profiles;
}

Result<Profile> resolve_profile(std::string_view name, const std::vector<ProfileSpec>& user) {
    std::vector<Link> chain;
    if (const auto* spec = find(user, name)) {
        chain.push_back({spec, false});
    } else if (const auto* b = find(builtin_profiles(), name)) {
        chain.push_back({b, true});
    } else {
        return make_error("profile.unknown", "profile \"" + std::string(name) +
                                                 "\" is neither in the configuration nor "
                                                 "built in (known: " +
                                                 known_names(user) + ")");
    }
    while (chain.back().spec->extends) {
        const Link& child = chain.back();
        const std::string& parent = *child.spec->extends;
        Link next{nullptr, false};
        // A user profile that extends its own name builds on the built-in it shadows.
        if (!child.builtin && parent != child.spec->name) next.spec = find(user, parent);
        if (next.spec == nullptr) next = {find(builtin_profiles(), parent), true};
        if (next.spec == nullptr) {
            return make_error("profile.parent", "profile " + describe(child) + " extends \"" +
                                                    parent +
                                                    "\", which is neither in the configuration "
                                                    "nor built in (known: " +
                                                    known_names(user) + ")");
        }
        for (const auto& seen : chain) {
            if (seen.spec == next.spec) {
                std::string cycle;
                bool in = false;
                for (const auto& link : chain) {
                    in = in || link.spec == next.spec;
                    if (in) cycle += describe(link) + " extends ";
                }
                return make_error("profile.cycle",
                                  "profile extends cycle: " + cycle + describe(next));
            }
        }
        chain.push_back(next);
    }

    Profile out;
    out.name = std::string(name);
    out.builtin = chain.front().builtin;
    for (const auto& link : chain) out.chain.push_back(link.spec->name);
    for (auto link = chain.rbegin(); link != chain.rend(); ++link) {
        const ProfileSpec& spec = *link->spec;
        if (spec.services) {
            if (!out.services) out.services.emplace();
            merge(*out.services, spec.services);
        }
        merge(out.hidden_paths, spec.hidden_paths);
        merge(out.writable_paths, spec.writable_paths);
        merge(out.allowed_hosts, spec.allowed_hosts);
        if (spec.contain) out.contain = spec.contain;
        if (spec.valid_for) out.valid_for = spec.valid_for;
    }
    return out;
}

std::string expand_home(std::string_view path, std::string_view home) {
    if (home.empty() || path.empty() || path[0] != '~') return std::string(path);
    if (path.size() == 1) return std::string(home);
    if (path[1] != '/') return std::string(path);  // ~user: not expanded
    std::string out(home);
    while (!out.empty() && out.back() == '/') out.pop_back();
    return out + std::string(path.substr(1));
}

}  // namespace cloakroom::config
