"""A user's own model and data set for annealbench: a small CNN on scikit-learn's handwritten digits.

Nothing here imports annealbench: a study names these by import path
(``digits_example.model:digits_cnn``, ``digits_example.data:digits``).
"""
