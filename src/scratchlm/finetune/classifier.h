// classifier.h — a GPT as a text classifier (chapter 6.5–6.7): the language-model head replaced
// by a small Linear(emb_dim, num_classes) "score" head, which layers train, how texts become
// padded batches, and which position the class is read from; predictions and the metrics of
// chapter 6.6 (accuracy), extended with precision, recall, F1 and the confusion matrix.
//
// Where the class is read. The book pads every text with <|endoftext|> to one fixed length and
// reads the output at the final position, which for short texts is a padding token: the model
// must learn to carry the decision through the padding, and the same text gets different logits
// at different pad lengths. ScratchLM reads the last real token of each row instead ("last", the
// default; Hugging Face's GPT2ForSequenceClassification does the same through pad_token_id), so
// batches are padded only to their longest text and the padding never changes a prediction (the
// causal mask keeps it out of the earlier positions). "last-position" restores the book's rule:
// rows are padded to the fixed max length and the final position is read. "mean" reads the mean
// of the outputs at every real token instead (each position sees only the text before it; the
// mean gives the head all of them), and reads a text longer than the context in windows.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "scratchlm/data/labeled_data.h"
#include "scratchlm/model/gpt.h"

namespace slm {

class Tokenizer;

// A new classifier with every body weight of `lm` (embeddings, blocks, final norm) and a fresh
// score head initialized as torch.nn.Linear's default, U(-1/sqrt(C), 1/sqrt(C)), seeded.
// A BadInput error for fewer than two labels.
std::unique_ptr<GPT> make_classifier(const GPT& lm, const std::vector<std::string>& labels, uint64_t seed);

// Which parameters train: "head" (score only), "last-block" (the book: score, the final LayerNorm
// and the last transformer block), "all". Call before enable_grads(). BadInput for other names.
void set_classifier_trainable(GPT& model, std::string_view which);

// A tokenized text and its class id (-1 when unlabeled).
struct EncodedText {
  std::vector<int32_t> ids;
  int32_t label = -1;
};

// Tokenizes texts (special tokens as ordinary text), cutting each to max_length tokens (> 0) as
// `truncate` says: "head" keeps the first max_length tokens (the book), "tail" the last, and
// "head+tail" the first max_length / 4 and the last max_length - max_length / 4 (Sun et al. 2019,
// "How to Fine-Tune BERT for Text Classification?": 128 + 382 of 510 read long texts best).
// With labels non-empty every example's label must be one of them (BadInput naming it and the
// row otherwise); an empty text is a BadInput error naming the row.
std::vector<EncodedText> encode_texts(const Tokenizer& tok, const std::vector<LabeledExample>& rows,
                                      const std::vector<std::string>& labels, int64_t max_length, bool with_labels,
                                      Truncation truncate = Truncation::Head);
// encode_texts as the classifier `c` was trained: its classifier_max_length (else the context
// length) and classifier_truncate, its id2label when with_labels.
std::vector<EncodedText> encode_for_classifier(const GPTConfig& c, const Tokenizer& tok,
                                               const std::vector<LabeledExample>& rows, bool with_labels);

// A padded batch (ClassBatch, model/gpt.h) of the rows. token "last": T = the longest row, read at
// each row's last real token; "last-position": T = pad_to (the fixed length, as the book), read at
// T-1; "mean": every real token is read, and a text longer than `window` (the context length) is
// cut into windows of that length, the last one moved back to end at the text's end (reading only
// the tokens the windows before it did not), so each example takes ceil(n / window) rows.
void make_class_batch(const std::vector<const EncodedText*>& rows, int32_t pad_id, ClassifierToken token,
                      int64_t pad_to, int64_t window, ClassBatch& out);

struct ClassMetrics {
  int64_t n = 0, correct = 0;
  double loss = 0.0, accuracy = 0.0;  // loss: mean cross-entropy (labeled data)
  std::vector<double> precision, recall, f1;
  std::vector<int64_t> support;
  std::vector<std::vector<int64_t>> confusion;  // [true class][predicted class]
};

// Class probabilities [n, K] of the examples, batch by batch (eval mode).
std::vector<float> predict_proba(GPT& model, const std::vector<EncodedText>& rows, int64_t batch, int32_t pad_id);
// Class probabilities [texts.size(), K] of raw texts read as the classifier was trained
// (encode_for_classifier), padded with the tokenizer's <|endoftext|>.
// BadInput for an empty text (naming its row).
std::vector<float> classify_texts(GPT& model, const Tokenizer& tok, const std::vector<std::string>& texts,
                                  int64_t batch);
// One text's prediction from its K probabilities: {"label", "probability", "probabilities": {label: p}}.
nlohmann::json prediction_json(const std::vector<std::string>& id2label, const float* probs);
// Metrics over the first max_batches batches (all when <= 0), as the book's calc_accuracy_loader.
ClassMetrics evaluate_classifier(GPT& model, const std::vector<EncodedText>& rows, int64_t batch, int32_t pad_id,
                                 int64_t max_batches = 0);
// The metrics of class probabilities p [rows.size(), K] (predict_proba's) against the rows' labels.
ClassMetrics classification_metrics(const std::vector<float>& p, const std::vector<EncodedText>& rows, int64_t K);
nlohmann::json metrics_to_json(const ClassMetrics& m, const std::vector<std::string>& labels);
// A readable report: accuracy, a per-class table and the confusion matrix.
std::string format_metrics(const ClassMetrics& m, const std::vector<std::string>& labels);

}  // namespace slm
