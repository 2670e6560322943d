#include "tls/openssl_error.hpp"

#include <openssl/err.h>

#include <array>

namespace cloakroom::tls {

std::string take_openssl_errors() {
    std::string text;
    while (const unsigned long code = ERR_get_error()) {
        // The library and reason are what a reader needs; the packed numeric code is noise.
        const char* lib = ERR_lib_error_string(code);
        const char* reason = ERR_reason_error_string(code);
        std::string one;
        if (lib != nullptr) one = std::string(lib) + ": ";
        if (reason != nullptr) {
            one += reason;
        } else {
            std::array<char, 256> buf{};
            ERR_error_string_n(code, buf.data(), buf.size());
            one += buf.data();
        }
        if (!text.empty()) text += "; ";
        text += one;
    }
    return text.empty() ? "no OpenSSL error reported" : text;
}

Error openssl_error(std::string code, std::string message) {
    return make_error(std::move(code), std::move(message) + ": " + take_openssl_errors());
}

}  // namespace cloakroom::tls
