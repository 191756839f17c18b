// tokenizer_json.h — the Hugging Face tokenizers file, tokenizer.json (chapter 2.5's byte-level BPE
// in the form transformers' fast tokenizers, transformers.js and the tokenizers bindings load).
//
// Written as Hugging Face itself writes these tokenizers:
//   model          {"type": "BPE", vocab (token -> id, GPT-2's printable byte form), merges ("A B" in
//                  rank order), "ignore_merges": true (a piece that is a whole token is that token:
//                  tiktoken's rule), no unk, no dropout, no byte fallback}
//   pre_tokenizer  gpt2 pattern: {"type": "ByteLevel", "use_regex": true} (GPT-2's own regex, the
//                  hub's "gpt2"); gpt4 pattern: Sequence[Split(Regex(pattern), Isolated),
//                  ByteLevel(use_regex: false)] (transformers' TikTokenConverter)
//   decoder / post_processor  ByteLevel; normalizer null
//   added_tokens   <|endoftext|> (special) when the vocabulary has it.
// Read back: the same shapes (the merges also as ["A", "B"] pairs, the cl100k pattern also in its
// older non-possessive spelling); anything else — another model type, a normalizer, an unknown
// pattern, added tokens other than <|endoftext|> — is a BadInput error naming the file and field.
// special_tokens_map.json names <|endoftext|> as bos, eos and unk token, as GPT-2's does.
#pragma once

#include <string>

namespace slm {

class Tokenizer;

// tokenizer.json's text for tok (one line, as the tokenizers library saves without pretty).
std::string tokenizer_json_text(const Tokenizer& tok);
// special_tokens_map.json's text.
std::string special_tokens_map_text(const Tokenizer& tok);

// Parse a tokenizer.json file.
Tokenizer load_tokenizer_json(const std::string& path);

}  // namespace slm
