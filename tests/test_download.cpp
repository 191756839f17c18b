// test_download.cpp — the libcurl downloader and `slm download`, against a fake Hugging Face hub:
// a cpp-httplib server on 127.0.0.1 (random free port) inside the test process.
#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "scratchlm/io/download.h"
#include "scratchlm/util/error.h"
#include "test_util.h"

namespace slm::test {
namespace {

namespace fs = std::filesystem;

std::string random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng() & 0xff);
  return s;
}

std::string sha_of(const std::string& bytes) {
  TempDir t;
  write_text(t.file("x"), bytes);
  return sha256_file(t.file("x"));
}

using slm::test::closed_port;

// Mimics huggingface.co: /openai-community/gpt2/resolve/main/<file> with Content-Length,
// X-Linked-Size and X-Linked-Etag ("<sha256>"); Range requests get 206 + Content-Range.
// `redirect` files answer with a 302 to /cdn/<file> carrying the X-Linked-* headers, as the hub
// does for LFS files.
class FakeHub {
 public:
  std::map<std::string, std::string> files;
  std::map<std::string, std::string> announced_sha;  // overrides the X-Linked-Etag of a file
  std::vector<std::string> redirect;                 // files served through a 302
  std::atomic<bool> ignore_range{false};             // answer Range requests with a full 200
  std::atomic<int> break_after{-1};                  // first full GET: send this many bytes, then drop

  FakeHub() {
    auto serve = [this](const httplib::Request& req, httplib::Response& res, bool cdn) {
      std::string name = req.matches[1];
      {
        std::lock_guard<std::mutex> lk(mu_);
        log_.push_back(req.method + " " + req.path +
                       (req.has_header("Range") ? " Range:" + req.get_header_value("Range") : ""));
      }
      auto it = files.find(name);
      if (it == files.end()) {
        res.status = 404;
        res.set_header("X-Error-Code", "EntryNotFound");
        res.set_header("X-Error-Message", "Entry not found");
        return;
      }
      const std::string& body = it->second;
      std::string sha = announced_sha.count(name) ? announced_sha[name] : sha_of(body);
      if (!cdn) {
        res.set_header("X-Linked-Size", std::to_string(body.size()));
        res.set_header("X-Linked-Etag", "\"" + sha + "\"");
        res.set_header("ETag", "\"" + sha + "\"");
        if (std::find(redirect.begin(), redirect.end(), name) != redirect.end()) {
          res.set_redirect("/cdn/" + name, 302);
          return;
        }
      } else {
        res.set_header("ETag", "\"cdn-etag-1\"");
      }
      if (ignore_range) const_cast<httplib::Request&>(req).ranges.clear();
      int cut = break_after.exchange(-1);
      if (cut >= 0 && req.method == "GET" && req.ranges.empty()) {
        // Announce the full length, send `cut` bytes, then drop the connection.
        res.set_content_provider(body.size(), "application/octet-stream",
                                 [body, cut](size_t offset, size_t, httplib::DataSink& sink) {
                                   if (offset >= static_cast<size_t>(cut)) return false;
                                   sink.write(body.data() + offset, static_cast<size_t>(cut) - offset);
                                   return true;
                                 });
        return;
      }
      res.set_content(body, "application/octet-stream");
    };
    svr_.Get(R"(/openai-community/gpt2/resolve/main/(.+))",
             [serve](const httplib::Request& q, httplib::Response& r) { serve(q, r, false); });
    svr_.Get(R"(/cdn/(.+))", [serve](const httplib::Request& q, httplib::Response& r) { serve(q, r, true); });
    port_ = svr_.bind_to_any_port("127.0.0.1");
    if (port_ <= 0) throw std::runtime_error("cannot bind the fake hub");
    thread_ = std::thread([this] { svr_.listen_after_bind(); });
    for (int i = 0; i < 500 && !svr_.is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ~FakeHub() {
    for (int i = 0; i < 500 && !svr_.is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    svr_.stop();
    thread_.join();
  }

  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::string url(const std::string& file) const { return endpoint() + "/openai-community/gpt2/resolve/main/" + file; }
  std::vector<std::string> log() {
    std::lock_guard<std::mutex> lk(mu_);
    return log_;
  }
  bool saw(const std::string& needle) {
    for (const auto& l : log())
      if (l.find(needle) != std::string::npos) return true;
    return false;
  }

 private:
  httplib::Server svr_;
  std::thread thread_;
  int port_ = 0;
  std::mutex mu_;
  std::vector<std::string> log_;
};

DownloadOptions quiet() {
  DownloadOptions o;
  o.quiet = true;
  o.connect_timeout_s = 5;
  return o;
}

// Sets an environment variable for the slm child processes while alive.
struct EnvGuard {
  std::string name;
  EnvGuard(const std::string& n, const std::string& v) : name(n) { ::setenv(n.c_str(), v.c_str(), 1); }
  ~EnvGuard() { ::unsetenv(name.c_str()); }
};

std::string error_of(const std::function<void()>& f, ErrorKind* kind = nullptr) {
  try {
    f();
  } catch (const Error& e) {
    if (kind) *kind = e.kind();
    return e.what();
  }
  return "";
}

TEST(Download, Sha256File) {
  TempDir t;
  write_text(t.file("abc"), "abc");
  write_text(t.file("empty"), "");
  EXPECT_EQ(sha256_file(t.file("abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_file(t.file("empty")), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  ErrorKind k{};
  EXPECT_NE(error_of([&] { sha256_file(t.file("missing")); }, &k).find("missing"), std::string::npos);
  EXPECT_EQ(k, ErrorKind::BadInput);
}

TEST(Download, EndpointFromEnvironment) {
  {
    EnvGuard g("SLM_HF_ENDPOINT", "http://127.0.0.1:9/");
    EXPECT_EQ(hf_endpoint(), "http://127.0.0.1:9");
    EXPECT_EQ(hf_resolve_url("openai-community/gpt2", "config.json"),
              "http://127.0.0.1:9/openai-community/gpt2/resolve/main/config.json");
  }
  EXPECT_EQ(hf_endpoint(), "https://huggingface.co");
}

TEST(Download, FullDownloadVerifiesAndRenames) {
  FakeHub hub;
  hub.files["model.safetensors"] = random_bytes(300'000, 1);
  TempDir t;
  std::string dest = t.file("sub/model.safetensors");
  DownloadResult r = download_file(hub.url("model.safetensors"), dest, quiet());
  EXPECT_EQ(read_text(dest), hub.files["model.safetensors"]);
  EXPECT_FALSE(fs::exists(dest + ".partial"));
  EXPECT_TRUE(r.sha256_verified);
  EXPECT_EQ(r.sha256, sha_of(hub.files["model.safetensors"]));
  EXPECT_EQ(r.size, 300'000u);
  EXPECT_EQ(r.resumed_from, 0u);
  EXPECT_FALSE(hub.saw("Range"));
}

TEST(Download, FollowsRedirectAndKeepsLinkedHeaders) {
  FakeHub hub;
  hub.files["model.safetensors"] = random_bytes(100'000, 2);
  hub.redirect = {"model.safetensors"};
  TempDir t;
  DownloadResult r = download_file(hub.url("model.safetensors"), t.file("m"), quiet());
  EXPECT_TRUE(r.sha256_verified);  // from the 302's X-Linked-Etag, not the CDN's ETag
  EXPECT_EQ(read_text(t.file("m")), hub.files["model.safetensors"]);
  EXPECT_TRUE(hub.saw("GET /cdn/model.safetensors"));

  RemoteInfo info = probe_url(hub.url("model.safetensors"));
  EXPECT_TRUE(info.reachable);
  EXPECT_EQ(info.status, 200);
  ASSERT_TRUE(info.size.has_value());
  EXPECT_EQ(*info.size, 100'000u);
  EXPECT_EQ(info.sha256, r.sha256);
}

TEST(Download, ResumesFromPartial) {
  FakeHub hub;
  std::string body = random_bytes(200'000, 3);
  hub.files["model.safetensors"] = body;
  TempDir t;
  std::string dest = t.file("model.safetensors");
  write_text(dest + ".partial", body.substr(0, 123'456));
  DownloadResult r = download_file(hub.url("model.safetensors"), dest, quiet());
  EXPECT_TRUE(hub.saw("Range:bytes=123456-"));
  EXPECT_EQ(r.resumed_from, 123'456u);
  EXPECT_EQ(r.transferred, 200'000u - 123'456u);
  EXPECT_TRUE(r.sha256_verified);
  EXPECT_EQ(read_text(dest), body);
  EXPECT_FALSE(fs::exists(dest + ".partial"));
}

TEST(Download, CorruptPartialIsDetectedAndRefetched) {
  FakeHub hub;
  std::string body = random_bytes(100'000, 11);
  hub.files["model.safetensors"] = body;
  TempDir t;
  std::string dest = t.file("model.safetensors");
  std::string bad = body.substr(0, 60'000);
  bad[10] ^= 1;
  write_text(dest + ".partial", bad);
  DownloadResult r = download_file(hub.url("model.safetensors"), dest, quiet());
  EXPECT_TRUE(hub.saw("Range:bytes=60000-"));
  EXPECT_EQ(r.resumed_from, 0u);  // the second, fresh attempt's result
  EXPECT_TRUE(r.sha256_verified);
  EXPECT_EQ(read_text(dest), body);
  EXPECT_FALSE(fs::exists(dest + ".partial"));
}

TEST(Download, ServerIgnoringRangeStillGivesCorrectFile) {
  FakeHub hub;
  std::string body = random_bytes(150'000, 4);
  hub.files["model.safetensors"] = body;
  hub.ignore_range = true;
  TempDir t;
  std::string dest = t.file("model.safetensors");
  write_text(dest + ".partial", body.substr(0, 50'000));
  DownloadResult r = download_file(hub.url("model.safetensors"), dest, quiet());
  EXPECT_TRUE(hub.saw("Range:bytes=50000-"));
  EXPECT_EQ(r.transferred, 150'000u);
  EXPECT_EQ(read_text(dest), body);
  EXPECT_FALSE(fs::exists(dest + ".partial"));
}

TEST(Download, CompletePartialIsVerifiedAndRenamed) {
  FakeHub hub;
  std::string body = random_bytes(80'000, 5);
  hub.files["vocab.json"] = body;
  TempDir t;
  std::string dest = t.file("vocab.json");
  write_text(dest + ".partial", body);  // a run that died between the last byte and the rename
  DownloadResult r = download_file(hub.url("vocab.json"), dest, quiet());
  EXPECT_EQ(r.transferred, 0u);
  EXPECT_TRUE(r.sha256_verified);
  EXPECT_EQ(read_text(dest), body);
  EXPECT_FALSE(fs::exists(dest + ".partial"));

  // With the size known up front no request is needed at all.
  DownloadOptions o = quiet();
  o.expected_size = body.size();
  o.expected_sha256 = sha_of(body);
  std::string dest3 = t.file("vocab3.json");
  write_text(dest3 + ".partial", body);
  size_t before = hub.log().size();
  r = download_file(hub.url("vocab.json"), dest3, o);
  EXPECT_EQ(hub.log().size(), before);
  EXPECT_EQ(read_text(dest3), body);
}

TEST(Download, OverlongPartialStartsOver) {
  FakeHub hub;
  std::string body = random_bytes(10'000, 6);
  hub.files["merges.txt"] = body;
  TempDir t;
  std::string dest = t.file("merges.txt");
  write_text(dest + ".partial", random_bytes(20'000, 7));
  download_file(hub.url("merges.txt"), dest, quiet());
  EXPECT_EQ(read_text(dest), body);
  EXPECT_FALSE(fs::exists(dest + ".partial"));
}

TEST(Download, RetriesAndResumesAfterADroppedConnection) {
  FakeHub hub;
  std::string body = random_bytes(400'000, 8);
  hub.files["model.safetensors"] = body;
  hub.break_after = 100'000;
  TempDir t;
  std::string dest = t.file("model.safetensors");
  DownloadResult r = download_file(hub.url("model.safetensors"), dest, quiet());
  EXPECT_EQ(read_text(dest), body);
  EXPECT_TRUE(hub.saw("Range:bytes="));
  EXPECT_TRUE(r.sha256_verified);
}

TEST(Download, ShaMismatchDeletesEverything) {
  FakeHub hub;
  hub.files["model.safetensors"] = random_bytes(50'000, 9);
  hub.announced_sha["model.safetensors"] = std::string(64, 'a');
  TempDir t;
  std::string dest = t.file("model.safetensors");
  ErrorKind k{};
  std::string err = error_of([&] { download_file(hub.url("model.safetensors"), dest, quiet()); }, &k);
  EXPECT_NE(err.find("sha256 mismatch"), std::string::npos) << err;
  EXPECT_NE(err.find(hub.url("model.safetensors")), std::string::npos) << err;
  EXPECT_EQ(k, ErrorKind::Internal);
  EXPECT_FALSE(fs::exists(dest));
  EXPECT_FALSE(fs::exists(dest + ".partial"));

  // An expected sha256 given by the caller wins over the server's.
  hub.announced_sha.clear();
  DownloadOptions o = quiet();
  o.expected_sha256 = std::string(64, 'b');
  err = error_of([&] { download_file(hub.url("model.safetensors"), dest, o); });
  EXPECT_NE(err.find("expected " + std::string(64, 'b')), std::string::npos) << err;
  EXPECT_FALSE(fs::exists(dest));
  EXPECT_FALSE(fs::exists(dest + ".partial"));
}

TEST(Download, NotFoundIsAClearError) {
  FakeHub hub;
  TempDir t;
  std::string dest = t.file("nope.bin");
  ErrorKind k{};
  std::string err = error_of([&] { download_file(hub.url("nope.bin"), dest, quiet()); }, &k);
  EXPECT_NE(err.find("not found"), std::string::npos) << err;
  EXPECT_NE(err.find("404"), std::string::npos) << err;
  EXPECT_NE(err.find(hub.url("nope.bin")), std::string::npos) << err;
  EXPECT_EQ(err.find('\n'), std::string::npos);
  EXPECT_EQ(k, ErrorKind::BadInput);
  EXPECT_FALSE(fs::exists(dest));
  EXPECT_FALSE(fs::exists(dest + ".partial"));
}

TEST(Download, ConnectionRefusedIsAClearError) {
  int port = closed_port();
  TempDir t;
  std::string dest = t.file("x/model.safetensors");
  std::string url =
      "http://127.0.0.1:" + std::to_string(port) + "/openai-community/gpt2/resolve/main/model.safetensors";
  ErrorKind k{};
  std::string err = error_of([&] { download_file(url, dest, quiet()); }, &k);
  EXPECT_NE(err.find("cannot reach 127.0.0.1"), std::string::npos) << err;
  EXPECT_NE(err.find("check your internet connection"), std::string::npos) << err;
  EXPECT_EQ(k, ErrorKind::Internal);
  EXPECT_FALSE(fs::exists(t.file("x")));  // nothing created

  RemoteInfo info = probe_url(url);
  EXPECT_FALSE(info.reachable);
  EXPECT_NE(info.error.find("cannot reach 127.0.0.1"), std::string::npos) << info.error;
}

// ------------------------------------------------------------------ slm download

void add_gpt2_files(FakeHub& hub) {
  hub.files["config.json"] = R"({"model_type": "gpt2", "n_layer": 12})";
  hub.files["model.safetensors"] = random_bytes(1'500'000, 10);
  hub.files["vocab.json"] = R"({"!": 0})";
  hub.files["merges.txt"] = "#version: 0.2\nĠ t\n";
  hub.redirect = {"model.safetensors"};
}

TEST(DownloadCli, DownloadsVerifiesAndSkips) {
  FakeHub hub;
  add_gpt2_files(hub);
  TempDir t;
  std::string out = t.file("models/gpt2");
  EnvGuard env("SLM_HF_ENDPOINT", hub.endpoint());
  CliResult r = run_slm("download gpt2 --out " + shell_quote(out));
  ASSERT_EQ(r.rc, 0) << r.err;
  for (const auto& [name, body] : hub.files) {
    EXPECT_EQ(read_text(out + "/" + name), body) << name;
    EXPECT_FALSE(fs::exists(out + "/" + name + ".partial")) << name;
  }
  EXPECT_NE(r.out.find("model.safetensors: downloaded"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("sha256 verified"), std::string::npos) << r.out;

  // Second run: everything present and verified against the hub's HEAD answers, nothing fetched.
  size_t gets = 0;
  for (const auto& l : hub.log()) gets += l.rfind("GET", 0) == 0;
  r = run_slm("download gpt2 --out " + shell_quote(out));
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("up to date"), std::string::npos) << r.out;
  size_t gets2 = 0;
  for (const auto& l : hub.log()) gets2 += l.rfind("GET", 0) == 0;
  EXPECT_EQ(gets2, gets);
  EXPECT_TRUE(hub.saw("HEAD /openai-community/gpt2/resolve/main/model.safetensors"));

  // A corrupted file of the right size is noticed (sha256) and fetched again.
  std::string bad = hub.files["model.safetensors"];
  bad[1000] ^= 1;
  write_text(out + "/model.safetensors", bad);
  r = run_slm("download gpt2 --out " + shell_quote(out) + " --quiet");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(read_text(out + "/model.safetensors"), hub.files["model.safetensors"]);
}

TEST(DownloadCli, OfflineWithAllFilesPresentIsFine) {
  TempDir t;
  std::string out = t.file("gpt2");
  fs::create_directories(out);
  for (const char* f : {"config.json", "model.safetensors", "vocab.json", "merges.txt"}) write_text(out + "/" + f, "x");
  EnvGuard env("SLM_HF_ENDPOINT", "http://127.0.0.1:" + std::to_string(closed_port()));
  CliResult r = run_slm("download gpt2 --out " + shell_quote(out));
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("not verified"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("cannot reach 127.0.0.1"), std::string::npos) << r.out;

  fs::remove(out + "/vocab.json");
  r = run_slm("download gpt2 --out " + shell_quote(out));
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("slm: error: cannot reach 127.0.0.1"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("vocab.json"), std::string::npos) << r.err;
}

TEST(DownloadCli, NotFoundOnServer) {
  FakeHub hub;  // serves nothing
  TempDir t;
  EnvGuard env("SLM_HF_ENDPOINT", hub.endpoint());
  CliResult r = run_slm("download gpt2 --out " + shell_quote(t.file("g")));
  EXPECT_EQ(r.rc, 2) << r.err;
  EXPECT_NE(r.err.find("not found"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("config.json"), std::string::npos) << r.err;
}

TEST(DownloadCli, UnknownModelIsBadInput) {
  CliResult r = run_slm("download bogus");
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("unknown model 'bogus'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("gpt2-medium"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace slm::test
