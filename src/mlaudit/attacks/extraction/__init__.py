"""Model extraction (stealing): a substitute built from the target's answers, measured by its fidelity."""
