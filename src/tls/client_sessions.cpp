#include "tls/client_sessions.hpp"

#include <mutex>
#include <unordered_map>

#include "tls/openssl_ptr.hpp"

namespace cloakroom::tls {
namespace {

constexpr std::size_t kMaxSessions = 1000;

class SessionStore {
  public:
    void put(const std::string& target, SSL_SESSION* session) {
        std::lock_guard lock(mutex_);
        if (sessions_.size() >= kMaxSessions && sessions_.count(target) == 0) {
            sessions_.erase(sessions_.begin());  // any victim will do for a bounded cache
        }
        sessions_[target] = SslSessionPtr(session);
    }
    // A new reference, or nullptr.
    SslSessionPtr take_ref(const std::string& target) {
        std::lock_guard lock(mutex_);
        const auto found = sessions_.find(target);
        if (found == sessions_.end()) return nullptr;
        if (SSL_SESSION_is_resumable(found->second.get()) != 1) {
            sessions_.erase(found);
            return nullptr;
        }
        SSL_SESSION_up_ref(found->second.get());
        return SslSessionPtr(found->second.get());
    }

  private:
    std::mutex mutex_;
    std::unordered_map<std::string, SslSessionPtr> sessions_;
};

void free_store(void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) {
    delete static_cast<SessionStore*>(ptr);
}

void free_target(void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) {
    delete static_cast<std::string*>(ptr);
}

// Function-local statics: initialised once, thread-safely, on first use.
int store_index() {
    static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, free_store);
    return index;
}

int target_index() {
    static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, free_target);
    return index;
}

SessionStore* store_of(SSL_CTX* ctx) {
    return static_cast<SessionStore*>(SSL_CTX_get_ex_data(ctx, store_index()));
}

// Called for every new session (TLS 1.3: each ticket after the handshake). Returning 1 keeps
// the reference OpenSSL handed us.
int on_new_session(SSL* ssl, SSL_SESSION* session) {
    SessionStore* store = store_of(SSL_get_SSL_CTX(ssl));
    const std::string* target = client_target(ssl);
    if (store == nullptr || target == nullptr) return 0;
    store->put(*target, session);
    return 1;
}

}  // namespace

Result<void> enable_client_sessions(SSL_CTX* ctx) {
    const int index = store_index();
    if (index < 0 || target_index() < 0) {
        return make_error("tls.context", "cannot allocate OpenSSL ex_data indexes");
    }
    auto* store = new SessionStore();
    if (SSL_CTX_set_ex_data(ctx, index, store) != 1) {
        delete store;
        return make_error("tls.context", "cannot attach the session store");
    }
    // NO_INTERNAL_STORE: OpenSSL never looks client sessions up itself, so its copy is waste.
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx, on_new_session);
    return {};
}

Result<void> attach_client_target(SSL* ssl, const std::string& target) {
    auto* previous = static_cast<std::string*>(SSL_get_ex_data(ssl, target_index()));
    auto* owned = new std::string(target);
    if (SSL_set_ex_data(ssl, target_index(), owned) != 1) {
        delete owned;
        return make_error("tls.context", "cannot record the upstream host on the connection");
    }
    delete previous;  // prepare_client_ssl called twice on one SSL
    if (SessionStore* store = store_of(SSL_get_SSL_CTX(ssl))) {
        if (auto session = store->take_ref(target)) {
            // SSL_set_session takes its own reference; failure just means a full handshake.
            SSL_set_session(ssl, session.get());
        }
    }
    return {};
}

const std::string* client_target(const SSL* ssl) {
    return static_cast<const std::string*>(SSL_get_ex_data(ssl, target_index()));
}

}  // namespace cloakroom::tls
