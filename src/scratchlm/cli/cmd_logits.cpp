// cmd_logits.cpp — `slm logits`: the model's raw next-token logits for a token sequence
// (chapter 4.6 / 5.1), at full float precision, for checking against other implementations.
#include <cstdio>
#include <vector>

#include "scratchlm/cli/commands.h"
#include "scratchlm/cli/inference_precision.h"
#include "scratchlm/io/hf_gpt2.h"
#include "scratchlm/util/error.h"

namespace slm::cli {

void register_logits(CLI::App& app) {
  struct Opts {
    std::string model, tokens, precision;
    bool all = false, json = false;
  };
  auto o = std::make_shared<Opts>();
  auto* c =
      app.add_subcommand("logits", "Print the logits of the last position (or every position) for a token sequence");
  c->add_option("--model", o->model, "Model directory (Hugging Face GPT-2 layout) or GGUF file")->required();
  c->add_option("--tokens", o->tokens, "Token ids, space- or comma-separated, e.g. \"15496 11 995\"")->required();
  c->add_flag("--all", o->all, "Print the logits of every position, one row per position");
  c->add_flag("--json", o->json, "Print {\"logits\": [...]} (a list of rows with --all)");
  add_precision_option(c, o->precision);
  c->callback([o] {
    std::vector<int32_t> ids;
    std::string cur;
    for (char ch : o->tokens + " ") {
      if (ch >= '0' && ch <= '9') {
        cur += ch;
      } else if (ch == ' ' || ch == ',' || ch == '\t' || ch == '\n') {
        if (!cur.empty()) {
          if (cur.size() > 9) fail("token id '{}' is out of range", cur);
          ids.push_back(std::stoi(cur));
          cur.clear();
        }
      } else {
        fail("--tokens must be non-negative integer ids; found '{}'", std::string(1, ch));
      }
    }
    if (ids.empty()) fail("--tokens is empty");
    auto model = load_hf_model(o->model);
    apply_precision(*model, o->precision);
    const int64_t T = static_cast<int64_t>(ids.size()), V = model->config().vocab_size;
    std::vector<float> out(static_cast<size_t>((o->all ? T : 1) * V));
    model->logits(ids.data(), 1, T, out.data(), !o->all);
    const int64_t rows = o->all ? T : 1;
    std::string s;
    s.reserve(out.size() * 14);
    char buf[32];
    if (o->json) s += o->all ? "{\"logits\": [" : "{\"logits\": ";
    for (int64_t r = 0; r < rows; ++r) {
      if (o->json) s += r ? ", [" : "[";
      for (int64_t v = 0; v < V; ++v) {
        std::snprintf(buf, sizeof(buf), "%.9g", static_cast<double>(out[r * V + v]));
        if (v) s += o->json ? ", " : " ";
        s += buf;
      }
      s += o->json ? "]" : "\n";
    }
    if (o->json) s += o->all ? "]}\n" : "}\n";
    std::fwrite(s.data(), 1, s.size(), stdout);
  });
}

}  // namespace slm::cli
