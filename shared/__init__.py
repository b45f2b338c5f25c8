"""Contracts both sides of TickerML speak: config, book, features, schemas.

Nothing here imports ``edge``, ``hub`` or ``models``.
"""
