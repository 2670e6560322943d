// Capabilities inside the sandbox's user namespace. The sandbox's first process holds every
// capability there (it sets up the network and the mounts); the command holds none.
#pragma once

#include "util/result.hpp"

namespace cloakroom::sandbox {

// Keeps CAP_NET_ADMIN (and CAP_NET_BIND_SERVICE) across execve of a helper (`ip`, `nft`) that
// runs as a non-zero uid: inheritable + ambient. Errors "sandbox.caps".
Result<void> keep_net_admin_across_exec();

// Drops every capability for good: securebits locked (no root magic for uid 0, no keep-caps),
// bounding set emptied, ambient cleared, effective/permitted/inheritable zero. Errors
// "sandbox.caps".
Result<void> drop_all_capabilities();

}  // namespace cloakroom::sandbox
