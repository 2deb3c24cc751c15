"""The built-in framework backends, one folder each with the same module names:

``plugin.py`` (registration; imports no framework), ``backend.py`` (the :class:`dlbench.backend.Backend`),
``model.py`` (graph -> native model, canonical weights in and out), ``optim.py`` (optimisers).
"""
