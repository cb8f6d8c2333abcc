#include "app/config.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace insightd::app {
namespace {

ConfigSources from(std::map<std::string, std::string> env,
                   std::map<std::string, std::string> dotenv = {},
                   std::map<std::string, std::string> flags = {}) {
  ConfigSources s;
  s.flags = std::move(flags);
  s.dotenv = std::move(dotenv);
  s.env = [env = std::move(env)](const std::string& name) -> std::optional<std::string> {
    auto it = env.find(name);
    return it == env.end() ? std::nullopt : std::optional<std::string>(it->second);
  };
  return s;
}

TEST(Config, DefaultsMatchTheSpec) {
  auto c = load_config(from({}));
  ASSERT_TRUE(c.is_ok()) << c.error().message;
  EXPECT_EQ(c->database_kind, DatabaseKind::kSqlite);
  EXPECT_EQ(c->sqlite_path, "./data/insightd.db");
  EXPECT_EQ(c->port, 3000);
  EXPECT_EQ(c->host, "0.0.0.0");
  EXPECT_EQ(c->admin_id, "admin");
  EXPECT_EQ(c->worker_poll_interval_ms, 5000);
  EXPECT_EQ(c->worker_concurrency, 4);
  EXPECT_EQ(c->recovery_interval_ms, 60000);
  EXPECT_EQ(c->stuck_job_timeout_ms, 900000);
  EXPECT_EQ(c->batch_max_events, 100);
  EXPECT_EQ(c->batch_max_age_ms, 600000);
  EXPECT_EQ(c->max_attempts, 5);
  EXPECT_EQ(c->breaker_failure_threshold, 5);
  EXPECT_EQ(c->breaker_cooldown_ms, 600000);
  EXPECT_EQ(c->breaker_probe_timeout_ms, 120000);
  EXPECT_EQ(c->job_lease_ms, 30000);
  EXPECT_EQ(c->retry_backoff_base_ms, 10000);
  EXPECT_EQ(c->retry_backoff_max_ms, 600000);
  EXPECT_EQ(c->shutdown_grace_ms, 8000);
  EXPECT_EQ(c->archive_after_days, 30);
  EXPECT_EQ(c->kafka_client_id, "insightd");
  EXPECT_EQ(c->kafka_topic_prefix, "insightd.");
  EXPECT_FALSE(c->openai_api_key.has_value());
  EXPECT_EQ(c->openai_base_url, "https://api.openai.com/v1");
  EXPECT_FALSE(c->google_client_id.has_value());
  EXPECT_EQ(c->google_issuer, "https://accounts.google.com");
}

TEST(Config, FlagsBeatEnvironmentWhichBeatsDotenv) {
  auto c = load_config(from({{"PORT", "4000"}, {"BATCH_MAX_EVENTS", "7"}},
                            {{"PORT", "5000"}, {"BATCH_MAX_EVENTS", "8"}, {"MAX_ATTEMPTS", "9"}},
                            {{"PORT", "6000"}}));
  ASSERT_TRUE(c.is_ok()) << c.error().message;
  EXPECT_EQ(c->port, 6000);           // flag
  EXPECT_EQ(c->batch_max_events, 7);  // environment over .env
  EXPECT_EQ(c->max_attempts, 9);      // .env over default
}

TEST(Config, AliasesAreAccepted) {
  auto c = load_config(from({{"BETTER_AUTH_SECRET", std::string(40, 'k')},
                             {"NEXT_PUBLIC_APP_URL", "https://shop.example.com/"}}));
  ASSERT_TRUE(c.is_ok()) << c.error().message;
  EXPECT_EQ(c->auth_secret, std::string(40, 'k'));
  EXPECT_EQ(c->public_url, "https://shop.example.com");
  // The canonical name wins over the alias.
  auto d = load_config(
      from({{"AUTH_SECRET", std::string(32, 'a')}, {"BETTER_AUTH_SECRET", std::string(32, 'b')}}));
  EXPECT_EQ(d->auth_secret, std::string(32, 'a'));
}

TEST(Config, BadValuesNameTheVariableAndWhatIsAllowed) {
  struct Case {
    const char* name;
    const char* value;
    const char* expect;
  };
  const Case cases[] = {
      {"PORT", "abc", "PORT must be a whole number from 0 to 65535"},
      {"PORT", "70000", "PORT must be a whole number"},
      {"PORT", "-1", "PORT must be"},
      {"PORT", "", "PORT must be"},
      {"BATCH_MAX_EVENTS", "0", "BATCH_MAX_EVENTS must be a whole number from 1 to 100000"},
      {"BATCH_MAX_EVENTS", "12x", "BATCH_MAX_EVENTS must be"},
      {"DATABASE_URL", "mysql://x", "DATABASE_URL must be empty (SQLite"},
      {"DATABASE_URL", "sqlite://", "DATABASE_URL must be"},
      {"WORKER_CONCURRENCY", "0", "WORKER_CONCURRENCY must be"},
      {"JOB_LEASE_MS", "10", "JOB_LEASE_MS must be a whole number from 300"},
      {"RETRY_BACKOFF_BASE_MS", "-5", "RETRY_BACKOFF_BASE_MS must be"},
      {"BREAKER_PROBE_TIMEOUT_MS", "5", "BREAKER_PROBE_TIMEOUT_MS must be"},
      {"SHUTDOWN_GRACE_MS", "soon", "SHUTDOWN_GRACE_MS must be"},
      {"OPENAI_BASE_URL", "ftp://x", "OPENAI_BASE_URL must be an http"},
      {"REDIS_URL", "localhost:6379", "REDIS_URL must be"},
      {"REDIS_URL", "rediss://cache:6380", "TLS (rediss://) is not supported"},
      {"REDIS_URL", "redis://cache:6379/x", "database number"},
      {"REDIS_URL", "unix://relative", "absolute"},
      {"INGEST_RATE_LIMIT", "-1", "INGEST_RATE_LIMIT must be"},
      {"KAFKA_BROKERS", "localhost", "KAFKA_BROKERS must be a comma-separated list of host:port"},
      {"ADMIN_ID", "bad id", "ADMIN_ID must be"},
      {"ADMIN_EMAILS", "nobody", "ADMIN_EMAILS must be"},
      {"LOG_LEVEL", "loud", "LOG_LEVEL must be one of"},
      {"PUBLIC_URL", "example.com", "PUBLIC_URL must be"},
      {"GOOGLE_ISSUER", "accounts.google.com", "GOOGLE_ISSUER must be an https:// issuer URL"},
      {"GOOGLE_ISSUER", "https://idp.example.com/?x=1", "GOOGLE_ISSUER must be"},
  };
  for (const Case& k : cases) {
    auto c = load_config(from({{k.name, k.value}}));
    ASSERT_FALSE(c.is_ok()) << k.name << "=" << k.value;
    EXPECT_EQ(c.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(c.error().message.find(k.expect), std::string::npos)
        << k.name << "=" << k.value << ": " << c.error().message;
  }
  auto flagged = load_config(from({}, {}, {{"PORT", "x"}}));
  EXPECT_NE(flagged.error().message.find("--port must be"), std::string::npos);
  auto dotenv = load_config(from({}, {{"PORT", "x"}}));
  EXPECT_NE(dotenv.error().message.find("PORT (from .env) must be"), std::string::npos);
}

TEST(Config, SecretsAndPasswordsNeverAppearInMessages) {
  const std::string secret = "sk-very-secret-value";
  for (const char* name : {"ADMIN_PASSWORD", "AUTH_SECRET", "INGEST_KEYS"}) {
    auto c = load_config(from({{name, "short"}}));
    ASSERT_FALSE(c.is_ok()) << name;
    EXPECT_EQ(c.error().message.find("short"), std::string::npos) << c.error().message;
  }
  auto bad_url = load_config(from({{"DATABASE_URL", "mysql://root:" + secret + "@db/x"}}));
  ASSERT_FALSE(bad_url.is_ok());
  EXPECT_EQ(bad_url.error().message.find(secret), std::string::npos);
  auto pg = load_config(from({{"DATABASE_URL", "postgresql://app:" + secret + "@db:5432/x"}}));
  ASSERT_TRUE(pg.is_ok()) << pg.error().message;
  EXPECT_EQ(pg->database_kind, DatabaseKind::kPostgres);
  EXPECT_EQ(pg->database_description(), "postgresql://app:***@db:5432/x");
  auto qp = load_config(
      from({{"DATABASE_URL", "postgresql://db/x?password=" + secret + "&sslmode=disable"}}));
  ASSERT_TRUE(qp.is_ok());
  EXPECT_EQ(qp->database_description().find(secret), std::string::npos);
}

TEST(Config, GoogleSignInNeedsBothClientSettingsAdminEmailsAndPublicUrl) {
  auto message = [](std::map<std::string, std::string> env) {
    auto c = load_config(from(std::move(env)));
    return c.is_ok() ? std::string() : c.error().message;
  };
  const std::map<std::string, std::string> all = {
      {"GOOGLE_CLIENT_ID", "id.apps.googleusercontent.com"},
      {"GOOGLE_CLIENT_SECRET", "GOCSPX-s3cret"},
      {"ADMIN_EMAILS", "Ops@Example.com, b@example.com"},
      {"PUBLIC_URL", "https://analytics.example.com"}};
  auto c = load_config(from(all));
  ASSERT_TRUE(c.is_ok()) << c.error().message;
  EXPECT_EQ(c->google_client_id, "id.apps.googleusercontent.com");
  EXPECT_EQ(c->google_client_secret, "GOCSPX-s3cret");
  EXPECT_EQ(c->admin_emails, (std::vector<std::string>{"ops@example.com", "b@example.com"}));
  EXPECT_EQ(c->google_issuer, "https://accounts.google.com");

  for (const char* missing : {"GOOGLE_CLIENT_ID", "GOOGLE_CLIENT_SECRET"}) {
    auto env = all;
    env.erase(missing);
    const std::string m = message(env);
    EXPECT_NE(m.find("GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET must be set together"),
              std::string::npos)
        << missing << ": " << m;
    EXPECT_EQ(m.find("s3cret"), std::string::npos) << m;
  }
  auto no_emails = all;
  no_emails.erase("ADMIN_EMAILS");
  EXPECT_NE(message(no_emails).find("ADMIN_EMAILS must list"), std::string::npos);
  auto no_public_url = all;
  no_public_url.erase("PUBLIC_URL");
  EXPECT_NE(message(no_public_url).find("PUBLIC_URL must be set when GOOGLE_CLIENT_ID is set"),
            std::string::npos);

  // Another issuer (a test provider) is kept exactly as given.
  auto local = all;
  local["GOOGLE_ISSUER"] = "http://127.0.0.1:4455/";
  auto l = load_config(from(local));
  ASSERT_TRUE(l.is_ok()) << l.error().message;
  EXPECT_EQ(l->google_issuer, "http://127.0.0.1:4455/");
  // Without Google sign-in, ADMIN_EMAILS alone is allowed (and unused).
  EXPECT_TRUE(load_config(from({{"ADMIN_EMAILS", "a@example.com"}})).is_ok());
}

TEST(Config, KafkaEventsNeedBrokersAndRetentionIsInDays) {
  auto plain = load_config(from({}));
  ASSERT_TRUE(plain.is_ok());
  EXPECT_FALSE(plain->kafka_events);
  EXPECT_EQ(plain->outbox_retention_days, 7);
  auto events = load_config(from(
      {{"KAFKA_BROKERS", "k1:9092"}, {"KAFKA_EVENTS", "true"}, {"OUTBOX_RETENTION_DAYS", "2"}}));
  ASSERT_TRUE(events.is_ok()) << events.error().message;
  EXPECT_TRUE(events->kafka_events);
  EXPECT_EQ(events->outbox_retention_days, 2);
  auto alone = load_config(from({{"KAFKA_EVENTS", "true"}}));
  ASSERT_FALSE(alone.is_ok());
  EXPECT_NE(alone.error().message.find("KAFKA_EVENTS=true needs KAFKA_BROKERS"), std::string::npos);
  EXPECT_FALSE(load_config(from({{"KAFKA_EVENTS", "yes please"}})).is_ok());
  EXPECT_FALSE(load_config(from({{"OUTBOX_RETENTION_DAYS", "0"}})).is_ok());
}

TEST(Config, CrossFieldRules) {
  auto lists = load_config(from({{"ADMIN_EMAILS", "Ops@Example.com, b@example.com"},
                                 {"KAFKA_BROKERS", "k1:9092, k2:9093"},
                                 {"INGEST_KEYS", "0123456789abcdef,fedcba9876543210"}}));
  ASSERT_TRUE(lists.is_ok()) << lists.error().message;
  EXPECT_EQ(lists->admin_emails, (std::vector<std::string>{"ops@example.com", "b@example.com"}));
  EXPECT_EQ(lists->kafka_brokers.size(), 2u);
  EXPECT_EQ(lists->ingest_keys.size(), 2u);
  EXPECT_FALSE(
      load_config(from({{"RECOVERY_INTERVAL_MS", "100000"}, {"STUCK_JOB_TIMEOUT_MS", "5000"}}))
          .is_ok());
  auto backoff =
      load_config(from({{"RETRY_BACKOFF_BASE_MS", "5000"}, {"RETRY_BACKOFF_MAX_MS", "1000"}}));
  ASSERT_FALSE(backoff.is_ok());
  EXPECT_NE(backoff.error().message.find("RETRY_BACKOFF_BASE_MS must not exceed"),
            std::string::npos);
  auto sqlite = load_config(from({{"DATABASE_URL", "sqlite:///tmp/t.db"}}));
  ASSERT_TRUE(sqlite.is_ok());
  EXPECT_EQ(sqlite->sqlite_path, "/tmp/t.db");
}

TEST(Dotenv, ParsesTheCommonForms) {
  auto env = parse_dotenv(
      "# comment\n"
      "\n"
      "PORT=4000\n"
      "export HOST = 127.0.0.1 \n"
      "OPENAI_MODEL=\"gpt test\" # trailing comment\n"
      "ADMIN_ID='single quoted'\n"
      "KAFKA_CLIENT_ID=abc # comment\n"
      "MULTI=\"a\\nb\\\"c\"\n"
      "EMPTY=\n");
  ASSERT_TRUE(env.is_ok()) << env.error().message;
  EXPECT_EQ(env->at("PORT"), "4000");
  EXPECT_EQ(env->at("HOST"), "127.0.0.1");
  EXPECT_EQ(env->at("OPENAI_MODEL"), "gpt test");
  EXPECT_EQ(env->at("ADMIN_ID"), "single quoted");
  EXPECT_EQ(env->at("KAFKA_CLIENT_ID"), "abc");
  EXPECT_EQ(env->at("MULTI"), "a\nb\"c");
  EXPECT_EQ(env->at("EMPTY"), "");
}

TEST(Dotenv, MalformedLinesAreErrorsWithTheLineNumber) {
  auto no_eq = parse_dotenv("PORT=1\nJUSTTEXT\n");
  ASSERT_FALSE(no_eq.is_ok());
  EXPECT_NE(no_eq.error().message.find("line 2"), std::string::npos);
  EXPECT_FALSE(parse_dotenv("1BAD=x").is_ok());
  EXPECT_FALSE(parse_dotenv("KEY=\"unterminated").is_ok());
  EXPECT_FALSE(parse_dotenv("KEY=\"a\" junk").is_ok());
}

TEST(Config, RedactUrl) {
  EXPECT_EQ(redact_url("postgresql://u:p@h/db"), "postgresql://u:***@h/db");
  EXPECT_EQ(redact_url("postgresql://u@h/db"), "postgresql://u@h/db");
  EXPECT_EQ(redact_url("redis://:pw@h:6379/0"), "redis://:***@h:6379/0");
  EXPECT_EQ(redact_url("postgresql://h/db?x=a@b"), "postgresql://h/db?x=a@b");
}

TEST(Config, EnvExampleListsEveryVariable) {
  std::ifstream in(std::string(INSIGHTD_SOURCE_DIR) + "/.env.example");
  ASSERT_TRUE(in.good()) << ".env.example is missing";
  std::stringstream text;
  text << in.rdbuf();
  const std::string s = text.str();
  for (const VariableSpec& v : config_variables()) {
    const std::string name(v.name);
    const bool listed = s.find("\n# " + name + "=") != std::string::npos ||
                        s.find("\n" + name + "=") != std::string::npos;
    EXPECT_TRUE(listed) << name << " is not in .env.example";
  }
  // And the example itself loads.
  auto parsed = parse_dotenv(s);
  ASSERT_TRUE(parsed.is_ok()) << parsed.error().message;
  ConfigSources src;
  src.dotenv = *parsed;
  EXPECT_TRUE(load_config(src).is_ok());
}

}  // namespace
}  // namespace insightd::app
