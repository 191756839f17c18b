// main.cpp — the `slm` command-line front end over libscratchlm.
// Errors: one line "slm: error: ..." on stderr; exit 2 for bad input, 1 for internal errors.
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <iterator>

#include "scratchlm/cli/commands.h"
#include "scratchlm/util/error.h"

namespace slm::cli {
std::string read_stdin() {
  std::string s((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  return s;
}
}  // namespace slm::cli

int main(int argc, char** argv) {
  std::ios::sync_with_stdio(false);
  CLI::App app{"slm — ScratchLM: build GPT-style language models from scratch"};
  app.require_subcommand(1);
  // Option errors in the same one-line form as every other error.
  app.failure_message([](const CLI::App* cmd, const CLI::Error& e) {
    std::string where = cmd && cmd->get_parent() ? std::string(" ") + cmd->get_name() : "";
    return "slm: error: " + std::string(e.what()) + " (see slm" + where + " --help)\n";
  });
  app.set_version_flag("--version", "slm 0.1.0");
  slm::cli::register_tokenize(app);
  slm::cli::register_detokenize(app);
  slm::cli::register_train_tokenizer(app);
  slm::cli::register_info(app);
  slm::cli::register_logits(app);
  slm::cli::register_export(app);
  slm::cli::register_download(app);
  slm::cli::register_download_data(app);
  slm::cli::register_pretrain(app);
  slm::cli::register_eval(app);
  slm::cli::register_generate(app);
  slm::cli::register_finetune_classifier(app);
  slm::cli::register_finetune_instruct(app);
  slm::cli::register_classify(app);
  slm::cli::register_eval_classifier(app);
  slm::cli::register_chat(app);
  slm::cli::register_judge(app);
  slm::cli::register_serve(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  } catch (const slm::Error& e) {
    std::fflush(stdout);
    std::cerr << "slm: error: " << e.what() << std::endl;
    return slm::exit_code(e.kind());
  } catch (const std::bad_alloc&) {
    std::cerr << "slm: error: out of memory" << std::endl;
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "slm: error: " << e.what() << std::endl;
    return 1;
  }
  return 0;
}
