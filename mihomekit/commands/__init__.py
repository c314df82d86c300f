"""The ``mihomekit`` sub-commands, one module each (wired in :mod:`mihomekit.cli`)."""
