"""Leakage audits: steal hyperparameters from released weights, price the defences."""
