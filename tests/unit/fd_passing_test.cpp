// util/fd_passing: descriptors really travel, every received one is owned, and truncation of the
// text or of the descriptors is reported (the hand-over answers both with a precise error).
#include "util/fd_passing.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <string>
#include <vector>

namespace cloakroom {
namespace {

struct SocketPair {
    UniqueFd a;
    UniqueFd b;
};

SocketPair seqpacket_pair() {
    int fds[2] = {-1, -1};
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds), 0);
    return {UniqueFd(fds[0]), UniqueFd(fds[1])};
}

struct Pipe {
    UniqueFd read;
    UniqueFd write;
};

Pipe make_pipe() {
    int fds[2] = {-1, -1};
    EXPECT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    return {UniqueFd(fds[0]), UniqueFd(fds[1])};
}

// The bytes written through `writer` arrive at `reader`: the two name the same pipe.
bool connected(int writer, int reader) {
    if (::write(writer, "x", 1) != 1) return false;
    char byte = 0;
    return ::read(reader, &byte, 1) == 1 && byte == 'x';
}

TEST(FdPassing, TextAndDescriptorsArriveTogether) {
    SocketPair pair = seqpacket_pair();
    Pipe first = make_pipe();
    Pipe second = make_pipe();
    const std::array<int, 2> sent = {first.write.get(), second.write.get()};
    ASSERT_EQ(send_with_fds(pair.a.get(), "hello", sent), 5);

    ReceivedWithFds received = receive_with_fds(pair.b.get(), 64, 4);
    ASSERT_EQ(received.bytes, 5);
    EXPECT_EQ(received.text, "hello");
    EXPECT_FALSE(received.text_truncated);
    EXPECT_FALSE(received.fds_truncated);
    ASSERT_EQ(received.fds.size(), 2u);
    EXPECT_TRUE(connected(received.fds[0].get(), first.read.get()));
    EXPECT_TRUE(connected(received.fds[1].get(), second.read.get()));
    EXPECT_EQ(::fcntl(received.fds[0].get(), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
}

TEST(FdPassing, MoreDescriptorsThanAllowedAreReportedAndTheRestOwned) {
    SocketPair pair = seqpacket_pair();
    std::vector<Pipe> pipes;
    std::vector<int> sent;
    for (int i = 0; i < 3; ++i) {
        pipes.push_back(make_pipe());
        sent.push_back(pipes.back().write.get());
    }
    ASSERT_EQ(send_with_fds(pair.a.get(), "x", sent), 1);
    ReceivedWithFds received = receive_with_fds(pair.b.get(), 64, 2);
    EXPECT_TRUE(received.fds_truncated);
    EXPECT_LE(received.fds.size(), 2u);
    for (const UniqueFd& fd : received.fds) EXPECT_TRUE(fd.valid());
}

TEST(FdPassing, ALongerTextIsReportedTruncated) {
    SocketPair pair = seqpacket_pair();
    ASSERT_EQ(send_with_fds(pair.a.get(), std::string(100, 'a'), {}), 100);
    ReceivedWithFds received = receive_with_fds(pair.b.get(), 10, 1);
    EXPECT_EQ(received.bytes, 10);
    EXPECT_TRUE(received.text_truncated);
    EXPECT_EQ(received.text, std::string(10, 'a'));
}

TEST(FdPassing, TooManyDescriptorsToSendIsAnError) {
    SocketPair pair = seqpacket_pair();
    const std::vector<int> sent(kMaxPassedFds + 1, pair.a.get());
    EXPECT_EQ(send_with_fds(pair.a.get(), "x", sent), -1);
    EXPECT_EQ(errno, EINVAL);
}

TEST(FdPassing, EndOfStreamAndWouldBlockAreTold) {
    SocketPair pair = seqpacket_pair();
    ReceivedWithFds nothing = receive_with_fds(pair.b.get(), 8, 1, MSG_DONTWAIT);
    EXPECT_EQ(nothing.bytes, -1);
    EXPECT_EQ(nothing.error, EAGAIN);
    pair.a.reset();
    ReceivedWithFds closed = receive_with_fds(pair.b.get(), 8, 1);
    EXPECT_EQ(closed.bytes, 0);
    EXPECT_TRUE(closed.fds.empty());
}

}  // namespace
}  // namespace cloakroom
