// classifier.cpp — the GPT classifier of chapter 6.5–6.7 (see classifier.h).
#include "scratchlm/finetune/classifier.h"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "scratchlm/model/gpt.h"
#include "scratchlm/tensor/rng.h"
#include "scratchlm/tokenizer/bpe.h"
#include "scratchlm/util/error.h"

namespace slm {

std::unique_ptr<GPT> make_classifier(const GPT& lm, const std::vector<std::string>& labels, uint64_t seed) {
  if (labels.size() < 2) fail("a classifier needs at least two classes, the data has {}", labels.size());
  GPTConfig c = lm.config();
  c.num_labels = static_cast<int64_t>(labels.size());
  c.id2label = labels;
  auto model = std::make_unique<GPT>(c);
  for (const auto& p : model->params().params()) {
    if (p.name == "score.weight") continue;
    std::copy_n(lm.params().data(p.name), p.numel, model->params().data(p.name));
  }
  Rng rng(seed);
  float* w = model->params().data("score.weight");
  const float bound = 1.0f / std::sqrt(static_cast<float>(c.emb_dim));
  for (int64_t i = 0; i < c.num_labels * c.emb_dim; ++i) w[i] = (2.0f * rng.uniform() - 1.0f) * bound;
  return model;
}

void set_classifier_trainable(GPT& model, std::string_view which) {
  if (which != "head" && which != "last-block" && which != "all")
    fail("--trainable must be head, last-block or all, not '{}'", which);
  const std::string last = "h." + std::to_string(model.config().n_layers - 1) + ".";
  for (auto& p : model.params().params()) {
    bool on = which == "all" || p.name == "score.weight";
    if (which == "last-block") on = on || p.name.starts_with("ln_f.") || p.name.starts_with(last);
    p.trainable = on;
  }
}

std::vector<EncodedText> encode_texts(const Tokenizer& tok, const std::vector<LabeledExample>& rows,
                                      const std::vector<std::string>& labels, int64_t max_length, bool with_labels,
                                      Truncation truncate) {
  if (max_length <= 0) fail_internal("encode_texts: max_length must be positive");
  const size_t keep = static_cast<size_t>(max_length);
  const size_t head = truncate == Truncation::Head ? keep : truncate == Truncation::Tail ? 0 : keep / 4;
  std::vector<EncodedText> out(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto& r = rows[i];
    if (r.text.find_first_not_of(" \t\r\n") == std::string::npos) fail("row {}: the text is empty", i + 1);
    auto ids = tok.encode(r.text, SpecialMode::Text);
    if (ids.size() > keep) {  // the first `head` tokens, then the last keep - head
      out[i].ids.assign(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(head));
      out[i].ids.insert(out[i].ids.end(), ids.end() - static_cast<std::ptrdiff_t>(keep - head), ids.end());
    } else {
      out[i].ids.assign(ids.begin(), ids.end());
    }
    if (with_labels) {
      auto it = std::find(labels.begin(), labels.end(), r.label);
      if (it == labels.end()) {
        std::string known;
        for (const auto& l : labels) known += (known.empty() ? "" : ", ") + l;
        fail("row {}: unknown label '{}' (the model's labels: {})", i + 1, r.label, known);
      }
      out[i].label = static_cast<int32_t>(it - labels.begin());
    }
  }
  return out;
}

void make_class_batch(const std::vector<const EncodedText*>& rows, int32_t pad_id, ClassifierToken token,
                      int64_t pad_to, int64_t window, ClassBatch& out) {
  if (window <= 0) fail_internal("make_class_batch: the window must be positive");
  const bool last_position = token == ClassifierToken::LastPosition, mean = token == ClassifierToken::Mean;
  struct Row {
    const int32_t* ids;
    int64_t len, from, to;
  };
  std::vector<Row> layout;
  out.E = static_cast<int64_t>(rows.size());
  out.row_start.assign(1, 0);
  out.labels.resize(rows.size());
  for (size_t e = 0; e < rows.size(); ++e) {
    const auto& ids = rows[e]->ids;
    const int64_t n = static_cast<int64_t>(ids.size());
    if (!mean || n <= window) {
      layout.push_back({ids.data(), n, 0, std::max<int64_t>(n - 1, 0)});
    } else {  // full windows; the last one ends at the text's end and reads only what is new
      int64_t s = 0;
      for (; s + window <= n; s += window) layout.push_back({ids.data() + s, window, 0, window - 1});
      if (s < n) layout.push_back({ids.data() + n - window, window, window - (n - s), window - 1});
    }
    out.row_start.push_back(static_cast<int32_t>(layout.size()));
    out.labels[e] = rows[e]->label;
  }
  int64_t T = 1;
  for (const Row& r : layout) T = std::max(T, r.len);
  if (last_position) T = std::max(T, pad_to);
  out.B = static_cast<int64_t>(layout.size());
  out.T = T;
  out.tokens.assign(static_cast<size_t>(out.B * T), pad_id);
  out.read_from.resize(layout.size());
  out.read_to.resize(layout.size());
  for (size_t r = 0; r < layout.size(); ++r) {
    std::copy_n(layout[r].ids, layout[r].len, out.tokens.begin() + static_cast<int64_t>(r) * T);
    out.read_to[r] = static_cast<int32_t>(last_position ? T - 1 : layout[r].to);
    out.read_from[r] = static_cast<int32_t>(mean ? layout[r].from : out.read_to[r]);
  }
}

namespace {
void softmax_rows(std::vector<float>& z, int64_t K) {
  for (size_t b = 0; b + static_cast<size_t>(K) <= z.size(); b += static_cast<size_t>(K)) {
    float* r = z.data() + b;
    const float mx = *std::max_element(r, r + K);
    double s = 0.0;
    for (int64_t k = 0; k < K; ++k) s += std::exp(static_cast<double>(r[k] - mx));
    for (int64_t k = 0; k < K; ++k) r[k] = static_cast<float>(std::exp(static_cast<double>(r[k] - mx)) / s);
  }
}
}  // namespace

std::vector<float> predict_proba(GPT& model, const std::vector<EncodedText>& rows, int64_t batch, int32_t pad_id) {
  const int64_t K = model.config().num_labels;
  if (K <= 0)
    fail("this model has no classification head (it is a language model); finetune one with slm finetune-classifier");
  const bool was_training = model.training();
  model.set_training(false);
  std::vector<float> out(rows.size() * static_cast<size_t>(K));
  ClassBatch cb;
  std::vector<const EncodedText*> ptrs;
  std::vector<float> z;
  for (size_t i = 0; i < rows.size(); i += static_cast<size_t>(batch)) {
    ptrs.clear();
    for (size_t j = i; j < std::min(rows.size(), i + static_cast<size_t>(batch)); ++j) ptrs.push_back(&rows[j]);
    make_class_batch(ptrs, pad_id, model.config().classifier_token, model.config().classifier_read_length(),
                     model.config().context_length, cb);
    z.resize(static_cast<size_t>(cb.E * K));
    model.classify(cb, z.data());
    softmax_rows(z, K);
    std::copy(z.begin(), z.end(), out.begin() + static_cast<int64_t>(i) * K);
  }
  model.set_training(was_training);
  return out;
}

std::vector<float> classify_texts(GPT& model, const Tokenizer& tok, const std::vector<std::string>& texts,
                                  int64_t batch) {
  const GPTConfig& c = model.config();
  std::vector<LabeledExample> rows;
  rows.reserve(texts.size());
  for (const auto& t : texts) rows.push_back({t, ""});
  const int32_t pad = tok.pad_id();
  return predict_proba(model, encode_for_classifier(c, tok, rows, false), batch, pad);
}

std::vector<EncodedText> encode_for_classifier(const GPTConfig& c, const Tokenizer& tok,
                                               const std::vector<LabeledExample>& rows, bool with_labels) {
  return encode_texts(tok, rows, with_labels ? c.id2label : std::vector<std::string>{}, c.classifier_read_length(),
                      with_labels, c.classifier_truncate);
}

nlohmann::json prediction_json(const std::vector<std::string>& id2label, const float* probs) {
  const size_t K = id2label.size();
  const size_t k = static_cast<size_t>(std::max_element(probs, probs + K) - probs);
  nlohmann::json all = nlohmann::json::object();
  for (size_t j = 0; j < K; ++j) all[id2label[j]] = probs[j];
  return {{"label", id2label[k]}, {"probability", probs[k]}, {"probabilities", all}};
}

ClassMetrics evaluate_classifier(GPT& model, const std::vector<EncodedText>& rows, int64_t batch, int32_t pad_id,
                                 int64_t max_batches) {
  size_t n = rows.size();
  if (max_batches > 0) n = std::min(n, static_cast<size_t>(max_batches * batch));
  const std::vector<EncodedText> subset(rows.begin(), rows.begin() + static_cast<int64_t>(n));
  return classification_metrics(predict_proba(model, subset, batch, pad_id), subset, model.config().num_labels);
}

ClassMetrics classification_metrics(const std::vector<float>& p, const std::vector<EncodedText>& rows, int64_t K) {
  const size_t n = rows.size();
  if (p.size() != n * static_cast<size_t>(K))
    fail_internal("classification_metrics: {} probabilities for {} rows", p.size(), n);
  ClassMetrics m;
  m.n = static_cast<int64_t>(n);
  m.confusion.assign(static_cast<size_t>(K), std::vector<int64_t>(static_cast<size_t>(K), 0));
  double loss = 0.0;
  for (size_t i = 0; i < n; ++i) {
    const float* r = p.data() + i * static_cast<size_t>(K);
    const int64_t pred = std::max_element(r, r + K) - r;
    const int32_t y = rows[i].label;
    if (y < 0) fail_internal("classification_metrics needs labeled examples");
    m.confusion[static_cast<size_t>(y)][static_cast<size_t>(pred)]++;
    m.correct += pred == y;
    loss -= std::log(std::max(static_cast<double>(r[y]), 1e-30));
  }
  m.accuracy = n ? static_cast<double>(m.correct) / static_cast<double>(n) : std::nan("");
  m.loss = n ? loss / static_cast<double>(n) : std::nan("");
  for (int64_t k = 0; k < K; ++k) {
    int64_t tp = m.confusion[k][k], pred_k = 0, true_k = 0;
    for (int64_t j = 0; j < K; ++j) pred_k += m.confusion[j][k], true_k += m.confusion[k][j];
    const double prec = pred_k ? static_cast<double>(tp) / static_cast<double>(pred_k) : 0.0;
    const double rec = true_k ? static_cast<double>(tp) / static_cast<double>(true_k) : 0.0;
    m.precision.push_back(prec);
    m.recall.push_back(rec);
    m.f1.push_back(prec + rec > 0 ? 2 * prec * rec / (prec + rec) : 0.0);
    m.support.push_back(true_k);
  }
  return m;
}

nlohmann::json metrics_to_json(const ClassMetrics& m, const std::vector<std::string>& labels) {
  nlohmann::json per = nlohmann::json::array();
  for (size_t k = 0; k < labels.size() && k < m.precision.size(); ++k)
    per.push_back({{"label", labels[k]},
                   {"precision", m.precision[k]},
                   {"recall", m.recall[k]},
                   {"f1", m.f1[k]},
                   {"support", m.support[k]}});
  return {{"n", m.n},       {"correct", m.correct}, {"accuracy", m.accuracy},  {"loss", m.loss},
          {"classes", per}, {"labels", labels},     {"confusion", m.confusion}};
}

std::string format_metrics(const ClassMetrics& m, const std::vector<std::string>& labels) {
  size_t w = 5;
  for (const auto& l : labels) w = std::max(w, l.size());
  std::string s =
      fmt::format("accuracy {:.2f}% ({} of {}), loss {:.4f}\n\n", 100.0 * m.accuracy, m.correct, m.n, m.loss);
  s += fmt::format("{:<{}}  precision  recall      f1  support\n", "class", w);
  for (size_t k = 0; k < labels.size(); ++k)
    s += fmt::format("{:<{}}  {:9.4f}  {:6.4f}  {:6.4f}  {:7}\n", labels[k], w, m.precision[k], m.recall[k], m.f1[k],
                     m.support[k]);
  s += fmt::format("\nconfusion matrix (rows: true class, columns: predicted)\n{:<{}}", "", w);
  for (const auto& l : labels) s += fmt::format("  {:>{}}", l, w);
  s += "\n";
  for (size_t k = 0; k < labels.size(); ++k) {
    s += fmt::format("{:<{}}", labels[k], w);
    for (size_t j = 0; j < labels.size(); ++j) s += fmt::format("  {:>{}}", m.confusion[k][j], w);
    s += "\n";
  }
  return s;
}

}  // namespace slm
