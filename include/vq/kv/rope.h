// Rotary position embedding (RoPE), as the KV cache needs it: to rotate pre-RoPE keys for exact
// attention, and to rotate a query into a window's frame so one lookup table serves every
// pre-RoPE key of the window (A²ATS's windowed RoPE).
//
// Convention: "rotate half" (GPT-NeoX, Llama): for a vector of even size d, the pairs
// (x_j, x_{j+d/2}), j < d/2, are rotated by the angle pos · base^(−2j/d):
//
//     x_j'       = x_j cos θ − x_{j+d/2} sin θ
//     x_{j+d/2}' = x_j sin θ + x_{j+d/2} cos θ
//
// R(p) is orthogonal and R(a)R(b) = R(a+b), so for a post-RoPE query q (already at its own
// position) and a pre-RoPE key k at position p: qᵀ R(p) k = (R(−p) q)ᵀ k.
#pragma once

#include <cstddef>

namespace vq::kv {

// x (size d, even) rotated in place by position pos (any real, negative rotates back).
void apply_rope(float* x, size_t d, double pos, double base = 10000.0);

}  // namespace vq::kv
