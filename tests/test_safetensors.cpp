// test_safetensors.cpp — the safetensors reader and writer: round trips (F32, I32, scalars, empty
// tensors, metadata), byte-identical output against the PyTorch fixtures' independent writer,
// F16/BF16/F64 conversion against hand-computed values, integer widening, a table of corrupt
// files that must each be a one-line BadInput error naming the file, and atomic overwrites.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <numeric>

#include "scratchlm/io/safetensors.h"
#include "scratchlm/util/error.h"
#include "test_util.h"

namespace fs = std::filesystem;
using slm::DType;
using slm::SafetensorsFile;
using slm::SafetensorsWriter;
using slm::test::TempDir;

namespace {

// A raw safetensors file: 8-byte little-endian length, the header text as given, then data.
std::string raw_file(const std::string& header, const std::string& data = "", int64_t len_override = -1) {
  uint64_t n = len_override >= 0 ? static_cast<uint64_t>(len_override) : header.size();
  std::string out(8, '\0');
  std::memcpy(out.data(), &n, 8);
  return out + header + data;
}

std::string raw_file_u64(uint64_t n, const std::string& rest) {
  std::string out(8, '\0');
  std::memcpy(out.data(), &n, 8);
  return out + rest;
}

template <typename T>
std::string bytes_of(const std::vector<T>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

std::vector<float> iota_f(size_t n, float start = 0.5f) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = start + static_cast<float>(i) * 0.25f - static_cast<float>(i % 3);
  return v;
}

// Expect `fn` to throw a one-line BadInput slm::Error whose message contains each of `needles`.
template <typename Fn>
void expect_bad_input(Fn&& fn, const std::vector<std::string>& needles, const std::string& label) {
  try {
    fn();
    ADD_FAILURE() << label << ": expected slm::Error, nothing was thrown";
  } catch (const slm::Error& e) {
    std::string msg = e.what();
    EXPECT_EQ(e.kind(), slm::ErrorKind::BadInput) << label << ": " << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << label << ": message is not one line: " << msg;
    for (const auto& n : needles)
      EXPECT_NE(msg.find(n), std::string::npos) << label << ": '" << n << "' not in: " << msg;
  } catch (const std::exception& e) {
    ADD_FAILURE() << label << ": expected slm::Error, got std::exception: " << e.what();
  }
}

std::vector<std::string> tmp_leftovers(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().find(".tmp.") != std::string::npos) out.push_back(e.path().string());
  return out;
}

}  // namespace

// ------------------------------------------------------------------------------- round trips

TEST(Safetensors, RoundTripF32AndI32) {
  TempDir dir;
  std::string path = dir.file("rt.safetensors");
  auto a = iota_f(6), b = iota_f(5, -3.0f), c = iota_f(24, 7.0f);
  std::vector<float> scalar{3.25f};
  std::vector<int32_t> ia{1, -2, 3, std::numeric_limits<int32_t>::min()}, ib{7, 8, 9, 10, 11, 12}, iscalar{-42};
  SafetensorsWriter w;
  w.add_f32("b.vec", {5}, b.data());
  w.add_f32("a.mat", {2, 3}, a.data());
  w.add_f32("c.cube", {2, 3, 4}, c.data());
  w.add_f32("scalar", {}, scalar.data());
  w.add_f32("empty", {0}, nullptr);
  w.add_f32("empty2", {3, 0, 2}, nullptr);
  w.add_i32("ints", {4}, ia.data());
  w.add_i32("ints2d", {2, 3}, ib.data());
  w.add_i32("iscalar", {}, iscalar.data());
  w.add_i32("iempty", {0}, nullptr);
  w.write(path);

  auto f = SafetensorsFile::open(path);
  EXPECT_EQ(f.path(), path);
  std::vector<std::string> names;
  for (const auto& t : f.tensors()) names.push_back(t.name);
  EXPECT_EQ(names, (std::vector<std::string>{"a.mat", "b.vec", "c.cube", "empty", "empty2", "iempty", "ints", "ints2d",
                                             "iscalar", "scalar"}));
  EXPECT_TRUE(f.metadata().empty());

  auto check_f32 = [&](const std::string& name, std::vector<int64_t> shape, const std::vector<float>& want) {
    SCOPED_TRACE(name);
    const auto* t = f.find(name);
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(t->dtype, DType::F32);
    EXPECT_EQ(t->shape, shape);
    EXPECT_EQ(t->numel(), want.size());
    auto view = f.f32_view(name);
    ASSERT_EQ(view.size(), want.size());
    for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(view[i], want[i]);
    std::vector<float> got(want.size(), -1.0f);
    f.read_f32(name, got);
    EXPECT_EQ(got, want);
    slm::Tensor tt = f.load_f32(name);
    EXPECT_EQ(tt.shape(), shape);
    ASSERT_EQ(tt.numel(), want.size());
    for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(tt[i], want[i]);
  };
  check_f32("a.mat", {2, 3}, a);
  check_f32("b.vec", {5}, b);
  check_f32("c.cube", {2, 3, 4}, c);
  check_f32("scalar", {}, scalar);
  check_f32("empty", {0}, {});
  check_f32("empty2", {3, 0, 2}, {});

  auto check_i32 = [&](const std::string& name, std::vector<int64_t> shape, const std::vector<int32_t>& want) {
    SCOPED_TRACE(name);
    const auto* t = f.find(name);
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(t->dtype, DType::I32);
    EXPECT_EQ(t->shape, shape);
    auto got = f.read_int(name);
    EXPECT_EQ(got, std::vector<int64_t>(want.begin(), want.end()));
  };
  check_i32("ints", {4}, ia);
  check_i32("ints2d", {2, 3}, ib);
  check_i32("iscalar", {}, iscalar);
  check_i32("iempty", {0}, {});

  EXPECT_FALSE(f.contains("nope"));
  EXPECT_FALSE(f.contains("a.ma"));
  EXPECT_FALSE(f.contains("a.mat2"));
  EXPECT_TRUE(f.contains("a.mat"));

  // Layout: header padded so that 8+N is a multiple of 8, data contiguous in name order, no tail.
  std::string raw = slm::test::read_text(path);
  uint64_t n = 0;
  std::memcpy(&n, raw.data(), 8);
  EXPECT_EQ((8 + n) % 8, 0u);
  size_t expect = 0;
  for (const auto& t : f.tensors()) {
    EXPECT_EQ(t.begin, expect) << t.name;
    expect = t.end;
  }
  EXPECT_EQ(8 + n + expect, raw.size());
  EXPECT_EQ(tmp_leftovers(dir.path()), std::vector<std::string>{});
}

TEST(Safetensors, MetadataRoundTrip) {
  TempDir dir;
  std::string path = dir.file("md.safetensors");
  std::vector<float> v{1, 2, 3};
  SafetensorsWriter w;
  w.set_metadata("format", "pt");
  w.set_metadata("step", "1200");
  w.set_metadata("note", "quotes \" backslash \\ newline \n unicode \xc3\xa9\xe2\x82\xac");
  w.set_metadata("empty", "");
  w.add_f32("x", {3}, v.data());
  w.write(path);
  auto f = SafetensorsFile::open(path);
  std::map<std::string, std::string> want{{"format", "pt"},
                                          {"step", "1200"},
                                          {"note", "quotes \" backslash \\ newline \n unicode \xc3\xa9\xe2\x82\xac"},
                                          {"empty", ""}};
  EXPECT_EQ(f.metadata(), want);
  std::vector<float> got(3);
  f.read_f32("x", got);
  EXPECT_EQ(got, v);
  // __metadata__ comes first in the header, like the Python writers.
  EXPECT_EQ(slm::test::read_text(path).substr(8, 16), "{\"__metadata__\":");
}

TEST(Safetensors, ZeroTensorFiles) {
  TempDir dir;
  {
    SafetensorsWriter w;
    w.write(dir.file("empty.safetensors"));
    auto f = SafetensorsFile::open(dir.file("empty.safetensors"));
    EXPECT_TRUE(f.tensors().empty());
    EXPECT_TRUE(f.metadata().empty());
    std::string raw = slm::test::read_text(dir.file("empty.safetensors"));
    EXPECT_EQ(raw.size(), 16u);  // 8 + "{}" padded to 8
  }
  {
    SafetensorsWriter w;
    w.set_metadata("k", "v");
    w.write(dir.file("md_only.safetensors"));
    auto f = SafetensorsFile::open(dir.file("md_only.safetensors"));
    EXPECT_TRUE(f.tensors().empty());
    EXPECT_EQ(f.metadata().at("k"), "v");
  }
  // Hand-written minimal files: "{}" with no padding and an empty data section.
  std::string min = raw_file("{}");
  auto f = SafetensorsFile::from_buffer(min.data(), min.size(), "min");
  EXPECT_TRUE(f.tensors().empty());
}

TEST(Safetensors, MoveKeepsMapping) {
  TempDir dir;
  std::vector<float> v{4, 5, 6, 7};
  SafetensorsWriter w;
  w.add_f32("v", {2, 2}, v.data());
  w.write(dir.file("m.safetensors"));
  auto f = SafetensorsFile::open(dir.file("m.safetensors"));
  SafetensorsFile g = std::move(f);
  auto view = g.f32_view("v");
  EXPECT_EQ(std::vector<float>(view.begin(), view.end()), v);
  auto h = SafetensorsFile::open(dir.file("m.safetensors"));
  h = std::move(g);
  EXPECT_EQ(h.load_f32("v").shape(), (std::vector<int64_t>{2, 2}));
}

// ------------------------------------------------------------------- the PyTorch fixtures

// model.safetensors was written by tools/torch_reference.py's own hand-written writer (json.dumps
// with compact separators, __metadata__ first, sorted names, space padding). Our reader must read
// it, and our writer must reproduce it byte for byte, which also proves that the files we write are
// readable by that independent reader (read_safetensors() in the same script).
TEST(Safetensors, ReadsTorchFixtureAndRewritesItByteIdentical) {
  for (std::string fixture : {"tiny_qkvbias", "tiny_noqkvbias_tied"}) {
    SCOPED_TRACE(fixture);
    std::string path = slm::test::source_dir() + "/tests/fixtures/torch/" + fixture + "/model.safetensors";
    auto f = SafetensorsFile::open(path);
    EXPECT_EQ(f.metadata().at("format"), "pt");
    const auto* wte = f.find("wte.weight");
    ASSERT_NE(wte, nullptr);
    EXPECT_EQ(wte->dtype, DType::F32);
    EXPECT_EQ(wte->shape, (std::vector<int64_t>{256, 64}));
    const auto* attn = f.find("h.0.attn.c_attn.weight");
    ASSERT_NE(attn, nullptr);
    EXPECT_EQ(attn->shape, (std::vector<int64_t>{64, 192}));
    EXPECT_EQ(f.contains("h.0.attn.c_attn.bias"), fixture == "tiny_qkvbias");
    EXPECT_EQ(f.contains("lm_head.weight"), fixture == "tiny_qkvbias");
    EXPECT_EQ(f.find("wpe.weight")->shape, (std::vector<int64_t>{64, 64}));
    EXPECT_EQ(f.find("h.1.mlp.c_fc.weight")->shape, (std::vector<int64_t>{64, 256}));
    EXPECT_EQ(f.find("ln_f.bias")->shape, (std::vector<int64_t>{64}));
    // Values are non-trivial and finite.
    slm::Tensor t = f.load_f32("wte.weight");
    double ss = 0;
    for (size_t i = 0; i < t.numel(); ++i) {
      ASSERT_TRUE(std::isfinite(t[i]));
      ss += double(t[i]) * t[i];
    }
    EXPECT_GT(ss / t.numel(), 1e-4);

    TempDir dir;
    std::vector<slm::Tensor> keep;
    keep.reserve(f.tensors().size());
    SafetensorsWriter w;
    for (const auto& [k, v] : f.metadata()) w.set_metadata(k, v);
    for (const auto& info : f.tensors()) {
      keep.push_back(f.load_f32(info.name));
      w.add_f32(info.name, info.shape, keep.back().data());
    }
    w.write(dir.file("copy.safetensors"));
    std::string orig = slm::test::read_text(path), copy = slm::test::read_text(dir.file("copy.safetensors"));
    EXPECT_EQ(orig.size(), copy.size());
    EXPECT_TRUE(orig == copy) << "rewritten fixture differs from the original";
  }
  // reference.safetensors: I32 tokens/targets and the F32 [1] loss.
  auto r = SafetensorsFile::open(slm::test::source_dir() + "/tests/fixtures/torch/tiny_qkvbias/reference.safetensors");
  EXPECT_EQ(r.find("tokens")->dtype, DType::I32);
  EXPECT_EQ(r.find("tokens")->shape, (std::vector<int64_t>{3, 37}));
  auto targets = r.read_int("targets");
  EXPECT_EQ(std::count(targets.begin(), targets.end(), -100), 5);
  for (int64_t id : r.read_int("tokens")) {
    EXPECT_GE(id, 0);
    EXPECT_LT(id, 256);
  }
}

// ---------------------------------------------------------------------- dtype conversion

TEST(Safetensors, F16ToF32) {
  std::vector<uint16_t> h{0x3C00, 0xC100, 0x7BFF, 0x0001, 0x03FF, 0x0400, 0x7C00,
                          0xFC00, 0x7E00, 0x8000, 0x0000, 0x3555, 0xFBFF, 0x8001};
  std::string hdr = R"({"h":{"dtype":"F16","shape":[14],"data_offsets":[0,28]}})";
  std::string buf = raw_file(hdr, bytes_of(h));
  auto f = SafetensorsFile::from_buffer(buf.data(), buf.size(), "f16");
  std::vector<float> got(14);
  f.read_f32("h", got);
  EXPECT_EQ(got[0], 1.0f);
  EXPECT_EQ(got[1], -2.5f);
  EXPECT_EQ(got[2], 65504.0f);
  EXPECT_EQ(got[3], std::ldexp(1.0f, -24));            // smallest subnormal
  EXPECT_EQ(got[4], 1023.0f * std::ldexp(1.0f, -24));  // largest subnormal
  EXPECT_EQ(got[5], std::ldexp(1.0f, -14));            // smallest normal
  EXPECT_EQ(got[6], std::numeric_limits<float>::infinity());
  EXPECT_EQ(got[7], -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(got[8]));
  EXPECT_EQ(got[9], 0.0f);
  EXPECT_TRUE(std::signbit(got[9]));
  EXPECT_EQ(got[10], 0.0f);
  EXPECT_FALSE(std::signbit(got[10]));
  EXPECT_EQ(got[11], 1365.0f / 4096.0f);  // 0x3555 = 1.0101010101b x 2^-2 = (1024+341)/1024/4
  EXPECT_EQ(got[12], -65504.0f);
  EXPECT_EQ(got[13], -std::ldexp(1.0f, -24));
  // All 65536 halves, against the value formula: exact, sign kept, NaNs stay NaN.
  std::vector<uint16_t> all(65536);
  std::iota(all.begin(), all.end(), uint16_t{0});
  std::string b = raw_file(R"({"all":{"dtype":"F16","shape":[256,256],"data_offsets":[0,131072]}})", bytes_of(all));
  auto g = SafetensorsFile::from_buffer(b.data(), b.size(), "f16all");
  slm::Tensor t = g.load_f32("all");
  ASSERT_EQ(t.numel(), 65536u);
  for (uint32_t x = 0; x < 65536; ++x) {
    float out = t[x];
    int e = (x >> 10) & 31, m = x & 1023;
    bool neg = (x & 0x8000) != 0;
    if (e == 31 && m) {
      ASSERT_TRUE(std::isnan(out)) << x;
      continue;
    }
    double want = e == 31 ? INFINITY : e == 0 ? std::ldexp(m, -24) : std::ldexp(1024 + m, e - 25);
    if (neg) want = -want;
    ASSERT_EQ(out, static_cast<float>(want)) << x;
    ASSERT_EQ(std::signbit(out), neg) << x;
  }
}

TEST(Safetensors, BF16AndF64ToF32) {
  std::vector<uint16_t> h{0x3F80, 0xC020, 0x4780, 0x477F, 0x0001, 0x7F80, 0xFF80, 0x7FC0, 0x8000};
  std::vector<double> d{1.0, -2.5, 65504.0, 1e300, -1e300, 1e-50, 0.1, std::nan("")};
  std::string hdr = R"({"b":{"dtype":"BF16","shape":[9],"data_offsets":[0,18]},)"
                    R"("d":{"dtype":"F64","shape":[2,4],"data_offsets":[24,88]}})";
  std::string data = bytes_of(h) + std::string(6, '\0') + bytes_of(d);
  std::string buf = raw_file(hdr, data);
  auto f = SafetensorsFile::from_buffer(buf.data(), buf.size(), "bf16");
  std::vector<float> got(9);
  f.read_f32("b", got);
  EXPECT_EQ(got[0], 1.0f);
  EXPECT_EQ(got[1], -2.5f);
  EXPECT_EQ(got[2], 65536.0f);
  EXPECT_EQ(got[3], 65280.0f);
  EXPECT_EQ(got[4], std::ldexp(1.0f, -133));  // float subnormal
  EXPECT_EQ(got[5], INFINITY);
  EXPECT_EQ(got[6], -INFINITY);
  EXPECT_TRUE(std::isnan(got[7]));
  EXPECT_TRUE(std::signbit(got[8]));
  slm::Tensor t = f.load_f32("d");
  EXPECT_EQ(t.shape(), (std::vector<int64_t>{2, 4}));
  EXPECT_EQ(t[0], 1.0f);
  EXPECT_EQ(t[1], -2.5f);
  EXPECT_EQ(t[2], 65504.0f);
  EXPECT_EQ(t[3], INFINITY);
  EXPECT_EQ(t[4], -INFINITY);
  EXPECT_EQ(t[5], 0.0f);
  EXPECT_EQ(t[6], 0.1f);
  EXPECT_TRUE(std::isnan(t[7]));
  // Not F32, so no zero-copy view.
  expect_bad_input([&] { (void)f.f32_view("b"); }, {"bf16", "'b'", "BF16"}, "f32_view of BF16");
}

TEST(Safetensors, IntegerWidening) {
  std::vector<int64_t> i64{std::numeric_limits<int64_t>::min(), -1, std::numeric_limits<int64_t>::max()};
  std::vector<int16_t> i16{-32768, -1, 32767};
  std::vector<int8_t> i8{-128, -1, 127};
  std::vector<uint8_t> u8{0, 128, 255};
  std::vector<uint8_t> bl{0, 1, 1};
  std::string data = bytes_of(i64) + bytes_of(i16) + bytes_of(i8) + bytes_of(u8) + bytes_of(bl);
  std::string hdr = R"({"a":{"dtype":"I64","shape":[3],"data_offsets":[0,24]},)"
                    R"("b":{"dtype":"I16","shape":[3],"data_offsets":[24,30]},)"
                    R"("c":{"dtype":"I8","shape":[3],"data_offsets":[30,33]},)"
                    R"("d":{"dtype":"U8","shape":[3],"data_offsets":[33,36]},)"
                    R"("e":{"dtype":"BOOL","shape":[3],"data_offsets":[36,39]},)"
                    R"("f":{"dtype":"BOOL","shape":[1],"data_offsets":[39,40]}})";
  std::string buf = raw_file(hdr, data + std::string(1, '\x02'));
  auto f = SafetensorsFile::from_buffer(buf.data(), buf.size(), "ints");
  EXPECT_EQ(f.read_int("a"), std::vector<int64_t>(i64.begin(), i64.end()));
  EXPECT_EQ(f.read_int("b"), (std::vector<int64_t>{-32768, -1, 32767}));
  EXPECT_EQ(f.read_int("c"), (std::vector<int64_t>{-128, -1, 127}));
  EXPECT_EQ(f.read_int("d"), (std::vector<int64_t>{0, 128, 255}));
  EXPECT_EQ(f.read_int("e"), (std::vector<int64_t>{0, 1, 1}));
  expect_bad_input([&] { f.read_int("f"); }, {"ints", "'f'", "BOOL"}, "BOOL byte 2");
  EXPECT_EQ(dtype_size(DType::BF16), 2u);
  EXPECT_STREQ(dtype_name(DType::BOOL), "BOOL");
}

TEST(Safetensors, AccessorErrors) {
  std::vector<float> v{1, 2, 3, 4, 5, 6};
  std::vector<int32_t> iv{1, 2};
  TempDir dir;
  std::string path = dir.file("acc.safetensors");
  SafetensorsWriter w;
  w.add_f32("w", {2, 3}, v.data());
  w.add_i32("ids", {2}, iv.data());
  w.write(path);
  auto f = SafetensorsFile::open(path);
  std::vector<float> five(5);
  expect_bad_input([&] { f.read_f32("w", five); }, {path, "'w'", "[2, 3]", "6", "5"}, "read_f32 size mismatch");
  expect_bad_input([&] { f.read_f32("missing", five); }, {path, "'missing'"}, "read_f32 missing");
  expect_bad_input([&] { f.read_f32("ids", five); }, {path, "'ids'", "I32"}, "read_f32 of I32");
  expect_bad_input([&] { (void)f.load_f32("ids"); }, {path, "'ids'", "I32"}, "load_f32 of I32");
  expect_bad_input([&] { (void)f.read_int("w"); }, {path, "'w'", "F32"}, "read_int of F32");
  expect_bad_input([&] { (void)f.f32_view("ids"); }, {path, "'ids'", "I32"}, "f32_view of I32");
  expect_bad_input([&] { (void)f.f32_view("nope"); }, {path, "'nope'"}, "f32_view missing");
  expect_bad_input([&] { (void)f.read_int("nope\n"); }, {path, "'nope\\x0a'"}, "name escaped");
}

// ---------------------------------------------------------------------- corrupt files

namespace {
struct Corrupt {
  const char* label;
  std::string bytes;
  std::vector<std::string> needles;  // besides the path
};

const std::string kGood = R"("t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";

std::vector<Corrupt> corrupt_cases() {
  std::string d8(8, '\0'), d16(16, '\0');
  auto one = [](const std::string& entry, const std::string& data = std::string(8, '\0')) {
    return raw_file("{" + entry + "}", data);
  };
  return {
      {"empty file", "", {"too short"}},
      {"7 bytes", std::string(7, '\x01'), {"too short"}},
      {"8 bytes, header length 0", raw_file("", "", 0), {"header length 0"}},
      {"header length past end", raw_file("{}", "", 3), {"header length 3", "past the end"}},
      {"header length 2^63", raw_file_u64(uint64_t{1} << 63, "{}"), {"absurd"}},
      {"header length all ones", raw_file_u64(~uint64_t{0}, "{}"), {"absurd"}},
      {"header length just over the limit", raw_file_u64(100'000'001, "{}"), {"absurd"}},
      {"header not JSON", raw_file("{\"t\": {bad", d8), {"not valid JSON", "byte"}},
      {"header truncated JSON", raw_file("{\"t\":{\"dtype\":\"F32\"", d8), {"not valid JSON"}},
      {"header trailing garbage", raw_file("{} x"), {"not valid JSON"}},
      {"header invalid UTF-8", raw_file("{\"\xff\":1}"), {"not valid JSON"}},
      {"header with NUL", raw_file(std::string("{}\0garbage", 10)), {"NUL"}},
      {"header is an array", raw_file("[1,2]  "), {"array", "expected a JSON object"}},
      {"header is a string", raw_file("\"{}\""), {"string", "expected a JSON object"}},
      {"entry not an object", one(R"("t":[1,2])"), {"'t'", "expected an object"}},
      {"entry is null", one(R"("t":null)"), {"'t'", "null"}},
      {"missing dtype", one(R"("t":{"shape":[2],"data_offsets":[0,8]})"), {"'t'", "missing \"dtype\""}},
      {"missing shape", one(R"("t":{"dtype":"F32","data_offsets":[0,8]})"), {"'t'", "missing \"shape\""}},
      {"missing data_offsets", one(R"("t":{"dtype":"F32","shape":[2]})"), {"'t'", "missing \"data_offsets\""}},
      {"unknown field",
       one(R"("t":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1})"),
       {"'t'", "unknown field 'x'"}},
      {"dtype not a string",
       one(R"("t":{"dtype":4,"shape":[2],"data_offsets":[0,8]})"),
       {"'t'", "\"dtype\" is an integer"}},
      {"unknown dtype", one(R"("t":{"dtype":"F8","shape":[2],"data_offsets":[0,8]})"), {"'t'", "unknown dtype 'F8'"}},
      {"lower-case dtype",
       one(R"("t":{"dtype":"f32","shape":[2],"data_offsets":[0,8]})"),
       {"'t'", "unknown dtype 'f32'"}},
      {"U64 dtype", one(R"("t":{"dtype":"U64","shape":[1],"data_offsets":[0,8]})"), {"'t'", "unknown dtype 'U64'"}},
      {"shape not an array",
       one(R"("t":{"dtype":"F32","shape":2,"data_offsets":[0,8]})"),
       {"'t'", "\"shape\" is an integer"}},
      {"negative dim", one(R"("t":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]})"), {"'t'", "negative"}},
      {"negative dims cancel", one(R"("t":{"dtype":"F32","shape":[-1,-2],"data_offsets":[0,8]})"), {"'t'", "negative"}},
      {"float dim", one(R"("t":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]})"), {"'t'", "non-integer"}},
      {"string dim", one(R"("t":{"dtype":"F32","shape":["2"],"data_offsets":[0,8]})"), {"'t'", "a string"}},
      {"huge dim",
       one(R"("t":{"dtype":"F32","shape":[9223372036854775808],"data_offsets":[0,8]})"),
       {"'t'", "too large"}},
      {"dim beyond uint64",
       one(R"("t":{"dtype":"F32","shape":[99999999999999999999],"data_offsets":[0,8]})"),
       {"'t'", "non-integer"}},
      {"shape product overflow",
       one(R"("t":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]})"),
       {"'t'", "overflow"}},
      {"shape product overflow then 0",
       one(R"("t":{"dtype":"F32","shape":[4294967296,4294967296,0],"data_offsets":[0,0]})", ""),
       {"'t'", "overflow"}},
      {"byte count overflow",
       one(R"("t":{"dtype":"F64","shape":[2305843009213693952],"data_offsets":[0,8]})"),
       {"'t'", "overflow"}},
      {"data_offsets not an array",
       one(R"("t":{"dtype":"F32","shape":[2],"data_offsets":8})"),
       {"'t'", "data_offsets"}},
      {"data_offsets one element",
       one(R"("t":{"dtype":"F32","shape":[2],"data_offsets":[8]})"),
       {"'t'", "two integers"}},
      {"data_offsets three elements",
       one(R"("t":{"dtype":"F32","shape":[2],"data_offsets":[0,8,8]})"),
       {"'t'", "two integers"}},
      {"data_offsets negative",
       one(R"("t":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]})"),
       {"'t'", "non-negative"}},
      {"data_offsets float",
       one(R"("t":{"dtype":"F32","shape":[2],"data_offsets":[0,8.0]})"),
       {"'t'", "non-negative integers"}},
      {"data_offsets strings", one(R"("t":{"dtype":"F32","shape":[2],"data_offsets":["0","8"]})"), {"'t'", "a string"}},
      {"data_offsets decreasing",
       one(R"("t":{"dtype":"F32","shape":[0],"data_offsets":[8,0]})"),
       {"'t'", "end before they begin"}},
      {"end past data section",
       one(R"("t":{"dtype":"F32","shape":[4],"data_offsets":[0,16]})"),
       {"'t'", "past the end of the data section"}},
      {"end past data section, huge",
       one(R"("t":{"dtype":"F32","shape":[2],"data_offsets":[18446744073709551608,18446744073709551615]})"),
       {"'t'", "past the end"}},
      {"size mismatch",
       one(R"("t":{"dtype":"F32","shape":[3],"data_offsets":[0,8]})"),
       {"'t'", "hold 8 bytes", "needs 12"}},
      {"size mismatch, dtype", one(R"("t":{"dtype":"F64","shape":[2],"data_offsets":[0,8]})"), {"'t'", "needs 16"}},
      {"overlap",
       raw_file("{" + kGood + R"(,"u":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", d16),
       {"'t'", "'u'", "overlap"}},
      {"overlap, same range",
       raw_file("{" + kGood + R"(,"u":{"dtype":"I32","shape":[2],"data_offsets":[0,8]}})", d16),
       {"'t'", "'u'", "overlap"}},
      {"overlap, contained",
       raw_file(
           R"({"big":{"dtype":"U8","shape":[16],"data_offsets":[0,16]},"s":{"dtype":"U8","shape":[2],"data_offsets":[5,7]}})",
           d16),
       {"'big'", "'s'", "overlap"}},
      {"metadata not an object", raw_file(R"({"__metadata__":"pt"})"), {"__metadata__", "a string"}},
      {"metadata value not a string",
       raw_file(R"({"__metadata__":{"format":1}})"),
       {"__metadata__", "'format'", "an integer"}},
      {"metadata value an object",
       raw_file(R"({"__metadata__":{"format":{"a":"b"}}})"),
       {"__metadata__", "'format'", "an object"}},
      {"duplicate tensor", raw_file("{" + kGood + "," + kGood + "}", d8), {"'t'", "more than once"}},
      {"duplicate metadata key", raw_file(R"({"__metadata__":{"a":"1","a":"2"}})"), {"'a'", "more than once"}},
      {"duplicate __metadata__",
       raw_file(R"({"__metadata__":{},"__metadata__":{}})"),
       {"'__metadata__'", "more than once"}},
      {"control char in name", one(R"("t\nx":[1])"), {"'t\\x0ax'"}},
      {"deeply nested",
       raw_file(R"({"__metadata__":)" + std::string(200, '[') + std::string(200, ']') + "}"),
       {"nested"}},
  };
}
}  // namespace

TEST(Safetensors, CorruptFilesAreOneLineBadInputErrors) {
  TempDir dir;
  auto cases = corrupt_cases();
  ASSERT_GE(cases.size(), 15u);
  int i = 0;
  for (const auto& c : cases) {
    std::string path = dir.file("corrupt" + std::to_string(i++) + ".safetensors");
    slm::test::write_text(path, c.bytes);
    std::vector<std::string> needles = c.needles;
    needles.push_back(path);
    expect_bad_input([&] { (void)SafetensorsFile::open(path); }, needles, c.label);
    needles.back() = "buf:" + std::to_string(i);
    expect_bad_input([&] { (void)SafetensorsFile::from_buffer(c.bytes.data(), c.bytes.size(), needles.back()); },
                     needles, std::string(c.label) + " (from_buffer)");
  }
}

TEST(Safetensors, BoundaryFilesThatAreValid) {
  // Gaps and trailing bytes in the data section are allowed; so are zero-size tensors anywhere
  // in range, and unpadded headers.
  std::string d16(16, '\0');
  std::vector<std::string> ok = {
      raw_file(
          R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
          d16),
      raw_file(
          R"({"a":{"dtype":"U8","shape":[0],"data_offsets":[16,16]},"b":{"dtype":"U8","shape":[16],"data_offsets":[0,16]}})",
          d16),
      raw_file(
          R"({"a":{"dtype":"U8","shape":[0],"data_offsets":[3,3]},"b":{"dtype":"U8","shape":[16],"data_offsets":[0,16]}})",
          d16),
      raw_file(
          R"( { "__metadata__" : { } , "x" : { "data_offsets" : [ 0 , 2 ] , "shape" : [ 1 ] , "dtype" : "BF16" } } )",
          d16),
      raw_file(R"({"a":{"dtype":"BOOL","shape":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1],"data_offsets":[0,1]}})", d16),
  };
  for (size_t i = 0; i < ok.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_NO_THROW((void)SafetensorsFile::from_buffer(ok[i].data(), ok[i].size(), "ok"));
  }
}

TEST(Safetensors, OpenErrors) {
  TempDir dir;
  expect_bad_input([&] { (void)SafetensorsFile::open(dir.file("missing.safetensors")); },
                   {dir.file("missing.safetensors")}, "missing file");
  expect_bad_input([&] { (void)SafetensorsFile::open(dir.path()); }, {dir.path(), "directory"}, "directory");
}

// Every truncation and a set of byte substitutions of a valid file must parse or throw
// slm::Error; nothing else (the libFuzzer harness in tests/fuzz does this at scale).
TEST(Safetensors, MutatedFilesNeverCrash) {
  TempDir dir;
  std::vector<float> v{1, 2, 3};
  std::vector<uint16_t> h{0x3C00, 0x7E00};
  SafetensorsWriter w;
  w.set_metadata("format", "pt");
  w.add_f32("a", {3}, v.data());
  w.add("h", DType::F16, {2}, h.data());
  w.write(dir.file("good.safetensors"));
  std::string good = slm::test::read_text(dir.file("good.safetensors"));
  auto exercise = [](const std::string& buf) {
    try {
      auto f = SafetensorsFile::from_buffer(buf.data(), buf.size(), "mut");
      for (const auto& t : f.tensors()) {
        try {
          if (t.dtype == DType::F32 || t.dtype == DType::F16 || t.dtype == DType::BF16 || t.dtype == DType::F64) {
            std::vector<float> out(t.numel());
            f.read_f32(t.name, out);
          } else {
            (void)f.read_int(t.name);
          }
        } catch (const slm::Error&) {}
      }
    } catch (const slm::Error&) {}
  };
  for (size_t n = 0; n <= good.size(); ++n) exercise(good.substr(0, n));
  const char subs[] = {'\0', '\xff', '9', '"', '-', ' ', '{', ']', ',', '0', 'e', '.'};
  for (size_t i = 0; i < good.size(); ++i)
    for (char c : subs) {
      std::string m = good;
      m[i] = c;
      exercise(m);
    }
}

// The fuzzer's committed seed corpus: valid_* files must validate and read back, bad_* files must
// be BadInput errors, and crash_* files (inputs that once crashed the fuzzer) must do either.
TEST(Safetensors, FuzzSeedCorpus) {
  std::string dir = slm::test::source_dir() + "/tests/fuzz/corpus_safetensors";
  ASSERT_TRUE(fs::is_directory(dir)) << dir;
  int n = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    std::string name = e.path().filename().string(), path = e.path().string();
    SCOPED_TRACE(name);
    ++n;
    if (name.rfind("valid_", 0) == 0) {
      auto f = SafetensorsFile::open(path);
      for (const auto& t : f.tensors()) {
        if (t.dtype == DType::F32 || t.dtype == DType::F16 || t.dtype == DType::BF16 || t.dtype == DType::F64)
          EXPECT_EQ(f.load_f32(t.name).numel(), t.numel());
        else
          EXPECT_EQ(f.read_int(t.name).size(), t.numel());
      }
    } else if (name.rfind("bad_", 0) == 0) {
      expect_bad_input([&] { (void)SafetensorsFile::open(path); }, {path}, name);
    } else {
      try {
        (void)SafetensorsFile::open(path);
      } catch (const slm::Error&) {}
    }
  }
  EXPECT_GE(n, 5);
}

// ------------------------------------------------------------------------------- the writer

TEST(Safetensors, WriterRejectsBadTensors) {
  std::vector<float> v{1};
  SafetensorsWriter w;
  w.add_f32("x", {1}, v.data());
  expect_bad_input([&] { w.add_f32("x", {1}, v.data()); }, {"'x'", "twice"}, "duplicate add");
  expect_bad_input([&] { w.add_f32("__metadata__", {1}, v.data()); }, {"__metadata__", "reserved"}, "reserved name");
  expect_bad_input([&] { w.add_f32("neg", {-1}, v.data()); }, {"'neg'", "negative"}, "negative dim");
  expect_bad_input([&] { w.add_f32("null", {2}, nullptr); }, {"'null'", "null data"}, "null data");
  expect_bad_input([&] { w.add_f32("ovf", {int64_t{1} << 62, 8}, v.data()); }, {"'ovf'", "overflow"}, "overflow");
  TempDir dir;
  w.write(dir.file("ok.safetensors"));  // the failed adds left nothing behind
  EXPECT_EQ(SafetensorsFile::open(dir.file("ok.safetensors")).tensors().size(), 1u);
}

TEST(Safetensors, AtomicOverwrite) {
  TempDir dir;
  std::string path = dir.file("model.safetensors");
  std::vector<float> old_v{1, 2, 3}, new_v{10, 20, 30, 40};
  {
    SafetensorsWriter w;
    w.add_f32("w", {3}, old_v.data());
    w.write(path);
  }
  std::string old_bytes = slm::test::read_text(path);

  // A mapping of the old file stays valid and unchanged while the file is replaced.
  auto old_file = SafetensorsFile::open(path);
  {
    SafetensorsWriter w;
    w.add_f32("w", {2, 2}, new_v.data());
    w.set_metadata("v", "2");
    w.write(path);
  }
  auto view = old_file.f32_view("w");
  EXPECT_EQ(std::vector<float>(view.begin(), view.end()), old_v);
  auto new_file = SafetensorsFile::open(path);
  EXPECT_EQ(new_file.find("w")->shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(new_file.metadata().at("v"), "2");
  std::string new_bytes = slm::test::read_text(path);
  EXPECT_EQ(tmp_leftovers(dir.path()), std::vector<std::string>{});

  // A write that fails before any byte is written (a name that is not valid UTF-8) leaves the
  // existing file untouched and no temp file behind.
  {
    SafetensorsWriter w;
    w.add_f32("bad\xff", {3}, old_v.data());
    expect_bad_input([&] { w.write(path); }, {path, "UTF-8"}, "invalid UTF-8 name");
  }
  EXPECT_EQ(slm::test::read_text(path), new_bytes);
  EXPECT_EQ(tmp_leftovers(dir.path()), std::vector<std::string>{});

  // A write whose final rename fails (the destination is a non-empty directory): the temp file,
  // fully written by then, is removed, and the directory and its content are untouched.
  std::string blocker = dir.file("blocker.safetensors");
  fs::create_directory(blocker);
  slm::test::write_text(blocker + "/keep", "keep me");
  {
    SafetensorsWriter w;
    w.add_f32("w", {3}, old_v.data());
    try {
      w.write(blocker);
      ADD_FAILURE() << "writing over a directory succeeded";
    } catch (const slm::Error& e) {
      EXPECT_NE(std::string(e.what()).find(blocker), std::string::npos) << e.what();
    }
  }
  EXPECT_TRUE(fs::is_directory(blocker));
  EXPECT_EQ(slm::test::read_text(blocker + "/keep"), "keep me");
  EXPECT_EQ(tmp_leftovers(dir.path()), std::vector<std::string>{});
  EXPECT_EQ(slm::test::read_text(path), new_bytes);

  // A write into a directory that does not exist fails cleanly; other files are untouched.
  {
    SafetensorsWriter w;
    w.add_f32("w", {3}, old_v.data());
    expect_bad_input([&] { w.write(dir.file("no/such/dir/x.safetensors")); }, {"no/such/dir/x.safetensors"},
                     "missing directory");
  }
  EXPECT_EQ(slm::test::read_text(path), new_bytes);
  EXPECT_NE(old_bytes, new_bytes);
}

// A tensor produced while the file is written (a sharded optimizer state gathered piece by piece):
// the same bytes as the whole tensor, asked for in order in pieces of at most kFillChunk; a fill
// that throws leaves no file (nor a temp file) behind.
TEST(Safetensors, FilledTensorsEqualWholeOnesAndAbortCleanly) {
  TempDir dir;
  const size_t n = SafetensorsWriter::kFillChunk * 2 + 5;  // three pieces
  std::vector<float> whole(n);
  for (size_t i = 0; i < n; ++i) whole[i] = static_cast<float>(i % 1000) * 0.5f - 7.0f;
  std::vector<float> small{1, 2, 3};
  {
    SafetensorsWriter w;
    w.add_f32("big", {static_cast<int64_t>(n)}, whole.data());
    w.add_f32("small", {3}, small.data());
    w.write(dir.file("whole.safetensors"));
  }
  std::vector<std::pair<size_t, size_t>> asked;
  {
    SafetensorsWriter w;
    w.add_f32_fill("big", {static_cast<int64_t>(n)}, [&](float* dst, size_t first, size_t count) {
      asked.emplace_back(first, count);
      std::copy_n(whole.data() + first, count, dst);
    });
    w.add_f32("small", {3}, small.data());
    w.write(dir.file("filled.safetensors"));
  }
  EXPECT_EQ(slm::test::read_text(dir.file("whole.safetensors")), slm::test::read_text(dir.file("filled.safetensors")));
  ASSERT_EQ(asked.size(), 3u);
  EXPECT_EQ(asked[0], std::make_pair(size_t{0}, SafetensorsWriter::kFillChunk));
  EXPECT_EQ(asked[2], std::make_pair(2 * SafetensorsWriter::kFillChunk, size_t{5}));
  SafetensorsWriter w;
  w.add_f32_fill("big", {static_cast<int64_t>(n)}, [&](float*, size_t first, size_t) {
    if (first > 0) slm::fail("the state is not finite");
  });
  expect_bad_input([&] { w.write(dir.file("aborted.safetensors")); }, {"not finite"}, "fill throws");
  EXPECT_FALSE(std::filesystem::exists(dir.file("aborted.safetensors")));
  EXPECT_EQ(tmp_leftovers(dir.path()), std::vector<std::string>{});
}
