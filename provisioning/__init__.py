"""Provisioning: the broker's config, ACL and keys; later the units and first boot.

Imports none of TickerML's packages (only the standard library and ``cryptography``):
it runs on a machine being set up, before any role is installed.
"""
