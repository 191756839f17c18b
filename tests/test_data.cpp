// test_data.cpp — the pretraining data layer: corpus resolution and encoding, llm.c token shards,
// the tokenized-corpus cache, and the book's sliding-window dataset/loader (chapters 2.6, 5.1.3).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <numeric>
#include <set>

#include "scratchlm/data/corpus.h"
#include "scratchlm/data/shards.h"
#include "scratchlm/data/window_dataset.h"
#include "scratchlm/tokenizer/bpe.h"
#include "scratchlm/util/error.h"
#include "scratchlm/util/file.h"
#include "test_util.h"

namespace fs = std::filesystem;
using namespace slm;
using slm::test::TempDir;
using slm::test::write_text;

namespace {

const Tokenizer& gpt2() { return slm::test::gpt2_tokenizer(); }

std::string verdict_path() { return slm::test::shared_data_dir() + "/the-verdict.txt"; }

TokenArray iota_tokens(size_t n) {
  std::vector<uint32_t> v(n);
  std::iota(v.begin(), v.end(), 0u);
  return TokenArray::from_vector(std::move(v));
}

using slm::test::error_of;

// The stream encode_documents should make of these texts: each encoded as text, <|endoftext|> between.
std::vector<uint32_t> eot_joined(const Tokenizer& tok, const std::vector<std::string>& texts) {
  std::vector<uint32_t> want;
  for (size_t i = 0; i < texts.size(); ++i) {
    if (i) want.push_back(*tok.eot_id());
    auto ids = tok.encode(texts[i], SpecialMode::Text);
    want.insert(want.end(), ids.begin(), ids.end());
  }
  return want;
}

std::vector<int32_t> row(const Batch& b, const std::vector<int32_t>& m, size_t r) {
  return {m.begin() + r * b.cols, m.begin() + (r + 1) * b.cols};
}

}  // namespace

// ------------------------------------------------------------------ windows and split

TEST(WindowDataset, CountMatchesPythonRange) {
  EXPECT_EQ(num_windows(10, 4, 4), 2u);       // range(0, 6, 4) = 0, 4
  EXPECT_EQ(num_windows(5, 4, 1), 1u);        // range(0, 1, 1)
  EXPECT_EQ(num_windows(4, 4, 1), 0u);        // need L + 1 tokens
  EXPECT_EQ(num_windows(10, 4, 2), 3u);       // overlapping: 0, 2, 4
  EXPECT_EQ(num_windows(20, 3, 5), 4u);       // S > L skips tokens: 0, 5, 10, 15
  EXPECT_EQ(num_windows(5145, 4, 4), 1286u);  // range(0, 5141, 4)
  EXPECT_EQ(num_windows(10, 4, 0), 2u);       // stride 0 = L
  for (size_t n = 0; n < 40; ++n)
    for (size_t L = 1; L < 7; ++L)
      for (size_t S = 1; S < 9; ++S) {
        size_t count = 0;
        for (long i = 0; i < static_cast<long>(n) - static_cast<long>(L); i += static_cast<long>(S)) ++count;
        ASSERT_EQ(num_windows(n, L, S), count) << n << " " << L << " " << S;
        WindowDataset ds(iota_tokens(n), L, S);
        ASSERT_EQ(ds.size(), count);
        std::vector<int32_t> in(L), tg(L);
        for (size_t w = 0; w < count; ++w) {
          ds.get(w, in.data(), tg.data());
          for (size_t j = 0; j < L; ++j) {
            ASSERT_EQ(in[j], static_cast<int32_t>(w * S + j));
            ASSERT_EQ(tg[j], static_cast<int32_t>(w * S + j + 1));
          }
          ASSERT_LT(w * S + L, n);  // the last target exists
        }
      }
  EXPECT_THROW(WindowDataset(iota_tokens(10), 0, 1), Error);
}

TEST(WindowDataset, SplitLikeTheBook) {
  EXPECT_EQ(split_index(5145, 0.1), 4630u);  // int(0.90 * 5145) = int(4630.5)
  EXPECT_EQ(split_index(10, 0.1), 9u);
  EXPECT_EQ(split_index(10, 0.0), 10u);
  EXPECT_EQ(split_index(10, 1.0), 0u);
  EXPECT_EQ(split_index(0, 0.1), 0u);
  error_of([] { split_index(10, -0.1); });
  error_of([] { split_index(10, 1.5); });
  TokenSplit s = split_tokens(iota_tokens(5145), 0.1);
  EXPECT_EQ(s.train.size(), 4630u);
  EXPECT_EQ(s.val.size(), 515u);
  EXPECT_EQ(s.train[4629], 4629u);
  EXPECT_EQ(s.val[0], 4630u);
  // chapter 5: context 256, stride 256, batch 2: 9 train batches (drop_last), 1 val batch
  DataLoader train(WindowDataset(s.train, 256, 256),
                   {.batch_size = 2, .shuffle = true, .seed = 123, .drop_last = true});
  DataLoader val(WindowDataset(s.val, 256, 256), {.batch_size = 2, .shuffle = false, .drop_last = false});
  EXPECT_EQ(train.batches_per_epoch(), 9u);
  EXPECT_EQ(val.batches_per_epoch(), 1u);
}

// ------------------------------------------------------------------ loader

TEST(DataLoader, DropLastAndKeepLast) {
  WindowDataset ds(iota_tokens(11), 1, 1);  // 10 windows
  ASSERT_EQ(ds.size(), 10u);
  DataLoader drop(ds, {.batch_size = 3, .drop_last = true});
  DataLoader keep(ds, {.batch_size = 3, .drop_last = false});
  EXPECT_EQ(drop.batches_per_epoch(), 3u);
  EXPECT_EQ(keep.batches_per_epoch(), 4u);
  Batch b;
  for (int i = 0; i < 4; ++i) keep.next(b);
  EXPECT_EQ(b.rows, 1u);
  EXPECT_EQ(b.inputs, std::vector<int32_t>{9});
  EXPECT_EQ(b.targets, std::vector<int32_t>{10});
  EXPECT_EQ(keep.state(), (LoaderState{1, 0}));  // rolled over to epoch 1
  keep.next(b);
  EXPECT_EQ(b.inputs, (std::vector<int32_t>{0, 1, 2}));
  EXPECT_EQ(b.epoch, 1u);

  DataLoader empty(WindowDataset(iota_tokens(3), 4, 4), {.batch_size = 1});
  EXPECT_EQ(empty.batches_per_epoch(), 0u);
  EXPECT_NE(error_of([&] { empty.next(); }).find("not enough tokens"), std::string::npos);
  DataLoader small(ds, {.batch_size = 11, .drop_last = true});
  EXPECT_EQ(small.batches_per_epoch(), 0u);
  EXPECT_THROW(small.next(), Error);
}

TEST(DataLoader, ShuffleIsSeededAndReshuffledEachEpoch) {
  WindowDataset ds(iota_tokens(101), 2, 1);  // 99 windows
  LoaderOptions o{.batch_size = 4, .shuffle = true, .seed = 42};
  DataLoader a(ds, o), b(ds, o);
  std::vector<uint32_t> e0 = a.epoch_order(0), e1 = a.epoch_order(1);
  EXPECT_EQ(e0, b.epoch_order(0));
  EXPECT_NE(e0, e1);
  std::vector<uint32_t> ident(99);
  std::iota(ident.begin(), ident.end(), 0u);
  EXPECT_NE(e0, ident);
  std::vector<uint32_t> sorted = e0;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(sorted, ident);  // a permutation
  // epoch e of seed s is epoch 0 of seed s + e
  DataLoader c(ds, {.batch_size = 4, .shuffle = true, .seed = 43});
  EXPECT_EQ(c.epoch_order(0), e1);
  DataLoader plain(ds, {.batch_size = 4});
  EXPECT_EQ(plain.epoch_order(5), ident);
  // batches follow the order
  Batch x;
  a.next(x);
  std::vector<int32_t> in(2), tg(2);
  for (size_t r = 0; r < 4; ++r) {
    ds.get(e0[r], in.data(), tg.data());
    EXPECT_EQ(row(x, x.inputs, r), in);
    EXPECT_EQ(row(x, x.targets, r), tg);
  }
}

TEST(DataLoader, StateRestoreContinuesIdentically) {
  WindowDataset ds(iota_tokens(200), 8, 3);
  LoaderOptions o{.batch_size = 5, .shuffle = true, .seed = 7, .drop_last = true};
  DataLoader a(ds, o);
  const size_t per = a.batches_per_epoch();
  ASSERT_EQ(per, static_cast<size_t>(num_windows(200, 8, 3) / 5));
  Batch b;
  for (size_t i = 0; i < per + 3; ++i) a.next(b);  // into epoch 1
  LoaderState saved = a.state();
  EXPECT_EQ(saved, (LoaderState{1, 3}));
  std::vector<Batch> rest;
  for (size_t i = 0; i < 2 * per; ++i) rest.push_back(a.next());
  DataLoader r(ds, o);
  r.set_state(saved);
  for (size_t i = 0; i < rest.size(); ++i) {
    Batch got = r.next();
    ASSERT_EQ(got.inputs, rest[i].inputs) << i;
    ASSERT_EQ(got.targets, rest[i].targets) << i;
    ASSERT_EQ(got.epoch, rest[i].epoch);
    ASSERT_EQ(got.index, rest[i].index);
  }
  EXPECT_EQ(r.state(), a.state());
  error_of([&] { r.set_state({0, per}); });
}

// ------------------------------------------------------------------ shards

TEST(Shards, RoundTripUint16AndUint32) {
  TempDir t;
  std::vector<uint32_t> small = {0, 1, 50256, 65535, 7};
  write_token_shard(t.file("a.bin"), small, 65536);  // the largest uint16 vocabulary
  EXPECT_EQ(fs::file_size(t.file("a.bin")), 1024u + 5 * 2);
  TokenArray a = read_token_shard(t.file("a.bin"));
  EXPECT_EQ(a.width(), 2);
  EXPECT_EQ(a.to_vector(), small);
  std::string bytes = slm::test::read_text(t.file("a.bin"));
  const auto* h = reinterpret_cast<const int32_t*>(bytes.data());
  EXPECT_EQ(h[0], 20240520);
  EXPECT_EQ(h[1], 1);
  EXPECT_EQ(h[2], 5);
  for (int i = 3; i < 256; ++i) ASSERT_EQ(h[i], 0);

  std::vector<uint32_t> big = {0, 65536, 99999, 3};
  write_token_shard(t.file("b.bin"), big, 100000);
  EXPECT_EQ(fs::file_size(t.file("b.bin")), 1024u + 4 * 4);
  TokenArray b = read_token_shard(t.file("b.bin"));
  EXPECT_EQ(b.width(), 4);
  EXPECT_EQ(b.to_vector(), big);
  EXPECT_EQ(b.slice(1, 3).to_vector(), (std::vector<uint32_t>{65536, 99999}));
  std::vector<int32_t> out(2);
  b.copy_to(2, 2, out.data());
  EXPECT_EQ(out, (std::vector<int32_t>{99999, 3}));
  EXPECT_EQ(shard_version_for(65536), 1);
  EXPECT_EQ(shard_version_for(65537), 7);  // llm.c's uint32 ("llama-3") header

  write_token_shard(t.file("e.bin"), std::vector<uint32_t>{}, 50257);
  EXPECT_EQ(read_token_shard(t.file("e.bin")).size(), 0u);
  error_of([&] { write_token_shard(t.file("c.bin"), big, 50257); });  // 65536 >= vocab
  EXPECT_FALSE(fs::exists(t.file("c.bin")));
}

TEST(Shards, CorruptShardsAreClearErrors) {
  TempDir t;
  std::vector<uint32_t> ids = {1, 2, 3, 4};
  write_token_shard(t.file("ok.bin"), ids, 50257);
  const std::string good = slm::test::read_text(t.file("ok.bin"));
  auto variant = [&](const std::string& name, std::string bytes) {
    write_text(t.file(name), bytes);
    return error_of([&] { read_token_shard(t.file(name)); });
  };
  std::string s = good;
  s[0] = 'X';
  EXPECT_NE(variant("magic.bin", s).find("not a token shard"), std::string::npos);
  s = good;
  s[4] = 9;
  EXPECT_NE(variant("version.bin", s).find("unsupported version 9"), std::string::npos);
  EXPECT_NE(variant("trunc.bin", good.substr(0, good.size() - 2)).find("truncated"), std::string::npos);
  EXPECT_NE(variant("tiny.bin", good.substr(0, 100)).find("truncated"), std::string::npos);
  EXPECT_NE(variant("empty.bin", "").find("truncated"), std::string::npos);
  s = good;
  s[8] = 5;  // header says 5 tokens, file holds 4
  EXPECT_NE(variant("count.bin", s).find("header says 5 tokens"), std::string::npos);
  s = good;
  s[8] = 3;  // header says 3, file holds 4
  EXPECT_NE(variant("count3.bin", s).find("trailing"), std::string::npos);
  EXPECT_NE(error_of([&] { read_token_shard(t.file("missing.bin")); }).find("missing.bin"), std::string::npos);
}

// ------------------------------------------------------------------ corpus

TEST(Corpus, DirectoryGlobAndErrors) {
  TempDir t;
  fs::create_directories(t.file("c/sub"));
  fs::create_directories(t.file("c/.git"));
  write_text(t.file("c/b.txt"), "b");
  write_text(t.file("c/a.txt"), "a");
  write_text(t.file("c/sub/z.md"), "z");
  write_text(t.file("c/.hidden"), "h");
  write_text(t.file("c/.git/x.txt"), "x");
  std::vector<std::string> want = {t.file("c/a.txt"), t.file("c/b.txt"), t.file("c/sub/z.md")};
  EXPECT_EQ(resolve_corpus_spec(t.file("c")), want);
  EXPECT_EQ(resolve_corpus_spec(t.file("c/*.txt")), (std::vector<std::string>{t.file("c/a.txt"), t.file("c/b.txt")}));
  EXPECT_EQ(resolve_corpus({t.file("c/b.txt"), t.file("c/a.txt")}),
            (std::vector<std::string>{t.file("c/b.txt"), t.file("c/a.txt")}));
  EXPECT_NE(error_of([&] { resolve_corpus_spec(t.file("c/*.nope")); }).find("no files match"), std::string::npos);
  EXPECT_NE(error_of([&] { resolve_corpus_spec("no-such-corpus"); }).find("no-such-corpus"), std::string::npos);
  fs::create_directories(t.file("emptydir"));
  error_of([&] { resolve_corpus_spec(t.file("emptydir")); });
  // built-ins fetched by download-data name the command when missing
  EXPECT_NE(error_of([&] { resolve_corpus_spec("the-verdict", t.path()); }).find("run `slm download-data the-verdict`"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              resolve_corpus_spec("tinyshakespeare", t.path());
            }).find("run `slm download-data tinyshakespeare`"),
            std::string::npos);
}

TEST(Corpus, BuiltinMobyDickAndSotu) {
  const std::string data = slm::test::data_dir();
  if (!fs::exists(data + "/moby-dick/file_list.json")) GTEST_SKIP() << "data/moby-dick missing";
  auto docs = resolve_corpus_spec("moby-dick", data);
  ASSERT_EQ(docs.size(), 139u);
  EXPECT_EQ(fs::path(docs[0]).filename(), "contents.txt");
  EXPECT_EQ(fs::path(docs[1]).filename(), "etymology.txt");
  EXPECT_EQ(fs::path(docs[2]).filename(), "extracts.txt");
  EXPECT_EQ(fs::path(docs[3]).filename(), "chapter_1.txt");
  EXPECT_EQ(fs::path(docs[12]).filename(), "chapter_10.txt");  // book order, not name order
  EXPECT_EQ(fs::path(docs[138]).filename(), "epilogue.txt");
  for (const auto& d : docs) EXPECT_NE(fs::path(d).filename(), "data.txt");
  auto sotu = resolve_corpus_spec("sotu", data);
  EXPECT_EQ(sotu.size(), 233u);
  EXPECT_TRUE(std::is_sorted(sotu.begin(), sotu.end()));
  EXPECT_EQ(fs::path(sotu[0]).filename(), "1790_george_washington_n.txt");
}

TEST(Corpus, InvalidUtf8AndLossy) {
  TempDir t;
  write_text(t.file("bad.txt"),
             "ab\xff"
             "cd");
  std::string msg = error_of([&] { read_document(t.file("bad.txt"), false); });
  EXPECT_NE(msg.find("bad.txt"), std::string::npos) << msg;
  EXPECT_NE(msg.find("byte offset 2"), std::string::npos) << msg;
  EXPECT_EQ(read_document(t.file("bad.txt"), true),
            "ab\xEF\xBF\xBD"
            "cd");
  error_of([&] { encode_documents({t.file("bad.txt")}, gpt2(), false, 1); });
  EXPECT_EQ(encode_documents({t.file("bad.txt")}, gpt2(), true, 1), gpt2().encode("ab\xEF\xBF\xBD"
                                                                                  "cd"));
}

TEST(Corpus, EndOfTextOnlyBetweenDocuments) {
  const Tokenizer& tok = gpt2();
  TempDir t;
  write_text(t.file("1.txt"), "Hello");
  write_text(t.file("2.txt"), " world <|endoftext|> literal");
  write_text(t.file("3.txt"), "bye");
  const uint32_t eot = *tok.eot_id();
  auto one = encode_documents({t.file("1.txt")}, tok, false, 1);
  EXPECT_EQ(one, tok.encode("Hello"));
  auto ids = encode_documents({t.file("1.txt"), t.file("2.txt"), t.file("3.txt")}, tok, false, 1);
  EXPECT_EQ(ids, eot_joined(tok, {"Hello", " world <|endoftext|> literal", "bye"}));
  EXPECT_EQ(std::count(ids.begin(), ids.end(), eot), 2);  // the literal stays text
  EXPECT_NE(ids.back(), eot);
  // parallel over documents gives the same stream
  std::vector<std::string> many;
  for (int i = 0; i < 9; ++i) many.push_back(t.file(std::to_string(i % 3 + 1) + ".txt"));
  EXPECT_EQ(encode_documents(many, tok, false, 2), encode_documents(many, tok, false, 1));
}

TEST(Corpus, TextColumnMakesOneDocumentPerTableRow) {
  const Tokenizer& tok = gpt2();
  TempDir t;
  write_text(t.file("split.csv"), "Label,Text\nham,\"Hello, there\"\nspam,\"Win\ncash\"\n");
  write_text(t.file("more.jsonl"), "{\"text\": \"one\"}\n\n{\"text\": \"two <|endoftext|>\", \"extra\": 1}\n");
  write_text(t.file("plain.txt"), "plain text");
  const std::vector<std::string> docs = {t.file("split.csv"), t.file("plain.txt"), t.file("more.jsonl")};
  const auto want = eot_joined(tok, {"Hello, there", "Win\ncash", "plain text", "one", "two <|endoftext|>"});
  EXPECT_EQ(encode_documents(docs, tok, false, 1, "Text"), want);  // column names match case-insensitively
  EXPECT_EQ(encode_documents(docs, tok, false, 2, "text"), want);
  // without a column, a table is one document of raw bytes, as before
  EXPECT_EQ(encode_documents({t.file("split.csv")}, tok, false, 1),
            tok.encode(read_file(t.file("split.csv")), SpecialMode::Text));
  // the column is part of the cache key
  EXPECT_NE(token_cache_key(docs, "tok", false, "Text"), token_cache_key(docs, "tok", false));
  bool hit = true;
  EXPECT_EQ(
      tokenize_corpus_cached({t.file("split.csv")}, tok, "tok", t.file("cache"), false, 1, &hit, "Text").to_vector(),
      eot_joined(tok, {"Hello, there", "Win\ncash"}));
  EXPECT_FALSE(hit);
  // errors: a missing column, an empty text, invalid UTF-8 unless lossy
  std::string msg = error_of([&] { encode_documents({t.file("split.csv")}, tok, false, 1, "Body"); });
  EXPECT_NE(msg.find("no text column 'Body'"), std::string::npos) << msg;
  write_text(t.file("empty.csv"), "Text\nfine\n\"  \"\n");
  msg = error_of([&] { encode_documents({t.file("empty.csv")}, tok, false, 1, "Text"); });
  EXPECT_NE(msg.find("empty text"), std::string::npos) << msg;
  write_text(t.file("bad.csv"), "Text\nab\xff\n");
  msg = error_of([&] { encode_documents({t.file("bad.csv")}, tok, false, 1, "Text"); });
  EXPECT_NE(msg.find("bad.csv"), std::string::npos) << msg;
  EXPECT_EQ(encode_documents({t.file("bad.csv")}, tok, true, 1, "Text"), tok.encode("ab\xEF\xBF\xBD"));
}

// ------------------------------------------------------------------ cache

TEST(TokenCache, HitMissAndRebuild) {
  const Tokenizer& tok = gpt2();
  TempDir t;
  write_text(t.file("a.txt"), "The quick brown fox.");
  write_text(t.file("b.txt"), "Jumps over the lazy dog.");
  const std::vector<std::string> docs = {t.file("a.txt"), t.file("b.txt")};
  const std::string cache = t.file("cache");
  bool hit = true;
  TokenArray first = tokenize_corpus_cached(docs, tok, "tok-1", cache, false, 1, &hit);
  EXPECT_FALSE(hit);
  EXPECT_EQ(first.to_vector(), encode_documents(docs, tok, false, 1));
  EXPECT_EQ(first.width(), 2);
  const std::string file = cache + "/" + token_cache_key(docs, "tok-1", false) + ".bin";
  EXPECT_TRUE(fs::exists(file));
  TokenArray again = tokenize_corpus_cached(docs, tok, "tok-1", cache, false, 1, &hit);
  EXPECT_TRUE(hit);
  EXPECT_EQ(again.to_vector(), first.to_vector());

  tokenize_corpus_cached(docs, tok, "tok-1", cache, true, 1, &hit);  // lossy flag is in the key
  EXPECT_FALSE(hit);
  tokenize_corpus_cached(docs, tok, "tok-2", cache, false, 1, &hit);  // so is the tokenizer
  EXPECT_FALSE(hit);
  tokenize_corpus_cached({docs[1], docs[0]}, tok, "tok-1", cache, false, 1, &hit);  // and the order
  EXPECT_FALSE(hit);
  write_text(t.file("b.txt"), "Jumps over the lazy cat.");  // content change
  TokenArray changed = tokenize_corpus_cached(docs, tok, "tok-1", cache, false, 1, &hit);
  EXPECT_FALSE(hit);
  EXPECT_NE(changed.to_vector(), first.to_vector());
  tokenize_corpus_cached(docs, tok, "tok-1", cache, false, 1, &hit);
  EXPECT_TRUE(hit);

  // a torn cache file is rebuilt, not an error. (Cache files are only ever replaced by rename;
  // overwriting one in place, as here, would change what live mappings of it see.)
  const std::vector<uint32_t> expect = changed.to_vector();
  changed = TokenArray();
  const std::string f2 = cache + "/" + token_cache_key(docs, "tok-1", false) + ".bin";
  write_text(f2, "garbage");
  TokenArray rebuilt = tokenize_corpus_cached(docs, tok, "tok-1", cache, false, 1, &hit);
  EXPECT_FALSE(hit);
  EXPECT_EQ(rebuilt.to_vector(), expect);
  EXPECT_EQ(tokenizer_dir_id(slm::test::data_dir() + "/gpt2").size(), 64u);
  error_of([&] { tokenizer_dir_id(t.path()); });
}

// ------------------------------------------------------------------ the book's values

TEST(BookValues, TheVerdictFirstBatches) {
  if (!fs::exists(verdict_path())) GTEST_SKIP() << "../shared/data/the-verdict.txt missing";
  const Tokenizer& tok = gpt2();
  auto docs = resolve_corpus_spec("the-verdict", slm::test::shared_data_dir());
  ASSERT_EQ(docs.size(), 1u);
  TokenArray ids = TokenArray::from_vector(encode_documents(docs, tok, false, 2));
  EXPECT_EQ(ids.size(), 5145u);  // ch02: len(enc_text) == 5145

  // ch02: create_dataloader_v1(raw_text, batch_size=8, max_length=4, stride=4, shuffle=False)
  DataLoader dl(WindowDataset(ids, 4, 4), {.batch_size = 8, .shuffle = false, .drop_last = true});
  EXPECT_EQ(dl.dataset().size(), 1286u);
  Batch b = dl.next();
  ASSERT_EQ(b.rows, 8u);
  ASSERT_EQ(b.cols, 4u);
  const std::vector<int32_t> inputs = {40,   367,   2885, 1464, 1807, 3619, 402,  271,  10899, 2138, 257,
                                       7026, 15632, 438,  2016, 257,  922,  5891, 1576, 438,   568,  340,
                                       373,  645,   1049, 5975, 284,  502,  284,  3285, 326,   11};
  const std::vector<int32_t> targets = {367,   2885, 1464, 1807, 3619, 402,  271,  10899, 2138, 257, 7026,
                                        15632, 438,  2016, 257,  922,  5891, 1576, 438,   568,  340, 373,
                                        645,   1049, 5975, 284,  502,  284,  3285, 326,   11,   287};
  EXPECT_EQ(b.inputs, inputs);
  EXPECT_EQ(b.targets, targets);

  // ch02: batch_size=1, max_length=4, stride=1
  DataLoader one(WindowDataset(ids, 4, 1), {.batch_size = 1});
  Batch b1 = one.next(), b2 = one.next();
  EXPECT_EQ(b1.inputs, (std::vector<int32_t>{40, 367, 2885, 1464}));
  EXPECT_EQ(b1.targets, (std::vector<int32_t>{367, 2885, 1464, 1807}));
  EXPECT_EQ(b2.inputs, (std::vector<int32_t>{367, 2885, 1464, 1807}));
  EXPECT_EQ(b2.targets, (std::vector<int32_t>{2885, 1464, 1807, 3619}));

  // ch05: 90/10 split, context 256: 9 train batches of 2 and 1 val batch
  TokenSplit s = split_tokens(ids, 0.1);
  EXPECT_EQ(s.train.size(), 4630u);
  EXPECT_EQ(DataLoader(WindowDataset(s.train, 256), {.batch_size = 2, .shuffle = true}).batches_per_epoch(), 9u);
  EXPECT_EQ(DataLoader(WindowDataset(s.val, 256), {.batch_size = 2, .drop_last = false}).batches_per_epoch(), 1u);
}

TEST(BookValues, MobyDickBuiltinTokenCount) {
  const std::string data = slm::test::data_dir();
  if (!fs::exists(data + "/moby-dick/file_list.json")) GTEST_SKIP() << "data/moby-dick missing";
  const Tokenizer& tok = gpt2();
  TempDir t;
  auto docs = resolve_corpus_spec("moby-dick", data);
  bool hit = true;
  TokenArray ids = tokenize_documents_cached(docs, tok, tokenizer_dir_id(data + "/gpt2"), t.path(), false, 2, &hit);
  EXPECT_FALSE(hit);
  // The 139 parts are one paragraph per line, unlike the hard-wrapped data.txt (317,756 tokens),
  // so they encode to fewer tokens: 295,051 (the sum of `slm tokenize --count` over the parts)
  // + 138 separators.
  EXPECT_EQ(ids.size(), 295189u);
  const std::vector<uint32_t> v = ids.to_vector();
  EXPECT_EQ(static_cast<size_t>(std::count(v.begin(), v.end(), *tok.eot_id())), 138u);
  EXPECT_LT(ids.max_id(), 50257u);
}
