#include "sandbox/launcher.hpp"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>

#include "sandbox/capabilities.hpp"
#include "sandbox/connector.hpp"
#include "sandbox/fd_passing.hpp"
#include "sandbox/seccomp_filter.hpp"

extern char** environ;

namespace cloakroom::sandbox {
namespace {

constexpr int kForwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGWINCH, SIGUSR1, SIGUSR2};

volatile sig_atomic_t g_forward_to = 0;  // parent: the sandbox's pid 1; pid 1: -command pgid
// Whether `cloakroom run` was in the terminal's foreground group when it started: only then
// does the command take the terminal (a background `cloakroom run &` must not steal it).
bool g_take_terminal = false;

void forward_signal(int signal) {
    const pid_t target = g_forward_to;
    if (target != 0) ::kill(target, signal);
}

void install_forwarding() {
    struct sigaction action {};
    action.sa_handler = forward_signal;
    action.sa_flags = SA_RESTART;
    sigemptyset(&action.sa_mask);
    for (int signal : kForwarded) ::sigaction(signal, &action, nullptr);
}

// Signals sent while a process is being forked stay pending instead of being lost: a signal
// that reaches the sandbox's pid 1 before it has a handler is discarded by the kernel (a pid
// namespace's init ignores default-action signals), and one that reaches us before we know
// whom to forward to would kill us instead of the command. So: block, fork, set the target,
// install, unblock; the command unblocks in `reset_signals`.
void block_forwarded() {
    sigset_t set;
    sigemptyset(&set);
    for (int signal : kForwarded) sigaddset(&set, signal);
    ::sigprocmask(SIG_BLOCK, &set, nullptr);
}

void unblock_forwarded() {
    sigset_t set;
    sigemptyset(&set);
    for (int signal : kForwarded) sigaddset(&set, signal);
    ::sigprocmask(SIG_UNBLOCK, &set, nullptr);
}

void forward_to(pid_t target) {
    g_forward_to = target;
    install_forwarding();
    unblock_forwarded();
}

void reset_signals() {
    struct sigaction action {};
    action.sa_handler = SIG_DFL;
    sigemptyset(&action.sa_mask);
    for (int signal = 1; signal < NSIG; ++signal) ::sigaction(signal, &action, nullptr);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
}

int terminal_fd() {
    for (int fd : {0, 1, 2}) {
        if (::isatty(fd)) return fd;
    }
    return -1;
}

// Makes `pgid` the terminal's foreground group (SIGTTOU ignored meanwhile: we may be in the
// background group when we call this).
void set_foreground(int tty, pid_t pgid) {
    if (tty < 0) return;
    struct sigaction ignore {};
    struct sigaction old {};
    ignore.sa_handler = SIG_IGN;
    sigemptyset(&ignore.sa_mask);
    ::sigaction(SIGTTOU, &ignore, &old);
    ::tcsetpgrp(tty, pgid);
    ::sigaction(SIGTTOU, &old, nullptr);
}

[[noreturn]] void child_fail(int channel, const Error& error) {
    (void)send_message(channel, "E" + error.code + "\t" + error.message);
    ::_exit(125);
}

int status_code(int status) {
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return 125;
}

// The command: its own process group in the foreground, no capabilities, seccomp, exec.
[[noreturn]] void exec_command(const LaunchSpec& spec) {
    ::setpgid(0, 0);
    if (g_take_terminal) set_foreground(terminal_fd(), ::getpid());
    reset_signals();
    if (spec.landlock) {
        if (auto restricted = apply_landlock(*spec.landlock); !restricted.ok()) {
            std::fprintf(stderr, "cloakroom run: %s\n", restricted.error().message.c_str());
            ::_exit(125);
        }
    }
    // Without namespaces an unprivileged command has no capabilities to drop (and may not
    // change its securebits).
    const bool has_capabilities = !spec.landlock || ::geteuid() == 0;
    if (auto dropped = has_capabilities ? drop_all_capabilities() : Result<void>{}; !dropped.ok()) {
        std::fprintf(stderr, "cloakroom run: %s\n", dropped.error().message.c_str());
        ::_exit(125);
    }
    if (auto filtered = install_seccomp(spec.seccomp); !filtered.ok()) {
        std::fprintf(stderr, "cloakroom run: %s\n", filtered.error().message.c_str());
        ::_exit(125);
    }
    std::vector<char*> argv;
    for (const auto& a : spec.argv) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    std::vector<char*> envp;
    for (const auto& e : spec.envp) envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);
    environ = envp.data();  // execvp searches the command's PATH, not ours
    ::execvp(argv[0], argv.data());
    const int error = errno;
    std::fprintf(stderr, "cloakroom run: cannot execute %s: %s\n", argv[0], std::strerror(error));
    ::_exit(error == ENOENT ? 127 : 126);
}

// Pid 1 of the sandbox.
[[noreturn]] void sandbox_init(const LaunchSpec& spec, int channel) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    // With the handler in place and the signals blocked, what `cloakroom run` forwards waits
    // as pending until the command exists.
    block_forwarded();
    install_forwarding();
    // Wait until the parent has written our uid/gid maps.
    auto maps = receive_message(channel);
    if (!maps.ok() || maps->text != "M") ::_exit(125);

    std::vector<Listener> listeners;
    if (spec.network) {
        if (auto net = configure_network(spec.ports); !net.ok()) child_fail(channel, net.error());
        auto opened = open_listeners(spec.ports);
        if (!opened.ok()) child_fail(channel, opened.error());
        listeners = std::move(*opened);
    } else if (auto lo = loopback_only(); !lo.ok()) {
        child_fail(channel, lo.error());
    }
    ::sethostname(spec.hostname.data(), spec.hostname.size());
    if (auto mounted = apply_mount_plan(spec.mounts, spec.files); !mounted.ok())
        child_fail(channel, mounted.error());
    if (!spec.mounts.writable.empty() && ::chdir(spec.mounts.writable.front().c_str()) != 0)
        child_fail(channel, make_error("sandbox.mount", "chdir to the working directory: " +
                                                            std::string(std::strerror(errno))));

    if (spec.network && spec.callback_connector) {
        std::vector<std::uint16_t> refused = {spec.ports.forward, spec.ports.transparent,
                                              spec.ports.dns};
        if (spec.ports.cdp != 0) refused.push_back(spec.ports.cdp);
        for (const auto& db : spec.ports.databases) refused.push_back(db.port);
        std::vector<int> close_in_child = {channel};
        for (const auto& listener : listeners) close_in_child.push_back(listener.fd.get());
        auto connector = start_connector(std::move(refused), close_in_child);
        if (!connector.ok()) child_fail(channel, connector.error());
        listeners.push_back(Listener{"connector", std::move(*connector)});
    }

    std::string kinds = "R";
    std::vector<int> fds;
    for (const auto& listener : listeners) {
        kinds += listener.kind + "\n";
        fds.push_back(listener.fd.get());
    }
    if (!send_message(channel, kinds, fds).ok()) ::_exit(125);
    listeners.clear();  // the gateway holds them now
    auto go = receive_message(channel);
    if (!go.ok() || go->text != "G") ::_exit(125);

    const pid_t command = ::fork();
    if (command < 0) ::_exit(125);
    if (command == 0) exec_command(spec);  // the channel is close-on-exec
    ::setpgid(command, command);
    forward_to(-command);
    // Pid 1 reaps every orphan of the sandbox; when the command ends, so does the sandbox (the
    // kernel kills what is left in the pid namespace). The channel stays open for job control:
    // a stopped command (Ctrl-Z) is reported ("S") so that `cloakroom run` stops too and the
    // shell gets its terminal back; "C" (the shell's `fg`) gives the terminal back to the
    // command and continues it.
    for (;;) {
        int status = 0;
        const pid_t pid = ::waitpid(-1, &status, WUNTRACED);
        if (pid < 0 && errno == EINTR) continue;
        if (pid < 0) ::_exit(125);
        if (pid != command) continue;
        if (WIFSTOPPED(status)) {
            if (!send_message(channel, "S").ok()) ::_exit(125);
            auto resume = receive_message(channel);
            if (!resume.ok() || resume->text != "C") ::_exit(125);
            if (g_take_terminal) set_foreground(terminal_fd(), command);
            ::kill(-command, SIGCONT);
            continue;
        }
        ::_exit(status_code(status));
    }
}

Result<void> write_proc(pid_t pid, const char* file, const std::string& text) {
    const std::string path = "/proc/" + std::to_string(pid) + "/" + file;
    const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) return make_error("sandbox.userns", "open " + path + ": " + std::strerror(errno));
    const ssize_t n = ::write(fd, text.data(), text.size());
    const int error = errno;
    ::close(fd);
    if (n != static_cast<ssize_t>(text.size()))
        return make_error("sandbox.userns", "write " + path + ": " + std::strerror(error));
    return {};
}

Error clone_error(int error) {
    std::string hint;
    if (error == EPERM || error == ENOSPC || error == EUSERS) {
        hint =
            " (unprivileged user namespaces are disabled here: sysctl "
            "kernel.unprivileged_userns_clone, user.max_user_namespaces, or an AppArmor "
            "restriction; `--contain landlock` works without them)";
    } else if (error == EINVAL) {
        hint = " (this kernel lacks one of the namespaces: user, mount, pid, ipc, uts, net)";
    }
    return make_error("sandbox.userns", std::string("creating the namespaces failed: ") +
                                            std::strerror(error) + hint);
}

void wait_quietly(pid_t pid) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
}

void ignore_ttou_and_forward(pid_t target) {
    struct sigaction ignore {};
    ignore.sa_handler = SIG_IGN;
    sigemptyset(&ignore.sa_mask);
    ::sigaction(SIGTTOU, &ignore, nullptr);
    forward_to(target);
}

// The command stopped (Ctrl-Z): give the terminal back to the shell and stop ourselves, so the
// shell sees the job stopped; returns once continued (`fg`/`bg`).
void stop_like_the_command() {
    if (g_take_terminal) set_foreground(terminal_fd(), ::getpgrp());
    ::kill(::getpid(), SIGSTOP);
}

int finish(int status) {
    g_forward_to = 0;
    if (g_take_terminal) set_foreground(terminal_fd(), ::getpgrp());
    return status_code(status);
}

// landlock mode: the command is our direct child.
int wait_forwarding(pid_t child) {
    ignore_ttou_and_forward(child);
    int status = 0;
    for (;;) {
        const pid_t pid = ::waitpid(child, &status, WUNTRACED);
        if (pid < 0 && errno != EINTR) return 125;
        if (pid != child) continue;
        if (!WIFSTOPPED(status)) break;
        stop_like_the_command();
        if (g_take_terminal) set_foreground(terminal_fd(), child);
        ::kill(-child, SIGCONT);
    }
    return finish(status);
}

// netns mode: the sandbox's pid 1 is our child and reports the command's stops on `channel`.
int wait_sandbox(pid_t child, int channel) {
    for (;;) {
        auto message = receive_message(channel);
        if (!message.ok() || message->text != "S") break;  // closed: pid 1 is exiting
        stop_like_the_command();
        if (!send_message(channel, "C").ok()) break;
    }
    int status = 0;
    for (;;) {
        const pid_t pid = ::waitpid(child, &status, 0);
        if (pid == child) break;
        if (pid < 0 && errno != EINTR) return 125;
    }
    return finish(status);
}

bool in_foreground() {
    const int tty = terminal_fd();
    return tty >= 0 && ::tcgetpgrp(tty) == ::getpgrp();
}

}  // namespace

bool namespaces_available() {
    const long pid = ::syscall(SYS_clone,
                               CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC |
                                   CLONE_NEWUTS | CLONE_NEWNET | SIGCHLD,
                               nullptr, nullptr, nullptr, 0);
    if (pid < 0) return false;
    if (pid == 0) ::_exit(0);
    int status = 0;
    while (::waitpid(static_cast<pid_t>(pid), &status, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

Result<int> run_with_landlock(const LaunchSpec& spec) {
    if (spec.argv.empty()) return make_error("sandbox.usage", "no command to run");
    if (!spec.landlock) return make_error("sandbox.landlock", "no Landlock policy");
    g_take_terminal = in_foreground();
    ::fflush(nullptr);
    block_forwarded();
    const pid_t child = ::fork();
    if (child < 0) {
        const int error = errno;
        unblock_forwarded();
        return make_error("sandbox.fork", std::strerror(error));
    }
    if (child == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (!spec.mounts.writable.empty() && ::chdir(spec.mounts.writable.front().c_str()) != 0)
            ::_exit(125);
        exec_command(spec);
    }
    ::setpgid(child, child);
    return wait_forwarding(child);
}

Result<int> run_in_namespaces(const LaunchSpec& spec, const ListenerSink& sink) {
    if (spec.argv.empty()) return make_error("sandbox.usage", "no command to run");
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0)
        return make_error("sandbox.ipc", std::string("socketpair: ") + std::strerror(errno));
    UniqueFd ours(pair[0]);
    UniqueFd theirs(pair[1]);
    const uid_t uid = ::getuid();
    const gid_t gid = ::getgid();
    g_take_terminal = in_foreground();
    ::fflush(nullptr);  // the child must not flush our buffered output a second time

    const unsigned long flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC |
                                CLONE_NEWUTS | CLONE_NEWNET | SIGCHLD;
    // fork() semantics (no new stack): the child continues here with a copy of our memory.
    const long cloned = ::syscall(SYS_clone, flags, nullptr, nullptr, nullptr, 0);
    if (cloned < 0) return clone_error(errno);
    if (cloned == 0) {
        ours.reset();
        sandbox_init(spec, theirs.get());
    }
    const pid_t child = static_cast<pid_t>(cloned);
    theirs.reset();

    auto abort_child = [&](Error error) -> Result<int> {
        ::kill(child, SIGKILL);
        wait_quietly(child);
        return error;
    };
    // The sandbox's uid/gid are ours: files keep their owners, and nothing maps to real root.
    for (auto [file, text] :
         {std::pair<const char*, std::string>{"setgroups", "deny"},
          {"uid_map", std::to_string(uid) + " " + std::to_string(uid) + " 1"},
          {"gid_map", std::to_string(gid) + " " + std::to_string(gid) + " 1"}}) {
        if (auto written = write_proc(child, file, text); !written.ok())
            return abort_child(written.error());
    }
    if (auto sent = send_message(ours.get(), "M"); !sent.ok()) return abort_child(sent.error());
    auto ready = receive_message(ours.get());
    if (!ready.ok()) return abort_child(ready.error());
    if (ready->text.empty()) {
        wait_quietly(child);
        return make_error("sandbox.init", "the sandbox's first process ended during set-up");
    }
    if (ready->text[0] == 'E') {
        wait_quietly(child);
        const std::string body = ready->text.substr(1);
        const auto tab = body.find('\t');
        return make_error(body.substr(0, tab),
                          tab == std::string::npos ? body : body.substr(tab + 1));
    }
    std::vector<Listener> listeners;
    {
        std::size_t start = 1;
        std::size_t index = 0;
        while (start < ready->text.size() && index < ready->fds.size()) {
            const auto end = ready->text.find('\n', start);
            listeners.push_back(
                Listener{ready->text.substr(start, end - start), std::move(ready->fds[index++])});
            start = end == std::string::npos ? ready->text.size() : end + 1;
        }
    }
    if (spec.network) {
        if (auto handed = sink(std::move(listeners)); !handed.ok()) {
            (void)send_message(ours.get(), "A");
            return abort_child(handed.error());
        }
    }

    // From here on signals sent to us (kill, systemd, the terminal's SIGHUP) go to the sandbox,
    // whose pid 1 keeps them pending until the command runs. Before this point they end us
    // (and, through PR_SET_PDEATHSIG, the half-built sandbox).
    ignore_ttou_and_forward(child);
    if (auto sent = send_message(ours.get(), "G"); !sent.ok()) {
        g_forward_to = 0;
        return abort_child(sent.error());
    }
    return wait_sandbox(child, ours.get());
}

}  // namespace cloakroom::sandbox
