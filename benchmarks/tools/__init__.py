"""Maintained measuring tools: ``throughput`` (with its parts in ``speed``), ``plot_curves``."""
