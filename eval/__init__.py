"""Evaluation: datasets, metrics, runs. Import as `from eval.metrics import ...`, never bare `import eval`."""
