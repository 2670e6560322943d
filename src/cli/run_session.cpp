#include "cli/run_session.hpp"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "cli/context.hpp"
#include "proxy/agent_env.hpp"
#include "sandbox/landlock.hpp"
#include "token/token.hpp"
#include "util/xdg.hpp"

namespace cloakroom::cli {

namespace fs = std::filesystem;

namespace {

// Test hook (docs/sandbox.md, "Test hooks"): CLOAKROOM_TEST_MISSING=userns,landlock makes
// `cloakroom run` treat those kernel features as absent, so the fallback and the refusal can be
// tested on a machine that has them. It can only take a mode away, never add one.
bool simulated_missing(std::string_view feature) {
    const char* value = std::getenv("CLOAKROOM_TEST_MISSING");
    if (value == nullptr) return false;
    std::string_view list(value);
    while (!list.empty()) {
        const auto comma = list.find(',');
        if (list.substr(0, comma) == feature) return true;
        if (comma == std::string_view::npos) break;
        list.remove_prefix(comma + 1);
    }
    return false;
}

}  // namespace

Result<ContainmentChoice> choose_containment(const std::string& requested) {
    const bool no_userns = simulated_missing("userns");
    const std::string userns_missing =
        std::string(
            "user namespaces are unavailable to this user (kernel.unprivileged_userns_"
            "clone, user.max_user_namespaces or an AppArmor restriction)") +
        (no_userns ? " [simulated by CLOAKROOM_TEST_MISSING]" : "");
    ContainmentChoice choice;
    if (requested != "landlock") {
        if (!no_userns && sandbox::namespaces_available()) {
            if (requested == "auto") choice.note = "--contain auto chose netns";
            return choice;
        }
        if (requested == "netns") {
            return make_error("run.contain", std::string("netns mode: ") + userns_missing);
        }
    }
    auto abi = simulated_missing("landlock")
                   ? Result<int>(make_error("sandbox.landlock",
                                            "Landlock unavailable [simulated by "
                                            "CLOAKROOM_TEST_MISSING]"))
                   : sandbox::landlock_abi();
    if (!abi.ok() || *abi < sandbox::kLandlockMinimumAbi) {
        const std::string why = !abi.ok() ? abi.error().message
                                          : "Landlock ABI " + std::to_string(*abi) +
                                                " has no TCP port rules (ABI 4, Linux 6.7)";
        if (requested == "auto") {
            return make_error("run.contain",
                              "no containment available: " + userns_missing + ", and " + why);
        }
        return make_error("run.contain", "landlock mode: " + why);
    }
    choice.mode = Containment::Landlock;
    choice.landlock_abi = *abi;
    if (requested == "auto") {
        choice.note = "--contain auto chose landlock: " + userns_missing;
    }
    return choice;
}

Result<void> check_landlock_cwd(const sandbox::MountPlan& plan) {
    for (std::size_t i = 0; i < plan.writable.size(); ++i) {
        const fs::path& dir = plan.writable[i];
        for (const auto& hidden : plan.hidden) {
            std::error_code error;
            if (!fs::exists(hidden, error)) continue;
            const auto rel = hidden.lexically_relative(dir);
            if (!rel.empty() && *rel.begin() != "..") {
                return make_error(
                    "sandbox.cwd",
                    "landlock mode cannot hide " + hidden.string() + " inside " +
                        (i == 0 ? std::string("the working directory") : dir.string()) +
                        " (an allow-list cannot carve it out): " +
                        (i == 0 ? "run from a project directory" : "narrow the writable path") +
                        ", or use netns mode");
            }
        }
    }
    return {};
}

Result<SessionToken> mint_session_token(const config::Config& config, const token::KeyStore& keys,
                                        const sandbox::SessionScope& scope, std::int64_t now,
                                        std::chrono::seconds lifetime) {
    const auto format = token_format(config);
    auto minted = token::mint_token(keys, config.token.signing_key_id,
                                    sandbox::session_caveats(scope, now, lifetime), format);
    if (!minted.ok()) return minted.error();
    auto inspected = token::inspect_token(*minted, format);
    if (!inspected.ok()) return inspected.error();
    return SessionToken{*minted, (*inspected).value("token_id", std::string())};
}

sandbox::Variables sandbox_gateway_variables(const config::Config& config) {
    config::Config inside = config;
    inside.gateway.proxy = config::ListenerConfig{"127.0.0.1:3128", "127.0.0.1", 3128};
    inside.gateway.reverse.reset();  // the base-URL listener is not handed to the sandbox
    return proxy::agent_environment(
        inside, proxy::AgentFiles{sandbox::kCaBundlePath, sandbox::kCaCertPath});
}

Result<sandbox::MountPlan> plan_session_mounts(const config::Config& config,
                                               const GlobalOptions& global,
                                               const std::vector<fs::path>& extra_hidden,
                                               const std::vector<fs::path>& extra_writable) {
    sandbox::MountInputs inputs;
    inputs.extra_hidden = extra_hidden;
    inputs.extra_writable = extra_writable;
    std::error_code error;
    inputs.cwd = fs::canonical(fs::current_path(error), error);
    if (error) return make_error("sandbox.cwd", "the working directory: " + error.message());
    if (const char* home = std::getenv("HOME")) inputs.home = home;
    auto add = [&](const fs::path& path) {
        if (path.empty()) return;
        inputs.cloakroom_paths.push_back(fs::absolute(path, error).lexically_normal());
        // A symlink's target is what a mount over it would cover; hide both names.
        auto real = fs::canonical(path, error);
        if (!error) inputs.cloakroom_paths.push_back(real);
    };
    auto env = xdg::process_env();
    if (auto dir = xdg::cloakroom_config_dir(env); dir.ok()) add(*dir);
    if (auto dir = xdg::cloakroom_state_dir(env); dir.ok()) add(*dir);
    add(config.data_dir);
    add(config.token.key_dir);
    add(config.secrets.dir);
    if (config.gateway.audit_log != "-") add(config.gateway.audit_log);
    for (const auto& file : global.config_files) add(fs::path(file));
    for (const auto& ref : config.secret_refs()) {
        if (ref.provider == secrets::Provider::File && fs::path(ref.name).is_absolute())
            add(ref.name);
    }
    if (const char* key = std::getenv("MACAROON_SIGNING_KEY_FILE")) add(key);
    for (const char* name : {"SSH_AUTH_SOCK", "XDG_RUNTIME_DIR", "GNUPGHOME", "DOCKER_CONFIG",
                             "KUBECONFIG", "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE"}) {
        if (const char* value = std::getenv(name); value != nullptr && *value == '/')
            inputs.extra_hidden.emplace_back(value);
    }
    for (const char* socket : {"/var/run/docker.sock", "/run/docker.sock", "/var/run/dbus",
                               "/var/lib/docker", "/run/user"}) {
        inputs.extra_hidden.emplace_back(socket);
    }
    return sandbox::plan_mounts(inputs);
}

std::string default_session_name() {
    return "run-" + std::to_string(::getpid());
}

namespace {

void print_session(std::FILE* out, const sandbox::SessionScope& scope,
                   const std::vector<std::string>& removed, bool no_network) {
    if (!no_network) {
        std::string services;
        for (const auto& s : scope.services) services += (services.empty() ? "" : ", ") + s;
        for (const auto& d : scope.databases) services += (services.empty() ? "" : ", ") + d;
        std::fprintf(
            out, "cloakroom run: session token for %s%s\n",
            scope.everything ? "every configured service" : "",
            services.empty() ? "" : (scope.everything ? " (" + services + ")" : services).c_str());
    }
    if (!removed.empty()) {
        std::string names;
        for (const auto& n : removed) names += (names.empty() ? "" : " ") + n;
        std::fprintf(out, "cloakroom run: removed from the environment: %s\n", names.c_str());
    }
}

}  // namespace

void print_protections(std::FILE* out, const ContainmentChoice& mode,
                       const sandbox::LaunchSpec& spec, const sandbox::SessionScope& scope,
                       const std::vector<std::string>& removed, bool no_network) {
    if (!mode.note.empty()) std::fprintf(out, "cloakroom run: %s\n", mode.note.c_str());
    if (mode.mode == Containment::Landlock) {
        std::string ports;
        for (auto port : spec.landlock->connect_ports)
            ports += (ports.empty() ? "" : ", ") + std::to_string(port);
        std::fprintf(out,
                     "cloakroom run: landlock sandbox (ABI %d): TCP connect only to port%s %s "
                     "(on any address: Landlock filters ports, not addresses), TCP bind "
                     "refused, UDP/raw/packet sockets refused (seccomp); %s; no_new_privs\n",
                     mode.landlock_abi, spec.landlock->connect_ports.size() == 1 ? "" : "s",
                     ports.empty() ? "(none: --no-network)" : ports.c_str(),
                     mode.landlock_abi >= sandbox::kLandlockScopeAbi
                         ? "abstract unix sockets and signals scoped to the sandbox"
                         : "abstract unix sockets and signals NOT scoped (Landlock ABI < 6)");
        std::fprintf(
            out,
            "cloakroom run: filesystem: system directories read-only, %s and a private "
            "temporary directory read-write, nothing else (no $HOME); host daemons' "
            "unix sockets at known paths stay reachable (netns mode hides them)\n",
            spec.mounts.writable.empty() ? "nothing" : spec.mounts.writable.front().c_str());
        print_session(out, scope, removed, no_network);
        return;
    }
    std::fprintf(out,
                 "cloakroom run: netns sandbox: user, mount, pid, ipc, uts and network "
                 "namespaces; %s; seccomp filter and no_new_privs; no capabilities\n",
                 no_network ? "loopback only, no gateway (--no-network)"
                            : "loopback only, TCP to the gateway (transparent redirect by "
                              "nftables), DNS answered by the gateway, other UDP dropped");
    std::fprintf(out,
                 "cloakroom run: filesystem read-only except %s and a private /tmp; %zu "
                 "paths hidden (Cloakroom's config, data, keys and secrets; ~/.ssh, ~/.aws, ...)\n",
                 spec.mounts.writable.empty() ? "nothing" : spec.mounts.writable.front().c_str(),
                 spec.mounts.hidden.size());
    print_session(out, scope, removed, no_network);
}

}  // namespace cloakroom::cli
