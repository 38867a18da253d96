"""Zero the GPU code of every architecture but one in a shared library's ``.nv_fatbin`` section.

    python benchmarks/gpu/prune_fatbin.py LIB.so ARCH   (e.g. 90 for Hopper: H100, H200)

onnxruntime-gpu's CUDA provider (284 MB) carries machine code for sm_75 to sm_120; a lent H200
runs sm_90 only. The CUDA runtime picks the entry of the device's architecture, so the others
can be zeroed in place: the file keeps its size and layout (nothing to relink) and compresses
to about a third, which lets it travel to the GPU machine in fewer 64 MiB calls. Only for a
benchmark copy: never ship a pruned library.
"""

from __future__ import annotations

import struct
import subprocess
import sys
from collections import Counter
from pathlib import Path

FATBIN_MAGIC = 0xBA55ED50
ELF_KIND = 2


def section(lib: str, name: str) -> tuple[int, int]:
    """File offset and size of section ``name`` (from ``readelf``)."""
    listing = subprocess.run(["readelf", "-SW", lib], capture_output=True, text=True, check=True).stdout
    for line in listing.splitlines():
        fields = line.replace("[ ", "[").split()
        if name in fields:
            i = fields.index(name)
            return int(fields[i + 3], 16), int(fields[i + 4], 16)
    raise SystemExit(f"{lib}: no {name} section")


def prune(lib: str, keep: int) -> Counter[int]:
    """Zero every ELF entry whose architecture is not ``keep``; bytes kept/zeroed by arch."""
    path = Path(lib)
    data = bytearray(path.read_bytes())
    start, size = section(lib, ".nv_fatbin")
    pos, end, seen = start, start + size, Counter[int]()
    while pos < end:
        magic, _, head, body = struct.unpack_from("<IHHQ", data, pos)
        if magic != FATBIN_MAGIC:
            pos += 8  # containers are 8-byte aligned
            continue
        entry = pos + head
        while entry < pos + head + body:
            kind, _, ehead, payload = struct.unpack_from("<HHIQ", data, entry)
            (arch,) = struct.unpack_from("<I", data, entry + 28)
            seen[arch] += payload
            if kind == ELF_KIND and arch != keep:
                data[entry + ehead : entry + ehead + payload] = bytes(payload)
            entry += ehead + payload
        pos += head + body
    path.write_bytes(data)
    return seen


if __name__ == "__main__":
    by_arch = prune(sys.argv[1], int(sys.argv[2]))
    print({f"sm_{a}": f"{n / 2**20:.0f} MB" for a, n in sorted(by_arch.items())}, "kept", f"sm_{sys.argv[2]}")
