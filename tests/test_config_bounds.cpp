// test_config_bounds.cpp — crafted config.json values and overrides are bounded before anything is
// built (chapter 4.1's configs, 4.6's counts): each field has a range, sizes use checked 64-bit
// arithmetic, and a model directory's weights are checked against its config before allocation
// (`slm info --model` too). Bad input is exit 2 with a one-line message naming the field or tensor.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "scratchlm/io/hf_gpt2.h"
#include "scratchlm/io/safetensors.h"
#include "scratchlm/model/config.h"
#include "scratchlm/model/gpt.h"
#include "scratchlm/tokenizer/printable.h"
#include "scratchlm/util/checked.h"
#include "scratchlm/util/error.h"
#include "test_util.h"

namespace fs = std::filesystem;
using slm::test::run_slm;

namespace {

const std::string kFixture = std::string(SLM_SOURCE_DIR) + "/tests/fixtures/torch/tiny_qkvbias";

int lines(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }

// A copy of the fixture's model directory whose config.json has `edit` merged in.
void write_model(const slm::test::TempDir& t, const nlohmann::json& edit) {
  fs::copy(kFixture, t.path(), fs::copy_options::recursive | fs::copy_options::overwrite_existing);
  auto cfg = nlohmann::json::parse(slm::test::read_text(t.file("config.json")));
  cfg.merge_patch(edit);
  slm::test::write_text(t.file("config.json"), cfg.dump());
}

struct Case {
  std::string input;     // a config.json patch, command-line arguments, ...
  std::string fragment;  // expected in the one-line error message
};

}  // namespace

TEST(ConfigBounds, CraftedConfigJsonIsBadInputBeforeAnyAllocation) {
  const std::vector<Case> cases = {
      // The attack's values: each used to allocate (or overflow) before being checked.
      {R"({"architectures": ["GPT2ForSequenceClassification"], "num_labels": 1099511627776})",
       "'num_labels' is 1099511627776, outside 0..1048576"},
      {R"({"n_embd": 4294967296})", "'n_embd' is 4294967296, outside 1..65536"},
      {R"({"n_layer": 100000})", "'n_layer' is 100000, outside 1..1024"},
      {R"({"vocab_size": 2147483648})", "'vocab_size' is 2147483648, outside 1..16777216"},
      {R"({"n_positions": 16777216})", "'n_positions' is 16777216, outside 1..1048576"},
      {R"({"n_embd": 18446744073709551615})", "'n_embd' is 18446744073709551615"},
      {R"({"n_head": -4})", "'n_head' is -4"},
      {R"({"n_embd": 64, "n_head": 128})", "n_heads 128 is outside 1..64"},
      {R"({"layer_norm_epsilon": 1e300})", "'layer_norm_epsilon' is 1e+300, not a finite 32-bit float"},
      {R"({"resid_pdrop": 1e300})", "'resid_pdrop' is 1e+300"},
      {R"({"scratchlm_lora": {"r": 4294967296, "lora_alpha": 8}})", "scratchlm_lora r 4294967296 is outside 1..65536"},
      {R"({"scratchlm_lora": {"r": 4, "lora_alpha": 1e300}})", "'lora_alpha' is 1e+300"},
      {R"({"architectures": ["GPT2ForSequenceClassification"], "num_labels": 2, "id2label": {"0": "a", "1\u0000x": "b"}})",
       R"(id2label entry '1\x00x')"},
      // Within every field's range, but 200 GB of weights: the file's tensor table says no first.
      {R"({"n_embd": 65536, "n_head": 1, "n_layer": 1})",
       "tensor 'wte.weight' has shape [256, 64], the config needs [256, 65536]"},
      // More blocks than the file holds: named, with both parameter counts.
      {R"({"n_layer": 1000})",
       "tensor 'h.2.ln_1.weight' is missing (the config implies 50020992 parameters in 12005 tensors; the file holds "
       "136960 in 29)"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.input);
    slm::test::TempDir t;
    write_model(t, nlohmann::json::parse(c.input));
    const std::string msg = slm::test::error_of([&] { slm::load_hf_model(t.path(), true); });
    EXPECT_HAS(msg, c.fragment);
    auto r = run_slm("info --model " + t.path());
    EXPECT_EQ(r.rc, 2) << r.out;
    EXPECT_HAS(r.err, c.fragment);
    EXPECT_EQ(lines(r.err), 1) << r.err;
  }
}

TEST(ConfigBounds, OverridesAndEstimatesAreBoundedToo) {
  const std::vector<Case> cases = {
      {"--config gpt2-124M --emb-dim 4294967296", "emb_dim 4294967296 is outside 1..65536"},
      {"--config gpt2-124M --n-layers 100000", "n_layers 100000 is outside 1..1024"},
      {"--config gpt2-124M --vocab-size 1099511627776", "vocab_size 1099511627776 is outside 1..16777216"},
      {"--config gpt2-124M --context-length -5", "context_length -5 is outside 1..1048576"},
      {"--config gpt2-124M --n-heads 0", "n_heads 0 is outside 1..768"},
      // Every field in range, the product not: the parameter cap.
      {"--config gpt2-124M --emb-dim 65536 --n-heads 64 --n-layers 1024",
       "parameters (vocab_size 50257, emb_dim 65536, n_layers 1024) exceed the limit of 68719476736"},
      // The memory estimate of `slm info` multiplies options: checked, not wrapped.
      {"--config gpt2-124M --batch 4611686018427387904",
       "the activation memory for batch 4611686018427387904, sequence 1024 overflows"},
      {"--config gpt2-124M --seq 4611686018427387904", "overflows 64-bit arithmetic"},
  };
  for (const auto& c : cases) {
    auto r = run_slm("info " + c.input);
    EXPECT_EQ(r.rc, 2) << c.input << "\n" << r.out;
    EXPECT_HAS(r.err, c.fragment);
    EXPECT_EQ(lines(r.err), 1) << r.err;
  }
  // The largest named config is well inside the limits.
  auto r = run_slm("info --config gpt2-1558M --batch 64");
  EXPECT_EQ(r.rc, 0) << r.err;
}

TEST(ConfigBounds, CheckedArithmeticAndLimitsCoverGpt2Xl) {
  EXPECT_EQ(slm::checked_mul(int64_t{1} << 31, int64_t{1} << 31, "x"), int64_t{1} << 62);
  EXPECT_HAS(slm::test::error_of([] { slm::checked_mul(int64_t{1} << 32, int64_t{1} << 32, "the widget count"); }),
             "the widget count overflows 64-bit arithmetic");
  EXPECT_HAS(slm::test::error_of([] { slm::checked_add(INT64_MAX, 1, "y"); }), "y overflows");
  const slm::GPTConfig xl = slm::config_by_name("gpt2-1558M");
  EXPECT_NO_THROW(xl.validate());
  EXPECT_LT(slm::count_params(xl).total_untied * 40, slm::ConfigLimits::params);
  // The shapes the loader checks are the model's parameters, in the model's order.
  slm::GPTConfig tiny = slm::config_by_name("gpt2-tiny");
  tiny.vocab_size = 300;
  slm::GPT m(tiny);
  const slm::ParamShapes shapes = slm::gpt_param_shapes(tiny);
  ASSERT_EQ(shapes.size(), m.params().params().size());
  for (size_t i = 0; i < shapes.size(); ++i) {
    EXPECT_EQ(shapes[i].first, m.params().params()[i].name);
    EXPECT_EQ(shapes[i].second, m.params().params()[i].shape);
  }
}

TEST(ConfigBounds, InfoChecksTheWeightsFile) {
  slm::test::TempDir t;
  write_model(t, nlohmann::json::object());
  auto r = run_slm("info --model " + t.path());
  ASSERT_EQ(r.rc, 0) << r.err;
  const std::string st = t.file("model.safetensors");
  const std::string good = slm::test::read_text(st);
  auto weights_with = [&](const std::function<void(slm::SafetensorsWriter&, slm::GPT&)>& edit) {
    auto m = slm::load_hf_model(kFixture, true);
    slm::SafetensorsWriter w;
    edit(w, *m);
    w.write(st);
  };
  std::vector<int32_t> ints(64 * 64, 0);
  const std::vector<std::pair<std::function<void()>, std::string>> cases = {
      {[&] { fs::remove(st); }, "has no model.safetensors"},
      {[&] { slm::test::write_text(st, good.substr(0, good.size() / 2)); }, "run past the end of the data section"},
      {[&] { slm::test::write_text(st, good.substr(0, 4)); }, "too short for a safetensors file"},
      {[&] { slm::test::write_text(st, ""); }, "too short"},
      {[&] {
         weights_with([](slm::SafetensorsWriter& w, slm::GPT& m) {
           for (const auto& p : m.params().params())
             if (p.name != "ln_f.bias") w.add_f32(p.name, p.shape, m.params().data(p.name));
         });
       },
       "tensor 'ln_f.bias' is missing"},
      {[&] {
         weights_with([](slm::SafetensorsWriter& w, slm::GPT& m) {
           for (const auto& p : m.params().params()) {
             auto shape = p.shape;
             if (p.name == "h.1.attn.c_proj.weight") shape = {32, 128};
             w.add_f32(p.name, shape, m.params().data(p.name));
           }
         });
       },
       "tensor 'h.1.attn.c_proj.weight' has shape [32, 128], the config needs [64, 64]"},
      {[&] {
         weights_with([&](slm::SafetensorsWriter& w, slm::GPT& m) {
           for (const auto& p : m.params().params())
             if (p.name == "h.0.attn.c_proj.weight")
               w.add_i32(p.name, p.shape, ints.data());
             else
               w.add_f32(p.name, p.shape, m.params().data(p.name));
         });
       },
       "tensor 'h.0.attn.c_proj.weight' has dtype I32, expected a float type"},
  };
  for (const auto& [damage, fragment] : cases) {
    damage();
    r = run_slm("info --model " + t.path());
    EXPECT_EQ(r.rc, 2) << fragment << "\n" << r.out;
    EXPECT_HAS(r.err, fragment);
    EXPECT_EQ(lines(r.err), 1) << r.err;
    EXPECT_HAS(slm::test::error_of([&] { slm::load_hf_model(t.path(), true); }), fragment);
    slm::test::write_text(st, good);
  }
}

TEST(ConfigBounds, PrintableEscapesUntrustedBytes) {
  EXPECT_EQ(slm::printable(std::string("a\0b\nc\\d\x7f", 8)), "a\\x00b\\x0ac\\x5cd\\x7f");
  EXPECT_EQ(slm::printable("caf\xc3\xa9 \xff\xc3"),
            "caf\xc3\xa9 \\xff\\xc3");  // valid UTF-8 kept, invalid bytes escaped
  EXPECT_EQ(slm::in_quotes(std::string(300, 'x'), 10), "'xxxxxxxxxx...'");
}

TEST(ConfigBounds, PeftAdapterSettingsAreBoundedBeforeAllocation) {
  const std::vector<Case> cases = {
      {R"({"r": 1099511627776, "lora_alpha": 16})", "r 1099511627776 is outside 1..65536"},
      {R"({"r": -3, "lora_alpha": 16})", "r -3 is outside 1..65536"},
      {R"({"r": 4, "lora_alpha": 1e300})", "lora_alpha 1e+300 is not a positive 32-bit float"},
      {R"({"r": 4, "lora_alpha": 16})", "adapter_model.safetensors"},  // no adapter weights
  };
  for (const auto& c : cases) {
    slm::test::TempDir t;
    auto cfg = nlohmann::json::parse(c.input);
    cfg["base_model_name_or_path"] = kFixture;
    cfg["peft_type"] = "LORA";
    slm::test::write_text(t.file("adapter_config.json"), cfg.dump());
    EXPECT_HAS(slm::test::error_of([&] { slm::load_hf_model(t.path(), true); }), c.fragment);
  }
}
