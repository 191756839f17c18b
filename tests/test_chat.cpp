// test_chat.cpp — `slm chat` (chapter 7's prompt templates and response generation in a chat loop)
// over stdin with a tiny random model: each answer must equal `slm generate` on the formatted prompt
// (template wrapping, memory of earlier turns, /reset, multi-line input), greedy answers repeat.
#include <gtest/gtest.h>

#include "scratchlm/data/instruct_data.h"
#include "scratchlm/finetune/responses.h"
#include "scratchlm/io/hf_gpt2.h"
#include "scratchlm/model/config.h"
#include "scratchlm/model/gpt.h"
#include "test_util.h"

using slm::InstructionEntry;
using slm::PromptTemplate;
using slm::test::run_slm;
using slm::test::shell_quote;

namespace {

constexpr int kNew = 6;

// A tiny random GPT-2 saved once for all tests: gpt2-tiny narrowed to 32 dims (the 50257 x C
// embedding and head dominate its size and load time); an untied head, as a tied random one mostly
// repeats its input token.
const std::string& model_dir() {
  static slm::test::TempDir dir;
  static const std::string path = [] {
    slm::save_hf_model(*slm::test::tiny_gpt(5, false), dir.file("model"));
    return dir.file("model");
  }();
  return path;
}

std::string common(int max_new = kNew) {
  return "--model " + shell_quote(model_dir()) + " --tokenizer " + shell_quote(slm::test::data_dir() + "/gpt2") +
         " --max-new-tokens " + std::to_string(max_new) + " --temperature 0 --threads 1";
}

// What `slm generate` continues `prompt` with, stripped as chat strips its answers.
std::string generated(const std::string& prompt) {
  auto r = run_slm("generate " + common() + " --prompt " + shell_quote(prompt));
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out.compare(0, prompt.size(), prompt), 0);
  EXPECT_GE(r.out.size(), prompt.size() + 1);
  std::string cont = r.out.substr(prompt.size(), r.out.size() - prompt.size() - 1);  // minus the final "\n"
  return std::string(slm::strip_whitespace(cont));
}

std::string chat_prompt(const std::string& msg, PromptTemplate t = PromptTemplate::Alpaca) {
  return slm::format_prompt(InstructionEntry{msg, "", ""}, t) + slm::response_prefix(t);
}

}  // namespace

TEST(Chat, AnswersMemoryResetAndExit) {
  const std::string m1 = "Name a primary color.", m2 = "What is the capital of France?";
  const std::string a1 = generated(chat_prompt(m1));
  // The second message sees the first turn (its prompt + answer) before it.
  const std::string memory = slm::format_example(InstructionEntry{m1, "", a1}, PromptTemplate::Alpaca) + "\n\n";
  const std::string a2 = generated(memory + chat_prompt(m2));
  // Preconditions that make the checks below meaningful: the template and the memory change the answer.
  ASSERT_FALSE(a1.empty());
  ASSERT_NE(a1, generated(m1)) << "the template wrapping must change the answer of this model";
  ASSERT_NE(a2, generated(chat_prompt(m2))) << "the memory must change the answer of this model";

  // Off a terminal: no prompts, one answer per message, each followed by a newline; blank lines are
  // skipped; after /reset the same conversation gives the same (greedy) answers; nothing after /exit.
  auto r = run_slm("chat " + common(), m1 + "\n" + m2 + "\n/reset\n" + m1 + "\n  \n" + m2 + "\n/exit\n" + m2 + "\n");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(r.out, a1 + "\n" + a2 + "\n" + a1 + "\n" + a2 + "\n");
}

TEST(Chat, MultiLineMessagesAndPhi3) {
  // A trailing backslash continues the message; a block between """ lines is one message.
  auto r = run_slm("chat " + common(), "Name\\\na color.\n/reset\n\"\"\"\nline one\n\nline two\n\"\"\"\n");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out,
            generated(chat_prompt("Name\na color.")) + "\n" + generated(chat_prompt("line one\n\nline two")) + "\n");

  // Phi-3 template; the end of input (no /exit, no final newline) also ends the chat.
  auto p = run_slm("chat " + common() + " --template phi3", "Name a color.");
  ASSERT_EQ(p.rc, 0) << p.err;
  const std::string phi = chat_prompt("Name a color.", PromptTemplate::Phi3);
  EXPECT_EQ(phi, "<|user|>\nName a color.\n<|assistant|>:\n");
  EXPECT_EQ(p.out, generated(phi) + "\n");
}

TEST(Chat, BadInputIsOneLineExitTwo) {
  auto r = run_slm("chat --model /nonexistent/model --threads 1", "hi\n");
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err.rfind("slm: error: ", 0), 0u) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  r = run_slm("chat " + common() + " --template chatml", "hi\n");
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("chatml"), std::string::npos) << r.err;
  r = run_slm("chat " + common(0), "hi\n");
  EXPECT_EQ(r.rc, 2);
}

TEST(Generate, InvalidUtf8PromptSuggestsLossyAndLossyWorks) {
  const std::string bad = "hi\xff there", repaired = "hi\xef\xbf\xbd there";
  auto r = run_slm("generate " + common() + " --prompt " + shell_quote(bad));
  EXPECT_EQ(r.rc, 2);
  EXPECT_HAS(r.err, "--prompt is not valid UTF-8: invalid byte 0xFF at byte offset 2 (use --lossy");
  // The option the message names exists: invalid bytes become U+FFFD, as if typed so.
  auto lossy = run_slm("generate " + common() + " --lossy --prompt " + shell_quote(bad));
  ASSERT_EQ(lossy.rc, 0) << lossy.err;
  auto same = run_slm("generate " + common() + " --prompt " + shell_quote(repaired));
  ASSERT_EQ(same.rc, 0) << same.err;
  EXPECT_EQ(lossy.out, same.out);
  EXPECT_EQ(lossy.out.rfind(repaired, 0), 0u) << lossy.out;
  // chat repairs its messages itself and never points at an option it lacks.
  auto c = run_slm("chat " + common(), bad + "\n");
  EXPECT_EQ(c.rc, 0) << c.err;
  EXPECT_EQ(c.err.find("--lossy"), std::string::npos) << c.err;
}
