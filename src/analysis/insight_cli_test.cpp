// `insightd insight --from FILE.jsonl` through the real binary: planted files in
// a temporary folder, the built-in analyzer, and the OpenAI analyzer against a
// fake server in this process.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <boost/json/parse.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "analysis/testing/fake_openai_server.h"
#include "analysis/testing/planted_batches.h"

#ifndef INSIGHTD_BINARY
#error "INSIGHTD_BINARY must name the insightd binary"
#endif

namespace insightd::analysis {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using testing::FakeOpenAiServer;
using ::testing::HasSubstr;
using ::testing::Not;

const std::string kKey = "sk-cli-test-secret-42424242";

struct CliRun {
  int exit_code = -1;
  std::string out;
  std::string err;
};

class InsightCliTest : public ::testing::Test {
 protected:
  InsightCliTest() {
    std::string pattern = (fs::temp_directory_path() / "insightd-cli-XXXXXX").string();
    dir_ = mkdtemp(pattern.data());
  }
  ~InsightCliTest() override { fs::remove_all(dir_); }

  fs::path write(const std::string& name, const std::vector<NewEvent>& events,
                 const std::string& extra = "") {
    fs::path path = dir_ / name;
    std::ofstream out(path);
    for (const auto& e : events) out << planted::to_jsonl(e) << "\n";
    out << extra;
    return path;
  }

  // Runs insightd in the temporary folder (so no .env of the build tree is
  // read) with the OpenAI variables cleared, then `env` set.
  CliRun run(const std::string& args, const std::string& env = "") {
    const fs::path err_path = dir_ / "stderr.txt";
    const std::string command =
        "cd '" + dir_.string() + "' && env -u OPENAI_API_KEY -u OPENAI_BASE_URL -u OPENAI_MODEL " +
        env + " '" + INSIGHTD_BINARY + "' " + args + " 2>'" + err_path.string() + "'";
    CliRun r;
    FILE* pipe = popen(command.c_str(), "r");
    if (pipe == nullptr) return r;
    char buffer[4096];
    size_t n;
    while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) r.out.append(buffer, n);
    const int status = pclose(pipe);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    std::ifstream err(err_path);
    std::stringstream text;
    text << err.rdbuf();
    r.err = text.str();
    return r;
  }

  static json::object insight_of(const CliRun& r) {
    boost::system::error_code ec;
    json::value v = json::parse(r.out, ec);
    EXPECT_FALSE(ec) << "stdout is not JSON: " << r.out;
    return v.is_object() ? v.get_object() : json::object{};
  }

  fs::path dir_;
};

TEST_F(InsightCliTest, ACheckoutCollapseIsNamedWithItsNumbers) {
  const fs::path file = write("collapse.jsonl", planted::checkout_collapse());
  const CliRun r = run("insight --from '" + file.string() + "' --analyzer builtin");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json::object insight = insight_of(r);
  const std::string summary(insight.at("summary").as_string());
  EXPECT_THAT(summary,
              HasSubstr("checkout_start → purchase: 22 sessions reached checkout_start but "
                        "only 2 went on to purchase (90.9% drop-off)"));
  EXPECT_THAT(summary,
              HasSubstr("20 error-like events (20.0% of all events), mostly payment_failed"));
  bool funnel_pattern = false;
  for (const auto& p : insight.at("patterns").as_array()) {
    if (p.at("title") == "Funnel drop-off: checkout_start → purchase") {
      funnel_pattern = true;
      EXPECT_THAT(std::string(p.at("detail").as_string()),
                  HasSubstr("20 went to payment_failed next"));
    }
  }
  EXPECT_TRUE(funnel_pattern) << r.out;
  EXPECT_GE(insight.at("confidence").to_number<double>(), 0.85);
  EXPECT_EQ(insight.at("analyzer"), "builtin");
  EXPECT_TRUE(insight.at("model").is_null());
  EXPECT_EQ(insight.at("metrics").at("event_count"), 100);
  EXPECT_EQ(insight.at("metrics").at("funnel").at(3).at("drop_off"), json::value(0.9091));
}

TEST_F(InsightCliTest, FiveEventsGiveLowConfidence) {
  auto events = planted::checkout_collapse();
  events.resize(5);
  const fs::path file = write("tiny.jsonl", events);
  const CliRun r = run("insight --from '" + file.string() + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json::object insight = insight_of(r);
  EXPECT_LT(insight.at("confidence").to_number<double>(), 0.2);
  EXPECT_THAT(std::string(insight.at("summary").as_string()), HasSubstr("Only 5 events"));
  // Without OPENAI_API_KEY the built-in analyzer is the default.
  EXPECT_EQ(insight.at("analyzer"), "builtin");
}

TEST_F(InsightCliTest, ABadLineIsNamedByNumber) {
  const fs::path file = write("bad.jsonl", planted::page_views(2),
                              "\n{\"eventType\":\"bad type!\",\"userId\":\"u\"}\n");
  const CliRun r = run("insight --from '" + file.string() + "'");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("bad.jsonl:4: invalid_event_type:"));
  EXPECT_TRUE(r.out.empty()) << r.out;

  const fs::path not_json = write("notjson.jsonl", {}, "{\"eventType\":\n");
  const CliRun r2 = run("insight --from '" + not_json.string() + "'");
  EXPECT_EQ(r2.exit_code, 1);
  EXPECT_THAT(r2.err, HasSubstr("notjson.jsonl:1: invalid_json:"));
}

TEST_F(InsightCliTest, MissingAndEmptyFilesAreClearErrors) {
  const CliRun missing = run("insight --from '" + (dir_ / "nope.jsonl").string() + "'");
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.err, HasSubstr("cannot read"));
  EXPECT_THAT(missing.err, HasSubstr("nope.jsonl"));

  const fs::path empty = write("empty.jsonl", {}, "\n  \n");
  const CliRun r = run("insight --from '" + empty.string() + "'");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("holds no events"));
}

TEST_F(InsightCliTest, UsageErrorsExitTwo) {
  const fs::path file = write("ok.jsonl", planted::page_views(3));
  EXPECT_EQ(run("insight --from '" + file.string() + "' --analyzer magic").exit_code, 2);
  EXPECT_EQ(run("insight").exit_code, 2);
  const CliRun no_key = run("insight --from '" + file.string() + "' --analyzer openai");
  EXPECT_EQ(no_key.exit_code, 2);
  EXPECT_THAT(no_key.err, HasSubstr("OPENAI_API_KEY"));
  const CliRun help = run("insight --help");
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_THAT(help.out, HasSubstr("--from"));
  EXPECT_THAT(help.out, HasSubstr("--analyzer"));
}

TEST_F(InsightCliTest, TheOpenAiAnalyzerTalksToTheConfiguredServer) {
  FakeOpenAiServer server(kKey, "tiny-model");
  const fs::path file = write("collapse.jsonl", planted::checkout_collapse());
  const std::string env = "OPENAI_API_KEY=" + kKey + " OPENAI_BASE_URL=" + server.base_url() +
                          " OPENAI_MODEL=tiny-model";
  // With a key set, openai is the default.
  const CliRun r = run("insight --from '" + file.string() + "'", env);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json::object insight = insight_of(r);
  EXPECT_EQ(insight.at("analyzer"), "openai");
  EXPECT_EQ(insight.at("model"), "fake-model-2026");
  EXPECT_EQ(insight.at("tokens").at("prompt"), 1234);
  EXPECT_EQ(insight.at("metrics").at("event_count"), 100);
  EXPECT_THAT(server.problems(), ::testing::IsEmpty());

  server.answer(FakeOpenAiServer::Answer::kUnauthorized);
  const CliRun denied = run("insight --from '" + file.string() + "'", env);
  EXPECT_EQ(denied.exit_code, 1);
  EXPECT_THAT(denied.err, HasSubstr("the openai analyzer failed (auth, not retryable)"));
  EXPECT_THAT(denied.err + denied.out, Not(HasSubstr(kKey)));
  EXPECT_TRUE(denied.out.empty());

  server.answer(FakeOpenAiServer::Answer::kRateLimited);
  const CliRun limited = run("insight --from '" + file.string() + "'", env);
  EXPECT_EQ(limited.exit_code, 1);
  EXPECT_THAT(limited.err, HasSubstr("(rate_limited, retryable, retry after 7000 ms)"));

  server.answer(FakeOpenAiServer::Answer::kSchemaBreaking);
  const CliRun malformed = run("insight --from '" + file.string() + "'", env);
  EXPECT_EQ(malformed.exit_code, 1);
  EXPECT_THAT(malformed.err, HasSubstr("(invalid_reply, not retryable)"));
  EXPECT_TRUE(malformed.out.empty()) << "a malformed reply became an insight: " << malformed.out;

  // --analyzer builtin wins over a configured key.
  const CliRun builtin = run("insight --from '" + file.string() + "' --analyzer builtin", env);
  ASSERT_EQ(builtin.exit_code, 0) << builtin.err;
  EXPECT_EQ(insight_of(builtin).at("analyzer"), "builtin");
}

}  // namespace
}  // namespace insightd::analysis
