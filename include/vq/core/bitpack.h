// Packed codes: the single definition of the on-disk / in-memory packed code layout, used by the
// container ("CODE" chunks, io.h), .vqc domain payloads and the code-scanning kernels.
//
// Layout. Codes with M books of widths bits[0..M-1] (each 1..16):
//   - Each vector's codes form one little-endian bit stream of B = Σ bits[m] bits. Code m
//     occupies stream bits [o_m, o_m + bits[m]) with o_m = Σ_{j<m} bits[j], least significant
//     bit first. Stream bit k is bit (k mod 8) of byte (k div 8) of the vector's bytes.
//   - The stream is zero-padded to a whole byte: bytes_per_vector = ceil(B / 8). Readers
//     reject non-zero padding bits (they mean corruption or a different layout).
//   - Vectors follow each other: vector i starts at byte i * bytes_per_vector. Total size is
//     n * bytes_per_vector.
// Consequences worth knowing:
//   - all books 8 bits:  one byte per code, byte i*M + m = code (i, m);
//   - all books 4 bits:  two codes per byte, book 2j in the low nibble of byte j, book 2j+1 in
//     the high nibble (ggml / FAISS "4-bit" order); with odd M the last high nibble is zero;
//   - all books 16 bits: little-endian uint16 per code;
//   - mixed widths pack tightly across byte boundaries (e.g. 3+5 bits share one byte).
#pragma once

#include <cstdint>
#include <vector>

#include "vq/types.h"

namespace vq {

// ceil(Σ bits / 8). Throws vq::Error if a width is outside 1..16.
size_t packed_bytes_per_vector(Span<const uint8_t> bits);

// Packs codes (validated first: every index must fit its width). Returns
// codes.n * packed_bytes_per_vector(codes.bits) bytes.
std::vector<uint8_t> pack_codes(const Codes& codes);

// Inverse of pack_codes. packed.size() must equal n * packed_bytes_per_vector(bits); throws
// vq::Error on a size mismatch, an invalid width or non-zero padding bits.
Codes unpack_codes(Span<const uint8_t> packed, size_t n, std::vector<uint8_t> bits);

}  // namespace vq
