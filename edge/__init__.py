"""The Raspberry Pi agent. Imports ``shared`` only; never torch, ray or fastapi."""
