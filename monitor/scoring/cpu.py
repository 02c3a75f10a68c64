"""What this CPU offers, read at start-up, and the precision and thread count the scorer uses because of it.

int8 matrix products are fast where the CPU has dot-product instructions for them (AVX-512 VNNI, AVX-VNNI, AMX);
without them ONNX Runtime still runs int8, but an fp32 graph (``calmwatch export --fp32``) may be the better
choice. The decision is made here, from the flags, not assumed.
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from pathlib import Path

_INT8_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")


@dataclass(frozen=True)
class CpuInfo:
    """The flags that matter for inference and the cores this process may use."""

    machine: str
    flags: frozenset[str]
    cores: int

    @property
    def int8_dot_product(self) -> bool:
        """Whether int8 matrix products have hardware dot-product instructions here."""
        return any(flag in self.flags for flag in _INT8_FLAGS) or self.machine in {"arm64", "aarch64"}

    def summary(self) -> str:
        """One line for the start-up log."""
        simd = [f for f in ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8", "amx_bf16") if f in self.flags]
        return f"{self.machine}, {self.cores} cores, {' '.join(simd) or 'no AVX2'}"


def cpu_info(cpuinfo: Path = Path("/proc/cpuinfo")) -> CpuInfo:
    """Read the CPU flags (Linux ``/proc/cpuinfo``; elsewhere none are known) and the usable core count."""
    flags: set[str] = set()
    try:
        for line in cpuinfo.read_text().splitlines():
            if line.startswith(("flags", "Features")):
                flags.update(line.split(":", 1)[1].split())
                break
    except OSError:
        pass
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return CpuInfo(platform.machine().lower(), frozenset(flags), cores)


def choose_graph(available: dict[str, Path], cpu: CpuInfo) -> tuple[str, Path]:
    """``(precision, path)`` among the artifact's graphs: int8 where the CPU has int8 dot products, else fp32 when
    the artifact has one, else whatever there is."""
    if "int8" in available and (cpu.int8_dot_product or "fp32" not in available):
        return "int8", available["int8"]
    if "fp32" in available:
        return "fp32", available["fp32"]
    precision = next(iter(available))
    return precision, available[precision]
