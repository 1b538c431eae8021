"""Where a training step's time goes: one epoch of ``train_detector`` under ``torch.profiler``.

Part 3 of ``benchmarks/gpu.py``. The training loop marks the parts of a step
(:mod:`tuner.train.loop`): ``batch`` (decode, move, augment), ``forward`` (the
model and its loss), ``loss_read`` (reading the loss on the host, which waits
for the device to finish the forward pass), ``backward`` and ``update`` (clip,
optimizer step). After one warm-up epoch (cuDNN autotuning, the allocator) a
second epoch runs under the profiler; per step we report each part's host
time, the device's busy time (the sum of its kernels' time), the wall time,
and the operators that cost the host and the device most.

The profiler slows the host, so its wall time is an upper bound; what it
gives is the split. On a CPU the device is the CPU itself and the kernels'
time is host time: there the split says where compute goes, not whether the
host keeps a device waiting.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from benchmarks._common import cuda_sync, synthetic_training


def _device_time(event: Any, self_only: bool) -> float:
    """An event's device time in microseconds (the attribute's name moved between torch
    versions)."""
    prefix = "self_" if self_only else ""
    for name in (f"{prefix}device_time_total", f"{prefix}cuda_time_total"):
        value = getattr(event, name, None)
        if value is not None:
            return float(value)
    return 0.0


def _op(event: Any, field: str, micros: float, steps: int) -> dict[str, Any]:
    """One operator's row: its name, ``field`` (milliseconds a step) and its calls."""
    return {"op": event.key, field: micros / 1000.0 / steps, "calls": event.count}


def profile_epoch(
    arch: str,
    backbone: str,
    size: int,
    images: int,
    batch: int,
    device: str,
    top: int = 12,
    trace: Path | None = None,
) -> dict[str, Any]:
    """One profiled training epoch of ``arch``/``backbone`` on ``device`` (after a warm-up
    epoch): per-step milliseconds of each marked part, the device's busy time, the wall
    time, and the ``top`` operators by host and by device time. ``trace``: also write the
    profiler's Chrome trace there."""
    from torch.profiler import ProfilerActivity, profile

    from tuner.train import train_detector
    from tuner.train.loop import STEP_MARK, STEP_PARTS

    train_set, spec, config = synthetic_training(arch, backbone, size, images, batch, device)
    cuda = device.startswith("cuda")
    train_detector(config, train_set, None, spec, device=device)  # warm-up
    cuda_sync()
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    started = time.perf_counter()
    with profile(activities=activities) as prof:
        train_detector(config, train_set, None, spec, device=device)
        cuda_sync()
    wall = time.perf_counter() - started
    if trace is not None:
        trace.parent.mkdir(parents=True, exist_ok=True)
        prof.export_chrome_trace(str(trace))
    events = prof.key_averages()
    marks = {e.key[len(STEP_MARK) :]: e for e in events if e.key.startswith(STEP_MARK)}
    steps = max(1, marks["forward"].count) if "forward" in marks else 1
    parts = {
        name: {
            "host_ms": marks[name].cpu_time_total / 1000.0 / steps,
            "device_ms": _device_time(marks[name], self_only=False) / 1000.0 / steps,
        }
        for name in STEP_PARTS
        if name in marks
    }
    ops = [
        e for e in events if not e.key.startswith(STEP_MARK) and not e.key.startswith("Profiler")
    ]
    device_busy = sum(_device_time(e, self_only=True) for e in ops) / 1000.0 / steps
    by_host = sorted(ops, key=lambda e: e.self_cpu_time_total, reverse=True)[:top]
    by_device = sorted(ops, key=lambda e: _device_time(e, self_only=True), reverse=True)[:top]
    return {
        "model": f"{arch}/{backbone}",
        "device": device,
        "image_size": size,
        "batch_size": batch,
        "steps": steps,
        "wall_ms_per_step": wall * 1000.0 / steps,  # the whole call: set-up included
        "parts_ms_per_step": sum(part["host_ms"] for part in parts.values()),
        "device_busy_ms_per_step": device_busy if cuda else None,
        "parts": parts,
        "top_host": [_op(e, "self_host_ms", e.self_cpu_time_total, steps) for e in by_host],
        "top_device": [
            _op(e, "self_device_ms", _device_time(e, self_only=True), steps) for e in by_device
        ]
        if cuda
        else [],
    }


def profile_lines(row: dict[str, Any]) -> list[str]:
    """The profile as printed lines: the parts, then the top operators."""
    lines = [
        f"  {row['model']} at {row['image_size']} px, batch {row['batch_size']}, "
        f"{row['steps']} steps profiled: {row['parts_ms_per_step']:.1f} ms a step in its parts, "
        f"{row['wall_ms_per_step']:.1f} with the set-up (wall)"
        + (
            f", device busy {row['device_busy_ms_per_step']:.1f} ms"
            if row["device_busy_ms_per_step"] is not None
            else ""
        )
    ]
    for name, part in row["parts"].items():
        lines.append(
            f"    {name:<10} host {part['host_ms']:8.2f} ms   device {part['device_ms']:8.2f} ms"
        )
    for where, field in (("host", "self_host_ms"), ("device", "self_device_ms")):
        rows = row[f"top_{where}"]
        if rows:
            lines.append(f"    costliest operators on the {where} (self ms a step, calls):")
            lines += [f"      {o[field]:8.2f}  {o['calls']:6d}  {o['op']}" for o in rows]
    return lines
