// Rotary position embedding (RoPE), as the KV cache needs it: to rotate pre-RoPE keys for exact
// attention, and to rotate a query into a window's frame so one lookup table serves every
// pre-RoPE key of the window (A²ATS's windowed RoPE).
//
// Two pairings of dimensions, both rotating pair j < d/2 by the angle θ_j = pos · base^(−2j/d):
//   kHalf         "rotate half" (GPT-NeoX, HF Llama): pairs (x_j, x_{j+d/2})
//   kInterleaved  original RoFormer / GPT-J / Meta Llama: pairs (x_{2j}, x_{2j+1})
// For a pair (a, b): a' = a cos θ − b sin θ, b' = a sin θ + b cos θ.
//
// R(p) is orthogonal and R(a)R(b) = R(a+b), so for a post-RoPE query q (already at its own
// position) and a pre-RoPE key k at position p: qᵀ R(p) k = (R(−p) q)ᵀ k.
#pragma once

#include <cstddef>

#include <cstdint>

namespace vq::kv {

enum class RopeStyle : uint8_t { kHalf = 0, kInterleaved = 1 };

// x (size d, even) rotated in place by position pos (any real, negative rotates back).
void apply_rope(float* x, size_t d, double pos, double base = 10000.0,
                RopeStyle style = RopeStyle::kHalf);

}  // namespace vq::kv
