// test_classifier.cpp — chapter 6's classifier: the score head's gradients, last-real-token
// reading with padding, frozen layers, saving in the GPT2ForSequenceClassification layout, and
// `slm finetune-classifier` / `slm classify` / `slm eval-classifier` end to end on a tiny model.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "scratchlm/finetune/classifier.h"
#include "scratchlm/io/hf_gpt2.h"
#include "scratchlm/io/safetensors.h"
#include "scratchlm/model/gpt.h"
#include "scratchlm/tensor/rng.h"
#include "scratchlm/tokenizer/bpe.h"
#include "scratchlm/util/error.h"
#include "scratchlm/util/file.h"
#include "scratchlm/util/lines.h"
#include "test_util.h"

namespace fs = std::filesystem;
using slm::test::run_slm;

namespace {

slm::GPTConfig tiny_config() {
  slm::GPTConfig c = slm::config_by_name("gpt2-tiny");
  c.vocab_size = 97, c.context_length = 16, c.emb_dim = 16, c.n_heads = 2, c.n_layers = 2, c.drop_rate = 0.0f;
  return c;
}

std::unique_ptr<slm::GPT> tiny_classifier(int64_t K = 3) {
  slm::GPT lm(tiny_config());
  lm.init_weights(7);
  std::vector<std::string> labels;
  for (int64_t k = 0; k < K; ++k) labels.push_back(fmt::format("c{}", k));
  return slm::make_classifier(lm, labels, 11);
}

// A two-class data set a tiny model can learn: fruit sentences vs. animal sentences.
std::string synthetic_csv(const slm::test::TempDir& t, int n, const std::string& name = "data.csv") {
  const char* fruit[] = {"apple", "banana", "cherry", "grape", "lemon", "mango", "peach", "plum"};
  const char* animal[] = {"dog", "cat", "horse", "mouse", "tiger", "zebra", "rabbit", "wolf"};
  const char* filler[] = {"I saw a", "there is one", "we like the", "look at that", "my friend has a"};
  slm::Rng rng(3);
  std::string csv = "Label,Text\n";
  for (int i = 0; i < n; ++i) {
    const bool a = i % 2 == 0;
    std::string text = std::string(filler[rng.below(5)]) + " " + (a ? fruit[rng.below(8)] : animal[rng.below(8)]);
    if (rng.below(2)) text += " and a " + std::string(a ? fruit[rng.below(8)] : animal[rng.below(8)]);
    csv += std::string(a ? "fruit" : "animal") + "," + text + "\n";
  }
  const std::string path = t.file(name);
  slm::test::write_text(path, csv);
  return path;
}

int64_t cfg_max_length(const std::string& model_dir) {
  return nlohmann::json::parse(slm::read_file(model_dir + "/config.json"))["scratchlm_max_length"].get<int64_t>();
}

// A tiny GPT-2 (ctx 32, 2 heads, emb_dim wide) pretrained one step on `data`, saved to `dir`: the
// base model the classifier tests finetune.
void pretrain_tiny_base(const std::string& data, const std::string& dir, int emb_dim = 32) {
  auto r = run_slm("pretrain --config gpt2-tiny --emb-dim " + std::to_string(emb_dim) +
                   " --n-heads 2 --context-length 32 --data " + data + " --out " + dir +
                   " --steps 1 --batch 2 --seq 16 --quiet --threads 2");
  ASSERT_EQ(r.rc, 0) << r.err;
}

}  // namespace

TEST(Classifier, BatchReadsTheLastRealTokenOrTheFinalPosition) {
  slm::EncodedText a{{5, 6, 7}, 0}, b{{9}, 1}, c{{1, 2, 3, 4, 8}, 1};
  slm::ClassBatch cb;
  slm::make_class_batch({&a, &b, &c}, 50256, slm::ClassifierToken::Last, 12, 16, cb);
  EXPECT_EQ(cb.B, 3);
  EXPECT_EQ(cb.E, 3);
  EXPECT_EQ(cb.T, 5);  // the longest row, not pad_to
  EXPECT_EQ(cb.read_to, (std::vector<int32_t>{2, 0, 4}));
  EXPECT_EQ(cb.read_from, cb.read_to);  // one position each
  EXPECT_EQ(cb.row_start, (std::vector<int32_t>{0, 1, 2, 3}));
  EXPECT_EQ(cb.labels, (std::vector<int32_t>{0, 1, 1}));
  EXPECT_EQ(std::vector<int32_t>(cb.tokens.begin() + 5, cb.tokens.begin() + 10),
            (std::vector<int32_t>{9, 50256, 50256, 50256, 50256}));
  slm::make_class_batch({&a, &b}, 50256, slm::ClassifierToken::LastPosition, 12, 16,
                        cb);  // the book: fixed length, read at the end
  EXPECT_EQ(cb.T, 12);
  EXPECT_EQ(cb.read_to, (std::vector<int32_t>{11, 11}));
  EXPECT_EQ(cb.tokens[3], 50256);
}

TEST(Classifier, MeanReadsEveryTokenAndLongTextsInWindows) {
  slm::EncodedText a{{5, 6, 7}, 0}, b{{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 1}, c{{11, 12, 13, 14, 15, 16, 17, 18}, 0};
  slm::ClassBatch cb;
  slm::make_class_batch({&a, &b, &c}, 96, slm::ClassifierToken::Mean, 12, 4, cb);  // windows of 4 tokens
  // a: one row; b (10 tokens): 1-4, 5-8, then 7-10 reading only 9-10; c (8): two full windows.
  EXPECT_EQ(cb.E, 3);
  EXPECT_EQ(cb.B, 6);
  EXPECT_EQ(cb.T, 4);
  EXPECT_EQ(cb.row_start, (std::vector<int32_t>{0, 1, 4, 6}));
  EXPECT_EQ(cb.read_from, (std::vector<int32_t>{0, 0, 0, 2, 0, 0}));
  EXPECT_EQ(cb.read_to, (std::vector<int32_t>{2, 3, 3, 3, 3, 3}));
  EXPECT_EQ(cb.labels, (std::vector<int32_t>{0, 1, 0}));
  EXPECT_EQ(cb.tokens,
            (std::vector<int32_t>{5, 6, 7, 96, 1, 2, 3, 4, 5, 6, 7, 8, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18}));
  // Every token of b is read exactly once.
  std::vector<int32_t> read;
  for (int r = cb.row_start[1]; r < cb.row_start[2]; ++r)
    for (int t = cb.read_from[r]; t <= cb.read_to[r]; ++t) read.push_back(cb.tokens[static_cast<size_t>(r * cb.T + t)]);
  EXPECT_EQ(read, b.ids);
}

// Padding a short text into a batch with a longer one changes nothing when the class is read at
// the last real token or from the mean over the real tokens; the book's final padded position
// reads padding. Each pair of readings gives different answers, so the test can tell them apart.
TEST(Classifier, PaddingChangesNoLastTokenOrMeanPrediction) {
  auto m = tiny_classifier();
  const slm::EncodedText shortrow{{4, 8, 15}, -1}, longrow{{16, 23, 42, 4, 8, 15, 16}, -1}, one{{42}, -1};
  auto probs = [&](const std::string& token, const std::vector<slm::EncodedText>& rows) {
    m->set_classifier_input(token == "last-position" ? 10 : 0, *slm::classifier_token_from(token));
    std::vector<float> p = slm::predict_proba(*m, rows, 8, 96);
    return std::vector<float>(p.begin(), p.begin() + 3);  // the first text's 3 classes
  };
  auto distance = [](const std::vector<float>& a, const std::vector<float>& b) {
    float d = 0;
    for (size_t k = 0; k < a.size(); ++k) d += std::fabs(a[k] - b[k]);
    return d;
  };
  for (const char* token : {"last", "mean"})
    EXPECT_LT(distance(probs(token, {shortrow}), probs(token, {shortrow, longrow})), 1e-5f) << token;
  EXPECT_GT(distance(probs("last", {shortrow}), probs("last-position", {shortrow})), 1e-4f);
  EXPECT_GT(distance(probs("last", {shortrow}), probs("mean", {shortrow})), 1e-4f);
  EXPECT_LT(distance(probs("last", {one}), probs("mean", {one})), 1e-6f);  // the mean of one output is that output
}

namespace {

// Single-position batches: rows are examples, each read at pos[b].
slm::ClassBatch position_batch(std::vector<int32_t> tok, int64_t B, int64_t T, const std::vector<int32_t>& pos,
                               std::vector<int32_t> lab) {
  slm::ClassBatch cb;
  cb.B = cb.E = B, cb.T = T, cb.tokens = std::move(tok), cb.read_from = pos, cb.read_to = pos,
  cb.labels = std::move(lab);
  for (int32_t b = 0; b <= B; ++b) cb.row_start.push_back(b);
  return cb;
}

void expect_gradients_match(slm::GPT& m, const slm::ClassBatch& cb) {
  auto loss = [&] { return static_cast<double>(m.classify(cb, nullptr, true)); };
  m.zero_grad();
  m.classify(cb, nullptr, true, true);
  m.backward();
  for (const char* name :
       {"score.weight", "ln_f.weight", "h.1.mlp.c_fc.weight", "h.0.attn.c_attn.weight", "wte.weight"}) {
    float* w = m.params().data(name);
    const float* g = m.params().grad(name);
    ASSERT_NE(g, nullptr) << name;
    EXPECT_LT(slm::test::finite_difference_error(w, g, m.params().find(name)->numel, loss, 1e-2f, 23), 2e-2) << name;
  }
}

}  // namespace

TEST(Classifier, HeadAndBlockGradientsMatchFiniteDifferences) {
  auto m = tiny_classifier();
  m->enable_grads();
  expect_gradients_match(*m, position_batch({1, 5, 9, 13, 17, 21, 2, 4, 6, 8, 96, 96}, 2, 6, {5, 3}, {2, 0}));
}

TEST(Classifier, MeanReadingGradientsMatchFiniteDifferences) {
  auto m = tiny_classifier();
  m->set_classifier_input(0, slm::ClassifierToken::Mean);
  m->enable_grads();
  // Two examples: one in a single padded row, one long text in three windows of 6 (the last one
  // reading only its final two tokens).
  slm::EncodedText a{{1, 5, 9, 13}, 2}, b{{2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28}, 0};
  slm::ClassBatch cb;
  slm::make_class_batch({&a, &b}, 96, slm::ClassifierToken::Mean, 0, 6, cb);
  ASSERT_EQ(cb.B, 4);
  expect_gradients_match(*m, cb);
}

TEST(Classifier, LastBlockTrainingLeavesFrozenLayersUnchanged) {
  auto m = tiny_classifier(2);
  slm::set_classifier_trainable(*m, "last-block");
  m->enable_grads();
  const size_t C = 16, trainable = m->params().trainable_numel();
  EXPECT_EQ(m->params().find("h.0.mlp.c_fc.weight")->grad_offset, SIZE_MAX);
  EXPECT_LT(m->params().grad_numel(), m->params().numel() / 2);  // no gradient memory for frozen layers
  const size_t score = 2 * C, ln_f = 2 * C, norms = 4 * C, attn = C * 3 * C + 3 * C + C * C + C,
               mlp = C * 4 * C + 4 * C + 4 * C * C + C;
  EXPECT_EQ(trainable, score + ln_f + norms + attn + mlp);
  std::vector<float> before(m->params().data_all(), m->params().data_all() + m->params().numel());
  // Plain SGD on whatever gradients exist shows which parameters can move.
  const slm::ClassBatch cb = position_batch({1, 5, 9, 13, 2, 4, 6, 8}, 2, 4, {3, 3}, {1, 0});
  for (int s = 0; s < 3; ++s) {
    m->zero_grad();
    m->classify(cb, nullptr, true, true);
    m->backward();
    for (const auto& p : m->params().params())
      if (const float* g = m->params().grad(p.name))
        for (size_t i = 0; i < p.numel; ++i) m->params().data(p.name)[i] -= 0.1f * g[i];
  }
  for (const auto& p : m->params().params()) {
    const float* now = m->params().data(p.name);
    bool same = std::equal(now, now + p.numel, before.begin() + static_cast<int64_t>(p.offset));
    const bool frozen = !(p.name == "score.weight" || p.name.starts_with("ln_f.") || p.name.starts_with("h.1."));
    if (frozen) {
      EXPECT_TRUE(same) << p.name;
    } else if (p.name.find("weight") != std::string::npos) {
      EXPECT_FALSE(same) << p.name;
    }
  }
}

TEST(Classifier, SavesTheHuggingFaceSequenceClassificationLayout) {
  slm::test::TempDir t;
  auto m = tiny_classifier(2);
  m->set_classifier_input(12, slm::ClassifierToken::Last, slm::Truncation::HeadTail);
  slm::save_hf_model(*m, t.path());
  auto j = nlohmann::json::parse(slm::read_file(t.file("config.json")));
  EXPECT_EQ(j["architectures"][0], "GPT2ForSequenceClassification");
  EXPECT_EQ(j["num_labels"], 2);
  EXPECT_EQ(j["id2label"]["1"], "c1");
  EXPECT_EQ(j["label2id"]["c0"], 0);
  EXPECT_EQ(j["pad_token_id"], 50256);
  auto st = slm::SafetensorsFile::open(t.file("model.safetensors"));
  ASSERT_NE(st.find("score.weight"), nullptr);
  EXPECT_EQ(st.find("score.weight")->shape, (std::vector<int64_t>{2, 16}));
  EXPECT_NE(st.find("transformer.h.0.attn.c_attn.weight"), nullptr);
  EXPECT_EQ(st.find("lm_head.weight"), nullptr);
  auto back = slm::load_hf_model(t.path());
  ASSERT_TRUE(back->config().is_classifier());
  EXPECT_EQ(back->config().id2label, (std::vector<std::string>{"c0", "c1"}));
  EXPECT_EQ(back->config().classifier_max_length, 12);
  EXPECT_EQ(j["scratchlm_truncate"], "head+tail");
  EXPECT_EQ(back->config().classifier_truncate, slm::Truncation::HeadTail);
  slm::EncodedText x{{3, 1, 4, 1, 5}, -1};
  EXPECT_EQ(slm::predict_proba(*m, {x}, 1, 96), slm::predict_proba(*back, {x}, 1, 96));
  // A classifier is not a language model.
  std::vector<float> out(97);
  EXPECT_THROW(back->logits(x.ids.data(), 1, 5, out.data(), true), slm::Error);
  // Classifiers saved before --truncate existed read texts from the head; an unknown way is an error
  j.erase("scratchlm_truncate");
  slm::test::write_text(t.file("config.json"), j.dump());
  EXPECT_EQ(slm::load_hf_model(t.path())->config().classifier_truncate, slm::Truncation::Head);
  j["scratchlm_truncate"] = "middle";
  slm::test::write_text(t.file("config.json"), j.dump());
  EXPECT_THROW(slm::load_hf_model(t.path()), slm::Error);
}

TEST(Classifier, LongTextsKeepTheirHeadTailOrBoth) {
  const slm::Tokenizer& tok = slm::test::gpt2_tokenizer();
  std::string text = "Subject: a long message";
  for (int k = 0; k < 40; ++k) text += " word" + std::to_string(k);
  const std::vector<uint32_t> all = tok.encode(text, slm::SpecialMode::Text);
  ASSERT_GT(all.size(), 40u);
  const std::vector<int32_t> ids(all.begin(), all.end());
  auto cut = [&](const std::string& how, int64_t max_len) {
    return slm::encode_texts(tok, {{text, "spam"}}, {"ham", "spam"}, max_len, true, *slm::truncation_from(how)).at(0);
  };
  auto slice = [&](size_t from, size_t to) { return std::vector<int32_t>(ids.begin() + from, ids.begin() + to); };
  const size_t n = ids.size();
  EXPECT_EQ(cut("head", 12).ids, slice(0, 12));
  EXPECT_EQ(cut("tail", 12).ids, slice(n - 12, n));
  std::vector<int32_t> both = slice(0, 3);  // 12 / 4 from the start, 9 from the end
  for (int32_t id : slice(n - 9, n)) both.push_back(id);
  EXPECT_EQ(cut("head+tail", 12).ids, both);
  EXPECT_EQ(cut("head+tail", 12).label, 1);
  std::vector<int32_t> tail3 = slice(n - 3, n);
  EXPECT_EQ(cut("head+tail", 3).ids, tail3);             // 3 / 4 = 0 from the start
  for (const char* how : {"head", "tail", "head+tail"})  // short enough: whole
    EXPECT_EQ(cut(how, static_cast<int64_t>(n)).ids, ids) << how;
  EXPECT_FALSE(slm::truncation_from("middle"));
  // encode_for_classifier reads the classifier's own settings
  auto m = tiny_classifier(2);
  m->set_classifier_input(12, slm::ClassifierToken::Last, slm::Truncation::Tail);
  slm::GPTConfig c = m->config();
  c.id2label = {"ham", "spam"};
  EXPECT_EQ(slm::encode_for_classifier(c, tok, {{text, "spam"}}, true).at(0).ids, slice(n - 12, n));
}

TEST(ClassifierCli, TinyModelLearnsATwoClassTaskAndReports) {
  slm::test::TempDir t;
  const std::string data = synthetic_csv(t, 240), base = t.file("base"), out = t.file("cls");
  ASSERT_NO_FATAL_FAILURE(pretrain_tiny_base(data, base, 64));
  auto r = run_slm("finetune-classifier --init-from " + base + " --out " + out + " --data " + data +
                   " --trainable all --epochs 6 --lr 2e-3 --eval-every 10 --quiet --threads 2 --seed 5");
  ASSERT_EQ(r.rc, 0) << r.err;
  for (const char* f : {"config.json", "model.safetensors", "vocab.json", "merges.txt", "train.csv", "validation.csv",
                        "test.csv", "metrics.jsonl", "loss.svg", "accuracy.svg", "eval.json"})
    EXPECT_TRUE(fs::exists(out + "/" + f)) << f;
  auto report = nlohmann::json::parse(slm::read_file(out + "/eval.json"));
  EXPECT_EQ(report["train"]["n"].get<int>() + report["validation"]["n"].get<int>() + report["test"]["n"].get<int>(),
            240);
  EXPECT_GE(report["test"]["accuracy"].get<double>(), 0.85);  // chance is 0.5

  r = run_slm("eval-classifier --model " + out + " --data " + out + "/test.csv --json");
  ASSERT_EQ(r.rc, 0) << r.err;
  auto m = nlohmann::json::parse(r.out);
  EXPECT_DOUBLE_EQ(m["accuracy"].get<double>(), report["test"]["accuracy"].get<double>());
  EXPECT_EQ(m["confusion"].size(), 2u);
  EXPECT_EQ(m["labels"], (nlohmann::json{"animal", "fruit"}));
  r = run_slm("eval-classifier --model " + out + " --data " + out + "/test.csv --predictions " + t.file("pred.jsonl"));
  EXPECT_NE(r.out.find("confusion matrix"), std::string::npos);
  {  // one prediction per test row, in order, agreeing with the metrics
    const auto test_rows = slm::load_labeled(out + "/test.csv");
    size_t n = 0, correct = 0;
    slm::for_each_line(slm::read_file(t.file("pred.jsonl")), [&](std::string_view line, size_t) {
      auto p = nlohmann::json::parse(line);
      ASSERT_LT(n, test_rows.size());
      EXPECT_EQ(p["text"], test_rows[n].text);
      EXPECT_EQ(p["label"], test_rows[n].label);
      EXPECT_EQ(p["correct"].get<bool>(), p["predicted"] == p["label"]);
      EXPECT_GE(p["probability"].get<double>(), 0.5);
      correct += p["correct"].get<bool>();
      ++n;
    });
    EXPECT_EQ(n, test_rows.size());
    EXPECT_EQ(correct, m["correct"].get<size_t>());
  }

  r = run_slm("info --model " + out);
  EXPECT_NE(r.out.find("score head (2 classes)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("classifier: labels animal, fruit; reads at most " + std::to_string(cfg_max_length(out)) +
                       " tokens of a text (keeping its head), class from the last real token"),
            std::string::npos)
      << r.out;
  r = run_slm("classify --model " + out + " --json", "we like the banana and a cherry\nlook at that tiger\n");
  ASSERT_EQ(r.rc, 0) << r.err;
  auto nl = r.out.find('\n');
  auto first = nlohmann::json::parse(r.out.substr(0, nl)), second = nlohmann::json::parse(r.out.substr(nl + 1));
  EXPECT_EQ(first["label"], "fruit");
  EXPECT_EQ(second["label"], "animal");
  EXPECT_NEAR(first["probabilities"]["fruit"].get<double>() + first["probabilities"]["animal"].get<double>(), 1.0,
              1e-5);
  r = run_slm("classify --model " + out + " --text " + slm::test::shell_quote("my friend has a grape"));
  EXPECT_EQ(r.out.rfind("fruit\t", 0), 0u) << r.out;
}

TEST(ClassifierCli, SelectBestValSavesTheWeightsOfTheBestEpoch) {
  slm::test::TempDir t;
  const std::string data = synthetic_csv(t, 120), base = t.file("base"), out = t.file("cls");
  ASSERT_NO_FATAL_FAILURE(pretrain_tiny_base(data, base));
  // A learning rate high enough that validation accuracy goes up and down between epochs
  auto r = run_slm("finetune-classifier --init-from " + base + " --out " + out + " --data " + data +
                   " --trainable all --epochs 6 --lr 3e-2 --eval-every 0 --select best-val --threads 2 --seed 1");
  ASSERT_EQ(r.rc, 0) << r.err;
  std::vector<nlohmann::json> epochs;
  slm::for_each_line(slm::read_file(out + "/metrics.jsonl"), [&](std::string_view line, size_t) {
    auto rec = nlohmann::json::parse(line);
    if (rec["type"] == "epoch") epochs.push_back(rec);
  });
  ASSERT_EQ(epochs.size(), 6u);
  size_t best = 0;  // the rule: highest whole-validation accuracy, then the lowest loss
  for (size_t k = 1; k < epochs.size(); ++k) {
    const double acc = epochs[k]["full_val_accuracy"], best_acc = epochs[best]["full_val_accuracy"];
    if (acc > best_acc || (acc == best_acc && epochs[k]["full_val_loss"] < epochs[best]["full_val_loss"])) best = k;
  }
  ASSERT_NE(best + 1, epochs.size()) << "this setting should make an earlier epoch the best: " << r.err;
  auto report = nlohmann::json::parse(slm::read_file(out + "/eval.json"));
  EXPECT_EQ(report["select"], "best-val");
  EXPECT_EQ(report["selected_epoch"].get<size_t>(), best + 1);
  EXPECT_NE(r.err.find("keeping the weights after epoch " + std::to_string(best + 1)), std::string::npos) << r.err;
  // The saved classifier is the one measured at that epoch, not the last one
  r = run_slm("eval-classifier --model " + out + " --data " + out + "/validation.csv --json");
  ASSERT_EQ(r.rc, 0) << r.err;
  auto m = nlohmann::json::parse(r.out);
  EXPECT_DOUBLE_EQ(m["accuracy"].get<double>(), epochs[best]["full_val_accuracy"].get<double>());
  EXPECT_NEAR(m["loss"].get<double>(), epochs[best]["full_val_loss"].get<double>(), 1e-5);
  EXPECT_GT(std::abs(m["loss"].get<double>() - epochs.back()["full_val_loss"].get<double>()), 1e-4);

  r = run_slm("finetune-classifier --init-from " + base + " --out " + t.file("o") + " --train " + out +
              "/train.csv --select best-val --quiet");
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("--select best-val needs a validation split"), std::string::npos) << r.err;
  r = run_slm("finetune-classifier --init-from " + base + " --out " + t.file("o") + " --data " + data +
              " --select best --quiet");
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("--select must be last or best-val"), std::string::npos) << r.err;
  r = run_slm("finetune-classifier --init-from " + base + " --out " + t.file("o") + " --data " + data +
              " --truncate middle --quiet");
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("--truncate must be head, tail or head+tail"), std::string::npos) << r.err;
}

TEST(ClassifierCli, MeanReadingReadsTextsLongerThanTheContext) {
  // The class word opens each text, then ~45 tokens of filler the classes share: a model with a
  // context of 32 that keeps the texts' tails never sees it; --token mean reads it in windows.
  slm::test::TempDir t;
  const char* fruit[] = {"apple", "banana", "cherry", "grape", "lemon", "mango"};
  const char* animal[] = {"dog", "cat", "horse", "mouse", "tiger", "zebra"};
  const char* filler[] = {"the weather was fine and", "we walked along the river while", "someone sang a song as",
                          "the train was late again so", "it rained for an hour and then"};
  slm::Rng rng(9);
  std::string csv = "Label,Text\n";
  for (int i = 0; i < 200; ++i) {
    const bool a = i % 2 == 0;
    std::string text = std::string("I saw a ") + (a ? fruit[rng.below(6)] : animal[rng.below(6)]) + ".";
    for (int k = 0; k < 7; ++k) text += std::string(" ") + filler[rng.below(5)];
    csv += std::string(a ? "fruit" : "animal") + "," + text + "\n";
  }
  const std::string data = t.file("long.csv"), base = t.file("base"), mean = t.file("mean"), last = t.file("last");
  slm::test::write_text(data, csv);
  ASSERT_NO_FATAL_FAILURE(pretrain_tiny_base(data, base, 64));
  const std::string common =
      " --data " + data +
      " --trainable all --epochs 6 --lr 3e-3 --eval-every 0 --quiet --threads 2 --seed 1 --truncate tail";
  auto r =
      run_slm("finetune-classifier --init-from " + base + " --out " + mean + common + " --token mean --max-length 64");
  ASSERT_EQ(r.rc, 0) << r.err;
  r = run_slm("finetune-classifier --init-from " + base + " --out " + last + common + " --token last --max-length 32");
  ASSERT_EQ(r.rc, 0) << r.err;
  auto acc = [](const std::string& dir) {
    return nlohmann::json::parse(slm::read_file(dir + "/eval.json"))["test"]["accuracy"].get<double>();
  };
  EXPECT_GE(acc(mean), 0.85);
  EXPECT_LE(acc(last), 0.75);  // the class word is out of its reach: about chance
  auto cfg = nlohmann::json::parse(slm::read_file(mean + "/config.json"));
  EXPECT_EQ(cfg["scratchlm_classifier_token"], "mean");
  EXPECT_EQ(cfg["scratchlm_max_length"], 64);
  EXPECT_EQ(cfg["n_positions"], 32);
  r = run_slm("classify --model " + mean + " --text " +
              slm::test::shell_quote("I saw a cherry. " + std::string(filler[0]) + " " + filler[1] + " " + filler[2] +
                                     " " + filler[3] + " " + filler[4] + " " + filler[0] + " " + filler[1]));
  EXPECT_EQ(r.out.rfind("fruit\t", 0), 0u) << r.out << r.err;
  r = run_slm("info --model " + mean);
  EXPECT_NE(r.out.find("reads at most 64 tokens of a text (keeping its tail), class from the mean over every token"),
            std::string::npos)
      << r.out;
  r = run_slm("finetune-classifier --init-from " + base + " --out " + t.file("o") + " --data " + data +
              " --max-length 96 --quiet");
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("--max-length 96 exceeds the model's context length 32"), std::string::npos) << r.err;
  r = run_slm("finetune-classifier --init-from " + base + " --out " + t.file("o") + " --data " + data +
              " --token first --quiet");
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("--token must be last, last-position or mean"), std::string::npos) << r.err;
}

TEST(ClassifierCli, ResumeIsBitExactWithBestValSelection) {
  // 6 epochs straight == stopped at step 55 (inside epoch 6) and resumed, with --select best-val
  // picking an earlier epoch (the setting of the test above): the best epoch's weights and scores
  // travel in the checkpoint.
  slm::test::TempDir t;
  const std::string data = synthetic_csv(t, 120), base = t.file("base");
  ASSERT_NO_FATAL_FAILURE(pretrain_tiny_base(data, base));
  const std::string common = "finetune-classifier --init-from " + base + " --data " + data +
                             " --trainable all --epochs 6 --lr 3e-2 --eval-every 4 --select best-val "
                             "--threads 2 --quiet --seed 1 --save-every 10";
  auto r = run_slm(common + " --out " + t.file("straight"));
  ASSERT_EQ(r.rc, 0) << r.err;
  r = run_slm(common + " --out " + t.file("split") + " --stop-at 55");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_TRUE(fs::exists(t.file("split") + "/checkpoint/trainer.json"));
  EXPECT_FALSE(fs::exists(t.file("split") + "/eval.json"));  // stopped: no final model yet
  r = run_slm("finetune-classifier --resume " + t.file("split") + " --lr 1 --quiet");
  EXPECT_EQ(r.rc, 2);
  EXPECT_HAS(r.err, "--lr cannot be changed when resuming");
  r = run_slm("finetune-classifier --resume " + t.file("split") + " --threads 2 --quiet");
  ASSERT_EQ(r.rc, 0) << r.err;
  auto steps = [](const std::string& dir) {
    std::vector<double> out;
    slm::for_each_line(slm::read_file(dir + "/metrics.jsonl"), [&](std::string_view line, size_t) {
      auto rec = nlohmann::json::parse(line);
      if (rec["type"] == "step" || rec["type"] == "eval") out.push_back(rec.value("loss", rec.value("val_loss", 0.0)));
    });
    return out;
  };
  EXPECT_EQ(steps(t.file("straight")), steps(t.file("split")));
  auto a = nlohmann::json::parse(slm::read_file(t.file("straight") + "/eval.json"));
  auto b = nlohmann::json::parse(slm::read_file(t.file("split") + "/eval.json"));
  EXPECT_EQ(a["selected_epoch"], b["selected_epoch"]);
  EXPECT_LT(a["selected_epoch"].get<int>(), 6) << "the setting should select an epoch before the stop";
  EXPECT_EQ(a["test"], b["test"]);
  auto ma = slm::load_hf_model(t.file("straight"), true), mb = slm::load_hf_model(t.file("split"), true);
  EXPECT_TRUE(
      std::equal(ma->params().data_all(), ma->params().data_all() + ma->params().numel(), mb->params().data_all()));
}

TEST(ClassifierCli, ClearErrors) {
  slm::test::TempDir t;
  const std::string data = synthetic_csv(t, 40), base = t.file("base");
  ASSERT_NO_FATAL_FAILURE(pretrain_tiny_base(data, base));
  slm::test::write_text(t.file("one.csv"), "Label,Text\nham,hello there\nham,see you soon\n");
  auto r = run_slm("finetune-classifier --init-from " + base + " --out " + t.file("o1") + " --data " +
                   t.file("one.csv") + " --quiet");
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("single class"), std::string::npos) << r.err;

  slm::test::write_text(t.file("empty.csv"), "Label,Text\nham,hello there\nspam,\"  \"\n");
  r = run_slm("finetune-classifier --init-from " + base + " --out " + t.file("o2") + " --train " + t.file("empty.csv") +
              " --quiet");
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("empty"), std::string::npos) << r.err;

  r = run_slm("classify --model " + base + " --text hello");  // a language model, no score head
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("no classification head"), std::string::npos) << r.err;

  const std::string cls = t.file("cls");
  ASSERT_EQ(run_slm("finetune-classifier --init-from " + base + " --out " + cls + " --data " + data +
                    " --max-steps 1 --quiet")
                .rc,
            0);
  slm::test::write_text(t.file("other.csv"), "Label,Text\nfruit,an apple\nvegetable,a carrot\n");
  r = run_slm("eval-classifier --model " + cls + " --data " + t.file("other.csv"));
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("unknown label 'vegetable'"), std::string::npos) << r.err;
  r = run_slm("finetune-classifier --init-from " + base + " --out " + t.file("o3") + " --data " + data +
              " --trainable some --quiet");
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("--trainable"), std::string::npos) << r.err;

  // --split-only: the same three files as a training run with the same seed, and no model
  r = run_slm("finetune-classifier --split-only --data " + data + " --out " + t.file("split"));
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("28 / 4 / 8 examples"), std::string::npos) << r.out;
  for (const char* f : {"train.csv", "validation.csv", "test.csv"})
    EXPECT_EQ(slm::read_file(t.file("split") + "/" + f), slm::read_file(cls + "/" + f)) << f;
  EXPECT_FALSE(fs::exists(t.file("split") + "/model.safetensors"));
  EXPECT_FALSE(fs::exists(t.file("split") + "/unused.csv"));  // balanced already: nothing left out
  // Unbalanced data: what balancing leaves out goes to unused.csv, in no split; a later balanced
  // run into the same directory removes it.
  std::string unbalanced = slm::read_file(data);
  for (int k = 0; k < 5; ++k) unbalanced += "fruit,an extra apple number " + std::to_string(k) + "\n";
  slm::test::write_text(t.file("unbalanced.csv"), unbalanced);
  r = run_slm("finetune-classifier --split-only --data " + t.file("unbalanced.csv") + " --out " + t.file("split"));
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("28 / 4 / 8 examples"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("unused.csv: the 5 examples that balancing left out"), std::string::npos) << r.out;
  auto unused = slm::load_labeled(t.file("split") + "/unused.csv");
  ASSERT_EQ(unused.size(), 5u);
  std::multiset<std::pair<std::string, std::string>> all_rows, written;  // (label, text)
  for (const auto& e : slm::load_labeled(t.file("unbalanced.csv"))) all_rows.insert({e.label, e.text});
  for (const char* f : {"train.csv", "validation.csv", "test.csv", "unused.csv"})
    for (const auto& e : slm::load_labeled(t.file("split") + "/" + f)) written.insert({e.label, e.text});
  EXPECT_EQ(written, all_rows);  // every row in exactly one file
  for (const auto& e : unused) EXPECT_EQ(e.label, "fruit");
  ASSERT_EQ(run_slm("finetune-classifier --split-only --data " + data + " --out " + t.file("split")).rc, 0);
  EXPECT_FALSE(fs::exists(t.file("split") + "/unused.csv"));
  r = run_slm("finetune-classifier --split-only --train " + t.file("split") + "/train.csv --out " + t.file("o4"));
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("--split-only needs --data"), std::string::npos) << r.err;
}

TEST(ClassifierCli, LoraTrainsAdaptersAndSavesAPlainMergedClassifier) {
  slm::test::TempDir t;
  const std::string data = synthetic_csv(t, 80), base = t.file("base"), out = t.file("cls");
  ASSERT_NO_FATAL_FAILURE(pretrain_tiny_base(data, base));
  auto r = run_slm("finetune-classifier --init-from " + base + " --out " + out + " --data " + data +
                   " --lora-rank 4 --lora-alpha 8 --max-steps 3 --threads 1 --truncate head+tail --max-length 6");
  ASSERT_EQ(r.rc, 0) << r.err;
  // 2 blocks x (c_attn 3 x 4 x (32 + 32) + c_proj 4 x 64 + c_fc 4 x (32 + 128) + mlp c_proj 4 x (128 + 32)) + head 4 x
  // (32 + 2)
  const int64_t expected = 2 * (3 * 4 * 64 + 4 * 64 + 4 * 160 + 4 * 160) + 4 * 34;
  EXPECT_NE(r.err.find(std::to_string(expected) + " of "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("LoRA rank 4"), std::string::npos) << r.err;
  auto st = slm::SafetensorsFile::open(out + "/model.safetensors");
  for (const auto& ti : st.tensors()) EXPECT_EQ(ti.name.find("lora"), std::string::npos) << ti.name;
  auto cfg = nlohmann::json::parse(slm::read_file(out + "/config.json"));
  EXPECT_FALSE(cfg.contains("scratchlm_lora"));
  EXPECT_EQ(cfg["scratchlm_truncate"], "head+tail");
  EXPECT_EQ(cfg["scratchlm_max_length"], 6);
  // The frozen body is the base model's: merged adapters changed the Linear weights, but not wte.
  auto b = slm::load_hf_model(base), m = slm::load_hf_model(out);
  EXPECT_TRUE(std::equal(b->params().data("wte.weight"), b->params().data("wte.weight") + 32 * 50257,
                         m->params().data("wte.weight")));
  r = run_slm("finetune-classifier --init-from " + base + " --out " + t.file("x") + " --data " + data +
              " --lora-alpha 8 --quiet");
  EXPECT_EQ(r.rc, 2);
}
