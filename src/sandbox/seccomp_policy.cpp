#include "sandbox/seccomp_policy.hpp"

#include <linux/netlink.h>
#include <linux/sched.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cerrno>

namespace cloakroom::sandbox {
namespace {

// Highest address family of current kernels + 1 (AF_MCTP = 45, AF_MAX = 46).
constexpr std::uint64_t kFamilyLimit = 46;

constexpr std::uint64_t kNamespaceFlags = CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS |
                                          CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID |
                                          CLONE_NEWNET | 0x00000080 /* CLONE_NEWTIME */;

void deny(std::vector<SeccompRule>& rules, const char* name, int error, const char* why,
          std::vector<ArgCheck> when = {}) {
    rules.push_back(SeccompRule{name, error, std::move(when), why});
}

}  // namespace

std::vector<SeccompRule> seccomp_rules(const SeccompOptions& options) {
    std::vector<SeccompRule> rules;
    // Socket families: unix, IPv4, IPv6, and route netlink (glibc's getaddrinfo asks the kernel
    // for the interface addresses). Packet, raw-capable and exotic families are refused.
    for (std::uint64_t family = 0; family < kFamilyLimit; ++family) {
        if (family == AF_UNIX || family == AF_INET || family == AF_INET6) continue;
        if (family == AF_NETLINK && options.allow_netlink_route) continue;
        deny(rules, "socket", EAFNOSUPPORT, "address family outside unix/inet/inet6/netlink",
             {{0, ArgOp::Eq, family, 0}});
        deny(rules, "socketpair", EAFNOSUPPORT, "address family outside unix",
             {{0, ArgOp::Eq, family, 0}});
    }
    deny(rules, "socket", EAFNOSUPPORT, "unknown address family",
         {{0, ArgOp::Ge, kFamilyLimit, 0}});
    if (options.allow_netlink_route) {
        deny(rules, "socket", EPERM, "netlink other than NETLINK_ROUTE",
             {{0, ArgOp::Eq, AF_NETLINK, 0}, {2, ArgOp::Gt, NETLINK_ROUTE, 0}});
    }
    for (std::uint64_t family : {std::uint64_t{AF_INET}, std::uint64_t{AF_INET6}}) {
        // The type carries SOCK_NONBLOCK/SOCK_CLOEXEC in its high bits.
        deny(rules, "socket", EPERM, "raw IP socket",
             {{0, ArgOp::Eq, family, 0}, {1, ArgOp::MaskedEq, SOCK_RAW, 0xf}});
        if (!options.allow_udp) {
            deny(rules, "socket", EPERM, "UDP (Landlock cannot filter it)",
                 {{0, ArgOp::Eq, family, 0}, {1, ArgOp::MaskedEq, SOCK_DGRAM, 0xf}});
        }
        deny(rules, "socket", EPERM, "SOCK_PACKET",
             {{0, ArgOp::Eq, family, 0}, {1, ArgOp::MaskedEq, SOCK_PACKET, 0xf}});
        // Protocols other than the default, TCP and UDP: MPTCP (262) and SCTP (132) are not
        // covered by Landlock's TCP rules on every kernel; ICMP ping sockets, UDP-Lite...
        for (std::uint64_t protocol = 1; protocol < IPPROTO_UDP; ++protocol) {
            if (protocol == IPPROTO_TCP) continue;
            deny(rules, "socket", EPROTONOSUPPORT, "IP protocol other than TCP/UDP",
                 {{0, ArgOp::Eq, family, 0}, {2, ArgOp::Eq, protocol, 0}});
        }
        deny(rules, "socket", EPROTONOSUPPORT, "IP protocol other than TCP/UDP (MPTCP, SCTP...)",
             {{0, ArgOp::Eq, family, 0}, {2, ArgOp::Gt, IPPROTO_UDP, 0}});
    }
    // TCP Fast Open sends data without connect(): older kernels skip Landlock's connect hook.
    deny(rules, "sendto", EOPNOTSUPP, "TCP Fast Open",
         {{3, ArgOp::MaskedEq, MSG_FASTOPEN, MSG_FASTOPEN}});
    deny(rules, "sendmsg", EOPNOTSUPP, "TCP Fast Open",
         {{2, ArgOp::MaskedEq, MSG_FASTOPEN, MSG_FASTOPEN}});
    deny(rules, "sendmmsg", EOPNOTSUPP, "TCP Fast Open",
         {{3, ArgOp::MaskedEq, MSG_FASTOPEN, MSG_FASTOPEN}});
    deny(rules, "setsockopt", EOPNOTSUPP, "TCP_FASTOPEN_CONNECT",
         {{1, ArgOp::Eq, IPPROTO_TCP, 0}, {2, ArgOp::Eq, 30 /* TCP_FASTOPEN_CONNECT */, 0}});

    // io_uring performs socket and file operations this filter never sees.
    for (const char* name : {"io_uring_setup", "io_uring_enter", "io_uring_register"}) {
        deny(rules, name, ENOSYS, "io_uring bypasses seccomp");
    }
    // Reading or steering other processes.
    for (const char* name :
         {"ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd"}) {
        deny(rules, name, EPERM, "inspecting other processes");
    }
    // Kernel interfaces an agent has no use for and a long history of exploits.
    for (const char* name : {"keyctl",
                             "add_key",
                             "request_key",
                             "bpf",
                             "perf_event_open",
                             "userfaultfd",
                             "kexec_load",
                             "kexec_file_load",
                             "init_module",
                             "finit_module",
                             "delete_module",
                             "iopl",
                             "ioperm",
                             "swapon",
                             "swapoff",
                             "reboot",
                             "acct",
                             "quotactl",
                             "lookup_dcookie",
                             "name_to_handle_at",
                             "open_by_handle_at",
                             "syslog",
                             "personality",
                             "uselib",
                             "vhangup"}) {
        deny(rules, name, EPERM, "kernel interface refused in the sandbox");
    }
    // New namespaces would give the command capabilities again (a new user namespace) or let
    // it rearrange what it sees (mount namespace).
    deny(rules, "unshare", EPERM, "new namespaces (any unshare)");
    deny(rules, "setns", EPERM, "joining namespaces");
    for (std::uint64_t bit = 1; bit != 0; bit <<= 1) {
        if ((kNamespaceFlags & bit) == 0) continue;
        deny(rules, "clone", EPERM, "clone with namespace flags", {{0, ArgOp::MaskedEq, bit, bit}});
    }
    // clone3 passes its flags in memory, out of the filter's sight: ENOSYS makes glibc fall back
    // to clone, whose flags are checked above.
    deny(rules, "clone3", ENOSYS, "clone3 flags cannot be checked");
    for (const char* name : {"mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree",
                             "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr"}) {
        deny(rules, name, EPERM, "mount calls");
    }
    // Typing into the user's terminal: the command shares it (job control), so TIOCSTI would
    // let it queue input for the shell that started `cloakroom run`.
    deny(rules, "ioctl", EPERM, "TIOCSTI terminal injection",
         {{1, ArgOp::MaskedEq, TIOCSTI, 0xffffffffu}});
    deny(rules, "ioctl", EPERM, "TIOCLINUX", {{1, ArgOp::MaskedEq, TIOCLINUX, 0xffffffffu}});
    return rules;
}

}  // namespace cloakroom::sandbox
