// kv_cache.h — the key/value cache for fast generation (the KV-cache bonus of chapter 4/5):
// keys and values of every position already processed, per layer, so each new token attends to
// them instead of recomputing the whole context. One cache per sequence; a batch of sequences
// decodes together with one cache each (PassInfo::caches). Also holds the attention scores'
// scratch, so decoding allocates nothing.
#pragma once

#include <cstdint>

#include "scratchlm/model/config.h"
#include "scratchlm/tensor/tensor.h"

namespace slm {

struct KVCache {
  explicit KVCache(const GPTConfig& c)
      : n_layers(c.n_layers),
        ctx(c.context_length),
        C(c.emb_dim),
        k({c.n_layers, c.context_length, c.emb_dim}),
        v({c.n_layers, c.context_length, c.emb_dim}),
        scores({c.n_heads * c.context_length}) {}

  int64_t n_layers, ctx, C;
  int64_t len = 0;  // positions cached
  Tensor k, v;      // [n_layers, ctx, C]; head h uses columns h*hd .. (h+1)*hd
  Tensor scores;    // [n_heads, ctx]: one query's attention scores

  float* k_at(int64_t layer, int64_t pos) { return k.data() + (layer * ctx + pos) * C; }
  float* v_at(int64_t layer, int64_t pos) { return v.data() + (layer * ctx + pos) * C; }
  void clear() { len = 0; }
};

}  // namespace slm
