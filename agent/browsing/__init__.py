"""Browsing nudges: read browser history safely, classify hosts, nudge, count outcomes."""
