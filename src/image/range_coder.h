// Adaptive binary range coder (the LZMA scheme: 32-bit range, 11-bit probabilities adapting by
// 1/32 of the error per bit), shared by the image codec's token coding (image_codec.cpp) and its
// scalar refinement (refinement.cpp). A probability is a uint16_t the caller owns, so each
// context of a model is one array element; bypass() codes an equiprobable bit (signs, escape
// suffixes) without a probability.
#pragma once

#include <cstdint>
#include <vector>

#include "vq/types.h"

namespace vq::image::detail {

constexpr int kProbBits = 11, kMoveBits = 5;
constexpr uint16_t kProbInit = 1 << (kProbBits - 1);
constexpr uint32_t kTop = 1u << 24;

class RangeEncoder {
 public:
  void bit(uint16_t& prob, unsigned b, int move = kMoveBits) {
    const uint32_t bound = (range_ >> kProbBits) * prob;
    if (b == 0) {
      range_ = bound;
      prob = uint16_t(prob + (((1 << kProbBits) - prob) >> move));
    } else {
      low_ += bound;
      range_ -= bound;
      prob = uint16_t(prob - (prob >> move));
    }
    while (range_ < kTop) {
      range_ <<= 8;
      shift_low();
    }
  }
  // An equiprobable bit: half the range, nothing learned (LZMA's direct bits).
  void bypass(unsigned b) {
    range_ >>= 1;
    if (b) low_ += range_;
    while (range_ < kTop) {
      range_ <<= 8;
      shift_low();
    }
  }
  std::vector<uint8_t> finish() {
    for (int i = 0; i < 5; ++i) shift_low();
    return std::move(out_);
  }

 private:
  // Emits the top byte of low, resolving a pending carry through the run of 0xFF bytes held back.
  void shift_low() {
    if (uint32_t(low_) < 0xFF000000u || (low_ >> 32) != 0) {
      const uint8_t carry = uint8_t(low_ >> 32);
      uint8_t temp = cache_;
      do {
        out_.push_back(uint8_t(temp + carry));
        temp = 0xFF;
      } while (--cache_size_ != 0);
      cache_ = uint8_t(low_ >> 24);
    }
    ++cache_size_;
    low_ = (low_ & 0x00FFFFFFu) << 8;
  }
  uint64_t low_ = 0;
  uint32_t range_ = 0xFFFFFFFFu;
  uint8_t cache_ = 0;
  uint64_t cache_size_ = 1;
  std::vector<uint8_t> out_;
};

// Reads past the end as zero bytes: the symbol count is fixed by the metadata, so a truncated
// stream decodes to (wrong but in-range) tokens in bounded time; the CRC has already vouched
// for the bytes that are there.
class RangeDecoder {
 public:
  explicit RangeDecoder(Span<const uint8_t> in) : in_(in) {
    for (int i = 0; i < 5; ++i) code_ = (code_ << 8) | next();
  }
  unsigned bit(uint16_t& prob, int move = kMoveBits) {
    const uint32_t bound = (range_ >> kProbBits) * prob;
    unsigned b;
    if (code_ < bound) {
      range_ = bound;
      prob = uint16_t(prob + (((1 << kProbBits) - prob) >> move));
      b = 0;
    } else {
      code_ -= bound;
      range_ -= bound;
      prob = uint16_t(prob - (prob >> move));
      b = 1;
    }
    while (range_ < kTop) {
      range_ <<= 8;
      code_ = (code_ << 8) | next();
    }
    return b;
  }
  unsigned bypass() {
    range_ >>= 1;
    const unsigned b = code_ >= range_;
    if (b) code_ -= range_;
    while (range_ < kTop) {
      range_ <<= 8;
      code_ = (code_ << 8) | next();
    }
    return b;
  }

 private:
  uint32_t next() { return pos_ < in_.size() ? in_[pos_++] : 0u; }
  Span<const uint8_t> in_;
  size_t pos_ = 0;
  uint32_t range_ = 0xFFFFFFFFu, code_ = 0;
};

}  // namespace vq::image::detail
