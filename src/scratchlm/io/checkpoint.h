// checkpoint.h — training checkpoints (chapter 5.4, saving and loading for resumption): a
// Hugging Face model directory (config.json, model.safetensors, vocab.json + merges.txt) plus
// optimizer.safetensors (AdamW's m and v for each trainable parameter, and its step count) and
// trainer.json (step, epoch, data position, RNG states, config, arguments).
//
// Saving is atomic for the directory as a whole: the new checkpoint is written into a sibling
// temp directory (carrying over the other files in DIR, such as metrics.jsonl and loss.svg),
// fsynced, and swapped with DIR by renameat2(RENAME_EXCHANGE); the old one is then deleted. A
// crash at any moment leaves either the old or the new checkpoint in DIR, never a mix.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace slm {

class GPT;
class AdamW;
class Tokenizer;

// Save model (+ optimizer when non-null, + tokenizer when non-null) and trainer_state to dir.
void save_checkpoint(const std::string& dir, const GPT& model, const AdamW* optimizer, const Tokenizer* tokenizer,
                     const nlohmann::json& trainer_state);

// Read DIR/trainer.json (BadInput error if missing or malformed).
nlohmann::json load_trainer_state(const std::string& dir);

// Restore AdamW's m, v and step count from DIR/optimizer.safetensors; the optimizer must belong
// to a model with the same trainable parameters.
void load_optimizer_state(const std::string& dir, AdamW& optimizer);

// Remove leftovers of interrupted saves next to dir (sibling ".NAME.ckpt-*" directories).
void cleanup_checkpoint_temps(const std::string& dir);

}  // namespace slm
