"""Evaluation of generators, apart from training: evaluator.py (SR + the metrics table's
scores over benchmark sets), results.py (results files and console tables), figures.py
(labelled strips, the perception-distortion plane), session.py (what tools/eval.py does).
Imports nothing from engine/ (training imports this)."""
