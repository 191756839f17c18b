// test_labeled_data.cpp — labeled data for classification finetuning (chapter 6.2–6.3): the SMS
// Spam Collection read as pandas reads it, CSV/TSV/JSON(L), the SpamAssassin corpus through
// email_to_text, the book's balancing, split and CSV files.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <map>
#include <set>

#include "scratchlm/data/csv.h"
#include "scratchlm/data/email.h"
#include "scratchlm/data/labeled_data.h"
#include "scratchlm/tokenizer/utf8.h"
#include "scratchlm/util/error.h"
#include "test_util.h"

namespace fs = std::filesystem;
using namespace slm;
using slm::test::TempDir;
using slm::test::write_text;

namespace {

using slm::test::error_of;

std::map<std::string, size_t> count_labels(const std::vector<LabeledExample>& rows) {
  std::map<std::string, size_t> m;
  for (const auto& r : rows) ++m[r.label];
  return m;
}

bool same_rows(const std::vector<LabeledExample>& a, const std::vector<LabeledExample>& b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](const LabeledExample& x, const LabeledExample& y) {
    return x.text == y.text && x.label == y.label;
  });
}

std::string sms_path() { return slm::test::shared_data_dir() + "/sms_spam/SMSSpamCollection"; }
std::string book_split(const std::string& name) {
  return slm::test::shared_data_dir() + "/sms_spam/book_split/" + name;
}

}  // namespace

// ------------------------------------------------------------------ SMS Spam Collection

// Expected rows checked against pandas 1.5.3: pd.read_csv(path, sep="\t", header=None).
TEST(ClassDataSms, QuoteRulesLikePandas) {
  TempDir dir;
  std::string path = dir.file("SMSSpamCollection");
  write_text(path,
             "ham\tplain text\n"
             "ham\t\"quoted with \"\"inner\"\" quotes\"\n"
             "spam\tmiddle \"quote\" stays\n"
             "\n"
             "ham\t\"unbalanced start\n"
             "spam\tswallowed line\n"
             "ham\tends here\" tail\n"
             "ham\t\"quoted\" then more\n"
             "   \n"
             "spam\tlast line");
  auto rows = load_labeled(path);
  std::vector<LabeledExample> want = {
      {"plain text", "ham"},
      {"quoted with \"inner\" quotes", "ham"},
      {"middle \"quote\" stays", "spam"},
      {"unbalanced start\nspam\tswallowed line\nham\tends here tail", "ham"},
      {"quoted then more", "ham"},
      {"last line", "spam"},
  };
  ASSERT_EQ(rows.size(), want.size());
  for (size_t k = 0; k < want.size(); ++k) {
    EXPECT_EQ(rows[k].text, want[k].text) << k;
    EXPECT_EQ(rows[k].label, want[k].label) << k;
  }
  // The same file under another name needs the format.
  std::string other = dir.file("sms.txt");
  fs::copy_file(path, other);
  EXPECT_HAS(error_of([&] { load_labeled(other); }), "format");
  LoadOptions o;
  o.format = "sms";
  EXPECT_TRUE(same_rows(load_labeled(other, o), rows));
}

TEST(ClassDataSms, RealCollectionGivesTheBookCounts) {
  if (!fs::exists(sms_path())) GTEST_SKIP() << "no " << sms_path();
  auto rows = load_labeled(sms_path());
  ASSERT_EQ(rows.size(), 5572u);  // 5,574 lines; the quote on line 5,082 swallows two
  auto counts = count_labels(rows);
  EXPECT_EQ(counts["ham"], 4825u);
  EXPECT_EQ(counts["spam"], 747u);
  EXPECT_EQ(label_set(rows), (std::vector<std::string>{"ham", "spam"}));
  // Line 617: `"Happy valentines day" I know ...` loses its quotes, as in pandas.
  EXPECT_EQ(rows[616].text.rfind("Happy valentines day I know its early", 0), 0u);
  // Row 5,082 holds lines 5,082-5,084; the quote opening line 5,084's text is dropped, its last one kept.
  const std::string& swallowed = rows[5081].text;
  EXPECT_EQ(swallowed.rfind("Keep ur problems in ur heart", 0), 0u);
  EXPECT_HAS(swallowed, "SD..\nham\tYeah, give me a call if you've got a minute\nham\tHI BABE UAWAKE?");
  EXPECT_EQ(swallowed.substr(swallowed.size() - 9), "L CALL U\"");
  EXPECT_EQ(rows[5082].text.rfind("Amazing : If you rearrange", 0), 0u);
  for (const auto& r : rows) EXPECT_EQ(utf8_find_invalid(r.text), std::string::npos);
}

TEST(ClassDataSms, BuiltinNameUsesTheDataDir) {
  TempDir dir;
  LoadOptions o;
  o.data_dir = dir.path();
  EXPECT_HAS(error_of([&] { load_labeled("sms-spam", o); }), "slm download-data sms-spam");
  EXPECT_HAS(error_of([&] { load_labeled("spam-assassin", o); }), "spam-assassin");
  fs::create_directories(dir.file("sms_spam"));
  write_text(dir.file("sms_spam/SMSSpamCollection"), "ham\thello\nspam\tWIN now\n");
  auto rows = load_labeled("sms-spam", o);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[1].label, "spam");
}

// ------------------------------------------------------------------ CSV / TSV / JSON

TEST(ClassDataCsv, BookSplitFiles) {
  if (!fs::exists(book_split("train.csv"))) GTEST_SKIP() << "no " << book_split("train.csv");
  struct Want {
    const char* file;
    size_t n, zeros, ones;
  };
  for (const Want& w :
       {Want{"train.csv", 1045, 528, 517}, Want{"validation.csv", 149, 70, 79}, Want{"test.csv", 300, 149, 151}}) {
    auto rows = load_labeled(book_split(w.file));
    ASSERT_EQ(rows.size(), w.n) << w.file;
    auto counts = count_labels(rows);
    EXPECT_EQ(counts["0"], w.zeros) << w.file;
    EXPECT_EQ(counts["1"], w.ones) << w.file;
    EXPECT_EQ(label_set(rows), (std::vector<std::string>{"0", "1"}));
    for (const auto& r : rows) EXPECT_EQ(r.text.find('\r'), std::string::npos);
  }
  // The files have CRLF line ends; the same bytes with LF read the same.
  TempDir dir;
  std::string crlf = slm::test::read_text(book_split("train.csv")), lf;
  ASSERT_NE(crlf.find("\r\n"), std::string::npos);
  for (char c : crlf)
    if (c != '\r') lf.push_back(c);
  write_text(dir.file("train_lf.csv"), lf);
  EXPECT_TRUE(same_rows(load_labeled(dir.file("train_lf.csv")), load_labeled(book_split("train.csv"))));
}

TEST(ClassDataCsv, WriteAndReadBackRfc4180) {
  std::vector<LabeledExample> rows = {
      {"plain", "ham"},
      {"a, comma", "spam"},
      {"say \"hi\"", "ham"},
      {"two\nlines", "spam"},
      {"crlf\r\ninside", "ham"},
      {" padded ", "ham"},
      {"\"starts with a quote", "spam"},
      {"tab\tinside", "spam"},
  };
  TempDir dir;
  std::string path = dir.file("out.csv");
  write_labeled_csv(path, rows);
  EXPECT_EQ(slm::test::read_text(path),
            "Label,Text\n"
            "ham,plain\n"
            "spam,\"a, comma\"\n"
            "ham,\"say \"\"hi\"\"\"\n"
            "spam,\"two\nlines\"\n"
            "ham,\"crlf\r\ninside\"\n"
            "ham,\" padded \"\n"
            "spam,\"\"\"starts with a quote\"\n"
            "spam,tab\tinside\n");
  EXPECT_TRUE(same_rows(load_labeled(path), rows));
  EXPECT_EQ(csv_quote_field("x\ty", '\t'), "\"x\ty\"");
  EXPECT_EQ(format_csv_row({"a", "b,c"}), "a,\"b,c\"\n");
}

TEST(ClassDataCsv, TsvJsonlJsonWithCustomColumnsAndThreeClasses) {
  TempDir dir;
  write_text(dir.file("d.tsv"),
             "id\tsentence\tcategory\n"
             "1\tthe sky is blue\tfact\n"
             "2\t\"I think, therefore\"\topinion\n"
             "3\twhat time is it?\tquestion\n");
  write_text(dir.file("d.jsonl"),
             "{\"sentence\": \"the sky is blue\", \"category\": 0}\n"
             "\n"
             "{\"sentence\": \"I think, therefore\", \"category\": \"1\", \"extra\": true}\n"
             "{\"Sentence\": \"what time is it?\", \"Category\": 2}\n");
  write_text(dir.file("d.json"),
             "[{\"text\": \"the sky is blue\", \"label\": 10},"
             " {\"text\": \"I think, therefore\", \"label\": -1},"
             " {\"text\": \"what time is it?\", \"label\": \"q\"}]");
  LoadOptions o;
  o.text_column = "sentence";
  o.label_column = "category";
  auto tsv = load_labeled(dir.file("d.tsv"), o);
  ASSERT_EQ(tsv.size(), 3u);
  EXPECT_EQ(tsv[1].text, "I think, therefore");
  EXPECT_EQ(label_set(tsv), (std::vector<std::string>{"fact", "opinion", "question"}));
  auto jsonl = load_labeled(dir.file("d.jsonl"), o);  // case-insensitive fallback for the last line
  ASSERT_EQ(jsonl.size(), 3u);
  EXPECT_EQ(label_set(jsonl), (std::vector<std::string>{"0", "1", "2"}));
  EXPECT_EQ(jsonl[2].text, "what time is it?");
  auto json = load_labeled(dir.file("d.json"));  // defaults Text/Label match text/label
  ASSERT_EQ(json.size(), 3u);
  EXPECT_EQ(label_set(json), (std::vector<std::string>{"-1", "10", "q"}));
  // An explicit format beats the extension.
  fs::copy_file(dir.file("d.tsv"), dir.file("d.data"));
  o.format = "tsv";
  EXPECT_TRUE(same_rows(load_labeled(dir.file("d.data"), o), tsv));
}

TEST(ClassDataCsv, InvalidUtf8BecomesReplacementCharacter) {
  TempDir dir;
  write_text(dir.file("bad.csv"), "Text,Label\ncaf\xe9 au lait,ham\n\xEF\xBB\xBF ok,spam\n");
  auto rows = load_labeled(dir.file("bad.csv"));
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].text, "caf\xEF\xBF\xBD au lait");
  EXPECT_EQ(utf8_find_invalid(rows[1].text), std::string::npos);
  write_text(dir.file("bad.jsonl"), "{\"Text\": \"x\xff y\", \"Label\": \"a\"}\n");
  EXPECT_EQ(load_labeled(dir.file("bad.jsonl"))[0].text, "x\xEF\xBF\xBD y");
}

TEST(ClassDataCsv, ParserMatchesPandasOnEdgeCases) {
  auto fields = [](std::string_view s, char d = ',') {
    std::vector<std::vector<std::string>> out;
    for (auto& r : parse_delimited(s, d, "x")) out.push_back(r.fields);
    return out;
  };
  using V = std::vector<std::vector<std::string>>;
  EXPECT_EQ(fields("a,b\r\nc,d\r\n"), (V{{"a", "b"}, {"c", "d"}}));
  EXPECT_EQ(fields("\xEF\xBB\xBFh1,h2\n\n  \nx,\n"), (V{{"h1", "h2"}, {"x", ""}}));
  EXPECT_EQ(fields("\"a\nb\",\"c\"\"d\"\n"), (V{{"a\nb", "c\"d"}}));
  EXPECT_EQ(fields("\"ab\"cd,e\"f\n"), (V{{"abcd", "e\"f"}}));
  EXPECT_EQ(fields("a,b"), (V{{"a", "b"}}));
  auto recs = parse_delimited("h\n\n\"x\ny\"\nz\n", ',', "x");
  ASSERT_EQ(recs.size(), 3u);
  EXPECT_EQ(recs[1].line, 3u);
  EXPECT_EQ(recs[2].line, 5u);
}

// ------------------------------------------------------------------ balance and split

TEST(ClassDataSplit, BalanceAndSplitGiveTheBookSizes) {
  std::vector<LabeledExample> rows;
  for (int k = 0; k < 4825 + 747; ++k)
    rows.push_back({"message " + std::to_string(k), k % 7 == 3 && k / 7 < 747 ? "spam" : "ham"});
  auto counts = count_labels(rows);
  ASSERT_EQ(counts["spam"], 747u);
  ASSERT_EQ(counts["ham"], 4825u);
  auto balanced = balance_undersample(rows, 123);
  ASSERT_EQ(balanced.size(), 1494u);
  auto bc = count_labels(balanced);
  EXPECT_EQ(bc["ham"], 747u);
  EXPECT_EQ(bc["spam"], 747u);
  std::set<std::string> texts;
  for (const auto& r : balanced) texts.insert(r.text);
  EXPECT_EQ(texts.size(), 1494u);  // no row twice
  EXPECT_TRUE(same_rows(balance_undersample(rows, 123), balanced));
  EXPECT_FALSE(same_rows(balance_undersample(rows, 124), balanced));
  // left_out: exactly the other 4,078 ham rows, in file order; asking for them changes nothing
  std::vector<LabeledExample> left_out = {{"stale", "x"}};
  EXPECT_TRUE(same_rows(balance_undersample(rows, 123, &left_out), balanced));
  ASSERT_EQ(left_out.size(), 4825u - 747u);
  std::vector<LabeledExample> expected_left_out;
  for (const auto& r : rows)
    if (!texts.count(r.text)) expected_left_out.push_back(r);
  EXPECT_TRUE(same_rows(left_out, expected_left_out));
  EXPECT_EQ(count_labels(left_out)["spam"], 0u);

  auto split = split_labeled(balanced, 0.7, 0.1, 123);
  EXPECT_EQ(split.train.size(), 1045u);
  EXPECT_EQ(split.val.size(), 149u);
  EXPECT_EQ(split.test.size(), 300u);
  auto again = split_labeled(balanced, 0.7, 0.1, 123);
  EXPECT_TRUE(same_rows(again.train, split.train) && same_rows(again.test, split.test));
  auto other = split_labeled(balanced, 0.7, 0.1, 7);
  EXPECT_FALSE(same_rows(other.train, split.train));
  auto ordered = split_labeled(balanced, 0.7, 0.1, 123, false);
  EXPECT_TRUE(same_rows(ordered.train, std::vector<LabeledExample>(balanced.begin(), balanced.begin() + 1045)));
  std::set<std::string> all;
  for (const auto* part : {&split.train, &split.val, &split.test})
    for (const auto& r : *part) all.insert(r.text);
  EXPECT_EQ(all, texts);
}

TEST(ClassDataSplit, EdgeCasesAndErrors) {
  std::vector<LabeledExample> rows = {{"a", "x"}, {"b", "x"}, {"c", "y"}};
  EXPECT_TRUE(balance_undersample({}, 1).empty());
  auto one_class = balance_undersample({{"a", "x"}, {"b", "x"}}, 1);
  EXPECT_EQ(one_class.size(), 2u);
  EXPECT_EQ(balance_undersample(rows, 5).size(), 2u);
  std::vector<LabeledExample> left_out;
  auto kept = balance_undersample(rows, 5, &left_out);
  ASSERT_EQ(left_out.size(), 1u);  // one of the two x rows
  EXPECT_EQ(left_out[0].label, "x");
  EXPECT_TRUE(left_out[0].text != kept[0].text && left_out[0].text != kept[1].text);
  balance_undersample({{"a", "x"}, {"c", "y"}}, 5, &left_out);
  EXPECT_TRUE(left_out.empty());  // already balanced: nothing left out
  auto s = split_labeled(rows, 1.0, 0.0);
  EXPECT_EQ(s.train.size(), 3u);
  EXPECT_TRUE(s.val.empty() && s.test.empty());
  EXPECT_HAS(error_of([&] { split_labeled(rows, 0.8, 0.3); }), "more than 1");
  EXPECT_HAS(error_of([&] { split_labeled(rows, -0.1, 0.1); }), "non-negative");
}

// ------------------------------------------------------------------ e-mail

TEST(ClassDataEmail, HeadersDroppedAndQuotedPrintableDecoded) {
  std::string msg =
      "From someone@example.com  Mon Aug 26 15:49:00 2002\n"
      "Return-Path: <x@example.com>\n"
      "Received: from a\n"
      "\tby b\n"
      "Subject: =?iso-8859-1?Q?Caf=E9_=3D_good?=\n"
      " =?utf-8?B?IOKclA==?= tail\n"
      "Content-Type: text/plain\n"
      "Content-Transfer-Encoding: quoted-printable\n"
      "\n"
      "A long line that is wrapped=\n"
      " softly, with =3D signs and caf=C3=A9.\n"
      "A stray = stays.\n";
  std::string text = email_to_text(msg);
  EXPECT_EQ(text,
            "Subject: Caf\xC3\xA9 = good \xE2\x9C\x94 tail\n\n"
            "A long line that is wrapped softly, with = signs and caf\xC3\xA9.\n"
            "A stray = stays.");
  EXPECT_EQ(text.find("Received"), std::string::npos);
  EXPECT_EQ(decode_quoted_printable("a=\r\nb=41=4a=\n"), "abAJ");
  EXPECT_EQ(decode_header_words("=?utf-8?q?a_b?= =?utf-8?q?c?= d =?x?Q?e?="), "a bc d e");
}

TEST(ClassDataEmail, MultipartAlternativePrefersPlainTextAndDecodesBase64) {
  std::string msg =
      "Subject: offer\n"
      "Content-Type: multipart/mixed; boundary=\"outer\"\n"
      "\n"
      "preamble, ignored\n"
      "--outer\n"
      "Content-Type: multipart/alternative;\n"
      "\tboundary=inner\n"
      "\n"
      "--inner\n"
      "Content-Type: text/html\n"
      "\n"
      "<p>HTML version</p>\n"
      "--inner\n"
      "Content-Type: text/plain; charset=utf-8\n"
      "Content-Transfer-Encoding: base64\n"
      "\n"
      "UGxhaW4gdmVyc2lvbgpz\n"
      "ZWNvbmQgbGluZQ==\n"
      "--inner--\n"
      "--outer\n"
      "Content-Type: image/gif\n"
      "Content-Transfer-Encoding: base64\n"
      "\n"
      "R0lGODlhAQABAAAAACw=\n"
      "--outer\n"
      "Content-Type: text/plain\n"
      "Content-Disposition: attachment; filename=\"a.txt\"\n"
      "\n"
      "attached file\n"
      "--outer\n"
      "Content-Type: text/plain\n"
      "\n"
      "footer text\n"
      "--outer--\n"
      "epilogue, ignored\n";
  EXPECT_EQ(email_to_text(msg), "Subject: offer\n\nPlain version\nsecond line\n\nfooter text");
  EXPECT_EQ(decode_base64("SGVs bG8=\nV29y bGQ=!"), "HelloWorld");
}

TEST(ClassDataEmail, HtmlIsStrippedWithEntities) {
  std::string msg =
      "Subject: html\n"
      "Content-Type: text/html; charset=us-ascii\n"
      "\n"
      "<html><head><title>T</title><style>p { color: red; }</style>\n"
      "<script type=\"text/javascript\">if (a < b) alert('x');</script></head>\n"
      "<body><!-- a comment --><p>Fish &amp; chips &lt;3&gt; &quot;now&quot;&nbsp;only\n"
      "    &#163;5 &#x263A;</p><br><br><br>\n"
      "<table><tr><td>a</td><td>b</td></tr></table>1 < 2 &unknown; &copy</body></html>\n";
  EXPECT_EQ(email_to_text(msg),
            "Subject: html\n\nT\n\nFish & chips <3> \"now\" only \xC2\xA3"
            "5 \xE2\x98\xBA\n\na b\n\n1 < 2 &unknown; \xC2\xA9");
}

TEST(ClassDataEmail, MalformedInputDegrades) {
  // Missing closing boundary: the last part runs to the end.
  EXPECT_EQ(email_to_text("Subject: a\nContent-Type: multipart/mixed; boundary=b\n\n--b\n\nfirst\n--b\n\nsecond\n"),
            "Subject: a\n\nfirst\n\nsecond");
  // Multipart without a boundary parameter or without boundary lines: read as plain text.
  EXPECT_EQ(email_to_text("Subject: a\nContent-Type: multipart/mixed\n\nbody\n"), "Subject: a\n\nbody");
  EXPECT_EQ(email_to_text("Subject: a\nContent-Type: multipart/mixed; boundary=zz\n\nbody\n"), "Subject: a\n\nbody");
  // Bad base64 characters skipped, no crash; empty or missing bodies give just the subject.
  EXPECT_EQ(email_to_text("Subject: a\nContent-Transfer-Encoding: base64\n\nQ*Q=\x01=\n"), "Subject: a\n\nA");
  EXPECT_EQ(email_to_text("Subject: only\n\n   \n"), "Subject: only");
  EXPECT_EQ(email_to_text(""), "Subject: ");
  EXPECT_EQ(email_to_text("no headers at all"), "Subject: \n\nno headers at all");
  EXPECT_EQ(email_to_text("Subject: \xff\n\nbody \xfe"), "Subject: \xC3\xBF\n\nbody \xC3\xBE");  // windows-1252
  // Deep nesting stops instead of overflowing the stack.
  std::string deep = "Subject: d\n";
  for (int k = 0; k < 200; ++k)
    deep += "Content-Type: multipart/mixed; boundary=b" + std::to_string(k) + "\n\n--b" + std::to_string(k) + "\n";
  deep += "\nleaf\n";
  EXPECT_EQ(email_to_text(deep).rfind("Subject: d", 0), 0u);
  // An HTML body without Content-Type is still HTML.
  EXPECT_EQ(email_to_text("Subject: s\n\n<HTML><BODY>Hi<BR>there</BODY></HTML>\n"), "Subject: s\n\nHi\nthere");
}

// ------------------------------------------------------------------ SpamAssassin

TEST(ClassDataSpamAssassin, LayoutGroupsAndErrors) {
  TempDir dir;
  std::string root = dir.file("corpus");
  for (const char* d : {"spam-1", "my-ham", "junk-spam", "other", ".hidden-spam"})
    fs::create_directories(root + "/" + d);
  write_text(root + "/spam-1/00002.b.txt", "Subject: second\n\nbuy\n");
  write_text(root + "/spam-1/00001.a.txt", "Subject: first\n\nbuy now\n");
  write_text(root + "/spam-1/notes.json", "{}");
  write_text(root + "/my-ham/1.txt", "Subject: hi\n\n");
  write_text(root + "/junk-spam/1.txt", "Subject: x\n\ncheap\n");
  write_text(root + "/other/1.txt", "Subject: ignored\n\n");
  write_text(root + "/.hidden-spam/1.txt", "Subject: ignored\n\n");
  auto rows = load_labeled(root);
  ASSERT_EQ(rows.size(), 4u);  // groups in name order: junk-spam, my-ham, spam-1
  EXPECT_EQ(rows[0].label, "spam");
  EXPECT_EQ(rows[1].text, "Subject: hi");
  EXPECT_EQ(rows[1].label, "ham");
  EXPECT_EQ(rows[2].text, "Subject: first\n\nbuy now");
  EXPECT_EQ(rows[3].text, "Subject: second\n\nbuy");

  fs::create_directories(dir.file("nogroups/misc"));
  std::string err = error_of([&] { load_labeled(dir.file("nogroups")); });
  EXPECT_HAS(err, "no spam or ham groups");
  EXPECT_HAS(err, "misc");
  LoadOptions o;
  o.format = "csv";
  EXPECT_HAS(error_of([&] { load_labeled(root, o); }), "directory");
}

TEST(ClassDataSpamAssassin, BundledCorpus) {
  std::string dir = slm::test::data_dir() + "/spam-assassin";
  if (!fs::is_directory(dir + "/spam-2")) GTEST_SKIP() << "no " << dir << " (scripts/setup fetches it)";
  auto rows = load_labeled(dir);
  ASSERT_EQ(rows.size(), 6046u);
  auto counts = count_labels(rows);
  EXPECT_EQ(counts["ham"], 4150u);
  EXPECT_EQ(counts["spam"], 1896u);
  for (const auto& r : rows) {
    ASSERT_EQ(r.text.rfind("Subject: ", 0), 0u);
    EXPECT_EQ(utf8_find_invalid(r.text), std::string::npos);
    EXPECT_NE(r.text.find_first_not_of(" \t\r\n", 9), std::string::npos);  // not all blank
  }
  // First message: easy-ham-1/00001, a plain-text reply.
  EXPECT_EQ(rows[0].text.rfind("Subject: Re: New Sequences Window\n\n", 0), 0u);
}

// ------------------------------------------------------------------ errors

TEST(ClassDataErrors, ClearMessages) {
  TempDir dir;
  std::string missing = error_of([&] { load_labeled(dir.file("nope.csv")); });
  EXPECT_HAS(missing, "nope.csv");
  EXPECT_HAS(missing, "not found");

  write_text(dir.file("cols.csv"), "message,class\nhello,ham\n");
  std::string col = error_of([&] { load_labeled(dir.file("cols.csv")); });
  EXPECT_HAS(col, "no text column 'Text'");
  EXPECT_HAS(col, "message, class");

  write_text(dir.file("empty.csv"), "Label,Text\nham,fine\nspam,\"  \"\n");
  std::string empty = error_of([&] { load_labeled(dir.file("empty.csv")); });
  EXPECT_HAS(empty, "row 2 (line 3)");
  EXPECT_HAS(empty, "empty text");
  write_text(dir.file("nolabel.jsonl"), "{\"Text\": \"a\", \"Label\": \" \"}\n");
  EXPECT_HAS(error_of([&] { load_labeled(dir.file("nolabel.jsonl")); }), "line 1: empty label");
  write_text(dir.file("SMSSpamCollection"), "ham\tok\nspam\n");
  EXPECT_HAS(error_of([&] { load_labeled(dir.file("SMSSpamCollection")); }), "row 2 (line 2): 1 tab-separated field");

  write_text(dir.file("open.csv"), "Label,Text\nham,ok\nspam,\"never closed\nat all\n");
  std::string open = error_of([&] { load_labeled(dir.file("open.csv")); });
  EXPECT_HAS(open, "unbalanced quote");
  EXPECT_HAS(open, "line 3");

  write_text(dir.file("ragged.csv"), "Label,Text\nham,a,b\n");
  EXPECT_HAS(error_of([&] { load_labeled(dir.file("ragged.csv")); }), "3 fields, but the header has 2");
  write_text(dir.file("bad.json"), "[{\"Text\": \"a\", \"Label\": 1.5}]");
  EXPECT_HAS(error_of([&] { load_labeled(dir.file("bad.json")); }), "entry 1");
  write_text(dir.file("broken.jsonl"), "{\"Text\": \"a\", \"Label\": 1}\n{oops\n");
  EXPECT_HAS(error_of([&] { load_labeled(dir.file("broken.jsonl")); }), "line 2 is not valid JSON");
  write_text(dir.file("header-only.csv"), "Label,Text\n");
  EXPECT_HAS(error_of([&] { load_labeled(dir.file("header-only.csv")); }), "no examples");
  LoadOptions o;
  o.format = "xml";
  EXPECT_HAS(error_of([&] { load_labeled(dir.file("cols.csv"), o); }), "unknown labeled-data format 'xml'");
}
