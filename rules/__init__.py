"""The shared language of policy: rule bundles, signing, domain categories and nudge decisions.

Pure: no clock, no network, no global state. Both the server and the agent import it.
"""
