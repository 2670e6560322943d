// Per-thread reuse of the relay's working buffers. Every forwarded response needs a 16 KiB body
// chunk (and, when redacting, an output string of the same size); as coroutine-frame arrays or
// fresh strings they cost two large malloc/free pairs per request. A worker thread runs all of
// its connections, so buffers leased and returned on that thread never cross threads.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

namespace cloakroom::proxy {

// 16 KiB of plaintext (one TLS record's worth, what the relays read and write per piece) and
// room for a whole TLS record as received (5-byte header, content type, tag, padding: OpenSSL
// asks for up to 16709 bytes), so that one receive into a chunk takes a whole record instead of
// leaving its last bytes to a second recv(2).
inline constexpr std::size_t kPooledChunk = 16384 + 1024;

namespace buffer_pool_detail {
inline constexpr std::size_t kKeepPerThread = 64;  // beyond this, returned buffers are freed

struct Pools {
    std::vector<std::unique_ptr<char[]>> chunks;
    std::vector<std::string> strings;
};
inline Pools& pools() {
    thread_local Pools instance;
    return instance;
}
}  // namespace buffer_pool_detail

// A kPooledChunk-byte buffer from the thread's pool (or new), and back to it.
inline std::unique_ptr<char[]> take_pooled_chunk() {
    auto& free = buffer_pool_detail::pools().chunks;
    if (free.empty()) return std::make_unique_for_overwrite<char[]>(kPooledChunk);
    std::unique_ptr<char[]> chunk = std::move(free.back());
    free.pop_back();
    return chunk;
}
inline void return_pooled_chunk(std::unique_ptr<char[]> chunk) {
    auto& free = buffer_pool_detail::pools().chunks;
    if (free.size() < buffer_pool_detail::kKeepPerThread) free.push_back(std::move(chunk));
}

// A kPooledChunk-byte buffer, back to the thread's pool on destruction. Not movable: a lease
// lives in one coroutine frame and is returned on the thread that took it.
class ChunkLease {
  public:
    ChunkLease() : buffer_(take_pooled_chunk()) {}
    ~ChunkLease() { return_pooled_chunk(std::move(buffer_)); }
    ChunkLease(const ChunkLease&) = delete;
    ChunkLease& operator=(const ChunkLease&) = delete;

    char* data() { return buffer_.get(); }
    static constexpr std::size_t size() { return kPooledChunk; }

  private:
    std::unique_ptr<char[]> buffer_;
};

// An empty string with at least `capacity` reserved, back to the pool (cleared, capacity kept)
// on destruction.
class StringLease {
  public:
    static constexpr std::size_t kMaxPooledString = 256u << 10;

    explicit StringLease(std::size_t capacity) {
        auto& free = buffer_pool_detail::pools().strings;
        if (!free.empty()) {
            text_ = std::move(free.back());
            free.pop_back();
        }
        text_.reserve(capacity);
    }
    ~StringLease() {
        auto& free = buffer_pool_detail::pools().strings;
        // A string grown past kMaxPooledString (a decoded compressed piece can be megabytes,
        // response_filter.hpp) is freed rather than kept for the thread's lifetime.
        if (free.size() < buffer_pool_detail::kKeepPerThread &&
            text_.capacity() <= kMaxPooledString) {
            text_.clear();
            free.push_back(std::move(text_));
        }
    }
    StringLease(const StringLease&) = delete;
    StringLease& operator=(const StringLease&) = delete;

    std::string& text() { return text_; }

  private:
    std::string text_;
};

}  // namespace cloakroom::proxy
