// Password authentication towards a PostgreSQL server: the MD5 response and a SCRAM-SHA-256
// client (RFC 5802 / RFC 7677) with mutual authentication: the server's final signature is
// verified, so a server that does not know the password cannot complete the login.
//
// SASLprep: the password is used as-is. For ASCII passwords this is exactly what PostgreSQL
// computes (its SASLprep leaves them unchanged, and it falls back to the raw bytes for passwords
// SASLprep rejects); a non-ASCII password must be stored already in SASLprep-normalized form.
#pragma once

#include <openssl/x509.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "util/result.hpp"

namespace cloakroom::db::postgres {

// "md5" + md5hex(md5hex(password + user) + salt), the AuthenticationMD5Password response.
std::string md5_password_response(std::string_view user, std::string_view password,
                                  std::string_view salt);

inline constexpr std::string_view kScramSha256 = "SCRAM-SHA-256";
inline constexpr std::string_view kScramSha256Plus = "SCRAM-SHA-256-PLUS";
inline constexpr std::uint32_t kMaxScramIterations = 10'000'000;

// server-first-message: r=<nonce>,s=<base64 salt>,i=<iterations>[,extensions]
struct ScramServerFirst {
    std::string nonce;
    std::string salt;  // decoded
    std::uint32_t iterations = 0;
};
Result<ScramServerFirst> parse_scram_server_first(std::string_view message);
// server-final-message: v=<base64 signature> → the decoded signature; "e=<error>" → an error.
Result<std::string> parse_scram_server_final(std::string_view message);

// tls-server-end-point channel binding data (RFC 5929): the hash of the server's certificate
// with its signature's hash algorithm (SHA-256 when that is MD5 or SHA-1). Errors when the
// algorithm has no single hash (e.g. Ed25519).
Result<std::string> tls_server_end_point(X509* certificate);

// A printable SCRAM nonce from 18 random bytes (base64, as libpq does).
Result<std::string> make_scram_nonce();

class ScramClient {
  public:
    enum class Binding {
        None,           // "n,,": not on TLS
        NotAdvertised,  // "y,,": on TLS, but the server did not offer -PLUS
        ServerEndPoint  // "p=tls-server-end-point,,": SCRAM-SHA-256-PLUS
    };

    // `user` goes into the client-first message (PostgreSQL ignores it; libpq sends "").
    ScramClient(std::string_view user, std::string_view password, std::string client_nonce,
                Binding binding = Binding::None, std::string binding_data = {});
    ~ScramClient();
    ScramClient(const ScramClient&) = delete;
    ScramClient& operator=(const ScramClient&) = delete;

    std::string_view mechanism() const;
    std::string client_first() const;
    // Computes the proof; errors on a malformed message or a nonce that does not extend ours.
    Result<std::string> client_final(std::string_view server_first);
    // Verifies the server signature (constant time). Errors when it does not match.
    Result<void> verify_server_final(std::string_view server_final) const;

  private:
    std::string client_first_bare() const;

    std::string user_;
    std::string password_;  // wiped on destruction
    std::string client_nonce_;
    Binding binding_;
    std::string binding_data_;
    std::string expected_server_signature_;  // set by client_final
};

}  // namespace cloakroom::db::postgres
