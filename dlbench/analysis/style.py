"""One colour per backend across every plot, so a reader learns it once."""

from __future__ import annotations

from dlbench import registry

_FALLBACK = ("#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22")


def backend_color(backend: str) -> str:
    """The colour of ``backend`` (a label such as ``"torch compile=True"`` counts as its backend): the
    one its registration declares, else one picked from its name (a backend no longer installed too)."""
    name = backend.split()[0] if backend else backend
    info = registry.backends().get(name)
    if info is not None and info.color:
        return info.color
    return _FALLBACK[sum(map(ord, name)) % len(_FALLBACK)]


def save_png(fig, path) -> None:
    """Write ``fig`` as a PNG atomically (a reader never sees half a file) and close it."""
    import io

    import matplotlib.pyplot as plt

    from dlbench.analysis.results import write_atomic

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)  # no bbox "tight": it draws the figure twice
    plt.close(fig)
    write_atomic(path, buf.getvalue())
