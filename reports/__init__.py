"""Rendering of tuning and audit reports: reads results, computes nothing new."""
