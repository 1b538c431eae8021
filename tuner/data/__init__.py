"""Datasets: the built-in synthetic driving scenes and COCO folders from users."""
