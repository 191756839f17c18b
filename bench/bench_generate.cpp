// bench_generate.cpp — generation speed with and without the KV cache (chapter 4.7/5.3), and the
// fraction of the memory-bandwidth limit reached: batch-1 decoding reads every weight once per
// token, so tokens/s can at best be bandwidth / weight bytes.
//
//   build/bench/bench_generate --config gpt2-mini --threads 2 --prompt-tokens 16 --new-tokens 256 [--json]
//                              [--weights fp32|bf16|q8_0] [--model DIR|FILE.gguf] [--skip-bandwidth]
//
// Random GPT-2-initialized weights (or --model's), greedy decoding, no stop token. --weights packs
// the linear weights for inference as the commands do (model/inference_weights.h: fp32 block
// matrices in panels, bf16 / q8_0 with the head); a q8_0 GGUF --model runs Q8_0 unless --weights
// says otherwise. Bandwidth is measured in the same run by summing a
// 1 GiB array (the best of 3 passes).
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "scratchlm/generate/generator.h"
#include "scratchlm/io/hf_gpt2.h"
#include "scratchlm/kernels/matmul.h"
#include "scratchlm/model/gpt.h"
#include "scratchlm/model/inference_weights.h"
#include "scratchlm/tensor/parallel.h"
#include "scratchlm/tensor/rng.h"
#include "scratchlm/util/error.h"

namespace {
double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

double measure_bandwidth_gbs() {
  const size_t n = (size_t{1} << 30) / sizeof(float);
  std::vector<float> a(n, 1.0f);
  double best = 0;
  for (int rep = 0; rep < 3; ++rep) {
    double t0 = now();
    float total = 0;
#pragma omp parallel reduction(+ : total)
    {
      float acc[16] = {0};  // 16 independent sums, so the loop is limited by memory, not by add latency
#pragma omp for schedule(static)
      for (size_t i = 0; i < n; i += 16)
        for (int k = 0; k < 16; ++k) acc[k] += a[i + k];
      for (int k = 0; k < 16; ++k) total += acc[k];
    }
    double dt = now() - t0;
    if (total < 0) std::printf("impossible\n");
    best = std::max(best, (n * sizeof(float)) / dt / 1e9);
  }
  return best;
}
}  // namespace

int main(int argc, char** argv) {
  std::string config = "gpt2-mini", weights, model_path;
  int threads = 2, prompt_tokens = 16, new_tokens = 256;
  bool json = false, skip_nocache = false, skip_bandwidth = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&] { return std::string(i + 1 < argc ? argv[++i] : ""); };
    if (a == "--config")
      config = next();
    else if (a == "--threads")
      threads = std::stoi(next());
    else if (a == "--prompt-tokens")
      prompt_tokens = std::stoi(next());
    else if (a == "--new-tokens")
      new_tokens = std::stoi(next());
    else if (a == "--json")
      json = true;
    else if (a == "--skip-nocache")
      skip_nocache = true;
    else if (a == "--skip-bandwidth")
      skip_bandwidth = true;
    else if (a == "--weights")
      weights = next();
    else if (a == "--model")
      model_path = next();
    else {
      std::fprintf(stderr, "unknown option %s\n", a.c_str());
      return 2;
    }
  }
  try {
    slm::set_num_threads(threads);
    slm::blas_set_threads(threads);
    std::unique_ptr<slm::GPT> owned;
    if (model_path.empty()) {
      slm::GPTConfig c = slm::config_by_name(config);
      c.drop_rate = 0;
      owned = std::make_unique<slm::GPT>(c);
      owned->init_weights(1);
    } else {
      owned = slm::load_hf_model(model_path, true);
      config = model_path;
    }
    slm::GPT& model = *owned;
    const slm::GPTConfig cfg = model.config();
    if (weights.empty() && !model.inference_weights()) weights = "fp32";  // as the commands default
    if (weights == "fp32")  // as the commands run it: the block matrices in panels where the CPU can
      model.set_inference_weights(slm::InferenceWeights::for_inference(model, slm::WeightFormat::F32));
    else if (weights == "bf16")
      model.set_inference_weights(slm::InferenceWeights::pack(model, slm::WeightFormat::BF16));
    else if (weights == "q8_0")
      model.set_inference_weights(slm::InferenceWeights::pack(model, slm::WeightFormat::Q8_0));
    else if (!weights.empty())
      throw slm::Error(slm::ErrorKind::BadInput, "--weights: fp32, bf16 or q8_0");
    const slm::InferenceWeights* packed = model.inference_weights();
    if (weights.empty()) weights = "q8_0";  // a q8_0 GGUF file's own
    model.release_packed_fp32();
    slm::Rng rng(3);
    std::vector<int32_t> prompt(static_cast<size_t>(prompt_tokens));
    for (auto& t : prompt) t = static_cast<int32_t>(rng.below(static_cast<uint64_t>(cfg.vocab_size)));
    slm::GenerateOptions g;
    g.max_new_tokens = new_tokens;
    g.sampler.temperature = 0.0f;
    g.stop_at_eos = false;
    // The prompt pass alone, then the full generation, timed from its first token (the end of
    // its prompt pass) to its last: the decoding steps only, as bench/llama_generate.mjs times
    // llama.cpp (subtracting a separately timed prompt pass goes wrong on a loaded machine).
    slm::KVCache cache(cfg);
    std::vector<float> logits(static_cast<size_t>(cfg.vocab_size));
    double t0 = now();
    model.prefill(prompt.data(), prompt_tokens, cache, logits.data());
    const double prompt_s = now() - t0;
    double first = 0, last = 0;
    auto a = slm::generate(model, prompt, g, [&](int32_t) {
      last = now();
      if (first == 0) first = last;
      return true;
    });
    const double tps = a.size() > 1 ? static_cast<double>(a.size() - 1) / (last - first) : 0.0;
    double nocache_tps = 0;
    if (!skip_nocache) {
      g.use_kv_cache = false;
      t0 = now();
      auto b = slm::generate(model, prompt, g);
      nocache_tps = b.size() / (now() - t0);
      if (a != b) std::fprintf(stderr, "bench_generate: WARNING: cached and uncached tokens differ\n");
    }
    // Bytes read per decoded token: every weight once, except the embedding tables, of which one
    // row each is read (unless the head is tied to wte, which then is read whole by the head).
    double weight_bytes = static_cast<double>(model.params().numel()) * 4.0;
    weight_bytes -= static_cast<double>(cfg.context_length * cfg.emb_dim) * 4.0;
    if (!cfg.tie_word_embeddings) weight_bytes -= static_cast<double>(cfg.vocab_size * cfg.emb_dim) * 4.0;
    if (packed) {  // the packed linear weights (and head, unless fp32) replace their fp32 bytes
      const double C = static_cast<double>(cfg.emb_dim);
      weight_bytes -= static_cast<double>(cfg.n_layers) * 12.0 * C * C * 4.0;
      if (packed->find(slm::kPackedHead)) weight_bytes -= static_cast<double>(cfg.vocab_size) * C * 4.0;
      weight_bytes += static_cast<double>(packed->bytes());
    }
    const double bw = skip_bandwidth ? 0.0 : measure_bandwidth_gbs();
    const double bound = bw * 1e9 / weight_bytes, fraction = bw > 0 ? tps / bound : 0.0;
    if (json) {
      std::printf(
          "{\"impl\": \"scratchlm-kvcache\", \"weights\": \"%s\", \"config\": \"%s\", \"threads\": %d, "
          "\"prompt_tokens\": %d, "
          "\"new_tokens\": %zu, "
          "\"tokens_per_s\": %.2f, \"prompt_s\": %.4f, \"nocache_tokens_per_s\": %.2f, \"bandwidth_gbs\": %.1f, "
          "\"bandwidth_bound_tokens_per_s\": %.2f, \"fraction_of_bound\": %.3f}\n",
          weights.c_str(), config.c_str(), threads, prompt_tokens, a.size(), tps, prompt_s, nocache_tps, bw, bound,
          fraction);
    } else {
      std::printf("%s, %s weights, %d threads: %zu new tokens after a %d-token prompt\n", config.c_str(),
                  weights.c_str(), threads, a.size(), prompt_tokens);
      std::printf("  KV cache:    %8.2f tokens/s  (prompt pass %.3f s)\n", tps, prompt_s);
      if (!skip_nocache)
        std::printf("  no cache:    %8.2f tokens/s  (cache speedup %.1fx)\n", nocache_tps, tps / nocache_tps);
      std::printf(
          "  bandwidth:   %8.1f GB/s measured; %.0f MB of weights read per token -> bound %.1f tokens/s; reached "
          "%.0f%%\n",
          bw, weight_bytes / 1e6, bound, 100.0 * fraction);
    }
  } catch (const slm::Error& e) {
    std::fprintf(stderr, "bench_generate: error: %s\n", e.what());
    return 2;
  }
  return 0;
}
