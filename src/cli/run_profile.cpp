#include "cli/run_profile.hpp"

#include <unistd.h>

#include <fstream>

#include "cli/context.hpp"
#include "config/loader.hpp"
#include "token/token.hpp"

namespace cloakroom::cli {

namespace fs = std::filesystem;

Result<std::optional<config::Profile>> select_profile(const config::Config& config,
                                                      const std::string& option) {
    if (option.empty()) return std::optional<config::Profile>();
    const bool is_path = option.find('/') != std::string::npos ||
                         (option.size() > 5 && option.substr(option.size() - 5) == ".toml");
    if (!is_path) {
        auto profile = config::resolve_profile(option, config.profiles);
        if (!profile.ok()) return make_error("usage", "--profile: " + profile.error().message);
        return std::optional<config::Profile>(std::move(*profile));
    }
    auto loaded = config::load_config({fs::path(option)}, config::Environment::from_process());
    if (!loaded.ok())
        return make_error("usage", "--profile " + option + ": " + loaded.error().message);
    if (loaded->profiles.size() != 1) {
        return make_error("usage", "--profile " + option +
                                       ": the file defines no profile (an agent-creds "
                                       "agent-creds.toml needs [sandbox] name = \"...\")");
    }
    auto profile = config::resolve_profile(loaded->profiles[0].name, loaded->profiles);
    if (!profile.ok()) return make_error("usage", "--profile: " + profile.error().message);
    return std::optional<config::Profile>(std::move(*profile));
}

Result<sandbox::SessionScope> profile_scope(const config::Config& config,
                                            const sandbox::ProfileSession& session) {
    if (!session.services.empty()) return sandbox::session_scope(config, session.services);
    // No configured service: the token opens no credential. A Hosts caveat naming only hosts
    // without credentials (or a reserved name) says so to the gateway.
    sandbox::SessionScope scope;
    std::vector<std::string> hosts = session.extra_hosts;
    if (hosts.empty()) hosts.push_back("none.invalid");
    scope.caveats.push_back(token::hosts_caveat(hosts));
    return scope;
}

std::vector<fs::path> prepare_writable(const std::vector<fs::path>& paths) {
    std::vector<fs::path> out;
    for (const auto& path : paths) {
        std::error_code error;
        if (fs::exists(path, error)) {
            out.push_back(path);
            continue;
        }
        const std::string name = path.filename().string();
        if (name.find('.', 1) != std::string::npos) continue;  // a file that is not there yet
        fs::create_directories(path, error);
        if (error) continue;
        fs::permissions(path, fs::perms::owner_all, error);
        out.push_back(path);
    }
    return out;
}

GatewayFiles::~GatewayFiles() {
    if (!overlay_.empty()) {
        std::error_code ignored;
        fs::remove(overlay_, ignored);
    }
}

Result<void> GatewayFiles::prepare(const GlobalOptions& global, const config::Config& config,
                                   const std::string& session,
                                   const std::vector<std::string>& extra_hosts) {
    files_ = global.config_files;
    if (extra_hosts.empty()) return {};
    if (files_.empty()) {
        for (const auto& f : config::default_config_files(config::Environment::from_process()))
            files_.push_back(f.string());
    }
    const fs::path dir = config.data_dir / "run";
    std::error_code error;
    fs::create_directories(dir, error);
    overlay_ = dir / ("profile-" + session + "-" + std::to_string(::getpid()) + ".toml");
    std::ofstream out(overlay_, std::ios::trunc);
    out << "# written by cloakroom run for session " << session
        << " (its profile's hosts); removed when it ends\n[allow]\nhosts = [";
    for (std::size_t i = 0; i < extra_hosts.size(); ++i) {
        // Normalized host names: letters, digits, '.', '-', ':' and brackets; nothing to escape.
        out << (i == 0 ? "" : ", ") << '"' << extra_hosts[i] << '"';
    }
    out << "]\n";
    out.close();
    if (!out) return make_error("run.profile", "cannot write " + overlay_.string());
    files_.push_back(overlay_.string());
    return {};
}

std::string own_binary_path() {
    std::error_code error;
    auto path = fs::read_symlink("/proc/self/exe", error);
    return error ? std::string() : path.string();
}

namespace {

template <class List>
std::string joined(const List& list) {
    std::string text;
    for (const auto& item : list) {
        if (!text.empty()) text += ", ";
        if constexpr (std::is_same_v<typename List::value_type, fs::path>) {
            text += item.string();
        } else {
            text += item;
        }
    }
    return text;
}

}  // namespace

void print_profile(std::FILE* out, const config::Profile& profile,
                   const sandbox::ProfileSession& session, const std::vector<fs::path>& writable,
                   bool gateway_started_here) {
    std::string chain;
    for (std::size_t i = 1; i < profile.chain.size(); ++i) chain += " <- " + profile.chain[i];
    std::fprintf(out, "cloakroom run: profile %s%s%s; writable: %s; extra hidden: %s\n",
                 profile.name.c_str(), profile.builtin ? " (built in)" : "",
                 chain.empty() ? "" : (" (extends" + chain.substr(3) + ")").c_str(),
                 writable.empty() ? "none" : joined(writable).c_str(),
                 session.hidden.empty() ? "none" : joined(session.hidden).c_str());
    if (session.extra_hosts.empty()) return;
    if (gateway_started_here) {
        std::fprintf(out,
                     "cloakroom run: reachable for this session, nothing injected (no service "
                     "configured for them): %s\n",
                     joined(session.extra_hosts).c_str());
    } else {
        // The running gateway was started without them: say so rather than fail later.
        std::fprintf(out,
                     "cloakroom run: warning: the running gateway does not allow %s (profile %s); "
                     "add them to [allow] hosts, or stop it so that cloakroom run starts one "
                     "for the session\n",
                     joined(session.extra_hosts).c_str(), profile.name.c_str());
    }
}

void print_git_hosts(std::FILE* out, const std::vector<sandbox::GitHost>& hosts) {
    if (hosts.empty()) return;
    std::string list;
    for (const auto& h : hosts)
        list += (list.empty() ? "" : ", ") + h.host + " (" + h.username + ")";
    std::fprintf(out,
                 "cloakroom run: git credential helper answers with the session token for %s\n",
                 list.c_str());
}

}  // namespace cloakroom::cli
