// The dashboard's pure parts (serve/dashboard.hpp): the URL with the token in its fragment, the
// query numbers the page sends, the JSON of its two views, the embedded files.
#include <gtest/gtest.h>

#include "serve/dashboard.hpp"

namespace cloakroom::serve {
namespace {

TEST(ServeDashboard, UrlCarriesTheTokenInTheFragmentOnly) {
    EXPECT_EQ(dashboard_url("127.0.0.1", 9464, "cladm_ab"),
              "http://127.0.0.1:9464/dashboard#token=cladm_ab");
    EXPECT_EQ(dashboard_url("localhost", 1, "t"), "http://localhost:1/dashboard#token=t");
    EXPECT_EQ(dashboard_url("::1", 9464, "t"), "http://[::1]:9464/dashboard#token=t");
    EXPECT_EQ(dashboard_url("[::1]", 9464, "t"), "http://[::1]:9464/dashboard#token=t");
    const std::string url = dashboard_url("127.0.0.1", 9464, "cladm_ab");
    EXPECT_LT(url.find('#'), url.find("cladm_ab"));
    EXPECT_EQ(url.find('?'), std::string::npos);
}

TEST(ServeDashboard, QueryNumbers) {
    EXPECT_EQ(query_number("/a?after=12&limit=5", "after"), 12u);
    EXPECT_EQ(query_number("/a?after=12&limit=5", "limit"), 5u);
    EXPECT_EQ(query_number("/a?xafter=1&after=2", "after"), 2u);
    EXPECT_EQ(query_number("/a?after=18446744073709551615", "after"), 18446744073709551615u);
    for (const char* target :
         {"/a", "/a?", "/a?after", "/a?after=", "/a?after=-1", "/a?after=1x", "/a?after=0x10",
          "/a?after= 1", "/a?after=18446744073709551616", "/a?limit=1"}) {
        EXPECT_FALSE(query_number(target, "after").has_value()) << target;
    }
}

TEST(ServeDashboard, RecordsAreTheAuditLinesWithTheirSequence) {
    runtime::RecentRecord recent;
    recent.seq = 7;
    recent.record.time_ms = 1'700'000'000'123;
    recent.record.token_id = "ab";
    recent.record.path = "/x/<img src=x onerror=alert(1)>/\xff";
    recent.record.decision = "allow";
    recent.record.status = 200;
    const auto json = recent_records_json({recent}, 9, 1000);
    EXPECT_EQ(json["last_seq"], 9u);
    EXPECT_EQ(json["capacity"], 1000u);
    ASSERT_EQ(json["records"].size(), 1u);
    const auto& one = json["records"][0];
    EXPECT_EQ(one["seq"], 7u);
    EXPECT_EQ(one["time"], "2023-11-14T22:13:20.123Z");
    EXPECT_EQ(one["token_id"], "ab");
    EXPECT_EQ(one["status"], 200u);
    // The path as the audit log has it (invalid UTF-8 replaced): markup is data, not HTML.
    EXPECT_EQ(one["path"], "/x/<img src=x onerror=alert(1)>/\xEF\xBF\xBD");
    // Exactly the audit line's fields, plus seq: nothing the log would not hold.
    std::size_t fields = 0;
    for (auto it = one.begin(); it != one.end(); ++it) ++fields;
    EXPECT_EQ(fields, 15u);
}

TEST(ServeDashboard, SeriesJsonNamesEveryDecision) {
    runtime::DecisionSeries series;
    series.end_second = 1'700'000'000;
    for (auto& counts : series.counts) counts.assign(runtime::DecisionSeries::kBuckets, 0);
    series.counts[0].back() = 3;
    const auto json = decision_series_json(series);
    EXPECT_EQ(json["bucket_seconds"], 1);
    EXPECT_EQ(json["end_ms"], 1'700'000'000'000);
    EXPECT_EQ(json["decisions"].size(), runtime::kSeriesDecisions.size());
    EXPECT_EQ(json["series"]["allow"].size(), runtime::DecisionSeries::kBuckets);
    EXPECT_EQ(json["series"]["allow"].back(), 3u);
    EXPECT_EQ(json["series"]["deny"].back(), 0u);
}

TEST(ServeDashboard, EmbeddedFilesAreServedByPathOnly) {
    for (const char* path :
         {"/dashboard", "/dashboard/", "/dashboard/app.js", "/dashboard/app.css"}) {
        auto asset = dashboard_asset(path);
        ASSERT_TRUE(asset.has_value()) << path;
        EXPECT_FALSE(asset->body.empty()) << path;
    }
    for (const char* path : {"/dashboard/index.html", "/dashboard/../app.js", "/dashboard/app.js?x",
                             "/dashboard//app.js", "/Dashboard", "/dashboard/APP.JS", "/app.js",
                             "/dashboard/app.js/"}) {
        EXPECT_FALSE(dashboard_asset(path).has_value()) << path;
    }
}

}  // namespace
}  // namespace cloakroom::serve
