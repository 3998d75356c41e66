"""Data readers and generators; tasks (annealbench.tasks) turn them into batches and metrics.

Real data is read from a user-supplied directory (never committed): cifar10, tinyshakespeare,
wikitext2. Synthetic sets are generated from their kwargs.
"""
