#include "token/caveat.hpp"

namespace cloakroom::token {

std::uint64_t caveat_type(const Caveat& caveat) {
    struct Visitor {
        std::uint64_t operator()(const ValidityWindow&) const { return kTypeValidityWindow; }
        std::uint64_t operator()(const Hosts&) const { return kTypeApiHost; }
        std::uint64_t operator()(const Methods&) const { return kTypeApiMethod; }
        std::uint64_t operator()(const Paths&) const { return kTypeApiPath; }
        std::uint64_t operator()(const ThirdParty&) const { return kTypeThirdParty; }
        std::uint64_t operator()(const BindToParent&) const { return kTypeBindToParent; }
        std::uint64_t operator()(const Attestation&) const { return kTypeAttestation; }
        std::uint64_t operator()(const DbServices&) const { return kTypeDbServices; }
        std::uint64_t operator()(const DbLogins&) const { return kTypeDbLogins; }
        std::uint64_t operator()(const DbNames&) const { return kTypeDbNames; }
        std::uint64_t operator()(const DbCommands&) const { return kTypeDbCommands; }
        std::uint64_t operator()(const UsageLimits&) const { return kTypeUsageLimits; }
        std::uint64_t operator()(const UnknownCaveat& c) const { return c.type; }
    };
    return std::visit(Visitor{}, caveat);
}

std::string_view caveat_type_name(std::uint64_t type) {
    switch (type) {
        case kTypeValidityWindow:
            return "ValidityWindow";
        case kTypeThirdParty:
            return "3P";
        case kTypeBindToParent:
            return "BindToParentToken";
        case kTypeApiHost:
            return "APIHost";
        case kTypeApiMethod:
            return "APIMethod";
        case kTypeApiPath:
            return "APIPath";
        case kTypeAttestation:
            return "Attestation";
        case kTypeDbServices:
            return "DBService";
        case kTypeDbLogins:
            return "DBLogin";
        case kTypeDbNames:
            return "DBName";
        case kTypeDbCommands:
            return "DBCommand";
        case kTypeUsageLimits:
            return "Limits";
        default:
            return "Unregistered";
    }
}

}  // namespace cloakroom::token
