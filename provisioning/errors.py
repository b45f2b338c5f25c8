"""The one error provisioning raises on purpose: its message names the file or value to fix."""

from __future__ import annotations


class ProvisioningError(Exception):
    """Provisioning cannot go on; the message says which file or value and what to do."""
