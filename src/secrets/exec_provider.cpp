#include "secrets/exec_provider.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <thread>

#include "util/unique_fd.hpp"

extern char** environ;

namespace cloakroom::secrets {
namespace {

using Clock = std::chrono::steady_clock;

Error fail(std::string code, std::string_view source, const std::string& what) {
    return make_error(std::move(code), std::string(source) + ": " + what);
}

// RAII for the two posix_spawn helper objects, so every error path destroys them.
struct SpawnActions {
    posix_spawn_file_actions_t value{};
    SpawnActions() { posix_spawn_file_actions_init(&value); }
    ~SpawnActions() { posix_spawn_file_actions_destroy(&value); }
    SpawnActions(const SpawnActions&) = delete;
    SpawnActions& operator=(const SpawnActions&) = delete;
};

struct SpawnAttr {
    posix_spawnattr_t value{};
    SpawnAttr() { posix_spawnattr_init(&value); }
    ~SpawnAttr() { posix_spawnattr_destroy(&value); }
    SpawnAttr(const SpawnAttr&) = delete;
    SpawnAttr& operator=(const SpawnAttr&) = delete;
};

// The child of a process that ignores SIGPIPE (any network server) would inherit the ignore and
// misbehave when its own pipes close; give it default dispositions and an empty signal mask.
void configure_attr(posix_spawnattr_t* attr) {
    sigset_t defaults;
    sigemptyset(&defaults);
    for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD, SIGUSR1, SIGUSR2}) {
        sigaddset(&defaults, sig);
    }
    sigset_t empty;
    sigemptyset(&empty);
    posix_spawnattr_setsigdefault(attr, &defaults);
    posix_spawnattr_setsigmask(attr, &empty);
    posix_spawnattr_setpgroup(attr, 0);  // own process group, so kill(-pid) reaches grandchildren
    posix_spawnattr_setflags(
        attr,
        static_cast<short>(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK));
}

// Owns the spawned child: whatever path leaves run_secret_command, the child is killed (if still
// running) and reaped, so no zombie and no orphaned helper outlives the call.
class Child {
  public:
    explicit Child(pid_t pid) : pid_(pid) {}
    Child(const Child&) = delete;
    Child& operator=(const Child&) = delete;
    ~Child() {
        if (pid_ > 0) kill_and_reap();
    }

    void kill_and_reap() {
        ::kill(-pid_, SIGKILL);
        int status = 0;
        while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
        }
        pid_ = -1;
    }

    // Waits until the child exits or the deadline passes. Returns true with the wait status when
    // it exited. Polls because the output pipe can close (EOF) well before the process ends.
    bool wait_until(Clock::time_point deadline, int* status, int* wait_errno) {
        auto pause = std::chrono::milliseconds(1);
        while (true) {
            const pid_t got = ::waitpid(pid_, status, WNOHANG);
            if (got == pid_) {
                pid_ = -1;
                return true;
            }
            if (got < 0 && errno != EINTR) {
                // ECHILD: someone else reaped it (SIGCHLD set to SIG_IGN, or a waitpid(-1)).
                *wait_errno = errno;
                pid_ = -1;
                return true;
            }
            if (Clock::now() >= deadline) return false;
            std::this_thread::sleep_for(pause);
            pause = std::min(pause * 2, std::chrono::milliseconds(20));
        }
    }

  private:
    pid_t pid_;
};

}  // namespace

Result<SecretBuffer> run_secret_command(const std::vector<std::string>& argv,
                                        std::chrono::milliseconds timeout,
                                        std::string_view source) {
    const auto deadline = Clock::now() + timeout;
    const std::string timed_out = "timed out after " + std::to_string(timeout.count()) + " ms";

    int pipe_fds[2];
    // O_CLOEXEC: a helper spawned concurrently from another thread must not inherit our pipe.
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
        return fail("secret.io", source,
                    std::string("cannot create pipe: ") + std::strerror(errno));
    }
    UniqueFd read_end(pipe_fds[0]);
    UniqueFd write_end(pipe_fds[1]);

    SpawnActions actions;
    // These only record actions (they fail on ENOMEM alone), but an unchecked failure would
    // let the child inherit our stdin/stderr, so check them all.
    if (posix_spawn_file_actions_addopen(&actions.value, STDIN_FILENO, "/dev/null", O_RDONLY, 0) !=
            0 ||
        posix_spawn_file_actions_adddup2(&actions.value, write_end.get(), STDOUT_FILENO) != 0 ||
        posix_spawn_file_actions_addopen(&actions.value, STDERR_FILENO, "/dev/null", O_WRONLY, 0) !=
            0) {
        return fail("secret.io", source, "cannot prepare the command's file descriptors");
    }
    SpawnAttr attr;
    configure_attr(&attr.value);

    std::vector<char*> c_argv;
    c_argv.reserve(argv.size() + 1);
    for (const auto& arg : argv) c_argv.push_back(const_cast<char*>(arg.c_str()));
    c_argv.push_back(nullptr);

    pid_t pid = -1;
    const bool path_lookup = argv.front().find('/') == std::string::npos;
    const int spawn_err =
        path_lookup
            ? ::posix_spawnp(&pid, c_argv[0], &actions.value, &attr.value, c_argv.data(), environ)
            : ::posix_spawn(&pid, c_argv[0], &actions.value, &attr.value, c_argv.data(), environ);
    if (spawn_err != 0) {
        return fail("secret.exec", source,
                    "cannot run '" + argv.front() + "': " + std::strerror(spawn_err));
    }
    Child child(pid);
    write_end.reset();  // so EOF arrives when the child (and its children) close stdout

    SecretBuffer buffer(kMaxSecretBytes + 1);
    std::size_t total = 0;
    while (true) {
        const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
        if (left.count() <= 0) return fail("secret.exec", source, timed_out);
        pollfd pfd{read_end.get(), POLLIN, 0};
        const auto wait_ms = std::min<std::chrono::milliseconds::rep>(left.count(), INT_MAX);
        const int ready = ::poll(&pfd, 1, static_cast<int>(wait_ms));
        if (ready < 0) {
            if (errno == EINTR) continue;
            return fail("secret.io", source, std::string("poll failed: ") + std::strerror(errno));
        }
        if (ready == 0) return fail("secret.exec", source, timed_out);
        const ssize_t got =
            ::read(read_end.get(), buffer.data() + total, buffer.capacity() - total);
        if (got < 0) {
            if (errno == EINTR || errno == EAGAIN) continue;
            return fail("secret.io", source,
                        std::string("cannot read command output: ") + std::strerror(errno));
        }
        if (got == 0) break;
        total += static_cast<std::size_t>(got);
        if (total > kMaxSecretBytes) {
            // Child's destructor kills the process group; no need to drain the rest.
            return fail(
                "secret.invalid", source,
                "command output is larger than " + std::to_string(kMaxSecretBytes) + " bytes");
        }
    }
    read_end.reset();

    int status = 0;
    int wait_errno = 0;
    if (!child.wait_until(deadline, &status, &wait_errno)) {
        return fail("secret.exec", source, timed_out);
    }
    if (wait_errno != 0) {
        return fail(
            "secret.exec", source,
            std::string("cannot collect the command's exit status: ") + std::strerror(wait_errno));
    }
    if (WIFSIGNALED(status)) {
        return fail("secret.exec", source,
                    "command was killed by signal " + std::to_string(WTERMSIG(status)));
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        return fail("secret.exec", source,
                    "command exited with status " + std::to_string(WEXITSTATUS(status)));
    }
    buffer.set_size(total);
    return buffer;
}

}  // namespace cloakroom::secrets
