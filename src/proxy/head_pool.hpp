// Per-thread reuse of parsed heads (http::Head), like buffer_pool.hpp for buffers: a request
// and its response each need one, and a reused head allocates nothing. A connection holds no
// head while it idles; the lease ends with the request.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include "http/head.hpp"

namespace cloakroom::proxy {

namespace head_pool_detail {
inline constexpr std::size_t kKeepPerThread = 64;
// A head grown by an unusually large one (up to the 64 KiB limit) is freed, not kept.
inline constexpr std::size_t kMaxKeptBytes = 8192;

inline std::vector<std::unique_ptr<http::Head>>& spare() {
    thread_local std::vector<std::unique_ptr<http::Head>> heads;
    return heads;
}
}  // namespace head_pool_detail

class HeadLease {
  public:
    HeadLease() {
        auto& spare = head_pool_detail::spare();
        if (spare.empty()) {
            head_ = std::make_unique<http::Head>();
        } else {
            head_ = std::move(spare.back());
            spare.pop_back();
        }
    }
    ~HeadLease() {
        head_->clear();  // also wipes set values (the injected credential)
        auto& spare = head_pool_detail::spare();
        if (spare.size() < head_pool_detail::kKeepPerThread &&
            head_->retained_bytes() <= head_pool_detail::kMaxKeptBytes) {
            spare.push_back(std::move(head_));
        }
    }
    HeadLease(const HeadLease&) = delete;
    HeadLease& operator=(const HeadLease&) = delete;

    http::Head& operator*() { return *head_; }
    http::Head* operator->() { return head_.get(); }
    const http::Head& operator*() const { return *head_; }
    const http::Head* operator->() const { return head_.get(); }

  private:
    std::unique_ptr<http::Head> head_;
};

}  // namespace cloakroom::proxy
