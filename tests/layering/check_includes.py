"""The library's layers, checked from its #include lines.

    vocabulary (include/vq/*.h: types, error, simd, version), kernels, util
      <  core  <  domains (audio, image, kv, splats, weights)  <  apps, bindings

A file may include its own layer and the layers below it. Private headers (src/<layer>/*.h)
of another layer may be included only when their first line declares them
"(internal API for domains)": those are the documented pieces the domains build on (the beam
encoder, the blocked code format, the scan filters, the kernels, the parallel loop, atomic
files). Anything else a domain needs from below belongs in a public header (include/vq/).

    check_includes.py SOURCE_DIR     prints every violation; exit status 1 if any
"""
import pathlib
import re
import sys

DOMAINS = {"audio", "image", "kv", "splats", "weights"}
RANK = {"base": 0, "kernels": 0, "util": 0, "core": 1, **{d: 2 for d in DOMAINS}}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
MARK = "(internal API for domains)"


def layer_of_private(header):
    """'core/lut_filter.h' -> 'core'; None for public (vq/...) or unknown headers."""
    top = header.split("/", 1)[0]
    return top if top in RANK else None


def layer_of_public(header):
    """'vq/image/image.h' -> 'image'; 'vq/types.h' -> 'base' (the vocabulary below kernels)."""
    parts = header.split("/")
    if parts[0] != "vq":
        return None
    if len(parts) == 2:
        return "base"
    return parts[1] if parts[1] in RANK else None


def main(root):
    root = pathlib.Path(root)
    src = root / "src"
    problems = []
    files = [(p, p.relative_to(src).parts[0]) for p in sorted(src.rglob("*"))]
    files += [(p, layer_of_public(str(p.relative_to(root / "include"))))
              for p in sorted((root / "include" / "vq").rglob("*.h*"))]
    for path, own in files:
        if path.suffix not in {".h", ".cpp", ".inc", ".in"} or own not in RANK:
            continue
        for header in INCLUDE.findall(path.read_text(errors="replace")):
            where = f"{path.relative_to(root)}: #include \"{header}\""
            private = layer_of_private(header)
            public = layer_of_public(header)
            target = private or public
            if target is None:
                continue
            if RANK[target] > RANK[own] or (RANK[target] == RANK[own] == 2 and target != own):
                problems.append(f"{where} reaches up or across (a {own} file into {target})")
            elif private and private != own:
                first = (src / header).read_text(errors="replace").splitlines()[0] if (src / header).exists() else ""
                if MARK not in first:
                    problems.append(f"{where}: a private header of {private} not marked {MARK!r}")
    for p in problems:
        print(p)
    print(f"check_includes: {len(problems)} violation(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else pathlib.Path(__file__).resolve().parents[2]))
