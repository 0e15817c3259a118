// (private) How a kernel file targets an instruction set.
//
// A file src/kernels/<name>_avx2.cpp or <name>_avx512.cpp includes every header it needs
// first, then wraps its code in one region:
//
//     #include <immintrin.h>
//     #include "kernels/isa.h"
//     VQ_ISA_AVX512_BEGIN
//     namespace vq::kernels::avx512 { ... }
//     VQ_ISA_END
//
// and its functions are called only where simd_level() (vq/simd.h) allows. The target is
// a pragma, not a compiler flag on the file: with -mavx512f on the command line, every inline
// function the file instantiates from a header (std::vector's growth, std::sort, ...) would be
// compiled for AVX-512 too, and the linker may keep that copy for the whole program. Under the
// pragma only the functions defined inside the region get the wider instruction set; headers
// included before it keep the baseline. The ISA code lives in the namespaces
// vq::kernels::avx2 / vq::kernels::avx512, and a test disassembles the library to check that
// no function outside them uses an instruction beyond baseline x86-64 (tests/packaging/isa_audit.py).
//
// The target lists match simd_level()'s requirements (vq/simd.h).
#pragma once

#if (defined(__x86_64__) || defined(__i386__)) && defined(__clang__)
// clang ignores GCC's target pragmas; its attribute pragma gives the same region (the fuzz
// build, scripts/fuzz.sh, is compiled with clang).
#define VQ_ISA_X86 1
#define VQ_ISA_AVX2_BEGIN                                                                          \
  _Pragma("clang attribute push(__attribute__((target(\"avx2,fma,bmi,bmi2,f16c,lzcnt,popcnt\"))), \
           apply_to = function)")
#define VQ_ISA_AVX512_BEGIN                                                                     \
  _Pragma("clang attribute push(__attribute__((target(\"avx2,fma,bmi,bmi2,f16c,lzcnt,popcnt,avx512f,\
avx512bw,avx512dq,avx512vl,avx512vbmi\"))), apply_to = function)")
#define VQ_ISA_END _Pragma("clang attribute pop")
#elif defined(__x86_64__) || defined(__i386__)
#define VQ_ISA_X86 1
#define VQ_ISA_AVX2_BEGIN \
  _Pragma("GCC push_options") _Pragma("GCC target(\"avx2,fma,bmi,bmi2,f16c,lzcnt,popcnt\")")
#define VQ_ISA_AVX512_BEGIN   \
  _Pragma("GCC push_options") \
  _Pragma("GCC target(\"avx2,fma,bmi,bmi2,f16c,lzcnt,popcnt,avx512f,avx512bw,avx512dq,avx512vl,avx512vbmi\")")
#define VQ_ISA_END _Pragma("GCC pop_options")
#else
#define VQ_ISA_X86 0
#endif
