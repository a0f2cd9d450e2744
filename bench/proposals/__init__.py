"""Prototypes of the fixes proposed in bench/RESULTS.md, measured in-process against the app's
current code by `python -m bench.proposals.measure` (run with a bench database's environment).

They are not used by the app: the owners of the app files apply the fix; these only show that it
works and what it gains.
"""
