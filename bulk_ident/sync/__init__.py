"""Syncing the server to the roster: the plan, the journal, the pace and the run."""
