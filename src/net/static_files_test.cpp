// Static files: types, ETags and 304s, and names that cannot leave the folder.
#include "net/static_files.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace insightd::net {
namespace {

Request get(std::string_view if_none_match = "") {
  Request req(http::verb::get, "/x", 11);
  if (!if_none_match.empty()) req.set(http::field::if_none_match, if_none_match);
  return req;
}

TEST(StaticFiles, ServesTypeBodyAndAnETagThenA304WhileUnchanged) {
  StaticFiles files;
  files.add("app.js", "console.log(1);");
  files.add("vendor/lib.css", "a{}");
  auto js = files.find("app.js");
  ASSERT_TRUE(js.has_value());
  EXPECT_EQ(js->content_type, "text/javascript; charset=utf-8");
  EXPECT_EQ(files.find("vendor/lib.css")->content_type, "text/css; charset=utf-8");

  Response first = file_response(get(), *js, "no-cache");
  EXPECT_EQ(first.result(), http::status::ok);
  EXPECT_EQ(first.body(), "console.log(1);");
  EXPECT_EQ(first[http::field::cache_control], "no-cache");
  const std::string etag(first[http::field::etag]);
  ASSERT_FALSE(etag.empty());
  EXPECT_EQ(etag.front(), '"');

  for (const std::string& header : {etag, "W/" + etag, "\"other\", " + etag, std::string("*")}) {
    Response again = file_response(get(header), *js, "no-cache");
    EXPECT_EQ(again.result(), http::status::not_modified) << header;
    EXPECT_TRUE(again.body().empty());
    EXPECT_EQ(again[http::field::etag], etag);
  }
  EXPECT_EQ(file_response(get("\"other\""), *js, "no-cache").result(), http::status::ok);

  // Another version of the file has another ETag.
  files.add("app.js", "console.log(2);");
  EXPECT_NE(files.find("app.js")->etag, etag);
}

TEST(StaticFiles, RefusesNamesThatCouldLeaveTheFolder) {
  for (const char* bad :
       {"", "/etc/passwd", "../x", "a/../../x", "a//b", "./a", "a/", "a\\b", "a b", "%2e%2e/x"}) {
    EXPECT_FALSE(safe_file_name(bad)) << bad;
  }
  for (const char* good : {"app.js", "vendor/uPlot.iife.min.js", "a-b_c.d"}) {
    EXPECT_TRUE(safe_file_name(good)) << good;
  }
}

TEST(StaticFiles, AFolderIsReadOnEveryRequestAndFallsBackToTheFilesHeld) {
  const auto dir =
      std::filesystem::temp_directory_path() /
      ("insightd-static-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()));
  std::filesystem::create_directories(dir / "sub");
  StaticFiles files = StaticFiles::from_directory(dir);
  files.add("held.js", "held");
  files.add("page.html", "built in");
  std::ofstream(dir / "page.html") << "from disk 1";
  EXPECT_EQ(files.find("page.html")->body, "from disk 1");
  std::ofstream(dir / "page.html") << "from disk 2";
  EXPECT_EQ(files.find("page.html")->body, "from disk 2");
  EXPECT_EQ(files.find("held.js")->body, "held");
  EXPECT_FALSE(files.find("sub").has_value());  // a folder is no file
  EXPECT_FALSE(files.find("missing.js").has_value());
  EXPECT_FALSE(files.find("../etc/passwd").has_value());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace insightd::net
