#include "cli/run_registry.hpp"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>

namespace cloakroom::cli {
namespace {

namespace fs = std::filesystem;

bool valid_name(const std::string& name) {
    if (name.empty() || name.size() > 64 || name[0] == '.') return false;
    for (char c : name) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
        if (!ok) return false;
    }
    return true;
}

fs::path pid_path(const fs::path& data_dir, const std::string& name) {
    return data_dir / "run" / "sessions" / (name + ".pid");
}

// The pid in the file when that process is alive and is a `cloakroom run`; else 0.
pid_t live_pid(const fs::path& path) {
    std::ifstream in(path);
    long pid = 0;
    if (!(in >> pid) || pid <= 0) return 0;
    std::ifstream cmdline("/proc/" + std::to_string(pid) + "/cmdline");
    std::string args((std::istreambuf_iterator<char>(cmdline)), std::istreambuf_iterator<char>());
    if (args.find(std::string("run\0", 4)) == std::string::npos) return 0;  // reused pid
    return static_cast<pid_t>(pid);
}

}  // namespace

SessionPidFile::~SessionPidFile() {
    if (!path_.empty()) {
        std::error_code ignored;
        fs::remove(path_, ignored);
    }
}

Result<void> SessionPidFile::claim(const fs::path& data_dir, const std::string& name,
                                   const std::string& profile) {
    if (!valid_name(name)) {
        return make_error("run.name", "--name \"" + name +
                                          "\": use letters, digits, '.', '-' "
                                          "and '_' (at most 64, not starting with '.')");
    }
    const fs::path path = pid_path(data_dir, name);
    std::error_code error;
    fs::create_directories(path.parent_path(), error);
    fs::permissions(path.parent_path(), fs::perms::owner_all, error);
    if (live_pid(path) != 0) {
        return make_error("run.name", "a session named \"" + name + "\" is already running");
    }
    std::ofstream out(path, std::ios::trunc);
    out << ::getpid() << "\n" << profile << "\n";
    if (!out) return make_error("run.name", "cannot write " + path.string());
    path_ = path;
    return {};
}

std::string session_profile(const fs::path& data_dir, const std::string& name) {
    if (!valid_name(name)) return "";
    const fs::path path = pid_path(data_dir, name);
    if (live_pid(path) == 0) return "";
    std::ifstream in(path);
    std::string pid;
    std::string profile;
    std::getline(in, pid);
    std::getline(in, profile);
    return profile;
}

Result<pid_t> session_pid(const fs::path& data_dir, const std::string& name) {
    if (!valid_name(name)) return make_error("stop.name", "\"" + name + "\" is not a session name");
    const pid_t pid = live_pid(pid_path(data_dir, name));
    if (pid != 0) return pid;
    std::string known;
    std::error_code error;
    for (const auto& entry : fs::directory_iterator(data_dir / "run" / "sessions", error)) {
        if (entry.path().extension() != ".pid" || live_pid(entry.path()) == 0) continue;
        known += (known.empty() ? "" : ", ") + entry.path().stem().string();
    }
    return make_error("stop.name", "no running session named \"" + name + "\" (running: " +
                                       (known.empty() ? std::string("none") : known) + ")");
}

}  // namespace cloakroom::cli
