// test_llmc_tokens.cpp — llm.c token files (chapter 5's pretraining data, pre-tokenized): `slm
// tokenize --out FILE.bin` writes llm.c's layout byte for byte (built here by hand as
// dev/data/data_common.py's write_datafile does), `--data FILE.bin` trains and evaluates on the
// ids exactly as on the text they came from, and a bad header is a one-line error.
#include <gtest/gtest.h>

#include <cstring>
#include <nlohmann/json.hpp>

#include "scratchlm/data/shards.h"
#include "scratchlm/data/token_files.h"
#include "scratchlm/tokenizer/bpe.h"
#include "scratchlm/train/metrics.h"
#include "test_util.h"

using slm::test::run_slm;
using slm::test::shell_quote;

namespace {

// write_datafile(filename, toks, model_desc): 256 int32 header (magic, version, count, zeros),
// then the tokens as uint16 ("gpt-2") or uint32 ("llama-3").
std::string llmc_file(int32_t magic, int32_t version, const std::vector<uint32_t>& toks, bool u32) {
  std::vector<int32_t> header(256, 0);
  header[0] = magic;
  header[1] = version;
  header[2] = static_cast<int32_t>(toks.size());
  std::string bytes(reinterpret_cast<const char*>(header.data()), 1024);
  for (uint32_t t : toks) {
    if (u32) {
      bytes.append(reinterpret_cast<const char*>(&t), 4);
    } else {
      const auto v = static_cast<uint16_t>(t);
      bytes.append(reinterpret_cast<const char*>(&v), 2);
    }
  }
  return bytes;
}

int lines(const std::string& s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

std::string corpus_text() {
  std::string text;
  const char* words[] = {"The sea ", "a whale ", "the ship. ", "Ishmael ", "rolls ", "and the harbor\n"};
  for (int i = 0; i < 900; ++i) text += words[(i * 7 + i / 5) % 6];
  return text;
}

const std::string kTiny =
    "--config gpt2-tiny --emb-dim 32 --n-heads 2 --context-length 32 --seq 16 --batch 4 --threads 2 --quiet "
    "--val-fraction 0.1 --dropout 0";

}  // namespace

TEST(LlmcTokens, TokenizeOutWritesLlmcsLayoutWithEndOfTextFirst) {
  slm::test::TempDir t;
  auto r = run_slm("tokenize --out " + t.file("a.bin") + " " + shell_quote("Hello, world!"));
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, "");
  // llm.c's scripts: tokens = [eot] + enc.encode_ordinary(doc["text"]).
  EXPECT_EQ(slm::test::read_text(t.file("a.bin")), llmc_file(20240520, 1, {50256, 15496, 11, 995, 0}, false));
  // A file, streamed (--special=text), and stdin give the same file.
  slm::test::write_text(t.file("doc.txt"), corpus_text());
  ASSERT_EQ(run_slm("tokenize --special=text --file " + t.file("doc.txt") + " --out " + t.file("b.bin")).rc, 0);
  ASSERT_EQ(run_slm("tokenize --out " + t.file("c.bin"), corpus_text()).rc, 0);
  EXPECT_EQ(slm::test::read_text(t.file("b.bin")), slm::test::read_text(t.file("c.bin")));
  std::vector<uint32_t> want{50256};
  for (uint32_t id : slm::test::gpt2_tokenizer().encode_ordinary(corpus_text())) want.push_back(id);
  EXPECT_EQ(slm::read_token_shard(t.file("b.bin")).to_vector(), want);
  // An empty document is its <|endoftext|> alone.
  ASSERT_EQ(run_slm("tokenize --out " + t.file("e.bin") + " ''").rc, 0);
  EXPECT_EQ(slm::test::read_text(t.file("e.bin")), llmc_file(20240520, 1, {50256}, false));
  r = run_slm("tokenize --json --out " + t.file("x.bin") + " hi");
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(lines(r.err), 1) << r.err;
}

TEST(LlmcTokens, WriterUsesLlmcsHeaderForEachWidth) {
  slm::test::TempDir t;
  slm::write_token_shard(t.file("16.bin"), std::vector<uint32_t>{7, 65535, 0}, 65536);
  EXPECT_EQ(slm::test::read_text(t.file("16.bin")), llmc_file(20240520, 1, {7, 65535, 0}, false));
  slm::write_token_shard(t.file("32.bin"), std::vector<uint32_t>{7, 65536, 127999}, 128256);  // llama-3's vocabulary
  EXPECT_EQ(slm::test::read_text(t.file("32.bin")), llmc_file(20240801, 7, {7, 65536, 127999}, true));
  // Both read back; so does the (20240520, 2) header ScratchLM wrote before.
  slm::test::write_text(t.file("old.bin"), llmc_file(20240520, 2, {70000, 3}, true));
  EXPECT_EQ(slm::read_token_files({t.file("32.bin")}, 128256).to_vector(), (std::vector<uint32_t>{7, 65536, 127999}));
  EXPECT_EQ(slm::read_token_files({t.file("old.bin"), t.file("16.bin")}, 128256).to_vector(),
            (std::vector<uint32_t>{70000, 3, 7, 65535, 0}));
}

// The same ids from a text file and from a token file: the same evaluation and the same training.
TEST(LlmcTokens, DataBinTrainsAndEvaluatesOnTheIds) {
  slm::test::TempDir t;
  slm::test::write_text(t.file("corpus.txt"), corpus_text());
  // One text document encodes as encode_ordinary(text) (corpus.h); the same ids as a token file.
  slm::write_token_shard(t.file("corpus.bin"), slm::test::gpt2_tokenizer().encode_ordinary(corpus_text()), 50257);
  for (const char* kind : {"txt", "bin"}) {
    auto r = run_slm("pretrain " + kTiny + " --steps 3 --data " + t.file(std::string("corpus.") + kind) + " --out " +
                     t.file(std::string("run-") + kind));
    ASSERT_EQ(r.rc, 0) << kind << ": " << r.err;
  }
  const auto a = slm::test::step_values(t.file("run-txt")), b = slm::test::step_values(t.file("run-bin"));
  ASSERT_EQ(a.size(), 3u);
  EXPECT_EQ(a, b);
  auto ev_txt =
      run_slm("eval --json --seq 16 --threads 2 --model " + t.file("run-txt") + " --data " + t.file("corpus.txt"));
  auto ev_bin =
      run_slm("eval --json --seq 16 --threads 2 --model " + t.file("run-txt") + " --data " + t.file("corpus.bin"));
  ASSERT_EQ(ev_bin.rc, 0) << ev_bin.err;
  EXPECT_EQ(ev_txt.out, ev_bin.out);
  EXPECT_EQ(nlohmann::json::parse(ev_bin.out)["tokens"].get<int64_t>() % 16, 0);
}

TEST(LlmcTokens, BadTokenFilesAreOneLineErrors) {
  slm::test::TempDir t;
  std::vector<uint32_t> ids(200, 11);
  const std::string good = llmc_file(20240520, 1, ids, false);
  auto bad = [&](const std::string& name, const std::string& bytes, const std::string& want) {
    slm::test::write_text(t.file(name), bytes);
    auto r = run_slm("eval --seq 16 --threads 2 --model " + t.file("m") + " --data " + t.file(name));
    EXPECT_EQ(r.rc, 2) << name;
    EXPECT_EQ(lines(r.err), 1) << name << ": " << r.err;
    EXPECT_NE(r.err.find(want), std::string::npos) << name << ": " << r.err;
    EXPECT_NE(r.err.find(name), std::string::npos) << name << ": " << r.err;
  };
  slm::test::write_text(t.file("corpus.txt"), corpus_text());
  ASSERT_EQ(run_slm("pretrain " + kTiny + " --steps 1 --data " + t.file("corpus.txt") + " --out " + t.file("m")).rc, 0);
  slm::test::write_text(t.file("ok.bin"), good);
  ASSERT_EQ(run_slm("eval --seq 16 --threads 2 --model " + t.file("m") + " --data " + t.file("ok.bin")).rc, 0);
  std::string s = good;
  s[0] = 'X';
  bad("magic.bin", s, "not a token shard");
  bad("version.bin", llmc_file(20240520, 7, ids, false), "unsupported version 7");  // llama-3's version, gpt-2's magic
  bad("version2.bin", llmc_file(20240801, 1, ids, false), "unsupported version 1");
  bad("short.bin", good.substr(0, good.size() - 2), "truncated");
  bad("long.bin", good + "xx", "trailing");
  bad("header.bin", good.substr(0, 512), "truncated");
  ids[150] = 50257;  // one past GPT-2's vocabulary
  bad("vocab.bin", llmc_file(20240520, 1, ids, false), "token 50257 at position 150");
  auto r = run_slm("eval --seq 16 --threads 2 --model " + t.file("m") + " --data " + t.file("ok.bin") + " " +
                   t.file("corpus.txt"));
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("mixes"), std::string::npos) << r.err;
}
