// Builds and signs one leaf certificate. Internal to the tls module; LeafCache decides when.
#pragma once

#include <cstdint>
#include <memory>

#include "tls/certificate_authority.hpp"
#include "tls/host_name.hpp"
#include "tls/leaf_cache.hpp"

namespace cloakroom::tls {

inline constexpr std::int64_t kLeafBackdate = 5 * 60;  // seconds of client clock skew tolerated

Result<Leaf> mint_leaf(const CertificateAuthority& ca, const TlsHost& host,
                       const std::shared_ptr<EVP_PKEY>& key, std::int64_t now,
                       std::int64_t validity);

}  // namespace cloakroom::tls
