"""Helpers shared by the tests of several stages (not tests themselves)."""
