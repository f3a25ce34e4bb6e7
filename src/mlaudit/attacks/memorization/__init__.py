"""Memorisation: inserted secrets (canaries) and what a trained model reveals of them."""
