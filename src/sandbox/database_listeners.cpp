#include "sandbox/database_listeners.hpp"

#include <arpa/inet.h>

#include <array>

namespace cloakroom::sandbox {
namespace {

// 127.0.0.0/8 and ::1, by their parsed bytes (an IPv4-mapped ::ffff:127.0.0.1 is not accepted:
// the listener would be an IPv6 socket the nftables rule for IPv4 does not cover).
bool loopback(const std::string& host, bool& ipv6) {
    std::array<unsigned char, 16> bytes{};
    if (::inet_pton(AF_INET, host.c_str(), bytes.data()) == 1) {
        ipv6 = false;
        return bytes[0] == 127;
    }
    if (::inet_pton(AF_INET6, host.c_str(), bytes.data()) == 1) {
        ipv6 = true;
        static constexpr std::array<unsigned char, 16> kLoopback = {0, 0, 0, 0, 0, 0, 0, 0,
                                                                    0, 0, 0, 0, 0, 0, 0, 1};
        return bytes == kLoopback;
    }
    return false;
}

// Which of the sandbox's own TCP listeners takes host:port, or nullptr.
const char* taken_by(const SandboxDatabase& db, const SandboxPorts& ports) {
    const bool any_v4 = !db.ipv6 && db.host == "127.0.0.1";
    const bool any_v6 = db.ipv6 && db.host == "::1";
    if (any_v4 && db.port == ports.forward) return "the forward proxy";
    if ((any_v4 || any_v6) && db.port == ports.transparent) return "the transparent listener";
    if ((any_v4 || any_v6) && ports.cdp != 0 && db.port == ports.cdp) return "the DevTools proxy";
    return nullptr;
}

std::string address(const SandboxDatabase& db) {
    return (db.ipv6 ? "[" + db.host + "]" : db.host) + ":" + std::to_string(db.port);
}

}  // namespace

DatabasePlan plan_database_listeners(const config::Config& config,
                                     const std::vector<std::string>& names,
                                     const SandboxPorts& ports) {
    DatabasePlan plan;
    for (const auto& name : names) {
        const config::Database* database = config.find_database(name);
        if (database == nullptr) continue;
        SandboxDatabase db;
        db.name = database->name;
        db.protocol = std::string(config::to_string(database->protocol));
        db.port = database->listen.port;
        db.host = database->listen.host;
        if (db.host == "0.0.0.0") db.host = "127.0.0.1";
        if (db.host == "::") db.host = "::1";
        const std::string prefix = "database \"" + db.name + "\" ";
        if (!loopback(db.host, db.ipv6)) {
            plan.warnings.push_back(prefix + "listens on " + database->listen.address +
                                    ", not a loopback address: not reachable from the sandbox");
            continue;
        }
        if (db.port == 0) {
            plan.warnings.push_back(prefix + "listens on port 0 (chosen by the kernel when the " +
                                    "gateway starts): not reachable from the sandbox; give it a " +
                                    "fixed port");
            continue;
        }
        if (const char* owner = taken_by(db, ports)) {
            plan.warnings.push_back(prefix + "listens on " + address(db) +
                                    ", which inside the sandbox is " + owner +
                                    ": not reachable from the sandbox; move it to another port");
            continue;
        }
        plan.listeners.push_back(std::move(db));
    }
    return plan;
}

std::string describe(const std::vector<SandboxDatabase>& listeners) {
    std::string out;
    for (const auto& db : listeners) {
        out +=
            (out.empty() ? "" : ", ") + db.name + " at " + address(db) + " (" + db.protocol + ")";
    }
    return out;
}

}  // namespace cloakroom::sandbox
