// cmd_info.cpp — `slm info`: parameter counts per module and memory estimates (chapter 4.6); with
// --model, the weights file is checked against the config first (header, tensors, sizes).
#include <cstdio>
#include <nlohmann/json.hpp>

#include "scratchlm/cli/commands.h"
#include "scratchlm/cli/model_options.h"
#include "scratchlm/io/hf_gpt2.h"

namespace slm::cli {

namespace {
double mib(double bytes) { return bytes / (1024.0 * 1024.0); }
std::string group(int64_t n) {
  std::string s = std::to_string(n), out;
  int k = 0;
  for (auto it = s.rbegin(); it != s.rend(); ++it, ++k) {
    if (k && k % 3 == 0 && *it != '-') out.insert(out.begin(), ',');
    out.insert(out.begin(), *it);
  }
  return out;
}
}  // namespace

void register_info(CLI::App& app) {
  struct Opts {
    ModelOptions model;
    bool json = false;
    int64_t batch = 8, seq = 0;
  };
  auto o = std::make_shared<Opts>();
  auto* c = app.add_subcommand("info", "Print a model's parameter counts per module and memory estimates");
  o->model.add(c);
  c->add_flag("--json", o->json, "Print JSON");
  c->add_option("--batch", o->batch, "Batch size for the training memory estimate")->check(CLI::PositiveNumber);
  c->add_option("--seq", o->seq, "Sequence length for the estimates (default: the context length)")
      ->check(CLI::PositiveNumber);
  c->callback([o] {
    GPTConfig cfg = o->model.resolve();
    if (!o->model.model_dir.empty()) check_hf_weights(o->model.model_dir, cfg);  // the counts describe real weights
    ParamCounts pc = count_params(cfg);
    const int64_t T = o->seq ? o->seq : cfg.context_length;
    const double weights = static_cast<double>(pc.total) * 4.0;
    const double infer_acts = static_cast<double>(GPT::activation_bytes_for(cfg, 1, T, false));
    const double train_acts = static_cast<double>(GPT::activation_bytes_for(cfg, o->batch, T, true));
    // Training: weights + gradients + AdamW m and v (all fp32) + activations.
    const double train = weights * 4.0 + train_acts;
    if (o->json) {
      nlohmann::json j = {{"config", cfg.to_hf_json()},
                          {"params",
                           {{"tok_emb", pc.tok_emb},
                            {"pos_emb", pc.pos_emb},
                            {"attention_per_block", pc.attention_per_block},
                            {"feed_forward_per_block", pc.ff_per_block},
                            {"layer_norms_per_block", pc.norms_per_block},
                            {"per_block", pc.per_block},
                            {"blocks", pc.blocks},
                            {"final_norm", pc.final_norm},
                            {"out_head", cfg.tie_word_embeddings && !cfg.is_classifier() ? 0 : pc.out_head},
                            {"total", pc.total},
                            {"total_untied", pc.total_untied},
                            {"total_tied", pc.total_tied}}},
                          {"memory_bytes",
                           {{"weights_fp32", weights},
                            {"inference_activations_b1", infer_acts},
                            {"inference_total_b1", weights + infer_acts},
                            {"training_batch", o->batch},
                            {"training_seq", T},
                            {"training_activations", train_acts},
                            {"training_total", train}}}};
      std::printf("%s\n", j.dump(2).c_str());
      return;
    }
    std::printf(
        "model: vocab %lld, context %lld, emb %lld, heads %lld, layers %lld, qkv_bias %s, tied head %s, dropout %g\n",
        (long long)cfg.vocab_size, (long long)cfg.context_length, (long long)cfg.emb_dim, (long long)cfg.n_heads,
        (long long)cfg.n_layers, cfg.qkv_bias ? "yes" : "no", cfg.tie_word_embeddings ? "yes" : "no", cfg.drop_rate);
    if (cfg.is_classifier()) {
      std::string labels;
      for (const auto& l : cfg.id2label) labels += (labels.empty() ? "" : ", ") + l;
      std::printf("classifier: labels %s; reads at most %lld tokens of a text (keeping its %s), class from %s\n",
                  labels.c_str(), (long long)cfg.classifier_read_length(), truncation_name(cfg.classifier_truncate),
                  cfg.classifier_token == ClassifierToken::Last ? "the last real token"
                  : cfg.classifier_token == ClassifierToken::Mean
                      ? "the mean over every token (in windows of the context length)"
                      : "the final padded position");
    }
    std::printf("\nparameters\n");
    std::printf("  %-28s %15s\n", "tok_emb (wte)", group(pc.tok_emb).c_str());
    std::printf("  %-28s %15s\n", "pos_emb (wpe)", group(pc.pos_emb).c_str());
    std::printf("  %-28s %15s\n", "attention, per block", group(pc.attention_per_block).c_str());
    std::printf("  %-28s %15s\n", "feed-forward, per block", group(pc.ff_per_block).c_str());
    std::printf("  %-28s %15s\n", "layer norms, per block", group(pc.norms_per_block).c_str());
    std::printf("  %-28s %15s  (x %lld = %s)\n", "transformer block", group(pc.per_block).c_str(),
                (long long)cfg.n_layers, group(pc.blocks).c_str());
    std::printf("  %-28s %15s\n", "final_norm (ln_f)", group(pc.final_norm).c_str());
    if (cfg.is_classifier()) {
      const std::string name = "score head (" + std::to_string(cfg.num_labels) + " classes)";
      std::printf("  %-28s %15s\n", name.c_str(), group(pc.out_head).c_str());
    } else {
      std::printf("  %-28s %15s\n", "out_head (lm_head)",
                  cfg.tie_word_embeddings ? "tied to wte" : group(pc.out_head).c_str());
    }
    std::printf("  %-28s %15s\n", "total", group(pc.total).c_str());
    if (!cfg.is_classifier()) {
      std::printf("  %-28s %15s\n", "total, untied head", group(pc.total_untied).c_str());
      std::printf("  %-28s %15s\n", "total, tied head", group(pc.total_tied).c_str());
    }
    std::printf("\nmemory (fp32)\n");
    std::printf("  %-28s %12.2f MB\n", "weights", mib(weights));
    std::printf("  %-28s %12.2f MB  (batch 1, seq %lld)\n", "inference", mib(weights + infer_acts), (long long)T);
    std::printf("  %-28s %12.2f MB  (weights, grads, AdamW m+v, activations at batch %lld, seq %lld)\n", "training",
                mib(train), (long long)o->batch, (long long)T);
  });
}

}  // namespace slm::cli
