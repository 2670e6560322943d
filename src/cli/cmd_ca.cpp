// `cloakroom ca`: where Cloakroom's CA certificate is, and its PEM (created on first use).
#include <cstdio>

#include "cli/command.hpp"
#include "cli/context.hpp"
#include "tls/certificate_authority.hpp"

namespace cloakroom::cli {
namespace {

int run_ca(const GlobalOptions& global, bool print_pem) {
    auto config = load_cli_config(global);
    if (!config.ok()) return fail("ca", config.error(), kExitUsage);
    auto authority = tls::CertificateAuthority::load_or_create(config->data_dir / "ca");
    if (!authority.ok()) return fail("ca", authority.error(), kExitFailure);
    if (print_pem) {
        std::fputs((*authority)->cert_pem().c_str(), stdout);
    } else {
        std::printf("%s\n", (*authority)->cert_path().c_str());
    }
    return kExitOk;
}

}  // namespace

void register_ca(CLI::App& app, const GlobalOptions& global, Commands& commands) {
    auto* ca = app.add_subcommand("ca", "Cloakroom's certificate authority (agents must trust it)");
    ca->require_subcommand(1);
    auto* path = ca->add_subcommand("path", "Print the CA certificate's path");
    commands.push_back({path, [&global] { return run_ca(global, false); }});
    auto* exported = ca->add_subcommand("export", "Print the CA certificate (PEM)");
    commands.push_back({exported, [&global] { return run_ca(global, true); }});
}

}  // namespace cloakroom::cli
