"""Supply-chain checks: model-file scanning (and, later, privacy-backdoor build / detect)."""
