"""The tuning outcome of a record in one line, for the run summary."""

from __future__ import annotations


def _settings(settings: dict) -> str:
    return ", ".join(f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in settings.items())


def describe(tuning: dict) -> str:
    """E.g. ``xla=false: 0.76 s vs xla=true 5.31 s; default kept: ... (tuned in 48.2 s)``."""
    mode = tuning.get("mode")
    if not mode:
        return "n/a (record from before tuning)"
    if mode == "pinned":
        return "nothing to tune: " + ("all performance settings pinned with -o" if tuning.get("performance_options")
                                      else "the backend has no performance settings")
    defaults = _settings(tuning.get("chosen") or {})
    if mode == "off":
        why = tuning.get("note") or "--no-tune"
        return f"off ({why}): framework defaults" + (f" {defaults}" if defaults else "")
    if mode == "skipped":
        return f"skipped ({tuning['note']}): framework defaults {defaults}"
    chosen = tuning["chosen"]
    others = [c for c in tuning["candidates"] if c["settings"] != chosen]
    won = next((c for c in tuning["candidates"] if c["settings"] == chosen), {})
    beaten = "; ".join(f"{_settings(c['settings'])} {_seconds(c.get('median_s'))}" for c in others)
    how = (f"tuned in {tuning['time_s']:.1f} s" if mode == "tuned"
           else f"cached choice, no tuning steps ({tuning['time_s']:.3f} s)")
    decided = f"; {tuning['decision']}" if tuning.get("decision") else ""
    warned = f"; warning: {'; '.join(tuning['warnings'])}" if tuning.get("warnings") else ""
    return f"{_settings(chosen)}: {_seconds(won.get('median_s'))} vs {beaten or 'nothing else'}{decided} ({how}){warned}"


def _seconds(value: float | None) -> str:
    if value is None:
        return "failed"
    return f"{value * 1e3:.3g} ms" if value < 1 else f"{value:.2f} s"
