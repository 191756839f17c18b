// cmd_export.cpp — `slm export`: a model in another format — a GGUF file of llama.cpp's gpt2
// architecture (F32, F16 or Q8_0 weights, the tokenizer in its metadata) for llama.cpp, Ollama and
// LM Studio, or a Hugging Face directory (e.g. from a GGUF file). Chapter 5.5 in reverse.
// `slm quantize --model DIR --type q8_0 --out FILE.gguf` is the same command, GGUF only, q8_0 by
// default (its file runs natively in slm generate/chat/serve/eval: kernels/q8_0_matmul.h).
#include <cstdio>
#include <filesystem>

#include "scratchlm/cli/commands.h"
#include "scratchlm/io/gguf_model.h"
#include "scratchlm/io/hf_gpt2.h"
#include "scratchlm/util/error.h"

namespace slm::cli {

namespace {

// `export`, or `quantize` (gguf_only: no --format, --type q8_0 by default).
void add_export_command(CLI::App& app, bool gguf_only) {
  struct Opts {
    std::string model, format = "gguf", out, type = "f32", tokenizer, name;
  };
  auto o = std::make_shared<Opts>();
  if (gguf_only) o->type = "q8_0";
  auto* c = gguf_only ? app.add_subcommand("quantize", "Write a model as a quantized GGUF file (export --format gguf)")
                      : app.add_subcommand(
                            "export", "Write a model as a GGUF file (llama.cpp, Ollama) or a Hugging Face directory");
  c->add_option("--model", o->model, "Model directory or GGUF file")->required();
  if (!gguf_only)
    c->add_option("--format", o->format, "gguf (llama.cpp's gpt2 architecture) or hf (config.json + model.safetensors)")
        ->capture_default_str();
  c->add_option("--out", o->out, "Output file (gguf) or directory (hf)")->required();
  c->add_option("--type", o->type, "GGUF weight type: f32, f16 or q8_0 (norms, biases, positions stay f32)")
      ->capture_default_str();
  c->add_option("--tokenizer", o->tokenizer, "Tokenizer directory or GGUF file (default: the model's, else data/gpt2)");
  c->add_option("--name", o->name, "general.name of the GGUF file (default: the model's file or directory name)");
  c->callback([o] {
    if (o->format != "gguf" && o->format != "hf") fail("unknown --format '{}' (expected gguf or hf)", o->format);
    const GgufWeightType type = parse_gguf_weight_type(o->type);
    auto model = load_hf_model(o->model);
    const Tokenizer tok = load_model_tokenizer(o->model, o->tokenizer);
    if (o->format == "hf") {
      save_hf_model(*model, o->out, &tok);
      std::fprintf(stderr, "slm: wrote %s\n", o->out.c_str());
      return;
    }
    std::string name = o->name;
    if (name.empty()) name = std::filesystem::path(o->model).lexically_normal().filename().string();
    if (name.empty() || name == ".")
      name = std::filesystem::path(o->model).lexically_normal().parent_path().filename().string();
    save_gguf_model(*model, tok, o->out, type, name);
    std::fprintf(stderr, "slm: wrote %s (%s)\n", o->out.c_str(), o->type.c_str());
  });
}

}  // namespace

void register_export(CLI::App& app) {
  add_export_command(app, false);
  add_export_command(app, true);
}

}  // namespace slm::cli
