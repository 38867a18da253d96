"""Energy used by a run, measured where the hardware says so, never guessed.

Two counters are read before and after the run: NVIDIA GPUs through NVML (total energy
since driver load, in mJ) and the CPU packages through Linux RAPL
(``/sys/class/powercap/intel-rapl:N/energy_uj``, when readable). Where neither exists the
figure is ``None`` with the reason, as a public indicator must be.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["EnergyMeter", "EnergyReading", "gpu_count"]

POWERCAP = Path("/sys/class/powercap")


@dataclass(frozen=True)
class EnergyReading:
    """Joules used between start and stop, by source; ``joules`` None with ``reason`` if unknown."""

    joules: float | None
    sources: tuple[str, ...]
    reason: str | None = None

    def as_dict(self, km2: float) -> dict[str, Any]:
        """JSON form for ``run.json``, with Wh per km² when known."""
        wh = None if self.joules is None else self.joules / 3600
        return {
            "joules": None if self.joules is None else round(self.joules, 1),
            "wh": None if wh is None else round(wh, 3),
            "wh_per_km2": None if wh is None or km2 <= 0 else round(wh / km2, 3),
            "measured_by": list(self.sources),
            "reason": self.reason,
        }


class EnergyMeter:
    """Reads the energy counters at ``start()`` and ``stop()`` (this machine only)."""

    def __init__(self) -> None:
        self._rapl = _rapl_domains()
        self._nvml = _nvml_handles()
        self._t0: dict[str, float] = {}

    def _read(self) -> dict[str, float]:
        values: dict[str, float] = {}
        for path in self._rapl:
            values[f"rapl:{path.name}"] = int((path / "energy_uj").read_text()) / 1e6
        for i, handle in enumerate(self._nvml):
            import pynvml

            values[f"nvml:{i}"] = pynvml.nvmlDeviceGetTotalEnergyConsumption(handle) / 1e3
        return values

    def start(self) -> None:
        """Take the first reading."""
        self._t0 = self._read()

    def stop(self) -> EnergyReading:
        """Take the second reading and return the difference."""
        if not self._t0:
            return EnergyReading(
                None,
                (),
                "no energy counter readable here (no NVIDIA GPU with NVML, "
                "no readable RAPL files in /sys/class/powercap)",
            )
        t1 = self._read()
        total = 0.0
        for key, v0 in self._t0.items():
            delta = t1[key] - v0
            if delta < 0 and key.startswith("rapl:"):  # the counter wrapped around once
                rng = int((POWERCAP / key[5:] / "max_energy_range_uj").read_text()) / 1e6
                delta += rng
            total += delta
        kinds = tuple(sorted({k.split(":")[0] for k in self._t0}))
        return EnergyReading(total, kinds, None)


def _rapl_domains() -> list[Path]:
    """Top-level RAPL package domains whose counter this process can read."""
    out = []
    for d in sorted(POWERCAP.glob("intel-rapl:*")):
        if d.name.count(":") == 1:  # packages, not their sub-domains (already included)
            try:
                int((d / "energy_uj").read_text())
            except (OSError, ValueError):
                continue
            out.append(d)
    return out


def _nvml_handles() -> list[Any]:
    try:
        import pynvml

        pynvml.nvmlInit()
        handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())]
        for h in handles:
            pynvml.nvmlDeviceGetTotalEnergyConsumption(h)
        return handles
    except Exception:  # no library, no driver, no GPU, or a GPU without the counter
        return []


def gpu_count() -> int:
    """NVIDIA GPUs the driver exposes on this machine (0 without a driver).

    >>> gpu_count() >= 0
    True
    """
    gpus = Path("/proc/driver/nvidia/gpus")
    return len(list(gpus.iterdir())) if gpus.is_dir() else 0
