#include "sandbox/mount_plan.hpp"

#include <algorithm>

namespace cloakroom::sandbox {
namespace {

namespace fs = std::filesystem;

// Whether `inner` is `outer` or below it, by path components (so /a/bc is not inside /a/b).
bool inside(const fs::path& inner, const fs::path& outer) {
    auto i = inner.begin();
    for (auto o = outer.begin(); o != outer.end(); ++o, ++i) {
        if (o->empty()) continue;  // a trailing separator
        if (i == inner.end() || *i != *o) return false;
    }
    return true;
}

}  // namespace

const std::vector<std::string>& home_credential_stores() {
    static const std::vector<std::string> stores = {
        ".ssh", ".aws", ".azure", ".config/gcloud", ".config/gh", ".config/hub", ".netrc",
        ".git-credentials", ".config/git/credentials", ".docker", ".kube", ".gnupg",
        ".password-store", ".pgpass", ".my.cnf", ".npmrc", ".pypirc", ".cargo/credentials",
        ".cargo/credentials.toml", ".config/op", ".vault-token",
        ".terraform.d/credentials.tfrc.json",
        // Browser profiles: cookies and saved passwords.
        ".mozilla", ".config/google-chrome", ".config/chromium", ".config/BraveSoftware",
        ".config/microsoft-edge", ".local/share/keyrings"};
    return stores;
}

const std::vector<std::string>& host_executed_paths() {
    static const std::vector<std::string> paths = {
        ".git/hooks", ".git/config",   ".envrc",   ".vscode", ".idea",     ".mcp.json",
        ".bashrc",    ".bash_profile", ".profile", ".zshrc",  ".zprofile", ".config/fish"};
    return paths;
}

Result<MountPlan> plan_mounts(const MountInputs& inputs) {
    if (!inputs.cwd.is_absolute()) {
        return make_error("sandbox.cwd", "the working directory " + inputs.cwd.string() +
                                             " is not an absolute path");
    }
    MountPlan plan;
    std::vector<fs::path> hidden;
    for (const auto& p : inputs.cloakroom_paths) hidden.push_back(p.lexically_normal());
    for (const auto& p : inputs.extra_hidden) {
        if (p.is_absolute()) hidden.push_back(p.lexically_normal());
    }
    if (!inputs.home.empty() && inputs.home.is_absolute()) {
        for (const auto& store : home_credential_stores()) {
            hidden.push_back((inputs.home / store).lexically_normal());
        }
    }
    std::sort(hidden.begin(), hidden.end());
    hidden.erase(std::unique(hidden.begin(), hidden.end()), hidden.end());
    // Sorted, an ancestor comes before its descendants: keep only the outermost.
    for (const auto& p : hidden) {
        if (p.empty() || p == "/") continue;
        if (!plan.hidden.empty() && inside(p, plan.hidden.back())) continue;
        plan.hidden.push_back(p);
    }
    const fs::path cwd = inputs.cwd.lexically_normal();
    for (const auto& p : plan.hidden) {
        if (inside(cwd, p)) {
            return make_error("sandbox.cwd", "the working directory " + cwd.string() +
                                                 " is inside " + p.string() +
                                                 ", which the sandbox hides; run from another "
                                                 "directory");
        }
    }
    plan.writable.push_back(cwd);
    for (const auto& extra : inputs.extra_writable) {
        fs::path p = extra.lexically_normal();
        if (!p.has_filename() && p.has_parent_path() && p != p.root_path())
            p = p.parent_path();  // "/home/u/.claude/" and "/home/u/.claude" are one place
        if (!p.is_absolute()) {
            return make_error("sandbox.writable",
                              "writable path " + p.string() + " is not an absolute path");
        }
        for (const auto& h : plan.hidden) {
            if (inside(p, h)) {
                return make_error("sandbox.writable", "writable path " + p.string() +
                                                          " is inside " + h.string() +
                                                          ", which the sandbox hides");
            }
        }
        if (std::find(plan.writable.begin(), plan.writable.end(), p) == plan.writable.end())
            plan.writable.push_back(p);
    }
    for (const auto& rel : host_executed_paths()) plan.read_only.push_back(cwd / rel);
    // The home directory's shell start-up files run on the host later, wherever the writable
    // places are.
    const bool home_writable =
        std::any_of(plan.writable.begin(), plan.writable.end(),
                    [&](const fs::path& w) { return inside(inputs.home, w); });
    if (!inputs.home.empty() && inputs.home.is_absolute() && home_writable) {
        for (const auto& rel : host_executed_paths()) {
            const fs::path p = (inputs.home / rel).lexically_normal();
            if (std::find(plan.read_only.begin(), plan.read_only.end(), p) == plan.read_only.end())
                plan.read_only.push_back(p);
        }
    }
    plan.private_tmp = {"/tmp", "/var/tmp", "/dev/shm"};
    return plan;
}

}  // namespace cloakroom::sandbox
