// test_gguf_format.cpp — the GGUF container and its number formats: fp16 conversion against the
// compiler's _Float16 (every half, and floats at every rounding boundary), Q8_0 blocks against
// ggml's reference rule computed independently, a writer/reader round trip of every metadata type
// and tensor type, a table of corrupt files that must each be a one-line BadInput error, every
// truncation, and seeded random mutations that must never crash (ASan checks the reads).
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <functional>
#include <map>

#include "scratchlm/io/gguf.h"
#include "scratchlm/tensor/half.h"
#include "scratchlm/tensor/q8_0.h"
#include "scratchlm/tensor/rng.h"
#include "scratchlm/util/error.h"
#include "test_util.h"

using slm::GgmlType;
using slm::GgufFile;
using slm::GgufType;
using slm::GgufWriter;

namespace {

// A GGUF file built byte by byte, remembering where each field starts (for targeted corruption).
struct Raw {
  std::string b;
  std::map<std::string, size_t> at;
  template <typename T>
  void put(T v, const std::string& mark = "") {
    if (!mark.empty()) at[mark] = b.size();
    b.append(reinterpret_cast<const char*>(&v), sizeof v);
  }
  void str(std::string_view s, const std::string& mark = "") {
    put<uint64_t>(s.size(), mark);
    b.append(s);
  }
  template <typename T>
  void set(const std::string& mark, T v) {
    std::memcpy(b.data() + at.at(mark), &v, sizeof v);
  }
};

// A valid file: 4 metadata pairs (u32, string, f32 array, string array) and 3 tensors (F32 [2x3],
// F16 [4], Q8_0 [32x2]) at aligned offsets.
Raw valid_file() {
  Raw r;
  r.put<uint32_t>(0x46554747, "magic");
  r.put<uint32_t>(3, "version");
  r.put<uint64_t>(3, "n_tensors");
  r.put<uint64_t>(4, "n_kv");
  r.str("general.alignment", "key0");
  r.put<uint32_t>(4, "type0");
  r.put<uint32_t>(32, "alignment");
  r.str("general.architecture", "key1");
  r.put<uint32_t>(8, "type1");
  r.str("gpt2", "string1");
  r.str("some.floats", "key2");
  r.put<uint32_t>(9, "type2");
  r.put<uint32_t>(6, "elem2");
  r.put<uint64_t>(2, "count2");
  r.put<float>(1.5f);
  r.put<float>(-2.0f);
  r.str("some.string", "key3");
  r.put<uint32_t>(9);
  r.put<uint32_t>(8, "elem3");
  r.put<uint64_t>(2, "count3");
  r.str("a", "string3a");
  r.str("bc");
  r.str("t.f32", "name0");
  r.put<uint32_t>(2, "ndims0");
  r.put<uint64_t>(3, "dim0");
  r.put<uint64_t>(2, "dim0b");
  r.put<uint32_t>(0, "ttype0");
  r.put<uint64_t>(0, "offset0");
  r.str("t.f16", "name1");
  r.put<uint32_t>(1);
  r.put<uint64_t>(4, "dim1");
  r.put<uint32_t>(1, "ttype1");
  r.put<uint64_t>(32, "offset1");
  r.str("t.q8", "name2");
  r.put<uint32_t>(2);
  r.put<uint64_t>(32, "dim2");
  r.put<uint64_t>(2);
  r.put<uint32_t>(8, "ttype2");
  r.put<uint64_t>(64, "offset2");
  r.b.append((32 - r.b.size() % 32) % 32, '\0');
  r.at["data"] = r.b.size();
  for (int i = 0; i < 6; ++i) r.put<float>(static_cast<float>(i) - 2.5f);
  r.b.append(8, '\0');
  for (float f : {1.0f, -0.5f, 65504.0f, 0.0f}) r.put<uint16_t>(slm::f32_to_f16(f));
  r.b.append(24, '\0');
  for (int blk = 0; blk < 2; ++blk) {
    r.put<uint16_t>(slm::f32_to_f16(0.5f));
    for (int j = 0; j < 32; ++j) r.put<int8_t>(static_cast<int8_t>(j - 16 + blk));
  }
  return r;
}

// Expect parsing `bytes` to be a one-line BadInput error containing `needle`.
void expect_corrupt(const std::string& bytes, const std::string& needle, const std::string& label) {
  try {
    GgufFile::from_buffer(bytes.data(), bytes.size(), "x.gguf");
    ADD_FAILURE() << label << ": accepted";
  } catch (const slm::Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(e.kind(), slm::ErrorKind::BadInput) << label;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << label << ": " << msg;
    EXPECT_HAS(msg, "x.gguf");
    EXPECT_HAS(msg, needle);
  }
}

float ref_f16_round(float f) { return static_cast<float>(static_cast<_Float16>(f)); }

}  // namespace

TEST(GgufHalf, EveryHalfRoundTripsAndMatchesFloat16) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = slm::f16_to_f32(static_cast<uint16_t>(h));
    _Float16 ref;
    const uint16_t hh = static_cast<uint16_t>(h);
    std::memcpy(&ref, &hh, 2);
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(static_cast<float>(ref)));
      EXPECT_TRUE(std::isnan(slm::f16_to_f32(slm::f32_to_f16(f))));
      continue;
    }
    ASSERT_EQ(std::bit_cast<uint32_t>(f), std::bit_cast<uint32_t>(static_cast<float>(ref))) << h;
    ASSERT_EQ(slm::f32_to_f16(f), h) << h;
  }
}

TEST(GgufHalf, RoundsToNearestEvenLikeFloat16) {
  // Every float at and around the midpoints between neighbouring halves, plus seeded random floats.
  std::vector<float> xs = {0.0f,  -0.0f,    65504.0f, 65519.99f, 65520.0f, 1e10f,    -1e10f,
                           1e-8f, 2.98e-8f, 2.99e-8f, 5.96e-8f,  6.1e-5f,  INFINITY, -INFINITY};
  for (uint32_t h = 0; h < 0x7c00; ++h) {
    const float a = slm::f16_to_f32(static_cast<uint16_t>(h)), b = slm::f16_to_f32(static_cast<uint16_t>(h + 1));
    const float mid = a + (b - a) / 2;
    for (float m : {mid, std::nextafter(mid, 0.0f), std::nextafter(mid, INFINITY)}) {
      xs.push_back(m);
      xs.push_back(-m);
    }
  }
  slm::Rng rng(7);
  for (int i = 0; i < 100000; ++i) xs.push_back(std::bit_cast<float>(static_cast<uint32_t>(rng.next_u64())));
  for (float x : xs) {
    if (std::isnan(x)) continue;
    ASSERT_EQ(std::bit_cast<uint32_t>(slm::f16_to_f32(slm::f32_to_f16(x))), std::bit_cast<uint32_t>(ref_f16_round(x)))
        << x;
  }
}

TEST(GgufQ8_0, QuantizesAsGgmlReference) {
  slm::Rng rng(3);
  std::vector<float> x(32 * 64);
  for (auto& v : x) v = static_cast<float>(rng.normal()) * 0.05f;
  for (int j = 0; j < 32; ++j) x[32 + j] = 0.0f;                                // an all-zero block
  for (int j = 0; j < 32; ++j) x[64 + j] = static_cast<float>(j - 16) * 0.25f;  // exact ties
  std::vector<slm::BlockQ8_0> q(64);
  slm::quantize_row_q8_0(x.data(), q.data(), static_cast<int64_t>(x.size()));
  std::vector<float> y(x.size());
  slm::dequantize_row_q8_0(q.data(), y.data(), static_cast<int64_t>(y.size()));
  for (int b = 0; b < 64; ++b) {
    float amax = 0;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[b * 32 + j]));
    const float d = amax / 127.0f, id = d ? 1.0f / d : 0.0f;
    ASSERT_EQ(q[b].d, slm::f32_to_f16(d)) << b;
    for (int j = 0; j < 32; ++j) {
      ASSERT_EQ(q[b].qs[j], static_cast<int8_t>(std::round(x[b * 32 + j] * id))) << b << " " << j;
      ASSERT_EQ(y[b * 32 + j], static_cast<float>(q[b].qs[j]) * slm::f16_to_f32(q[b].d));
      EXPECT_LE(std::fabs(y[b * 32 + j] - x[b * 32 + j]),
                (0.5f + 127.0f / 2048) * d * 1.01f + 1e-7f);  // rounding + the fp16 scale
    }
  }
  EXPECT_EQ(q[1].d, 0);
  EXPECT_EQ(q[2].qs[0], -127);  // the block's largest magnitude is 127
  EXPECT_EQ(q[2].qs[2], -111);  // -3.5 / (4/127) = -111.125
  std::vector<float> bad(32, 1.0f);
  bad[5] = NAN;
  EXPECT_THROW(slm::quantize_row_q8_0(bad.data(), q.data(), 32), slm::Error);
}

TEST(GgufFormat, WriterReaderRoundTrip) {
  slm::test::TempDir t;
  GgufWriter w;
  w.set_u32("a.u32", 4000000000u);
  w.set_i32("a.i32", -7);
  w.set_f32("a.f32", 0.25f);
  w.set_bool("a.bool", true);
  w.set_string("a.string", std::string("x\0y", 3));
  w.set_string_array("a.strings", {"", "Ġthe", "<|endoftext|>"});
  w.set_i32_array("a.ints", {1, -2, 3});
  std::vector<float> m = {1, 2, 3, 4, 5, 6}, v64(64);
  for (size_t i = 0; i < v64.size(); ++i) v64[i] = static_cast<float>(i) / 8.0f - 3.0f;
  w.add_tensor("m", GgmlType::F32, {3, 2}, [&](uint8_t* d) { std::memcpy(d, m.data(), 24); });
  w.add_tensor("h", GgmlType::F16, {64}, [&](uint8_t* d) {
    for (int i = 0; i < 64; ++i) {
      const uint16_t h = slm::f32_to_f16(v64[i]);
      std::memcpy(d + 2 * i, &h, 2);
    }
  });
  w.add_tensor("q", GgmlType::Q8_0, {32, 2}, [&](uint8_t* d) {
    slm::BlockQ8_0 b[2];
    slm::quantize_row_q8_0(v64.data(), b, 64);
    std::memcpy(d, b, sizeof b);
  });
  w.write(t.file("a.gguf"));
  EXPECT_TRUE(GgufFile::is_gguf(t.file("a.gguf")));
  EXPECT_FALSE(GgufFile::is_gguf(t.path()));
  const GgufFile f = GgufFile::open(t.file("a.gguf"));
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.alignment(), 32u);
  EXPECT_EQ(f.get_uint("a.u32"), 4000000000u);
  EXPECT_EQ(f.get_float("a.f32"), 0.25);
  EXPECT_TRUE(f.get_bool("a.bool"));
  EXPECT_EQ(f.get_string("a.string"), std::string_view("x\0y", 3));
  ASSERT_EQ(f.get_string_array("a.strings").size(), 3u);
  EXPECT_EQ(f.get_string_array("a.strings")[1], "Ġthe");
  EXPECT_EQ(f.get_int_array("a.ints"), (std::vector<int64_t>{1, -2, 3}));
  EXPECT_EQ(f.metadata()[1].first, "a.i32");
  EXPECT_HAS(slm::test::error_of([&] { f.get_uint("a.i32"); }), "out of range");
  EXPECT_HAS(slm::test::error_of([&] { f.get_string("a.u32"); }), "expected string");
  EXPECT_HAS(slm::test::error_of([&] { f.get_uint("nope"); }), "'nope' is missing");
  ASSERT_EQ(f.tensors().size(), 3u);
  for (const auto& ti : f.tensors()) EXPECT_EQ(ti.offset % 32, 0u) << ti.name;
  EXPECT_EQ(f.find_tensor("m")->shape(), (std::vector<int64_t>{2, 3}));
  std::vector<float> got(6), got64(64);
  f.read_f32(*f.find_tensor("m"), got);
  EXPECT_EQ(got, m);
  f.read_f32(*f.find_tensor("h"), got64);
  EXPECT_EQ(got64, v64);  // multiples of 1/8 below 4 are exact halves
  f.read_f32(*f.find_tensor("q"), got64);
  for (int i = 0; i < 64; ++i) EXPECT_NEAR(got64[i], v64[i], 4.875f / 127 * 0.57f) << i;
  EXPECT_EQ(f.find_tensor("q")->nbytes, 68u);
}

TEST(GgufFormat, HandBuiltFileParses) {
  const Raw r = valid_file();
  const GgufFile f = GgufFile::from_buffer(r.b.data(), r.b.size(), "x.gguf");
  EXPECT_EQ(f.get_string("general.architecture"), "gpt2");
  std::vector<float> v(6), h(4), q(64);
  f.read_f32(f.tensors()[0], v);
  EXPECT_EQ(v[5], 2.5f);
  f.read_f32(f.tensors()[1], h);
  EXPECT_EQ(h, (std::vector<float>{1.0f, -0.5f, 65504.0f, 0.0f}));
  f.read_f32(f.tensors()[2], q);
  EXPECT_EQ(q[0], -8.0f);
  EXPECT_EQ(q[32], -7.5f);
  std::string odd = " " + r.b;  // an unaligned buffer reads the same
  const GgufFile g = GgufFile::from_buffer(odd.data() + 1, r.b.size(), "y.gguf");
  std::vector<float> q2(64);
  g.read_f32(g.tensors()[2], q2);
  EXPECT_EQ(q, q2);
}

TEST(GgufFormat, CorruptFilesAreOneLineBadInputErrors) {
  struct Case {
    const char* label;
    std::function<void(Raw&)> corrupt;
    const char* needle;
  };
  const uint64_t huge = uint64_t{1} << 62;
  const std::vector<Case> cases = {
      {"magic", [](Raw& r) { r.set<uint32_t>("magic", 0x46554746); }, "not a GGUF file"},
      {"version 1", [](Raw& r) { r.set<uint32_t>("version", 1); }, "version 1"},
      {"big endian", [](Raw& r) { r.set<uint32_t>("version", 0x03000000); }, "big-endian"},
      {"tensor count", [&](Raw& r) { r.set<uint64_t>("n_tensors", huge); }, "tensor count"},
      {"kv count", [&](Raw& r) { r.set<uint64_t>("n_kv", huge); }, "metadata count"},
      {"kv count +1", [](Raw& r) { r.set<uint64_t>("n_kv", 5); }, ""},
      {"key length", [&](Raw& r) { r.set<uint64_t>("key1", huge); }, "truncated"},
      {"empty key", [](Raw& r) { r.set<uint64_t>("key1", 0); }, "is empty"},
      {"value type", [](Raw& r) { r.set<uint32_t>("type1", 99); }, "unknown value type 99"},
      {"string length", [&](Raw& r) { r.set<uint64_t>("string1", huge); }, "truncated"},
      {"array elem type", [](Raw& r) { r.set<uint32_t>("elem2", 13); }, "unknown type 13"},
      {"nested array", [](Raw& r) { r.set<uint32_t>("elem2", 9); }, "array of arrays"},
      {"array count", [&](Raw& r) { r.set<uint64_t>("count2", huge); }, "more than the file can hold"},
      {"string array count", [&](Raw& r) { r.set<uint64_t>("count3", huge); }, "more than the file can hold"},
      {"string element length", [&](Raw& r) { r.set<uint64_t>("string3a", huge); }, "truncated"},
      {"duplicate key", [](Raw& r) { std::memcpy(r.b.data() + r.at["key3"] + 8, "some.floats", 11); }, "twice"},
      {"alignment type", [](Raw& r) { r.set<uint32_t>("type0", 5); }, "expected u32"},
      {"alignment 0", [](Raw& r) { r.set<uint32_t>("alignment", 0); }, "not a power of two"},
      {"alignment 24", [](Raw& r) { r.set<uint32_t>("alignment", 24); }, "not a power of two"},
      {"tensor name length", [&](Raw& r) { r.set<uint64_t>("name0", huge); }, "truncated"},
      {"empty tensor name", [](Raw& r) { r.set<uint64_t>("name0", 0); }, "empty name"},
      {"duplicate tensor", [](Raw& r) { std::memcpy(r.b.data() + r.at["name1"] + 8, "t.f32", 5); }, "twice"},
      {"0 dims", [](Raw& r) { r.set<uint32_t>("ndims0", 0); }, "0 dimensions"},
      {"5 dims", [](Raw& r) { r.set<uint32_t>("ndims0", 5); }, "5 dimensions"},
      {"dim overflow", [](Raw& r) { r.set<uint64_t>("dim0", ~uint64_t{0}); }, "absurd dimensions"},
      {"dim product overflow",
       [&](Raw& r) {
         r.set<uint64_t>("dim0", uint64_t{1} << 40);
         r.set<uint64_t>("dim0b", uint64_t{1} << 40);
       },
       "absurd"},
      {"unknown tensor type", [](Raw& r) { r.set<uint32_t>("ttype0", 12); }, "Q4_K"},
      {"q8_0 row", [](Raw& r) { r.set<uint64_t>("dim2", 48); }, "not a multiple of 32"},
      {"misaligned offset", [](Raw& r) { r.set<uint64_t>("offset1", 36); }, "not a multiple of the alignment"},
      {"offset past end", [](Raw& r) { r.set<uint64_t>("offset2", 4096); }, "past the end"},
      {"offset overflow", [](Raw& r) { r.set<uint64_t>("offset2", ~uint64_t{0} - 31); }, "past the end"},
      {"tensor too big", [](Raw& r) { r.set<uint64_t>("dim1", 1000); }, "past the end"},
      {"overlap", [](Raw& r) { r.set<uint64_t>("offset1", 0); }, "overlap"},
      {"bool",
       [](Raw& r) {
         r.set<uint32_t>("type1", 7);
         r.set<uint8_t>("string1", 2);
       },
       "bool of value 2"},
      {"data section", [](Raw& r) { r.b.resize(r.at["data"] - 3); }, "truncated"},
  };
  for (const auto& c : cases) {
    Raw r = valid_file();
    c.corrupt(r);
    expect_corrupt(r.b, c.needle, c.label);
  }
}

TEST(GgufFormat, EveryTruncationIsAnError) {
  const Raw r = valid_file();
  for (size_t n = 0; n < r.b.size(); ++n) {
    const std::string cut = r.b.substr(0, n);
    EXPECT_THROW(GgufFile::from_buffer(cut.data(), cut.size(), "x.gguf"), slm::Error) << n;
  }
}

TEST(GgufFormat, MutatedFilesNeverCrash) {
  const Raw base = valid_file();
  slm::Rng rng(11);
  int parsed = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string b = base.b;
    const int flips = 1 + static_cast<int>(rng.below(4));
    for (int k = 0; k < flips; ++k) {
      const size_t at = rng.below(b.size());
      b[at] = static_cast<char>(rng.below(2) ? rng.below(256) : b[at] ^ (1 << rng.below(8)));
    }
    std::vector<char> exact(b.begin(), b.end());  // heap buffer of exactly the size: ASan sees overreads
    try {
      const GgufFile f = GgufFile::from_buffer(exact.data(), exact.size(), "m.gguf");
      for (const auto& t : f.tensors()) {
        std::vector<float> v(t.numel);
        f.read_f32(t, v);
      }
      ++parsed;
    } catch (const slm::Error& e) {
      ASSERT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
    }
  }
  EXPECT_GT(parsed, 100);  // many mutations hit tensor data, which any value makes valid
}

TEST(GgufFormat, OpenErrors) {
  slm::test::TempDir t;
  EXPECT_HAS(slm::test::error_of([&] { GgufFile::open(t.file("none.gguf")); }), "cannot open");
  slm::test::write_text(t.file("short.gguf"), "GGUF");
  EXPECT_HAS(slm::test::error_of([&] { GgufFile::open(t.file("short.gguf")); }), "too short");
  EXPECT_HAS(slm::test::error_of([&] { GgufFile::open(t.path()); }), "not a regular file");
}
