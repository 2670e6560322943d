#include "sandbox/seccomp_filter.hpp"

#include <seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <vector>

#include "util/unique_fd.hpp"

namespace cloakroom::sandbox {
namespace {

struct ContextDeleter {
    void operator()(scmp_filter_ctx ctx) const { seccomp_release(ctx); }
};
using Context = std::unique_ptr<void, ContextDeleter>;

Error seccomp_error(const std::string& what, int rc) {
    return make_error("sandbox.seccomp", what + ": " + std::strerror(-rc));
}

scmp_compare to_scmp(ArgOp op) {
    switch (op) {
        case ArgOp::Eq:
            return SCMP_CMP_EQ;
        case ArgOp::Ge:
            return SCMP_CMP_GE;
        case ArgOp::Gt:
            return SCMP_CMP_GT;
        case ArgOp::MaskedEq:
            return SCMP_CMP_MASKED_EQ;
    }
    return SCMP_CMP_EQ;
}

Result<Context> build(const SeccompOptions& options) {
    Context ctx(seccomp_init(SCMP_ACT_ALLOW));
    if (!ctx) return make_error("sandbox.seccomp", "seccomp_init failed");
    // seccomp_init holds the native architecture only. Other architectures' calls (and the
    // x32 numbers of x86-64, which libseccomp refuses when x32 is not in the filter) take the
    // bad-architecture action: the whole process dies, nothing half-works.
    int rc = seccomp_attr_set(ctx.get(), SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
    if (rc != 0) return seccomp_error("bad-architecture action", rc);
    rc = seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_NNP, 1);
    if (rc != 0) return seccomp_error("no_new_privs", rc);
    for (const auto& rule : seccomp_rules(options)) {
        const int nr = seccomp_syscall_resolve_name(rule.syscall.c_str());
        if (nr == __NR_SCMP_ERROR) continue;  // not on this architecture (e.g. iopl on arm64)
        std::vector<scmp_arg_cmp> checks;
        for (const auto& check : rule.when) {
            scmp_arg_cmp cmp{};
            cmp.arg = check.arg;
            cmp.op = to_scmp(check.op);
            if (check.op == ArgOp::MaskedEq) {
                cmp.datum_a = check.mask;
                cmp.datum_b = check.value;
            } else {
                cmp.datum_a = check.value;
            }
            checks.push_back(cmp);
        }
        rc = seccomp_rule_add_array(ctx.get(), SCMP_ACT_ERRNO(static_cast<unsigned>(rule.error)),
                                    nr, static_cast<unsigned>(checks.size()), checks.data());
        if (rc != 0) return seccomp_error("rule for " + rule.syscall + " (" + rule.why + ")", rc);
    }
    return ctx;
}

}  // namespace

Result<void> install_seccomp(const SeccompOptions& options) {
    auto ctx = build(options);
    if (!ctx.ok()) return ctx.error();
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        return make_error("sandbox.seccomp",
                          std::string("PR_SET_NO_NEW_PRIVS: ") + std::strerror(errno));
    }
    const int rc = seccomp_load(ctx->get());
    if (rc != 0) return seccomp_error("loading the filter", rc);
    return {};
}

namespace {

Result<std::string> export_filter(const SeccompOptions& options, bool bpf) {
    auto ctx = build(options);
    if (!ctx.ok()) return ctx.error();
    UniqueFd fd(::memfd_create("cloakroom-seccomp", MFD_CLOEXEC));
    if (!fd) return make_error("sandbox.seccomp", std::string("memfd: ") + std::strerror(errno));
    const int rc =
        bpf ? seccomp_export_bpf(ctx->get(), fd.get()) : seccomp_export_pfc(ctx->get(), fd.get());
    if (rc != 0) return seccomp_error("export", rc);
    std::string text;
    char buffer[4096];
    ::lseek(fd.get(), 0, SEEK_SET);
    for (;;) {
        const ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
        if (n <= 0) break;
        text.append(buffer, static_cast<std::size_t>(n));
    }
    return text;
}

}  // namespace

Result<std::string> seccomp_pseudo_code(const SeccompOptions& options) {
    return export_filter(options, false);
}

Result<std::vector<BpfInstruction>> seccomp_bpf_program(const SeccompOptions& options) {
    auto raw = export_filter(options, true);
    if (!raw.ok()) return raw.error();
    static_assert(sizeof(BpfInstruction) == 8, "struct sock_filter layout");
    std::vector<BpfInstruction> program(raw->size() / sizeof(BpfInstruction));
    std::memcpy(program.data(), raw->data(), program.size() * sizeof(BpfInstruction));
    return program;
}

}  // namespace cloakroom::sandbox
