"""Defences: detecting and removing what the attacks plant."""
