"""A study's grid of runs: in order (study), in this process (local) or on Ray, in worker
processes (pool), and how many workers and threads (workers)."""
