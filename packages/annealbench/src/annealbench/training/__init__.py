"""One run: the resumable training loop (runner) and its checkpoints (resume)."""
