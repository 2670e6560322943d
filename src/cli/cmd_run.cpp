// `cloakroom run -- CMD...`: runs an agent contained, with the gateway as its only way out
// (docs/sandbox.md).
#include <stdlib.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include <cstdio>
#include <ctime>
#include <fstream>
#include <memory>
#include <sstream>

#include "cli/agent_files.hpp"
#include "cli/command.hpp"
#include "cli/context.hpp"
#include "cli/run_gateway.hpp"
#include "cli/run_profile.hpp"
#include "cli/run_registry.hpp"
#include "cli/run_session.hpp"
#include "proxy/agent_env.hpp"
#include "sandbox/browser_shims.hpp"
#include "sandbox/database_listeners.hpp"
#include "sandbox/environment.hpp"
#include "sandbox/gateway_link.hpp"
#include "sandbox/git_credential.hpp"
#include "sandbox/launcher.hpp"
#include "secrets/resolver.hpp"
#include "tls/certificate_authority.hpp"
#include "util/duration.hpp"

extern char** environ;

namespace cloakroom::cli {
namespace {

struct RunOptions {
    std::string name;
    std::string profile;
    std::string contain;  // "" = the profile's, else auto
    std::vector<std::string> services;
    std::string valid_for;  // "" = the profile's, else 8h
    bool no_network = false;
    std::vector<std::string> command;
};

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream content;
    content << in.rdbuf();
    return content.str();
}

sandbox::Variables host_environment() {
    sandbox::Variables variables;
    for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
        const std::string text(*entry);
        const auto equals = text.find('=');
        if (equals == std::string::npos || equals == 0) continue;
        variables.emplace_back(text.substr(0, equals), text.substr(equals + 1));
    }
    return variables;
}

// Values of the configured secrets that can be read without running anything (file, env,
// systemd), only to scrub them from the environment; wiped when the vector goes.
struct SecretScan {
    std::vector<std::string> values;
    std::vector<std::string> env_names;
};

SecretScan scan_secrets(const config::Config& config) {
    SecretScan scan;
    secrets::SecretSources sources;
    sources.file_root = config.secrets.dir;
    sources.exec_timeout = config.secrets.exec_timeout;
    sources.watch = false;
    const secrets::SecretResolver resolver(sources);
    for (const auto& ref : config.secret_refs()) {
        if (ref.provider == secrets::Provider::Env) scan.env_names.push_back(ref.name);
        if (ref.provider == secrets::Provider::Exec) continue;  // never run helpers for this
        std::vector<secrets::SecretWarning> warnings;
        auto value = resolver.resolve(ref, &warnings);
        if (value.ok() && !value->empty()) scan.values.emplace_back(value->reveal());
    }
    return scan;
}

// Overwrites the secret values compared against the environment, then drops them.
void forget(std::vector<std::string>& values) {
    for (auto& value : values) OPENSSL_cleanse(value.data(), value.size());
    values.clear();
}

// netns mode: the session's database gateways inside the namespace, at their host addresses.
void offer_databases(const config::Config& config, const sandbox::SessionScope& scope,
                     sandbox::SandboxPorts& ports) {
    auto plan = sandbox::plan_database_listeners(config, scope.databases, ports);
    for (const auto& warning : plan.warnings) {
        std::fprintf(stderr, "cloakroom run: warning: %s\n", warning.c_str());
    }
    if (!plan.listeners.empty()) {
        std::fprintf(stderr, "cloakroom run: database gateways inside: %s\n",
                     sandbox::describe(plan.listeners).c_str());
    }
    ports.databases = std::move(plan.listeners);
}

// landlock mode: the opener shims (sandbox/browser_shims.hpp) in `dir`, running `helper`.
Result<void> write_landlock_shims(const std::filesystem::path& dir, const std::string& helper) {
    std::error_code error;
    std::filesystem::create_directory(dir, error);
    if (error)
        return make_error("run.tmp", "cannot create " + dir.string() + ": " + error.message());
    for (const auto& name : sandbox::browser_shim_names()) {
        const auto path = dir / name;
        std::ofstream out(path, std::ios::binary | std::ios::trunc);
        out << sandbox::browser_shim_script(helper);
        out.close();
        if (!out) return make_error("run.tmp", "cannot write " + path.string());
        std::filesystem::permissions(path, std::filesystem::perms(0755), error);
        if (error) return make_error("run.tmp", "cannot make " + path.string() + " executable");
    }
    return {};
}

int run_run(const GlobalOptions& global, const RunOptions& options) {
    if (options.command.empty()) {
        std::fputs("cloakroom run: no command given (cloakroom run -- CMD ARGS...)\n", stderr);
        return kExitUsage;
    }
    auto config = load_cli_config(global);
    if (!config.ok()) return fail("run", config.error(), kExitUsage);
    auto profile = select_profile(*config, options.profile);
    if (!profile.ok()) return fail("run", profile.error(), kExitUsage);
    sandbox::ProfileSession extras;
    if (*profile) {
        const char* home = std::getenv("HOME");
        auto session = sandbox::profile_session(*config, **profile, home == nullptr ? "" : home);
        if (!session.ok()) return fail("run", session.error(), kExitUsage);
        extras = std::move(*session);
    }
    // Explicit options win over the profile's defaults.
    std::string contain = options.contain;
    if (contain.empty()) contain = *profile && (*profile)->contain ? *(*profile)->contain : "auto";
    auto mode = choose_containment(contain);
    if (!mode.ok()) return fail("run", mode.error(), kExitFailure);

    auto scope = options.services.empty() && extras.services_set
                     ? profile_scope(*config, extras)
                     : sandbox::session_scope(*config, options.services);
    if (!scope.ok()) return fail("run", scope.error(), kExitUsage);
    auto lifetime = parse_duration(options.valid_for.empty() ? "8h" : options.valid_for);
    if (options.valid_for.empty() && *profile && (*profile)->valid_for)
        lifetime = *(*profile)->valid_for;
    if (!lifetime.ok()) return fail("run", lifetime.error(), kExitUsage);
    if (lifetime->count() <= 0 || *lifetime > config->token.max_validity) {
        return fail("run",
                    make_error("usage",
                               "--valid-for must be between 1s and [token] "
                               "max_validity (" +
                                   format_duration(config->token.max_validity) + ")"),
                    kExitUsage);
    }
    // The signing keys and the CA key are dropped before the sandbox is cloned from this
    // process (its pid 1 starts as a copy of our memory).
    auto token = [&]() -> Result<SessionToken> {
        auto keys = load_keys(*config, KeyPolicy::GenerateMissing);
        if (!keys.ok()) return keys.error();
        return mint_session_token(*config, *keys, *scope, std::time(nullptr), *lifetime);
    }();
    if (!token.ok()) return fail("run", token.error(), kExitFailure);
    auto files = [&]() -> Result<proxy::AgentFiles> {
        if (auto current = current_agent_files(*config)) return *current;
        auto authority = tls::CertificateAuthority::load_or_create(config->data_dir / "ca");
        if (!authority.ok()) return authority.error();
        return write_agent_files(*config, **authority);
    }();
    if (!files.ok()) return fail("run", files.error(), kExitFailure);

    sandbox::LaunchSpec spec;
    spec.argv = options.command;
    spec.network = !options.no_network;
    spec.files.ca_cert = read_file(files->ca_cert);
    spec.files.ca_bundle = read_file(files->bundle);
    spec.files.resolver = spec.network;
    const auto git_hosts = spec.network ? sandbox::session_git_hosts(*config, scope->services)
                                        : std::vector<sandbox::GitHost>{};
    // The browser bridge (docs/browser.md): in netns mode xdg-open, open and $BROWSER ask the
    // gateway, through its open-URL socket bound into the sandbox.
    const bool open_urls =
        spec.network && mode->mode == Containment::Netns && !config->browser.open_targets.empty();
    if ((!git_hosts.empty() || open_urls) && mode->mode == Containment::Netns)
        spec.files.helper = own_binary_path();
    if (open_urls) spec.files.browser_socket = config->data_dir / "run" / "browser.sock";
    // OAuth callbacks into the sandbox: its connector lets the gateway reach a port the agent
    // listens on, without a host port for the sandbox.
    spec.callback_connector = open_urls;
    // The DevTools proxy at localhost:9222 inside, served by the gateway's filter.
    if (spec.network && mode->mode == Containment::Netns && config->browser.cdp_upstream)
        spec.ports.cdp = sandbox::kSandboxCdpPort;
    const std::string helper_path =
        mode->mode == Containment::Netns ? sandbox::kHelperPath : own_binary_path();

    SecretScan secrets = scan_secrets(*config);
    sandbox::EnvironmentInputs env;
    env.host = host_environment();
    if (spec.network) env.gateway = sandbox_gateway_variables(*config);
    env.token = token->text;
    env.token_env = scope->token_env;
    if (!git_hosts.empty()) env.token_env.push_back(sandbox::kGitTokenVariable);
    const auto git_variables = sandbox::git_config_variables(git_hosts, helper_path, env.host);
    env.gateway.insert(env.gateway.end(), git_variables.begin(), git_variables.end());
    if (open_urls) {
        const auto browser = sandbox::browser_variables(env.host);
        env.gateway.insert(env.gateway.end(), browser.begin(), browser.end());
    }
    env.secret_values = std::move(secrets.values);
    env.secret_env = secrets.env_names;
    const auto environment = sandbox::sandbox_environment(env);
    spec.envp = sandbox::envp_strings(environment.variables);

    const auto writable = prepare_writable(extras.writable);
    auto plan = plan_session_mounts(*config, global, extras.hidden, writable);
    if (!plan.ok()) return fail("run", plan.error(), kExitUsage);
    spec.mounts = std::move(*plan);
    SessionGateway gateway;
    const std::string session = options.name.empty() ? default_session_name() : options.name;
    GatewayFiles gateway_files;
    const auto no_hosts = std::vector<std::string>{};
    if (auto prepared = gateway_files.prepare(global, *config, session,
                                              options.no_network ? no_hosts : extras.extra_hosts);
        !prepared.ok())
        return fail("run", prepared.error(), kExitFailure);
    auto announce = [&] {
        if (*profile) {
            print_profile(stderr, **profile, extras, writable,
                          options.no_network || gateway.started_here());
        }
        print_git_hosts(stderr, git_hosts);
    };

    if (mode->mode == Containment::Landlock) {
        if (auto cwd = check_landlock_cwd(spec.mounts); !cwd.ok())
            return fail("run", cwd.error(), kExitUsage);
        // The session's own temporary directory (Landlock cannot give it a private /tmp).
        std::string tmp_template =
            (std::filesystem::temp_directory_path() / "cloakroom-run-XXXXXX").string();
        if (::mkdtemp(tmp_template.data()) == nullptr) {
            return fail("run", make_error("run.tmp", "cannot create a temporary directory"),
                        kExitFailure);
        }
        const std::filesystem::path private_tmp = tmp_template;
        std::vector<std::uint16_t> ports;
        if (!options.no_network) {
            ports.push_back(config->gateway.proxy.port);
            if (config->gateway.reverse) ports.push_back(config->gateway.reverse->port);
            for (const auto& name : scope->databases) {
                if (const auto* db = config->find_database(name)) ports.push_back(db->listen.port);
            }
        }
        spec.landlock = sandbox::default_landlock_policy(spec.mounts.writable.front(), private_tmp,
                                                         config->gateway.public_dir, ports);
        for (std::size_t i = 1; i < spec.mounts.writable.size(); ++i)
            spec.landlock->read_write.push_back(spec.mounts.writable[i]);
        // The openers (docs/browser.md): shims in the private temporary directory that run
        // `cloakroom open` against the gateway's socket, which Landlock does not restrict
        // (connecting to a named unix socket is outside its rules).
        const bool landlock_open = !options.no_network && !config->browser.open_targets.empty();
        const std::filesystem::path shim_dir = private_tmp / "cloakroom-bin";
        if (landlock_open) {
            if (auto written = write_landlock_shims(shim_dir, helper_path); !written.ok()) {
                std::error_code ignored;
                std::filesystem::remove_all(private_tmp, ignored);
                return fail("run", written.error(), kExitFailure);
            }
        }
        if (!git_hosts.empty() || landlock_open) spec.landlock->read_only.emplace_back(helper_path);
        spec.seccomp.allow_udp = false;
        env.gateway.clear();
        if (!options.no_network) env.gateway = proxy::agent_environment(*config, *files);
        env.gateway.insert(env.gateway.end(), git_variables.begin(), git_variables.end());
        if (landlock_open) {
            const auto browser = sandbox::browser_variables(
                env.host, shim_dir.string(), (config->data_dir / "run" / "browser.sock").string());
            env.gateway.insert(env.gateway.end(), browser.begin(), browser.end());
        }
        env.gateway.emplace_back("TMPDIR", private_tmp.string());
        spec.envp = sandbox::envp_strings(sandbox::sandbox_environment(env).variables);
        if (!options.no_network) {
            auto listening = gateway.ensure_listening(
                config->gateway.proxy.host, config->gateway.proxy.port, gateway_files.files(),
                config->data_dir / "run" / "serve.log");
            if (!listening.ok()) return fail("run", listening.error(), kExitFailure);
        }
        forget(env.secret_values);
        print_protections(stderr, *mode, spec, *scope, environment.removed, options.no_network);
        announce();
        auto status = sandbox::run_with_landlock(spec);
        std::error_code ignored;
        std::filesystem::remove_all(private_tmp, ignored);
        if (!status.ok()) return fail("run", status.error(), kExitFailure);
        return *status;
    }

    SessionPidFile pid_file;
    if (auto claimed = pid_file.claim(config->data_dir, session, *profile ? (*profile)->name : "");
        !claimed.ok())
        return fail("run", claimed.error(), kExitUsage);
    sandbox::ListenerSink sink = [&](std::vector<sandbox::Listener> listeners) -> Result<void> {
        const auto socket_path = config->gateway.sandbox_socket;
        if (socket_path.empty()) {
            return make_error("run.gateway",
                              "[gateway] sandbox_socket = \"\" disables the "
                              "hand-over socket that netns mode needs (use "
                              "--no-network, or --contain landlock)");
        }
        auto connected = gateway.connect(socket_path, gateway_files.files(),
                                         config->data_dir / "run" / "serve.log");
        if (!connected.ok()) return connected;
        announce();
        return sandbox::adopt(gateway.connection(), session, token->id, listeners);
    };

    forget(env.secret_values);
    print_protections(stderr, *mode, spec, *scope, environment.removed, options.no_network);
    if (options.no_network) announce();  // no gateway: the sink is never called
    if (spec.network) offer_databases(*config, *scope, spec.ports);
    if (spec.ports.cdp != 0) {
        std::fprintf(stderr,
                     "cloakroom run: DevTools proxy inside at localhost:%u (the browser's own "
                     "port is not reachable)\n",
                     static_cast<unsigned>(spec.ports.cdp));
    }
    auto status = sandbox::run_in_namespaces(spec, sink);
    if (!status.ok()) return fail("run", status.error(), kExitFailure);
    return *status;
}

}  // namespace

void register_run(CLI::App& app, const GlobalOptions& global, Commands& commands) {
    auto options = std::make_shared<RunOptions>();
    auto* command = app.add_subcommand(
        "run",
        "Run a command contained: the gateway is its only way out. netns (default): user, "
        "mount, pid, ipc, uts and network namespaces, loopback only, every TCP connection "
        "goes to the gateway, DNS answered by it, other UDP dropped; Cloakroom's files, "
        "~/.ssh, ~/.aws and other credential stores hidden; seccomp. The command gets a "
        "session token, never a secret. landlock mode (--contain landlock, for kernels "
        "without user namespaces): Landlock filters TCP ports, not addresses, so the gateway's "
        "port is reachable on any host; netns mode closes that hole.");
    command->add_option("--name", options->name, "Session name (default run-<pid>)");
    command->add_option("--profile", options->profile,
                        "A profile: built in (claude, codex, gemini, opencode), [profile.NAME] "
                        "of the configuration, or the path of an agent-creds agent-creds.toml "
                        "(its [sandbox] name); sets services, reachable hosts, writable and "
                        "hidden paths, and defaults for --contain and --valid-for");
    command
        ->add_option(
            "--contain", options->contain,
            "auto (netns where user namespaces work, else landlock, saying so), netns, landlock "
            "(default: the profile's, else auto)")
        ->check(CLI::IsMember({"auto", "netns", "landlock"}));
    command
        ->add_option("--service", options->services,
                     "Services and databases the session token may use (repeatable; default "
                     "all configured ones)")
        ->delimiter(',');
    command->add_option("--valid-for", options->valid_for,
                        "Session token lifetime (default: the profile's, else 8h)");
    command->add_flag("--no-network", options->no_network,
                      "No gateway and no network at all: loopback only");
    command->add_option("command", options->command, "The command and its arguments, after --")
        ->required();
    command->positionals_at_end();
    commands.push_back({command, [&global, options] { return run_run(global, *options); }});
}

}  // namespace cloakroom::cli
