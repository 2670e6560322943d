// What a worker knows of an HTTP/2 upstream's stream limit (SETTINGS_MAX_CONCURRENT_STREAMS),
// per pool key (UpstreamH2Pool). A connection records the limit the moment its SETTINGS arrive,
// and again at every SETTINGS update, so that the decisions about a new dial (how many requests
// ride it; how many streams it takes before its own SETTINGS arrive) never depend on which of
// the upstream's connections are still alive: a limit learned on a connection that has since
// gone away still holds (a burst past it would be refused: REFUSED_STREAM, RFC 9113 §5.1.2).
#pragma once

#include <algorithm>
#include <cstdint>

namespace cloakroom::proxy::h2 {

// What nghttp2 assumes of a peer that has not said (RFC 9113 §6.5.2 recommends at least 100).
inline constexpr std::uint32_t kAssumedStreamLimit = 100;

struct LearnedStreamLimit {
    std::uint32_t streams = kAssumedStreamLimit;
    // The last dial to this upstream chose HTTP/2: a burst may ride a dial under way.
    bool speaks_h2 = false;

    // A connection's SETTINGS said `limit`. Not learned from a connection going away: a
    // server that drains may lower the limit of that connection only. At least 1, so that a
    // new dial always carries the request that made it.
    void learn(std::uint32_t limit, bool going_away) {
        if (!going_away) streams = std::max<std::uint32_t>(limit, 1);
    }
};

// A connection's stream limit: its own SETTINGS once they arrived, else what the worker learned
// of the upstream (followed live: a limit learned meanwhile on another connection applies).
inline std::uint32_t effective_stream_limit(bool settings_seen, std::uint32_t own,
                                            const LearnedStreamLimit* learned) {
    if (settings_seen) return own;
    return learned != nullptr ? learned->streams : kAssumedStreamLimit;
}

}  // namespace cloakroom::proxy::h2
