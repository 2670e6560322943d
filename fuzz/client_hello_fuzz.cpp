// libFuzzer target for the transparent listener's first-bytes reader (proxy/client_hello.hpp):
// any bytes an agent sends first. Besides "no crash": a prefix of an input that gives a complete
// ClientHello never gives a different server name, and the server_name extension parser never
// reads past its input (ASan).
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "proxy/client_hello.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using cloakroom::proxy::ClientHelloPeek;
    const auto extension = cloakroom::proxy::parse_server_name_extension({data, size});
    if (extension.ok && extension.host_name && extension.host_name->empty()) std::abort();
    const auto whole = cloakroom::proxy::peek_client_hello({data, size});
    if (whole.status == ClientHelloPeek::Status::Complete && size > 1) {
        const auto shorter = cloakroom::proxy::peek_client_hello({data, size - 1});
        if (shorter.status == ClientHelloPeek::Status::Complete &&
            shorter.server_name != whole.server_name) {
            std::abort();
        }
    }
    return 0;
}
