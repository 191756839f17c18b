// commands.h — the slm subcommands. Each lives in its own file and registers itself on the app;
// the CLI is a thin layer: parse options, call libscratchlm, print.
#pragma once

#include <CLI/CLI.hpp>

#include <string>

namespace slm::cli {

void register_tokenize(CLI::App& app);
void register_detokenize(CLI::App& app);
void register_train_tokenizer(CLI::App& app);
void register_info(CLI::App& app);
void register_logits(CLI::App& app);
void register_export(CLI::App& app);  // export and quantize
void register_download(CLI::App& app);
void register_download_data(CLI::App& app);
void register_pretrain(CLI::App& app);
void register_eval(CLI::App& app);
void register_generate(CLI::App& app);
void register_finetune_classifier(CLI::App& app);
void register_finetune_instruct(CLI::App& app);
void register_classify(CLI::App& app);
void register_eval_classifier(CLI::App& app);
void register_chat(CLI::App& app);
void register_judge(CLI::App& app);
void register_serve(CLI::App& app);

// Read all of stdin as bytes.
std::string read_stdin();

}  // namespace slm::cli
