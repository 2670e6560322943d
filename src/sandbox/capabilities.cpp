#include "sandbox/capabilities.hpp"

#include <linux/capability.h>
#include <linux/securebits.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace cloakroom::sandbox {
namespace {

Error caps_error(const std::string& what) {
    return make_error("sandbox.caps", what + ": " + std::strerror(errno));
}

struct CapSets {
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2]{};
};

Result<CapSets> get_caps() {
    CapSets caps;
    if (::syscall(SYS_capget, &caps.header, caps.data) != 0) return caps_error("capget");
    return caps;
}

Result<void> set_caps(CapSets& caps) {
    if (::syscall(SYS_capset, &caps.header, caps.data) != 0) return caps_error("capset");
    return {};
}

}  // namespace

Result<void> keep_net_admin_across_exec() {
    auto caps = get_caps();
    if (!caps.ok()) return caps.error();
    for (int cap : {CAP_NET_ADMIN, CAP_NET_BIND_SERVICE}) {
        caps->data[cap / 32].inheritable |= 1u << (cap % 32);
    }
    if (auto set = set_caps(*caps); !set.ok()) return set;
    for (int cap : {CAP_NET_ADMIN, CAP_NET_BIND_SERVICE}) {
        if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) != 0)
            return caps_error("PR_CAP_AMBIENT_RAISE");
    }
    return {};
}

Result<void> drop_all_capabilities() {
    const unsigned long bits = SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |
                               SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED |
                               SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED;
    if (::prctl(PR_SET_SECUREBITS, bits, 0, 0, 0) != 0) return caps_error("PR_SET_SECUREBITS");
    if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0)
        return caps_error("PR_CAP_AMBIENT_CLEAR_ALL");
    for (int cap = 0; cap <= 63; ++cap) {
        // EINVAL past the kernel's last capability: the set is empty then.
        if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL)
            return caps_error("PR_CAPBSET_DROP");
    }
    CapSets caps;
    if (auto set = set_caps(caps); !set.ok()) return set;
    return {};
}

}  // namespace cloakroom::sandbox
