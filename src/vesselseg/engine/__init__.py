"""Training, checkpoints, weights and evaluation."""
