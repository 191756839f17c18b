// test_download_data.cpp — `slm download-data` and data/datasets.h: copying from the shared/data
// mirror (skipped when absent), an HTTP mirror served on 127.0.0.1 ($SLM_DATA_URL_BASE), verification
// failures that leave no destination file, and the offline error.
#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "scratchlm/data/corpus.h"
#include "scratchlm/data/datasets.h"
#include "scratchlm/io/download.h"
#include "scratchlm/util/error.h"
#include "test_util.h"

namespace slm::test {
namespace {

namespace fs = std::filesystem;

#define REQUIRE_MIRROR() \
  if (!fs::is_directory(shared_data_dir())) GTEST_SKIP() << "no shared data mirror at " << shared_data_dir()

std::string mirror_arg() { return " --mirror " + shell_quote(shared_data_dir()); }

// Sets an environment variable for the scope (run_slm's child inherits it).
struct EnvGuard {
  std::string name;
  EnvGuard(const std::string& n, const std::string& v) : name(n) { ::setenv(n.c_str(), v.c_str(), 1); }
  ~EnvGuard() { ::unsetenv(name.c_str()); }
};

// Regular files under `dir`, recursively (to spot leftovers such as temp files).
size_t count_files(const std::string& dir) {
  size_t n = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator(); ++it)
    n += it->is_regular_file() ? 1 : 0;
  return n;
}

void expect_same_file(const std::string& rel, const std::string& out_dir) {
  const std::string got = out_dir + "/" + rel;
  ASSERT_TRUE(fs::exists(got)) << got;
  EXPECT_EQ(sha256_file(got), sha256_file(shared_data_dir() + "/" + rel)) << rel;
}

TEST(DownloadData, RegistryPinsEveryFile) {
  for (const auto& d : datasets()) {
    EXPECT_FALSE(d.files.empty()) << d.name;
    for (const auto& f : d.files) {
      EXPECT_EQ(f.sha256.size(), 64u) << f.path;
      EXPECT_GT(f.size, 0u) << f.path;
    }
  }
  ASSERT_NE(find_dataset("sms-spam-book-split"), nullptr);
  EXPECT_TRUE(find_dataset("sms-spam-book-split")->mirror_only());
  EXPECT_FALSE(find_dataset("sms-spam")->mirror_only());
  EXPECT_EQ(find_dataset("nope"), nullptr);
}

TEST(DownloadData, RegistryMatchesTheMirror) {
  REQUIRE_MIRROR();
  for (const auto& d : datasets())
    for (const auto& f : d.files) {
      std::string p = shared_data_dir() + "/" + f.path;
      ASSERT_TRUE(fs::exists(p)) << p;
      EXPECT_EQ(fs::file_size(p), f.size) << p;
      EXPECT_EQ(sha256_file(p), f.sha256) << p;
    }
}

TEST(DownloadData, FromMirrorThenPresentThenForce) {
  REQUIRE_MIRROR();
  TempDir out;
  auto r = run_slm("download-data the-verdict tinyshakespeare instruction-data sms-spam" + mirror_arg() + " --out " +
                   shell_quote(out.path()));
  ASSERT_EQ(r.rc, 0) << r.err;
  for (const char* rel : {"the-verdict.txt", "tinyshakespeare.txt", "instruction-data.json",
                          "sms_spam/sms_spam_collection.zip", "sms_spam/SMSSpamCollection", "sms_spam/readme"})
    expect_same_file(rel, out.path());
  EXPECT_NE(r.out.find("extracted from sms_spam/sms_spam_collection.zip"), std::string::npos) << r.out;
  EXPECT_EQ(count_files(out.path()), 6u);  // no temp files left behind

  r = run_slm("download-data the-verdict sms-spam" + mirror_arg() + " --out " + shell_quote(out.path()));
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("the-verdict.txt: already present"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("all 4 files already present"), std::string::npos) << r.out;

  // --force fetches again, and replaces a damaged file.
  write_text(out.file("the-verdict.txt"), "damaged");
  r = run_slm("download-data the-verdict --force" + mirror_arg() + " --out " + shell_quote(out.path()));
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("copied from the mirror"), std::string::npos) << r.out;
  expect_same_file("the-verdict.txt", out.path());
  // Without --force a file that differs from the pinned sha256 is fetched again too.
  write_text(out.file("tinyshakespeare.txt"), "damaged");
  r = run_slm("download-data tinyshakespeare" + mirror_arg() + " --out " + shell_quote(out.path()));
  ASSERT_EQ(r.rc, 0) << r.err;
  expect_same_file("tinyshakespeare.txt", out.path());
}

TEST(DownloadData, BookSplitAndAllFromMirror) {
  REQUIRE_MIRROR();
  TempDir out;
  auto r = run_slm("download-data all --quiet" + mirror_arg() + " --out " + shell_quote(out.path()));
  ASSERT_EQ(r.rc, 0) << r.err;
  for (const char* rel : {"sms_spam/book_split/train.csv", "sms_spam/book_split/validation.csv",
                          "sms_spam/book_split/test.csv", "the-verdict.txt", "sms_spam/SMSSpamCollection"})
    expect_same_file(rel, out.path());
}

TEST(DownloadData, CorruptMirrorLeavesNoFile) {
  REQUIRE_MIRROR();
  TempDir mirror, out;
  std::string bytes = read_text(shared_data_dir() + "/the-verdict.txt");
  bytes[1000] ^= 0x20;
  write_text(mirror.file("the-verdict.txt"), bytes);
  auto r =
      run_slm("download-data the-verdict --mirror " + shell_quote(mirror.path()) + " --out " + shell_quote(out.path()));
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.err.find("sha256"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(out.file("the-verdict.txt")));
  EXPECT_EQ(count_files(out.path()), 0u);

  // A damaged zip in the mirror is refused before anything is extracted.
  fs::create_directories(mirror.path() + "/sms_spam");
  write_text(mirror.file("sms_spam/sms_spam_collection.zip"), "not a zip");
  r = run_slm("download-data sms-spam --mirror " + shell_quote(mirror.path()) + " --out " + shell_quote(out.path()));
  EXPECT_NE(r.rc, 0);
  EXPECT_FALSE(fs::exists(out.file("sms_spam/sms_spam_collection.zip")));
  EXPECT_FALSE(fs::exists(out.file("sms_spam/SMSSpamCollection")));
}

TEST(DownloadData, BadNamesAndMirrors) {
  TempDir out;
  auto r = run_slm("download-data the-verdict nope --out " + shell_quote(out.path()));
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("unknown data set 'nope'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("tinyshakespeare"), std::string::npos) << r.err;  // lists the names

  r = run_slm("download-data the-verdict --mirror " + shell_quote(out.file("no-such-dir")) + " --out " +
              shell_quote(out.path()));
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("does not exist"), std::string::npos) << r.err;

  r = run_slm("download-data sms-spam-book-split --out " + shell_quote(out.path()));
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("only available from a mirror"), std::string::npos) << r.err;

  TempDir empty_mirror;  // the mirror lacks the file
  r = run_slm("download-data the-verdict --mirror " + shell_quote(empty_mirror.path()) + " --out " +
              shell_quote(out.path()));
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("missing from the mirror"), std::string::npos) << r.err;
  EXPECT_EQ(count_files(out.path()), 0u);
}

TEST(DownloadData, OfflineIsAClearOneLineError) {
  TempDir out;
  EnvGuard env("SLM_DATA_URL_BASE", "http://127.0.0.1:1/");
  auto r = run_slm("download-data the-verdict --quiet --out " + shell_quote(out.path()));
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(r.err.rfind("slm: error: the-verdict: cannot reach 127.0.0.1", 0), 0u) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_EQ(count_files(out.path()), 0u);  // no partial file
  // Directories made for the file are removed again.
  r = run_slm("download-data sms-spam --quiet --out " + shell_quote(out.file("new")));
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("cannot reach"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(out.file("new")));
}

TEST(DownloadData, FromAnHttpMirror) {
  REQUIRE_MIRROR();
  httplib::Server svr;
  ASSERT_TRUE(svr.set_mount_point("/data", shared_data_dir()));
  int port = svr.bind_to_any_port("127.0.0.1");
  ASSERT_GT(port, 0);
  std::thread th([&] { svr.listen_after_bind(); });
  for (int i = 0; i < 500 && !svr.is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  TempDir out;
  {
    EnvGuard env("SLM_DATA_URL_BASE", "http://127.0.0.1:" + std::to_string(port) + "/data");
    auto r = run_slm("download-data the-verdict sms-spam sms-spam-book-split --quiet --out " + shell_quote(out.path()));
    EXPECT_EQ(r.rc, 0) << r.err;
  }
  svr.stop();
  th.join();
  for (const char* rel : {"the-verdict.txt", "sms_spam/sms_spam_collection.zip", "sms_spam/SMSSpamCollection",
                          "sms_spam/book_split/test.csv"})
    expect_same_file(rel, out.path());
}

TEST(DownloadData, CorpusNameFindsTheDownloadedFile) {
  REQUIRE_MIRROR();
  TempDir out;
  EXPECT_THROW(resolve_corpus_spec("the-verdict", out.path()), Error);
  auto r = run_slm("download-data the-verdict" + mirror_arg() + " --out " + shell_quote(out.path()));
  ASSERT_EQ(r.rc, 0) << r.err;
  auto paths = resolve_corpus_spec("the-verdict", out.path());
  ASSERT_EQ(paths.size(), 1u);
  EXPECT_EQ(fs::path(paths[0]), fs::path(out.path()) / "the-verdict.txt");
}

TEST(DownloadData, ExtractArchiveMember) {
  REQUIRE_MIRROR();
  std::string zip = shared_data_dir() + "/sms_spam/sms_spam_collection.zip";
  std::string bytes = extract_archive_member(zip, "SMSSpamCollection");
  EXPECT_EQ(sha256_bytes(bytes), "7d039a24a6083ed9ef0f806ebad56bbb976e3aeb8de05669173bfdc4996c239d");
  EXPECT_THROW(extract_archive_member(zip, "no-such-member"), Error);
  EXPECT_THROW(extract_archive_member(shared_data_dir() + "/the-verdict.txt", "x"), Error);
}

}  // namespace
}  // namespace slm::test
