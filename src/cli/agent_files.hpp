// The files `cloakroom env` points an agent at, in the public directory ([gateway] public_dir):
// the CA certificate alone and the trust bundle (system roots + CA). An agent usually runs as
// another user, so both must be readable by others: the directory is 0755, the files 0644, and
// when the directory is the default <data_dir>/public the data directory gets search permission
// for others (0711: its names stay unlistable and ca/ and keys/ stay 0700). Never a key.
#pragma once

#include "config/model.hpp"
#include "proxy/agent_env.hpp"
#include "tls/certificate_authority.hpp"
#include "util/result.hpp"

namespace cloakroom::cli {

// Errors: "env.public" (the directory is a symlink, not ours, or cannot be created), and the
// bundle's "tls.bundle".
Result<proxy::AgentFiles> write_agent_files(const config::Config& config,
                                            const tls::CertificateAuthority& authority);

}  // namespace cloakroom::cli
