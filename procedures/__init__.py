"""What a test is, with no I/O: forms, classes, limits with provenance, plans, metrology, wiring analysis.

This package imports none of bench, instruments or reports.
"""
