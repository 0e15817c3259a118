#!/usr/bin/python3
"""Proves that no instruction beyond baseline x86-64 (SSE2) sits outside the SIMD kernels.

    isa_audit.py BINARY...

Disassembles each binary (objdump) and lists every function that uses an AVX / AVX2 / AVX-512
register, a VEX/EVEX-encoded instruction, or an SSE3..SSE4.2 / BMI / POPCNT / LZCNT
instruction, unless the function belongs to the kernels' ISA namespaces vq::kernels::avx2 or
vq::kernels::avx512 (their callers dispatch on the CPU at run time: vq/simd.h). Exits 1
with the offending functions, 0 when the binaries are clean. Run on a -march=native build it
reports the whole library, which is the check that the check works.
"""
import re
import subprocess
import sys

# Instructions a baseline x86-64 CPU may lack (SSE3, SSSE3, SSE4.1/4.2, BMI1/2, LZCNT, POPCNT,
# MOVBE). tzcnt is absent on purpose: GCC emits `rep bsf` for the baseline, which objdump
# prints as tzcnt and which old CPUs execute as bsf.
BEYOND_BASELINE = set("""
addsubpd addsubps haddpd haddps hsubpd hsubps lddqu movddup movshdup movsldup
pabsb pabsd pabsw palignr phaddd phaddsw phaddw phsubd phsubsw phsubw pmaddubsw pmulhrsw
pshufb psignb psignd psignw
blendpd blendps blendvpd blendvps dppd dpps extractps insertps movntdqa mpsadbw packusdw
pblendvb pblendw pcmpeqq pextrb pextrd pextrq phminposuw pinsrb pinsrd pinsrq pmaxsb pmaxsd
pmaxud pmaxuw pminsb pminsd pminud pminuw pmovsxbd pmovsxbq pmovsxbw pmovsxdq pmovsxwd
pmovsxwq pmovzxbd pmovzxbq pmovzxbw pmovzxdq pmovzxwd pmovzxwq pmuldq pmulld ptest roundpd
roundps roundsd roundss crc32 pcmpestri pcmpestrm pcmpistri pcmpistrm pcmpgtq
andn bextr blsi blsmsk blsr bzhi mulx pdep pext rorx sarx shlx shrx lzcnt popcnt movbe
""".split())
ISA_FUNCTION = re.compile(r"vq::kernels::avx(2|512)::")
HEADER = re.compile(r"^[0-9a-f]+ <(.*)>:$")
REGISTER = re.compile(r"%(ymm|zmm)\d+|%k[0-7]\b")


def offending(binary):
    dump = subprocess.run(["objdump", "-d", "--no-show-raw-insn", "-C", binary], check=True,
                          capture_output=True, text=True).stdout
    bad = {}
    function = None
    for line in dump.splitlines():
        m = HEADER.match(line)
        if m:
            function = m.group(1)
            continue
        parts = line.split("\t")
        if function is None or len(parts) < 2 or ISA_FUNCTION.search(function):
            continue
        insn = parts[1].strip()
        mnemonic = insn.split(" ", 1)[0]
        if (mnemonic.startswith("v") and mnemonic not in ("verr", "verw")) or \
                mnemonic in BEYOND_BASELINE or REGISTER.search(insn):
            bad.setdefault(function, insn)
    return bad


def main():
    failed = False
    for binary in sys.argv[1:]:
        bad = offending(binary)
        if bad:
            failed = True
            print(f"{binary}: {len(bad)} functions outside the ISA kernels use instructions beyond "
                  "baseline x86-64:")
            for function, insn in sorted(bad.items())[:40]:
                print(f"  {function}: {insn}")
        else:
            print(f"{binary}: clean")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
