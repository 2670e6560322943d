// The files `cloakroom env` points an agent at, in the public directory ([gateway] public_dir):
// the CA certificate alone and the trust bundle (system roots + CA). An agent usually runs as
// another user, so both must be readable by others: the directory is 0755, the files 0644, and
// when the directory is the default <data_dir>/public the data directory gets search permission
// for others (0711: its names stay unlistable and ca/ and keys/ stay 0700). Never a key.
#pragma once

#include <optional>

#include "config/model.hpp"
#include "proxy/agent_env.hpp"
#include "tls/certificate_authority.hpp"
#include "util/result.hpp"

namespace cloakroom::cli {

// Errors: "env.public" (the directory is a symlink, not ours, or cannot be created), and the
// bundle's "tls.bundle".
Result<proxy::AgentFiles> write_agent_files(const config::Config& config,
                                            const tls::CertificateAuthority& authority);

// The public files as they are, when write_agent_files would write the same (the public ca.pem
// identical to <data_dir>/ca/ca.pem, the bundle current: tls::bundle_is_current); nullopt
// otherwise. Reads only certificates, never the CA key: a `cloakroom run` next to a running
// gateway (which wrote them) neither loads the key nor pays for the bundle.
std::optional<proxy::AgentFiles> current_agent_files(const config::Config& config);

}  // namespace cloakroom::cli
