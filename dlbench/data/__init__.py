"""Datasets, their loaders, and the core's batching."""

from dlbench.data.dataset import Dataset, DatasetRequest, Split

__all__ = ["Dataset", "DatasetRequest", "Split"]
