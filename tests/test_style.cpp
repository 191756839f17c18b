// test_style.cpp — the code's shape, enforced: every C++ file of the tree (src/, tests/, bench/,
// tools/) is formatted as .clang-format says (llama.cpp's practice: one style, applied by the
// tool, checked in CI; scripts/setup installs clang-format). Fix a failure with
//   clang-format -i $(git ls-files '*.cpp' '*.h')
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "test_util.h"

namespace slm::test {
namespace {

bool have_clang_format() { return std::system("command -v clang-format >/dev/null 2>&1") == 0; }

TEST(Style, EverySourceFileMatchesClangFormat) {
  if (!have_clang_format()) GTEST_SKIP() << "clang-format is not installed (scripts/setup installs it)";
  TempDir t;
  // --dry-run -Werror: one "file:line:col: error: code should be clang-formatted" per difference.
  const std::string cmd = "cd " + shell_quote(source_dir()) +
                          " && find src tests bench tools \\( -name '*.cpp' -o -name '*.h' \\)"
                          " -not -path '*/node_modules/*' -print0 | sort -z"
                          " | xargs -0 clang-format --dry-run -Werror >" +
                          t.file("out") + " 2>" + t.file("err");
  const int rc = std::system(cmd.c_str());
  const std::string err = read_text(t.file("err"));
  EXPECT_EQ(rc, 0) << "files differ from .clang-format's style (run clang-format -i on them):\n" << err.substr(0, 4000);
}

// The check can fail: a badly formatted file is reported.
TEST(Style, ClangFormatReportsAMisformattedFile) {
  if (!have_clang_format()) GTEST_SKIP() << "clang-format is not installed (scripts/setup installs it)";
  TempDir t;
  write_text(t.file("bad.cpp"), "int  f( int x ){return x;}\n");
  // .clang-format is found from the file's directory upwards: give it the tree's explicitly.
  const std::string with_style = "cd " + shell_quote(source_dir()) +
                                 " && clang-format --style=file:.clang-format --dry-run -Werror " +
                                 shell_quote(t.file("bad.cpp")) + " 2>/dev/null";
  EXPECT_NE(std::system(with_style.c_str()), 0);
}

}  // namespace
}  // namespace slm::test
