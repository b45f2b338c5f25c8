"""The PC hub. Imports ``shared`` and ``models``; never ``edge``."""
