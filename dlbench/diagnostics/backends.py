"""Per backend: can it run here, with which versions, threads and devices (each in its own worker)."""

from __future__ import annotations

from dlbench import registry

SKIP = {"framework", "device_name", "precision", "argv"}


def report(listed: str | None, timeout: float = 300) -> list[dict]:
    """``[{"name", "ok", "lines"}]`` for the listed backends (comma-separated), or every registered one;
    each worker is given ``timeout`` seconds."""
    from dlbench.execution import isolation

    names = [n.strip() for n in listed.split(",") if n.strip()] if listed else list(registry.backends())
    out = []
    for name in names:
        try:
            info = registry.get_backend(name)
        except Exception as e:
            out.append({"name": name, "ok": False, "lines": [f"{name}: {e}"]})
            continue
        if not info.available:
            out.append({"name": info.name, "ok": False, "lines": [f"{info.name}: not installed ({info.install_hint})"]})
            continue
        outcome = isolation.run_in_worker("probe", {"backend": info.name}, timeout=timeout)
        if outcome.output is None:
            out.append({"name": info.name, "ok": False,
                        "lines": [f"{info.name}: cannot run: {outcome.error['kind']}: {outcome.error['message']}"]})
            continue
        cpu, seen = outcome.output["cpu"], outcome.output["gpu_visible"]
        versions = ", ".join(f"{k} {v}" for k, v in cpu.items() if k not in SKIP)
        lines = [f"{info.name}: {versions}", f"  cpu: {cpu.get('device_name')}",
                 f"  gpu: {'visible' if seen else 'not visible'}: {outcome.output['gpu_reason']}"]
        out.append({"name": info.name, "ok": True, "lines": lines})
    return out
