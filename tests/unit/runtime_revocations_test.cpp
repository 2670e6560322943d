// Revocation (runtime/revocation_list.*, runtime/revocation_store.*, the access decision):
// what a record revokes, attenuated tokens included, offline; the file format's precise errors;
// durable, concurrent appends; and the one access decision refusing a revoked token.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "runtime/access.hpp"
#include "runtime/revocation_list.hpp"
#include "runtime/revocation_store.hpp"
#include "runtime/session_registry.hpp"
#include "token/token.hpp"

#include <boost/asio/io_context.hpp>

namespace cloakroom::runtime {
namespace {

const token::TokenFormat kFormat;
constexpr std::int64_t kNow = 1767225600;  // 2026-01-01T00:00:00Z
const std::string kId(32, 'a');

token::KeyStore test_keys() {
    token::KeyStore keys;
    EXPECT_TRUE(keys.add("primary", secrets::SecretValue(std::string(32, 'k'))).ok());
    return keys;
}

std::string mint(const token::KeyStore& keys, std::int64_t not_before) {
    auto token = token::mint_token(
        keys, "primary",
        {token::hosts_caveat({"api.example.com"}), token::validity_caveat(not_before, kNow + 3600)},
        kFormat);
    EXPECT_TRUE(token.ok());
    return token.ok() ? *token : std::string();
}

std::string id_of(const std::string& token) {
    auto inspected = token::inspect_token(token, kFormat);
    EXPECT_TRUE(inspected.ok());
    return inspected.ok() ? (*inspected)["token_id"].get<std::string>() : std::string();
}

token::AccessRequest get() {
    return token::AccessRequest{"api.example.com", "GET", "/", kNow};
}

std::shared_ptr<Revocations> revoking(RevocationRecord record) {
    auto list = std::make_shared<RevocationList>();
    list->add(std::move(record));
    auto revocations = std::make_shared<Revocations>();
    revocations->set(std::move(list));
    return revocations;
}

RevocationRecord by_id(std::string id, std::string reason = "leaked") {
    return RevocationRecord{kNow, std::move(id), std::nullopt, std::move(reason)};
}

RevocationRecord before(std::int64_t time) {
    return RevocationRecord{kNow, "", time, ""};
}

TEST(Revocation, AttenuatedTokensKeepTheirParentsIdAndAreRevokedWithIt) {
    const auto keys = test_keys();
    const std::string parent = mint(keys, kNow - 60);
    auto child = token::attenuate_token(parent, {token::methods_caveat({"GET"})}, kFormat);
    ASSERT_TRUE(child.ok());
    auto grandchild =
        token::attenuate_token(*child, {token::validity_caveat(kNow - 5, kNow + 5)}, kFormat);
    ASSERT_TRUE(grandchild.ok());
    EXPECT_EQ(id_of(*child), id_of(parent));
    EXPECT_EQ(id_of(*grandchild), id_of(parent));

    token::VerifyCache cache;
    AccessContext context{keys, kFormat, &cache, nullptr};
    EXPECT_TRUE(decide_access(*grandchild, get(), context).ok()) << "allowed before revocation";

    const auto revocations = revoking(by_id(id_of(parent)));
    context.revocations = revocations.get();
    const std::vector<const std::string*> family = {&parent, &*child, &*grandchild};
    for (const std::string* token : family) {
        const AccessDecision decision = decide_access(*token, get(), context);
        EXPECT_EQ(decision.verdict, AccessDecision::Verdict::Revoked) << "after a cache hit too";
        EXPECT_NE(decision.detail.find("leaked"), std::string::npos) << decision.detail;
        EXPECT_EQ(decision.detail.find("acm_"), std::string::npos) << "never the token";
    }
    // Another token of the same key is unaffected.
    EXPECT_TRUE(decide_access(mint(keys, kNow - 60), get(), context).ok());
}

TEST(Revocation, DatabaseLoginsGoThroughTheSameCheck) {
    const auto keys = test_keys();
    auto token =
        token::mint_token(keys, "primary", {token::validity_caveat(kNow - 1, kNow + 9)}, kFormat);
    ASSERT_TRUE(token.ok());
    const auto revocations = revoking(by_id(id_of(*token)));
    const AccessContext context{keys, kFormat, nullptr, revocations.get()};
    const token::DbAccessRequest login{"pg", "app", "appdb", "postgres", kNow};
    EXPECT_EQ(decide_access(*token, login, context).verdict, AccessDecision::Verdict::Revoked);
}

TEST(Revocation, RevokedWinsOverForbiddenAndExpiredButNotOverInvalid) {
    const auto keys = test_keys();
    const std::string token = mint(keys, kNow - 60);
    const auto revocations = revoking(by_id(id_of(token)));
    const AccessContext context{keys, kFormat, nullptr, revocations.get()};
    token::AccessRequest other_host{"other.example.com", "GET", "/", kNow};
    EXPECT_EQ(decide_access(token, other_host, context).verdict, AccessDecision::Verdict::Revoked);
    token::AccessRequest later{"api.example.com", "GET", "/", kNow + 7200};
    EXPECT_EQ(decide_access(token, later, context).verdict, AccessDecision::Verdict::Revoked);
    // Same id, wrong key: not a genuine token, so "invalid", not "revoked".
    token::KeyStore other;
    ASSERT_TRUE(other.add("primary", secrets::SecretValue(std::string(32, 'z'))).ok());
    const AccessContext wrong_key{other, kFormat, nullptr, revocations.get()};
    EXPECT_EQ(decide_access(token, get(), wrong_key).verdict, AccessDecision::Verdict::Invalid);
}

TEST(Revocation, BeforeUsesTheEarliestNotBeforeSoAttenuationCannotEscape) {
    const auto keys = test_keys();
    const std::string old_token = mint(keys, kNow - 600);
    const std::string new_token = mint(keys, kNow - 10);
    const auto revocations = revoking(before(kNow - 60));
    const AccessContext context{keys, kFormat, nullptr, revocations.get()};
    EXPECT_EQ(decide_access(old_token, get(), context).verdict, AccessDecision::Verdict::Revoked);
    EXPECT_TRUE(decide_access(new_token, get(), context).ok());
    // The holder adds a later window: the earliest not_before still counts.
    auto escaped =
        token::attenuate_token(old_token, {token::validity_caveat(kNow - 30, kNow + 60)}, kFormat);
    ASSERT_TRUE(escaped.ok());
    EXPECT_EQ(decide_access(*escaped, get(), context).verdict, AccessDecision::Verdict::Revoked);
    // No validity window: no known mint time, revoked (fail closed).
    auto timeless = token::mint_token(keys, "primary", {}, kFormat);
    ASSERT_TRUE(timeless.ok());
    EXPECT_EQ(decide_access(*timeless, get(), context).verdict, AccessDecision::Verdict::Revoked);
}

TEST(RevocationList, FindsByIdAndByTheLatestCutoff) {
    RevocationList list;
    EXPECT_EQ(list.find(kId, kNow), nullptr);
    list.add(before(100));
    list.add(before(300));
    list.add(before(200));
    list.add(by_id(kId));
    EXPECT_NE(list.find(kId, 1000), nullptr);
    EXPECT_EQ(list.find(std::string(32, 'b'), 300), nullptr);
    ASSERT_NE(list.find(std::string(32, 'b'), 299), nullptr);
    EXPECT_EQ(*list.find(std::string(32, 'b'), 299)->before, 300);
    EXPECT_NE(list.find(std::string(32, 'b'), std::nullopt), nullptr);
}

TEST(RevocationList, RoundTripsThroughTheFileFormat) {
    const std::string text = format_revocation(by_id(kId, "CI log \"leak\" ü")) +
                             format_revocation(before(kNow - 5)) + "\n";
    auto list = RevocationList::parse(text);
    ASSERT_TRUE(list.ok()) << list.error().message;
    ASSERT_EQ(list->records().size(), 2u);
    EXPECT_EQ(list->records()[0].token_id, kId);
    EXPECT_EQ(list->records()[0].reason, "CI log \"leak\" ü");
    EXPECT_EQ(*list->records()[1].before, kNow - 5);
}

TEST(RevocationList, ParseErrorsNameTheLineAndTheProblem) {
    const std::string good = format_revocation(by_id(kId));
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"{not json\n", "line 2: not valid JSON"},
        {"[1,2]\n", "line 2: not a JSON object"},
        {R"({"revoked_at":1,"token_id":"ABCDEFABCDEFABCDEFABCDEFABCDEFAB"})"
         "\n",
         "lower-case hex"},
        {R"({"revoked_at":1,"token_id":"abc"})"
         "\n",
         "32 hex digits, not 3 characters"},
        {R"({"revoked_at":1})"
         "\n",
         "exactly one of"},
        {R"({"revoked_at":1,"before":2,"token_id":")" + kId + "\"}\n", "exactly one of"},
        {R"({"token_id":")" + kId + "\"}\n", "\"revoked_at\" is missing"},
        {R"({"revoked_at":"now","before":2})"
         "\n",
         "\"revoked_at\" must be an integer"},
        {R"({"revoked_at":1,"before":2.5})"
         "\n",
         "\"before\" must be an integer"},
        {R"({"revoked_at":1,"before":2,"extra":true})"
         "\n",
         "unknown field \"extra\""},
        {R"({"revoked_at":1,"before":2,"reason":"a\u0007b"})"
         "\n",
         "control characters"},
        {R"({"revoked_at":1,"before":2,"reason":7})"
         "\n",
         "\"reason\" must be a string"},
        {std::string("\xff\xfe\x00garbage\n", 11), "line 2: not valid JSON"},
    };
    for (const auto& [line, expected] : cases) {
        auto parsed = RevocationList::parse(good + line);
        ASSERT_FALSE(parsed.ok()) << line;
        EXPECT_EQ(parsed.error().code, "revocations.invalid");
        EXPECT_NE(parsed.error().message.find(expected), std::string::npos)
            << parsed.error().message;
        EXPECT_NE(parsed.error().message.find("line 2"), std::string::npos);
    }
}

TEST(RevocationList, AnUnterminatedLastLineIsNotARecordYet) {
    const std::string good = format_revocation(by_id(kId));
    auto parsed = RevocationList::parse(good + R"({"revoked_at":1,"bef)");
    ASSERT_TRUE(parsed.ok()) << parsed.error().message;
    EXPECT_EQ(parsed->records().size(), 1u);
    auto blank = RevocationList::parse("\n  \r\n" + good);
    ASSERT_TRUE(blank.ok());
    EXPECT_EQ(blank->records().size(), 1u);
}

TEST(RevocationList, ArbitraryBytesNeverCrash) {
    std::string text;
    for (unsigned i = 0; i < 4096; ++i) {
        text.push_back(static_cast<char>((i * 2654435761u) >> 13));
        if (i % 97 == 0) text.push_back('\n');
        (void)RevocationList::parse(text);
    }
}

class RevocationStore : public ::testing::Test {
  protected:
    void SetUp() override {
        dir_ = std::filesystem::temp_directory_path() /
               ("cloakroom-revocations-" + std::to_string(::getpid()) + "-" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        std::filesystem::remove_all(dir_);
        path_ = revocations_path(dir_ / "data");
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }
    std::filesystem::path dir_;
    std::filesystem::path path_;
};

TEST_F(RevocationStore, AppendsCreateAPrivateFileThatLoadsBack) {
    auto empty = load_revocations(path_);
    ASSERT_TRUE(empty.ok()) << "a missing file is an empty list";
    EXPECT_TRUE(empty->empty());
    ASSERT_TRUE(append_revocation(path_, by_id(kId)).ok());
    ASSERT_TRUE(append_revocation(path_, before(kNow)).ok());
    struct stat st {};
    ASSERT_EQ(::stat(path_.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    ASSERT_EQ(::stat(path_.parent_path().c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0077, 0u) << "the data directory is created owner-only";
    auto loaded = load_revocations(path_);
    ASSERT_TRUE(loaded.ok()) << loaded.error().message;
    EXPECT_EQ(loaded->records().size(), 2u);
}

TEST_F(RevocationStore, AnInvalidFileIsAPreciseErrorWithThePath) {
    ASSERT_TRUE(append_revocation(path_, by_id(kId)).ok());
    std::ofstream(path_, std::ios::app) << "{\"revoked_at\":1}\n";
    auto loaded = load_revocations(path_);
    ASSERT_FALSE(loaded.ok());
    EXPECT_NE(loaded.error().message.find(path_.string()), std::string::npos);
    EXPECT_NE(loaded.error().message.find("line 2"), std::string::npos);
}

TEST_F(RevocationStore, AFragmentOfADeadWriterIsCutAHandEditKept) {
    ASSERT_TRUE(append_revocation(path_, by_id(kId)).ok());
    std::ofstream(path_, std::ios::app) << R"({"revoked_at":1,"tok)";  // died midway
    ASSERT_TRUE(append_revocation(path_, before(kNow)).ok());
    auto loaded = load_revocations(path_);
    ASSERT_TRUE(loaded.ok()) << loaded.error().message;
    EXPECT_EQ(loaded->records().size(), 2u);

    std::ofstream(path_, std::ios::app) << R"({"revoked_at":2,"before":5})";  // no newline
    ASSERT_TRUE(append_revocation(path_, by_id(std::string(32, 'c'))).ok());
    loaded = load_revocations(path_);
    ASSERT_TRUE(loaded.ok()) << loaded.error().message;
    EXPECT_EQ(loaded->records().size(), 4u);
}

TEST_F(RevocationStore, ConcurrentAppendsAreAllKeptWhole) {
    constexpr int kThreads = 8;
    constexpr int kEach = 25;
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < kEach; ++i) {
                RevocationRecord record = by_id(std::string(32, 'a'), std::string(150, 'x'));
                record.revoked_at = t * 1000 + i;
                EXPECT_TRUE(append_revocation(path_, record).ok());
            }
        });
    }
    for (auto& thread : threads) thread.join();
    auto loaded = load_revocations(path_);
    ASSERT_TRUE(loaded.ok()) << loaded.error().message;
    EXPECT_EQ(loaded->records().size(), static_cast<std::size_t>(kThreads * kEach));
}

TEST_F(RevocationStore, RefreshAppliesChangesAndKeepsTheLastGoodList) {
    Revocations revocations(path_);
    auto first = revocations.refresh();
    ASSERT_TRUE(first.ok());
    EXPECT_EQ(revocations.find(kId, kNow), nullptr);
    ASSERT_TRUE(append_revocation(path_, by_id(kId)).ok());
    auto changed = revocations.refresh();
    ASSERT_TRUE(changed.ok());
    EXPECT_TRUE(*changed);
    EXPECT_NE(revocations.find(kId, kNow), nullptr);
    auto same = revocations.refresh();
    ASSERT_TRUE(same.ok());
    EXPECT_FALSE(*same) << "nothing changed: nothing re-read";

    std::ofstream(path_, std::ios::app) << "garbage\n";
    auto broken = revocations.refresh();
    ASSERT_FALSE(broken.ok());
    EXPECT_NE(revocations.find(kId, kNow), nullptr) << "revocations are never dropped";
}

TEST(RevocationSessions, EndRevokedEndsByIdAndByMintTime) {
    auto registry = std::make_shared<SessionRegistry>();
    boost::asio::io_context io;
    int ended_id = 0, ended_old = 0, ended_new = 0, ended_unknown = 0;
    auto a = registry->add(
        "http", kId, io.get_executor(), [&] { ++ended_id; }, kNow);
    auto b = registry->add(
        "database", std::string(32, 'b'), io.get_executor(), [&] { ++ended_old; }, kNow - 100);
    auto c = registry->add(
        "http", std::string(32, 'c'), io.get_executor(), [&] { ++ended_new; }, kNow);
    auto d =
        registry->add("http", std::string(32, 'd'), io.get_executor(), [&] { ++ended_unknown; });
    RevocationList by_token;
    by_token.add(by_id(kId));
    EXPECT_EQ(registry->end_revoked(by_token), 1u);
    RevocationList cutoff;
    cutoff.add(before(kNow - 50));
    EXPECT_EQ(registry->end_revoked(cutoff), 2u);
    io.run();
    EXPECT_EQ(ended_id, 1);
    EXPECT_EQ(ended_old, 1);
    EXPECT_EQ(ended_new, 0);
    EXPECT_EQ(ended_unknown, 1) << "no known mint time: covered by a cutoff";
}

}  // namespace
}  // namespace cloakroom::runtime
