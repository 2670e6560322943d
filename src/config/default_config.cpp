// The configuration used when no file exists. It is parsed by the same code as any file, so it
// cannot drift from what the parser accepts (a unit test also checks it equals the model's
// defaults). Directories are left out on purpose: they default to the XDG locations.
#include "config/loader.hpp"

namespace cloakroom::config {

std::string_view embedded_default_config() {
    return R"toml(# Cloakroom embedded default configuration
[gateway]
listen = "127.0.0.1:3128"
strict = false
# audit_log defaults to <data_dir>/audit.log (mode 0600); "-" writes it to standard output

[token]
prefix = "acm_"
location = "cloakroom"
default_validity = "24h"
max_validity = "30d"
signing_key = "primary"

[secrets]
exec_timeout = "5s"
)toml";
}

}  // namespace cloakroom::config
