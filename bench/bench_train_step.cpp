// bench_train_step.cpp — throughput, memory and MFU of one ScratchLM training step, set up exactly
// like bench/torch_train_step.py so the two can be compared line for line.
//
//   build/bench/bench_train_step --config NAME --batch B --seq T --threads N --steps S
//                                [--warmup W] [--seed S] [--peak-gflops G] [--profile] [--json]
//                                [--lora-rank R [--lora-alpha A]] [--precision fp32|bf16]
//
// --precision bf16: mixed precision (issue 15, kernels/matmul_bf16.h): the matmuls on bf16 copies of
// the weights (rounded by the AdamW step as it updates them, timed with it) with fp32 sums; all else
// fp32.
//
// --lora-rank R: the step of a LoRA finetuning run (appendix E): adapters of rank R on the attention
// and feed-forward layers (alpha default 2R), every base parameter frozen — no weight gradients, no
// AdamW state for them, the head's weight gradient skipped. Compare with the same command without
// it (full finetuning) for the LoRA speed and memory figures.
//
// Model: config_by_name(NAME) with dropout 0, the untied output head (the book's GPTModel, the
// default) and qkv_bias as the config says (true for every named config) — the same settings as
// torch_train_step.py (COMMON = drop_rate 0, qkv_bias True, untied; vocab 50257). Random token
// batch (inputs and targets uniform in [0, V), seeded), AdamW lr 4e-4, weight decay 0.1 on every
// parameter (torch.optim.AdamW(model.parameters()) as the torch bench).
//
// One step = zero_grad, forward(with_grad) (embedding, blocks, final LayerNorm, head fused with the
// loss and the head's backward), backward, the gradient norm, and the AdamW step clipping to 1.0
// as it reads the gradients (what clip_grad_norm(1.0) and a step compute; the training engine's
// step). W warm-up steps (default 2), then S timed steps, each timed with steady_clock. Reports medians over the timed
// steps: tokens/s (median of B*T / step time, as the torch bench), step seconds, peak RSS
// (getrusage ru_maxrss, whole process, MB = KiB / 1024 as the torch bench) and MFU.
//
// MFU = (FLOPs per step / median step seconds) / peak FLOP/s, with the standard estimate
// (Kaplan et al. 2020; PaLM appendix B; nanoGPT's estimate_mfu):
//   FLOPs per step = 6 * N * tokens + 12 * L * C * T * tokens,     tokens = B * T
//   N = parameters that take part in matmuls: every parameter except the position embedding and
//       (untied head) the token-embedding table, whose lookup costs no FLOPs — i.e. the blocks,
//       the final LayerNorm and the output head (V * C).  6 = 2 (forward) + 4 (backward) FLOPs
//       per parameter per token.
//   12 * L * C * T per token: attention scores and weighted values (Q K^T and A V, 2 * 2 * T * C
//       per token per layer forward, x3 with backward), counted over the full T x T matrix as in
//       the standard estimate (causal masking would halve the useful part).
// Peak FLOP/s = --peak-gflops (default 196.6 = 2 cores x 3.07 GHz x 32 fp32 FLOP/cycle: two
// 8-wide FMA units) x threads / 2.
//
// --profile additionally times each phase of every timed step. GPT exposes forward() and
// backward() only, so the split inside them is derived: the fused head + loss (forward and the
// head's backward, head_cross_entropy) and the embedding backward are re-run on their own after
// the timed loop (same shapes, into the model's gradient buffers, median of S runs), and
// subtracted from forward() and backward():
//   forward blocks    = forward()  - head+loss   (embedding, transformer blocks, final LayerNorm)
//   head + loss       = measured alone            (logits, softmax cross-entropy, dlogits, dx, dW)
//   backward blocks   = backward() - emb bwd      (final LayerNorm backward, transformer blocks)
//   embedding bwd     = measured alone
//   zero_grad, clip, AdamW: timed directly.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "scratchlm/kernels/cross_entropy.h"
#include "scratchlm/kernels/embedding.h"
#include "scratchlm/kernels/matmul.h"
#include "scratchlm/kernels/matmul_bf16.h"
#include "scratchlm/model/config.h"
#include "scratchlm/model/gpt.h"
#include "scratchlm/model/lora.h"
#include "scratchlm/tensor/parallel.h"
#include "scratchlm/tensor/rng.h"
#include "scratchlm/tensor/tensor.h"
#include "scratchlm/train/adamw.h"
#include "scratchlm/util/error.h"

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

double median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);  // as Python's statistics.median
}

double peak_rss_mb() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;  // Linux: KiB
}

[[noreturn]] void usage() {
  std::fprintf(stderr,
               "usage: bench_train_step --config NAME --batch B --seq T --threads N --steps S\n"
               "                        [--warmup W] [--seed S] [--peak-gflops G] [--profile] [--json]\n");
  std::exit(2);
}

struct Phases {
  std::vector<double> zero, fwd, bwd, clip, adam;
};

}  // namespace

int main(int argc, char** argv) {
  std::string config = "gpt2-mini";
  int64_t B = 8, T = 256;
  int threads = 2, steps = 3, warmup = 2;
  uint64_t seed = 123;
  double peak_gflops_2 = 196.6;
  bool json = false, profile = false;
  int64_t lora_rank = 0;
  float lora_alpha = 0.0f;
  slm::Precision precision = slm::Precision::Fp32;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) usage();
      return argv[++i];
    };
    if (a == "--config")
      config = next();
    else if (a == "--batch")
      B = std::stoll(next());
    else if (a == "--seq")
      T = std::stoll(next());
    else if (a == "--threads")
      threads = std::stoi(next());
    else if (a == "--steps")
      steps = std::stoi(next());
    else if (a == "--warmup")
      warmup = std::stoi(next());
    else if (a == "--seed")
      seed = std::stoull(next());
    else if (a == "--peak-gflops")
      peak_gflops_2 = std::stod(next());
    else if (a == "--json")
      json = true;
    else if (a == "--profile")
      profile = true;
    else if (a == "--lora-rank")
      lora_rank = std::stoll(next());
    else if (a == "--lora-alpha")
      lora_alpha = std::stof(next());
    else if (a == "--precision")
      precision = slm::parse_precision(next());
    else
      usage();
  }
  if (steps < 1 || warmup < 0 || threads < 1 || B < 1 || T < 1) usage();

  try {
    slm::set_num_threads(threads);
    slm::blas_set_threads(threads);

    slm::GPTConfig cfg = slm::config_by_name(config);
    cfg.drop_rate = 0.0f;             // as the torch bench
    cfg.tie_word_embeddings = false;  // the book's separate out_head (the default)
    if (T > cfg.context_length) slm::fail("--seq {} exceeds context length {}", T, cfg.context_length);
    const int64_t V = cfg.vocab_size, C = cfg.emb_dim, L = cfg.n_layers, M = B * T;

    auto owned = std::make_unique<slm::GPT>(cfg);
    owned->init_weights(seed);
    if (lora_rank > 0)
      owned = slm::add_lora(
          *owned, slm::parse_lora_targets("attn,mlp", lora_rank, lora_alpha > 0 ? lora_alpha : 2.0f * lora_rank), seed);
    slm::GPT& model = *owned;
    model.enable_grads();
    model.set_training(true);
    model.set_precision(precision);
    slm::AdamWConfig acfg;
    acfg.lr = 4e-4f;
    acfg.weight_decay = 0.1f;
    acfg.decay = slm::DecayMode::All;
    slm::AdamW opt(model.params(), acfg);

    std::vector<int32_t> x(static_cast<size_t>(M)), y(static_cast<size_t>(M));
    slm::Rng rng(seed + 1);
    for (auto& t : x) t = static_cast<int32_t>(rng.below(static_cast<uint64_t>(V)));
    for (auto& t : y) t = static_cast<int32_t>(rng.below(static_cast<uint64_t>(V)));

    // FLOPs per step (see the header comment).
    const slm::ParamCounts pc = slm::count_params(cfg);
    const int64_t n_total = static_cast<int64_t>(model.params().numel());
    const int64_t n_flop = pc.blocks + pc.final_norm + pc.out_head;
    const double flops_per_token = 6.0 * static_cast<double>(n_flop) + 12.0 * L * C * T;
    const double flops_per_step = flops_per_token * static_cast<double>(M);
    const double peak_flops = peak_gflops_2 * 1e9 * threads / 2.0;

    Phases ph;
    std::vector<double> step_s, losses;
    for (int s = 0; s < warmup + steps; ++s) {
      const bool timed = s >= warmup;
      const auto t0 = Clock::now();
      auto t = t0;
      auto lap = [&](std::vector<double>& into) {
        if (!profile || !timed) return;
        const auto now = Clock::now();
        into.push_back(std::chrono::duration<double>(now - t).count());
        t = now;
      };
      model.zero_grad();
      lap(ph.zero);
      const float loss = model.forward(x.data(), y.data(), B, T, /*with_grad=*/true);
      lap(ph.fwd);
      model.backward();
      lap(ph.bwd);
      const double norm = slm::grad_norm(model.params());
      lap(ph.clip);
      // As the training engine steps: the clipping applied as AdamW reads the gradients, and (bf16)
      // the weights' copies rounded as AdamW writes them.
      opt.step(acfg.lr, model.bf16_weights(), slm::clip_factor(norm, 1.0));
      lap(ph.adam);
      const double sec = seconds_since(t0);
      if (timed) step_s.push_back(sec), losses.push_back(loss);
    }

    std::vector<double> tps;
    for (double s : step_s) tps.push_back(static_cast<double>(M) / s);
    const double tok_s = median(tps), step_med = median(step_s);
    const double mfu = flops_per_step / step_med / peak_flops;
    const double rss = peak_rss_mb();
    // Where the memory goes: weights + gradients + AdamW m and v (fp32), and the activation arena.
    const double state_mb =
        static_cast<double>(model.params().numel() + 3 * model.params().grad_numel()) * 4.0 / 1048576.0;
    const double act_mb = static_cast<double>(model.activation_bytes()) / 1048576.0;

    // --profile: re-run the fused head + loss and the embedding backward alone (see header).
    double head_s = 0.0, embb_s = 0.0;
    if (profile) {
      slm::ParamStore& st = model.params();
      const int64_t chunk = model.head_chunk_rows();  // as the model's own step
      slm::Tensor scratch({chunk * V}), dx({M * C});
      std::vector<double> hs, es;
      const int64_t count = slm::count_targets(y.data(), M, V);
      // final_hidden() holds the last forward's final-LayerNorm output; forward once more so it
      // is current and the caches are in the state a step leaves them.
      model.forward(x.data(), y.data(), B, T, true);
      for (int r = 0; r < steps; ++r) {
        auto t0 = Clock::now();
        slm::head_cross_entropy(model.final_hidden(), model.head_weight(), y.data(), M, C, V, dx.data(),
                                st.grad("lm_head.weight"), 1.0f / static_cast<float>(count), scratch.data(), chunk,
                                nullptr, model.precision());
        hs.push_back(seconds_since(t0));
        t0 = Clock::now();
        slm::embedding_backward(st.grad("wte.weight"), st.grad("wpe.weight"), dx.data(), x.data(), B, T, C);
        es.push_back(seconds_since(t0));
      }
      head_s = median(hs), embb_s = median(es);
    }

    if (json) {
      std::printf(
          "{\"impl\": \"%s\", \"config\": \"%s\", \"lora_rank\": %lld, \"trainable_params\": %lld, \"batch\": "
          "%lld, \"seq\": %lld, \"threads\": %d, "
          "\"tokens_per_s\": %.2f, \"step_s_median\": %.4f, \"peak_rss_mb\": %.1f, \"param_state_mb\": %.1f, "
          "\"activation_mb\": %.1f, \"steps\": %d, "
          "\"params\": %lld, \"flop_params\": %lld, \"flops_per_step\": %.6g, \"peak_gflops\": %.1f, \"mfu\": %.4f, "
          "\"loss_first\": %.4f, \"loss_last\": %.4f",
          precision == slm::Precision::Bf16 ? "scratchlm-bf16" : "scratchlm", config.c_str(),
          static_cast<long long>(lora_rank), static_cast<long long>(model.params().trainable_numel()),
          static_cast<long long>(B), static_cast<long long>(T), threads, tok_s, step_med, rss, state_mb, act_mb, steps,
          static_cast<long long>(n_total), static_cast<long long>(n_flop), flops_per_step, peak_flops / 1e9, mfu,
          losses.front(), losses.back());
      if (profile)
        std::printf(
            ", \"profile_s\": {\"zero_grad\": %.5f, \"forward_blocks\": %.5f, \"head_loss\": %.5f, "
            "\"backward_blocks\": %.5f, \"embedding_backward\": %.5f, \"clip\": %.5f, \"adamw\": %.5f}",
            median(ph.zero), median(ph.fwd) - head_s, head_s, median(ph.bwd) - embb_s, embb_s, median(ph.clip),
            median(ph.adam));
      std::printf("}\n");
    } else {
      std::printf("scratchlm %s %s B=%lld T=%lld threads=%d params=%.1fM (matmul params N=%.1fM)\n",
                  slm::precision_name(precision), config.c_str(), static_cast<long long>(B), static_cast<long long>(T),
                  threads, n_total / 1e6, n_flop / 1e6);
      std::printf("  step times:");
      for (double s : step_s) std::printf(" %.3fs", s);
      std::printf("  losses:");
      for (double l : losses) std::printf(" %.3f", l);
      std::printf("\n  tokens/s (median): %.1f\n  step s (median):   %.3f\n  peak RSS:          %.0f MB\n", tok_s,
                  step_med, rss);
      std::printf("  of which:          %.0f MB weights+grads+AdamW m,v, %.0f MB activation arena\n", state_mb, act_mb);
      std::printf("  FLOPs/step:        %.3g  (6*N*tok + 12*L*C*T*tok)\n", flops_per_step);
      std::printf("  MFU:               %.1f%% of %.1f GFLOP/s (%.2f GFLOP/s achieved)\n", 100.0 * mfu,
                  peak_flops / 1e9, flops_per_step / step_med / 1e9);
    }
    if (profile) {
      struct Row {
        const char* name;
        double s;
      };
      const double fwd = median(ph.fwd), bwd = median(ph.bwd);
      const Row rows[] = {
          {"zero_grad", median(ph.zero)},          {"forward blocks (emb + blocks + ln_f)", fwd - head_s},
          {"head + loss (fused fwd+bwd)", head_s}, {"backward blocks (ln_f + blocks)", bwd - embb_s},
          {"embedding backward", embb_s},          {"gradient norm", median(ph.clip)},
          {"AdamW step", median(ph.adam)}};
      double sum = 0.0;
      for (const Row& r : rows) sum += r.s;
      std::fflush(stdout);
      FILE* out = json ? stderr : stdout;
      std::fprintf(out, "  profile (median of %d steps; head+loss and embedding backward measured alone):\n", steps);
      for (const Row& r : rows) std::fprintf(out, "    %-38s %8.4f s  %5.1f%%\n", r.name, r.s, 100.0 * r.s / sum);
      std::fprintf(out, "    %-38s %8.4f s  (step median %.4f s)\n", "sum of phases", sum, step_med);
    }
  } catch (const slm::Error& e) {
    std::fprintf(stderr, "bench_train_step: error: %s\n", e.what());
    return 2;
  }
  return 0;
}
