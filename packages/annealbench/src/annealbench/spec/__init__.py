"""The study file: its tables read and checked, budgets, regime, preflight, the run grid, tuning choices."""
