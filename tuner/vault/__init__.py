"""Encrypted, authenticated storage for winning configs and trial journals."""
