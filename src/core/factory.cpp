#include "vq/core/factory.h"

#include <array>

#include "vq/core/additive_quantizer.h"
#include "vq/core/group_residual_quantizer.h"
#include "vq/core/product_quantizer.h"
#include "vq/core/residual_quantizer.h"
#include "vq/core/rotated_quantizer.h"
#include "vq/core/scalar_quantizer.h"
#include "vq/core/vector_quantizer.h"

namespace vq {
namespace {

// What the grammar knows about each family: how many 'x'-separated numbers it takes, which
// options apply, the range of its last number (bits), and its default beam.
struct Family {
  std::string_view name;
  size_t numbers;
  std::string_view shape;  // for error messages
  bool beam;               // accepts 'b'
  bool group;              // accepts 'g'
  size_t min_bits, max_bits;
  size_t default_beam;     // 0 where beam does not apply
};

constexpr std::array<Family, 8> kFamilies = {{
    {"VQ", 1, "VQ<bits>", false, false, 1, 16, 0},
    {"PQ", 2, "PQ<M>x<bits>", false, false, 1, 16, 0},
    {"RVQ", 2, "RVQ<L>x<bits>[b<B>]", true, false, 1, 16, 1},
    {"GRVQ", 3, "GRVQ<G>x<L>x<bits>[b<B>]", true, false, 1, 16, 1},
    {"AQ", 2, "AQ<M>x<bits>[b<B>]", true, false, 1, 16, AdditiveQuantizer::kDefaultBeam},
    {"SQ", 1, "SQ<bits>[g<G>], bits 2..8", false, true, 2, 8, 0},
    {"NF", 1, "NF4[g<G>]", false, true, 4, 4, 0},
    {"FP", 1, "FP8[g<G>]", false, true, 8, 8, 0},
}};

constexpr std::string_view kFamilyList = "VQ, PQ, RVQ, GRVQ, AQ, SQ, NF or FP";
// Nine digits: every count or width that could make sense, with no overflow anywhere after.
constexpr size_t kMaxDigits = 9;

const Family* find_family(std::string_view name) {
  for (const Family& f : kFamilies)
    if (f.name == name) return &f;
  return nullptr;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_upper(char c) { return c >= 'A' && c <= 'Z'; }

// Recursive descent over the grammar of factory.h. Every error names the spec and a 0-based
// character position, so "PQ16y8" reports the 'y' at position 4.
class SpecParser {
 public:
  explicit SpecParser(std::string_view text) : text_(text) {}

  QuantizerSpec parse() {
    QuantizerSpec spec;
    const Family& family = parse_family(spec);
    std::vector<size_t> positions{pos_};
    spec.numbers.push_back(parse_number());
    while (peek() == 'x') {
      ++pos_;
      positions.push_back(pos_);
      spec.numbers.push_back(parse_number());
    }
    parse_options(family, spec);
    check_family(family, spec, positions);
    return spec;
  }

 private:
  char peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }

  [[noreturn]] void unexpected(std::string_view expected) const {
    if (pos_ >= text_.size())
      VQ_THROW(prefix(), "unexpected end at position ", pos_, "; expected ", expected);
    VQ_THROW(prefix(), "unexpected '", text_[pos_], "' at position ", pos_, "; expected ", expected);
  }

  std::string prefix() const { return detail::concat("quantizer spec '", text_, "': "); }

  const Family& parse_family(QuantizerSpec& spec) {
    while (is_upper(peek())) ++pos_;
    if (pos_ == 0) unexpected(detail::concat("a family name (", kFamilyList, ")"));
    spec.family = std::string(text_.substr(0, pos_));
    const Family* f = find_family(spec.family);
    VQ_CHECK(f != nullptr, prefix(), "unknown family '", spec.family,
             "' at position 0; expected ", kFamilyList);
    return *f;
  }

  size_t parse_number() {
    const size_t start = pos_;
    if (!is_digit(peek())) unexpected("a number");
    size_t value = 0;
    while (is_digit(peek())) {
      VQ_CHECK(pos_ - start < kMaxDigits, prefix(), "number at position ", start,
               " is too large (more than ", kMaxDigits, " digits)");
      value = value * 10 + static_cast<size_t>(text_[pos_] - '0');
      ++pos_;
    }
    // Names are canonical: "PQ08x8" would not round-trip through describe().
    VQ_CHECK(!(text_[start] == '0' && pos_ - start > 1), prefix(), "leading zero in number at position ",
             start);
    return value;
  }

  void parse_options(const Family& family, QuantizerSpec& spec) {
    while (pos_ < text_.size()) {
      const char c = peek();
      const size_t at = pos_;
      if (c != 'b' && c != 'g' && c != 'r')
        unexpected(spec.beam || spec.group || spec.rotation ? "'b', 'g', 'r' or end"
                                                            : "'x', 'b', 'g', 'r' or end");
      size_t& slot = c == 'b' ? spec.beam : c == 'g' ? spec.group : spec.rotation;
      VQ_CHECK(slot == 0, prefix(), "option '", c, "' at position ", at, " is given twice");
      VQ_CHECK(c == 'r' || (c == 'b' ? family.beam : family.group), prefix(), "option '", c,
               "' at position ", at, " does not apply to ", family.name,
               c == 'b' ? " (beam width: RVQ, GRVQ, AQ)" : " (scale group size: SQ, NF, FP)");
      ++pos_;
      const size_t value_at = pos_;
      slot = parse_number();
      VQ_CHECK(slot >= 1, prefix(), c == 'b' ? "beam" : c == 'g' ? "group size" : "rotation iterations",
               " at position ", value_at, " must be >= 1");
    }
  }

  void check_family(const Family& family, const QuantizerSpec& spec,
                    const std::vector<size_t>& positions) const {
    VQ_CHECK(spec.numbers.size() == family.numbers, prefix(), family.name, " takes ",
             family.numbers, family.numbers == 1 ? " number" : " numbers", " (", family.shape,
             "), got ", spec.numbers.size());
    for (size_t i = 0; i + 1 < spec.numbers.size(); ++i)
      VQ_CHECK(spec.numbers[i] >= 1, prefix(), "count at position ", positions[i],
               " must be >= 1");
    const size_t bits = spec.numbers.back();
    VQ_CHECK(bits >= family.min_bits && bits <= family.max_bits, prefix(), "bits ", bits,
             " at position ", positions.back(), " out of range for ", family.name, " (",
             family.min_bits == family.max_bits ? detail::concat(family.min_bits)
                                                : detail::concat(family.min_bits, "..", family.max_bits),
             ")");
  }

  std::string_view text_;
  size_t pos_ = 0;
};

std::unique_ptr<Quantizer> construct(const QuantizerSpec& s, size_t dim) {
  const Family& family = *find_family(s.family);
  const size_t beam = s.beam ? s.beam : family.default_beam;
  const auto bits = static_cast<uint8_t>(s.numbers.back());
  const size_t n0 = s.numbers[0];
  if (s.family == "VQ") return std::make_unique<VectorQuantizer>(dim, bits);
  if (s.family == "PQ") return std::make_unique<ProductQuantizer>(dim, n0, bits);
  if (s.family == "RVQ") return std::make_unique<ResidualQuantizer>(dim, n0, bits, beam);
  if (s.family == "GRVQ")
    return std::make_unique<GroupResidualQuantizer>(dim, n0, s.numbers[1], bits, beam);
  if (s.family == "AQ") return std::make_unique<AdditiveQuantizer>(dim, n0, bits, beam);
  const ScalarFormat format = s.family == "SQ"   ? ScalarFormat::kInt
                              : s.family == "NF" ? ScalarFormat::kNF4
                                                 : ScalarFormat::kFP8;
  return std::make_unique<ScalarQuantizer>(dim, format, bits, s.group);
}

}  // namespace

std::string QuantizerSpec::to_string() const {
  const Family* f = find_family(family);
  std::string s = family;
  for (size_t i = 0; i < numbers.size(); ++i) {
    if (i) s += 'x';
    s += std::to_string(numbers[i]);
  }
  if (beam != 0 && !(f && beam == f->default_beam)) s.append(1, 'b').append(std::to_string(beam));
  if (group != 0) s.append(1, 'g').append(std::to_string(group));
  if (rotation != 0) s.append(1, 'r').append(std::to_string(rotation));
  return s;
}

QuantizerSpec parse_quantizer_spec(std::string_view text) { return SpecParser(text).parse(); }

std::unique_ptr<Quantizer> make_quantizer(std::string_view text, size_t dim) {
  const QuantizerSpec spec = parse_quantizer_spec(text);
  const auto misfit = [&](auto... why) {
    VQ_THROW("quantizer spec '", text, "' does not fit dimension ", dim, ": ", why...);
  };
  if (dim == 0) misfit("dimension must be >= 1");
  const size_t n0 = spec.numbers[0];
  if (spec.family == "PQ" && dim % n0 != 0)
    misfit(dim, " is not divisible by M = ", n0, " sub-vectors");
  if (spec.family == "GRVQ" && dim % n0 != 0)
    misfit(dim, " is not divisible by G = ", n0, " groups");
  if (spec.group != 0 && dim % spec.group != 0)
    misfit(dim, " is not divisible by the scale group size ", spec.group);
  // Specs come from files too: a count is allocated for before any codebook data is read.
  const size_t books = spec.family == "GRVQ" ? n0 * spec.numbers[1]
                       : spec.family == "PQ" || spec.family == "RVQ" || spec.family == "AQ" ? n0
                                                                                             : 1;
  if (books > kMaxCodebooks) misfit(books, " codebooks (at most ", kMaxCodebooks, ")");
  // Whatever else a constructor rejects (e.g. a beam above AQ's limit) is reported with the spec.
  try {
    if (spec.rotation != 0) return std::make_unique<RotatedQuantizer>(construct(spec, dim), spec.rotation);
    return construct(spec, dim);
  } catch (const Error& e) {
    VQ_THROW("quantizer spec '", text, "' on dimension ", dim, ": ", e.what());
  }
}

}  // namespace vq
