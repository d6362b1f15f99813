"""Tooling for mentors, not lesson material: grading a cohort with nbgrader (see MENTORS.md).

Notebooks never import this package; the mentees' package is ``shared``.
"""
