"""``dlbench explain``: where a training step's time goes, layer by layer, on every backend.

In the worker (:mod:`.entry`), a backend's ``profile`` module runs the real step under the
framework's own profiler and names each op's layer; :mod:`.breakdown` adds the ops up per layer
group (:mod:`.groups`), and :mod:`.isolated` times layers alone where the profiler cannot attribute.
In the parent, :mod:`.compare` sets the backends side by side and :mod:`.plot` draws them.
"""
