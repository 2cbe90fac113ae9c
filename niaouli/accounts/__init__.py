"""Accounts: users, organisation roles, API tokens, and who a request is (its Viewer)."""
