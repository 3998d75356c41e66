"""Shared prefixes: which runs may start from another's identical first epochs (plan), the LR
trajectories that decide it, and the copy at run time (fork)."""
