// test_serve_clients.cpp — real clients against `slm serve` (issue 17 §4): the official OpenAI Node
// SDK (tools/serve_openai_check.mjs) and the chat page in Debian's chromium driven by playwright-core
// (tools/serve_browser_check.mjs; screenshots under the build directory, serve_browser_screenshots/).
// Both npm packages are pinned in tools/serve_npm and installed by scripts/setup into data/npm/serve;
// the tests skip only when node, those packages or /usr/bin/chromium are absent.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "serve_live.h"
#include "test_util.h"

using namespace serve_test;
namespace fs = std::filesystem;

namespace {

std::string npm_dir() { return slm::test::data_dir() + "/npm/serve"; }

std::string missing(bool browser) {
  if (std::system("node --version >/dev/null 2>&1") != 0) return "node is not installed";
  if (!fs::exists(npm_dir() + "/node_modules/openai/package.json") ||
      !fs::exists(npm_dir() + "/node_modules/playwright-core/package.json"))
    return "data/npm/serve (openai, playwright-core) is missing: run scripts/setup";
  if (browser && !fs::exists("/usr/bin/chromium")) return "/usr/bin/chromium is missing: run scripts/setup";
  return "";
}

// Runs a node script; its output (stdout and stderr) and exit status.
std::pair<int, std::string> run_node(const std::string& script, const std::vector<std::string>& args,
                                     const std::string& out_file) {
  std::string cmd = "node " + slm::test::shell_quote(slm::test::source_dir() + "/tools/" + script);
  for (const auto& a : args) cmd.append(" ").append(slm::test::shell_quote(a));
  cmd.append(" >").append(slm::test::shell_quote(out_file)).append(" 2>&1");
  const int rc = std::system(cmd.c_str());
  return {WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, slm::test::read_text(out_file)};
}

}  // namespace

TEST(ServeClients, OpenAiNodeSdk) {
  if (const std::string why = missing(false); !why.empty()) GTEST_SKIP() << why;
  CliServer srv({"--api-key", "sdk-test-key", "--parallel", "1", "--max-queue", "0", "--max-tokens-limit", "4096"});
  ASSERT_GT(srv.port(), 0) << srv.log();
  auto [rc, out] = run_node("serve_openai_check.mjs", {npm_dir(), srv.url() + "/v1", "mini", "sdk-test-key"},
                            srv.dir() + "/node.txt");
  EXPECT_EQ(rc, 0) << out << "\nserver log:\n" << srv.log();
  EXPECT_HAS(out, "all checks passed");
}

TEST(ServeClients, ChatPageInChromium) {
  if (const std::string why = missing(true); !why.empty()) GTEST_SKIP() << why;
  CliServer srv({"--api-key", "page-key", "--parallel", "2", "--max-tokens-limit", "4096"});
  ASSERT_GT(srv.port(), 0) << srv.log();
  const std::string shots = fs::current_path().string() + "/build/serve_browser_screenshots";
  const std::string where = fs::exists(fs::path(SLM_BINARY).parent_path())
                                ? fs::path(SLM_BINARY).parent_path().string() + "/serve_browser_screenshots"
                                : shots;
  fs::remove_all(where);
  auto [rc, out] =
      run_node("serve_browser_check.mjs", {npm_dir(), srv.url(), "page-key", where}, srv.dir() + "/node.txt");
  EXPECT_EQ(rc, 0) << out << "\nserver log:\n" << srv.log();
  EXPECT_HAS(out, "all checks passed");
  EXPECT_TRUE(fs::exists(where + "/1-streaming.png")) << where;
}
