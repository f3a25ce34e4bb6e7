"""Model inversion: class-representative inputs rebuilt from a white-box classifier."""
