// The relay's per-thread buffer pool: buffers come back for reuse on the same thread only, and
// leased strings start empty.
#include <gtest/gtest.h>

#include <thread>

#include "proxy/buffer_pool.hpp"

namespace cloakroom::proxy {
namespace {

TEST(ProxyBufferPool, ChunkIsReusedOnTheSameThread) {
    const char* first = nullptr;
    {
        ChunkLease lease;
        first = lease.data();
        lease.data()[ChunkLease::size() - 1] = 'x';  // the whole size is writable
    }
    ChunkLease again;
    EXPECT_EQ(again.data(), first);
    ChunkLease second;  // the pool is empty now: a different buffer
    EXPECT_NE(second.data(), first);
}

TEST(ProxyBufferPool, OtherThreadsHaveTheirOwnPool) {
    const char* here = nullptr;
    {
        ChunkLease lease;
        here = lease.data();
    }
    const char* there = nullptr;
    std::thread other([&] {
        ChunkLease lease;
        there = lease.data();
    });
    other.join();
    EXPECT_NE(there, here);
    ChunkLease mine;
    EXPECT_EQ(mine.data(), here);
}

TEST(ProxyBufferPool, StringsComeBackEmptyWithCapacity) {
    {
        StringLease lease(1000);
        lease.text().append(900, 'a');
    }
    StringLease again(10);
    EXPECT_TRUE(again.text().empty());
    EXPECT_GE(again.text().capacity(), 1000u);
}

}  // namespace
}  // namespace cloakroom::proxy
