"""Training machinery: the phase loop, checkpoints, logging, evaluation."""
