// test_cli_tokenize.cpp — `slm tokenize` / `slm detokenize` end to end: outputs, flags, exit codes
// and one-line errors for bad input.
#include <gtest/gtest.h>

#include "test_util.h"

using slm::test::run_slm;
using slm::test::shell_quote;

namespace {
int lines(const std::string& s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n;
}
}  // namespace

TEST(CliTokenize, PrintsIdsJsonAndCount) {
  auto r = run_slm("tokenize " + shell_quote("Hello, world!"));
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, "15496 11 995 0\n");
  r = run_slm("tokenize --json " + shell_quote("Hello, world!"));
  EXPECT_EQ(r.out, "[15496, 11, 995, 0]\n");
  r = run_slm("tokenize --count " + shell_quote("Hello, world!"));
  EXPECT_EQ(r.out, "4\n");
  r = run_slm("tokenize", "Hello, world!");  // stdin
  EXPECT_EQ(r.out, "15496 11 995 0\n");
}

// tiktoken encodes "" as []: no tokens is an answer, not an error, from an argument, stdin or a file.
TEST(CliTokenize, EmptyInputIsNoTokens) {
  slm::test::TempDir t;
  slm::test::write_text(t.file("empty.txt"), "");
  for (const std::string& src :
       {std::string("tokenize ''"), std::string("tokenize"), "tokenize --file " + t.file("empty.txt"),
        "tokenize --special=allow --file " + t.file("empty.txt")}) {
    auto r = run_slm(src, "");
    EXPECT_EQ(r.rc, 0) << src << ": " << r.err;
    EXPECT_EQ(r.out, "") << src;
    EXPECT_EQ(r.err, "") << src;
    r = run_slm(src + " --json", "");
    EXPECT_EQ(r.out, "[]\n") << src;
    r = run_slm(src + " --count", "");
    EXPECT_EQ(r.out, "0\n") << src;
  }
}

TEST(CliTokenize, SpecialTokenPolicy) {
  std::string t = shell_quote("a<|endoftext|>b");
  auto r = run_slm("tokenize " + t);
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("--special=allow"), std::string::npos);
  r = run_slm("tokenize --special=allow " + t);
  EXPECT_EQ(r.out, "64 50256 65\n");
  r = run_slm("tokenize --special=text " + t);
  EXPECT_EQ(r.out, "64 27 91 437 1659 5239 91 29 65\n");
  r = run_slm("tokenize --special=bogus " + t);
  EXPECT_EQ(r.rc, 2);
}

TEST(CliTokenize, InvalidUtf8AndLossy) {
  slm::test::TempDir t;
  slm::test::write_text(t.file("bad.txt"),
                        "ab\xff"
                        "c");
  auto r = run_slm("tokenize --file " + t.file("bad.txt"));
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("byte offset 2"), std::string::npos) << r.err;
  EXPECT_EQ(lines(r.err), 1);
  r = run_slm("tokenize --lossy --file " + t.file("bad.txt"));
  EXPECT_EQ(r.rc, 0);
  auto back = run_slm("detokenize " + r.out.substr(0, r.out.size() - 1));
  EXPECT_EQ(back.out,
            "ab\xEF\xBF\xBD"
            "c");
}

TEST(CliTokenize, BadInputErrors) {
  slm::test::TempDir t;
  auto r = run_slm("tokenize --file " + t.file("missing.txt"));
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("missing.txt"), std::string::npos);
  r = run_slm("tokenize --tokenizer " + t.file("nope") + " hi");
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("make setup"), std::string::npos);
  r = run_slm("detokenize 1 2 50257");
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("50257"), std::string::npos);
  r = run_slm("detokenize 12 x3");
  EXPECT_EQ(r.rc, 2);
  r = run_slm("detokenize", "  ");
  EXPECT_EQ(r.rc, 2);
  for (const auto& e : {r.err}) EXPECT_EQ(lines(e), 1) << e;
}

TEST(CliTokenize, DetokenizeFormatsAndBytes) {
  auto r = run_slm("detokenize", "[15496, 11, 995, 0]");
  EXPECT_EQ(r.out, "Hello, world!");
  // Id 188 is the single byte 0x00: detokenize writes raw bytes to a pipe.
  r = run_slm("detokenize 188");
  EXPECT_EQ(r.out, std::string(1, '\0'));
  slm::test::TempDir t;
  slm::test::write_text(t.file("ids.txt"), "15496 11\n995\t0\n");
  r = run_slm("detokenize --file " + t.file("ids.txt"));
  EXPECT_EQ(r.out, "Hello, world!");
}

TEST(CliTokenize, DetokenizeTakesSpaceSeparatedIdsOrOneJsonArray) {
  struct Case {
    std::string input;
    int rc;
    std::string fragment;  // of the output when rc is 0, else of the error
  };
  const std::vector<Case> cases = {
      {"15496 11 995 0", 0, "Hello, world!"},
      {" [15496, 11,995 , 0]\n", 0, "Hello, world!"},
      {"[15496, 11", 2, "malformed JSON array"},
      {"15496,,,,11", 2, "found ',' at byte offset 5"},
      {"15496, 11", 2, "found ','"},
      {"]15496 11[", 2, "found ']' at byte offset 0"},
      {"[15496] [11]", 2, "malformed JSON array"},
      {"[15496, -1]", 2, "'-1' is not a token id"},
      {"[15496, 1.5]", 2, "'1.5' is not a token id"},
      {"[\"15496\"]", 2, "is not a token id"},
      {"{\"a\": 1}", 2, "found '{'"},
      {"15496 4294967296", 2, "is too large"},
  };
  for (const auto& c : cases) {
    auto r = run_slm("detokenize", c.input);
    EXPECT_EQ(r.rc, c.rc) << c.input << "\n" << r.err;
    EXPECT_HAS(c.rc == 0 ? r.out : r.err, c.fragment);
    if (c.rc) {
      EXPECT_EQ(lines(r.err), 1) << r.err;
    }
  }
}

TEST(CliTokenize, HelpListsEveryOption) {
  auto r = run_slm("tokenize --help");
  EXPECT_EQ(r.rc, 0);
  for (const char* opt : {"--tokenizer", "--special", "--json", "--count", "--lossy", "--file", "--threads"})
    EXPECT_NE(r.out.find(opt), std::string::npos) << opt;
  r = run_slm("--help");
  EXPECT_EQ(r.rc, 0);
  for (const char* cmd : {"tokenize", "detokenize", "train-tokenizer"})
    EXPECT_NE(r.out.find(cmd), std::string::npos) << cmd;
  r = run_slm("no-such-command");
  EXPECT_NE(r.rc, 0);
}

// `--file` with `--special=text` streams the file (bounded memory); the output is the same as the
// whole-input path's (stdin), plain, --json and --count.
TEST(CliTokenize, StreamedFileEqualsWholeInput) {
  slm::test::TempDir t;
  std::string text =
      "It's Café 中文 😀 <|endoftext|>\n\n  " + std::string(5000, 'a') + " " + std::string(3000, '7') + " end\n";
  slm::test::write_text(t.file("in.txt"), text);
  for (const char* opt : {"", " --json", " --count"}) {
    auto streamed = run_slm(std::string("tokenize --special=text") + opt + " --file " + t.file("in.txt"));
    auto whole = run_slm(std::string("tokenize --special=text") + opt, text);
    EXPECT_EQ(streamed.rc, 0) << streamed.err;
    EXPECT_EQ(streamed.out, whole.out) << opt;
  }
}
