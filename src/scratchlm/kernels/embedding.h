// embedding.h — token + positional embeddings (chapter 2.7–2.8): out[b,t] = wte[tok[b,t]] + wpe[t].
#pragma once

#include <cstdint>

namespace slm {

// pos0 (nullptr: all 0) gives each row's first position: row b continues a cached sequence at
// position pos0[b] (generation with a KV cache).
void embedding_forward(float* out, const int32_t* tokens, const float* wte, const float* wpe, int64_t B, int64_t T,
                       int64_t C, const int64_t* pos0 = nullptr);
// dwte[tok] += dout, dwpe[t] += sum_b dout (either may be null). Parallel over channels, so no
// two threads touch the same gradient element and the result is deterministic.
void embedding_backward(float* dwte, float* dwpe, const float* dout, const int32_t* tokens, int64_t B, int64_t T,
                        int64_t C);

}  // namespace slm
