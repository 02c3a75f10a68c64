"""What the CPU offers, and the graph chosen because of it."""

from __future__ import annotations

from pathlib import Path

from monitor.scoring.cpu import CpuInfo, choose_graph, cpu_info


def test_flags_are_read_from_cpuinfo(tmp_path: Path) -> None:
    """The first flags line of /proc/cpuinfo gives the flag set; the summary names the SIMD ones."""
    fake = tmp_path / "cpuinfo"
    fake.write_text("processor\t: 0\nflags\t\t: fpu sse avx2 avx512f avx512_vnni\n\nprocessor\t: 1\nflags : fpu\n")
    info = cpu_info(fake)
    assert {"avx2", "avx512_vnni"} <= info.flags and info.int8_dot_product
    assert "avx512_vnni" in info.summary() and info.cores >= 1


def test_missing_cpuinfo_means_no_flags(tmp_path: Path) -> None:
    """Off Linux there is no /proc/cpuinfo: no flags are assumed."""
    assert cpu_info(tmp_path / "none").flags == frozenset()


def test_int8_where_the_cpu_has_dot_products_else_fp32_when_shipped() -> None:
    """VNNI picks int8; plain AVX2 picks fp32 when the artifact has it, int8 when int8 is all there is."""
    both = {"int8": Path("a.onnx"), "fp32": Path("b.onnx")}
    vnni = CpuInfo("x86_64", frozenset({"avx2", "avx512_vnni"}), 2)
    avx2 = CpuInfo("x86_64", frozenset({"avx2"}), 2)
    assert choose_graph(both, vnni)[0] == "int8"
    assert choose_graph(both, avx2)[0] == "fp32"
    assert choose_graph({"int8": Path("a.onnx")}, avx2) == ("int8", Path("a.onnx"))
