// Builds and loads the libseccomp filter of seccomp_policy.hpp.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sandbox/seccomp_policy.hpp"
#include "util/result.hpp"

namespace cloakroom::sandbox {

// Loads the filter into the calling thread (and its future children); needs no_new_privs (set
// here). Only the native architecture is in the filter: a system call made through another
// table (x32 numbers, ia32 int 0x80 / socketcall) kills the process. Error "sandbox.seccomp".
Result<void> install_seccomp(const SeccompOptions& options);

// The compiled BPF program (for tests: the architecture checks are only visible there).
struct BpfInstruction {
    std::uint16_t code;
    std::uint8_t jt;
    std::uint8_t jf;
    std::uint32_t k;
};
Result<std::vector<BpfInstruction>> seccomp_bpf_program(const SeccompOptions& options);

// The filter in libseccomp's readable pseudo-code (for tests and `--explain`), without loading.
Result<std::string> seccomp_pseudo_code(const SeccompOptions& options);

}  // namespace cloakroom::sandbox
