"""Test kinds as plug-ins: what a plan point of each kind is, what it needs of the bench, how it runs.

Each kind is one module here with one :class:`~bench.kernel.registry.TestKind` registered by name (the
plan point's ``kind``); the kernel finds it through :mod:`bench.kernel.registry`, which loads the modules
named in its ``KIND_MODULES``. A kind sees the run only through its
:class:`~bench.kernel.context.RunContext`; it never holds an instrument or the records store.

Adding a kind: one module here (its ``TestKind``: plan fields, passes, needs, run, results), its name in
``bench.kernel.registry.KIND_MODULES``, its plan-field rules in ``procedures/plans.py`` and its report
section in ``reports/``.
"""

from bench.kernel.registry import TestKind, capability, check_capabilities, get_kind, kinds, register_kind

__all__ = ["TestKind", "capability", "check_capabilities", "get_kind", "kinds", "register_kind"]
