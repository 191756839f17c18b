// test_charset.cpp — declared charsets -> UTF-8 (charset.h) and their use in email_to_text
// (chapter 6.2's e-mail preparation). Expected strings are the characters' UTF-8 bytes.
#include <gtest/gtest.h>

#include "scratchlm/data/charset.h"
#include "scratchlm/data/email.h"

using slm::email_to_text;
using slm::html_declared_charset;
using slm::to_utf8;

namespace {
const std::string kFFFD = "\xEF\xBF\xBD";
const std::string kNihao = "\xE4\xBD\xA0\xE5\xA5\xBD";  // 你好
}  // namespace

TEST(Charset, DeclaredCharsetsAreConverted) {
  EXPECT_EQ(to_utf8("caf\xe9", "ISO-8859-1"), "caf\xC3\xA9");
  // iso-8859-1 is read as windows-1252 (WHATWG): 0x93/0x94 are curly quotes, 0x80 the euro sign.
  EXPECT_EQ(to_utf8("\x93q\x94 \x80", "iso-8859-1"), "\xE2\x80\x9Cq\xE2\x80\x9D \xE2\x82\xAC");
  EXPECT_EQ(to_utf8("\xf0\xd2\xc9\xd7\xc5\xd4", "\"koi8-r\""), "\xD0\x9F\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82");
  EXPECT_EQ(to_utf8("\xc4\xe3\xba\xc3", "gb2312"), kNihao);
  EXPECT_EQ(to_utf8("\xa7\x41\xa6\x6e", "big5"), kNihao);
  EXPECT_EQ(to_utf8("\xbe\xc8\xb3\xe7", "ks_c_5601-1987"), "\xEC\x95\x88\xEB\x85\x95");  // 안녕
  EXPECT_EQ(to_utf8("\x1b$B$3$s$K$A$O\x1b(B", "iso-2022-jp"),
            "\xE3\x81\x93\xE3\x82\x93\xE3\x81\xAB\xE3\x81\xA1\xE3\x81\xAF");  // こんにちは
  EXPECT_EQ(to_utf8("\xcf\xf0\xe8", "windows-1251"), "\xD0\x9F\xD1\x80\xD0\xB8");
  EXPECT_EQ(to_utf8("plain text", "no-such-charset"), "plain text");
}

TEST(Charset, UndeclaredAndBrokenInput) {
  // Undeclared (or us-ascii, or unknown): valid UTF-8 stays, anything else is windows-1252.
  EXPECT_EQ(to_utf8("caf\xC3\xA9", ""), "caf\xC3\xA9");
  EXPECT_EQ(to_utf8("caf\xC3\xA9", "us-ascii"), "caf\xC3\xA9");
  EXPECT_EQ(to_utf8("caf\xe9", ""), "caf\xC3\xA9");
  EXPECT_EQ(to_utf8("caf\xe9", "unknown-8bit"), "caf\xC3\xA9");
  // Declared UTF-8 is trusted: its bad bytes become U+FFFD.
  EXPECT_EQ(to_utf8("a\xff"
                    "b",
                    "utf-8"),
            "a" + kFFFD + "b");
  // A byte invalid in its charset, or a character cut off at the end: U+FFFD, and it goes on.
  EXPECT_EQ(to_utf8("\xc4\xe3\xff\xba\xc3", "gb2312"), "\xE4\xBD\xA0" + kFFFD + "\xE5\xA5\xBD");
  EXPECT_EQ(to_utf8("\xc4\xe3\xc4", "gb2312"), "\xE4\xBD\xA0" + kFFFD);
}

TEST(Charset, HtmlMetaDeclarations) {
  EXPECT_EQ(html_declared_charset("<html><head><META http-equiv=\"Content-Type\" "
                                  "content=\"text/html; charset=Windows-1251\"></head>"),
            "windows-1251");
  EXPECT_EQ(html_declared_charset("<meta name=x><meta charset='koi8-r'>"), "koi8-r");
  EXPECT_EQ(html_declared_charset("<html><body>charset=koi8-r</body>"), "");
  EXPECT_EQ(html_declared_charset(std::string(5000, ' ') + "<meta charset=koi8-r>"), "");
}

TEST(Charset, EmailPartsAreReadInTheirCharsets) {
  std::string msg =
      "Subject: =?gb2312?B?xOO6ww==?= and caf\xe9\n"
      "Content-Type: multipart/mixed; boundary=b\n"
      "\n"
      "--b\n"
      "Content-Type: text/plain; charset=\"iso-8859-1\"\n"
      "Content-Transfer-Encoding: quoted-printable\n"
      "\n"
      "Tr=E8s bien\n"
      "--b\n"
      "Content-Type: text/html\n"
      "\n"
      "<html><head><meta http-equiv=Content-Type content=\"text/html; charset=koi8-r\"></head>"
      "<body>\xf0\xd2\xc9\xd7\xc5\xd4 &amp; &#233;</body></html>\n"
      "--b\n"
      "Content-Type: text/plain; charset=utf-8\n"
      "\n"
      "ok \xC3\xA9\n"
      "--b--\n";
  EXPECT_EQ(email_to_text(msg), "Subject: " + kNihao +
                                    " and caf\xC3\xA9\n\n"
                                    "Tr\xC3\xA8s bien\n\n"
                                    "\xD0\x9F\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82 & \xC3\xA9\n\n"
                                    "ok \xC3\xA9");
}
